/// RRSIG inception and expiration times in text (RFC 4034 §3.2): `YYYYMMDDHHmmSS` in UTC.
///
/// The calendar is computed here (proleptic Gregorian, days from 1970-01-01) because DNSCore
/// does not use Foundation.
enum DNSSECTime {
    /// `YYYYMMDDHHmmSS` for `seconds` after 1970-01-01 00:00:00 UTC. The wire field is 32 bits
    /// (RFC 1982 serial arithmetic), so this shows it within 1970–2106 as `dig` does.
    static func format(_ seconds: UInt32) -> String {
        let s = Int(seconds)
        let (y, m, d) = civil(fromDays: s / 86400)
        let r = s % 86400
        var out = String(y)
        for v in [m, d, r / 3600, (r / 60) % 60, r % 60] {
            if v < 10 { out += "0" }
            out += String(v)
        }
        return out
    }

    /// Parses `YYYYMMDDHHmmSS` (14 digits, years 1970–9999, taken modulo 2^32 as the wire field
    /// is), or a plain decimal count of seconds of at most 10 digits.
    static func parse<C: Collection>(_ raw: C) throws(PresentationError) -> UInt32 where C.Element == UInt8 {
        let u = Array(raw)
        guard !u.isEmpty, u.allSatisfy(PresentationText.isDigit) else {
            throw PresentationError("expected a time as YYYYMMDDHHmmSS, found \(PresentationText.show(u))")
        }
        if u.count != 14 {
            guard u.count <= 10 else {
                throw PresentationError("time \(PresentationText.show(u)) is neither YYYYMMDDHHmmSS nor seconds")
            }
            return UInt32(try PresentationText.number(u, max: UInt64(UInt32.max)))
        }
        func field(_ from: Int, _ n: Int) -> Int { u[from..<(from + n)].reduce(0) { $0 * 10 + Int($1 - 0x30) } }
        let y = field(0, 4), mo = field(4, 2), d = field(6, 2), h = field(8, 2), mi = field(10, 2), s = field(12, 2)
        let shown = PresentationText.show(u)
        guard y >= 1970 else { throw PresentationError("time \(shown) is before 1970") }
        guard mo >= 1 && mo <= 12 else { throw PresentationError("time \(shown) has month \(mo)") }
        guard d >= 1 && d <= daysIn(month: mo, year: y) else { throw PresentationError("time \(shown) has day \(d)") }
        guard h <= 23, mi <= 59, s <= 59 else { throw PresentationError("time \(shown) has a bad time of day") }
        let total = days(year: y, month: mo, day: d) * 86400 + h * 3600 + mi * 60 + s
        return UInt32(truncatingIfNeeded: total)
    }

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    static func daysIn(month m: Int, year y: Int) -> Int {
        switch m {
        case 2: isLeap(y) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to the date (H. Hinnant's days_from_civil, for years ≥ 0).
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// The date `days` after 1970-01-01 (H. Hinnant's civil_from_days, for days ≥ 0).
    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719468
        let era = z / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
