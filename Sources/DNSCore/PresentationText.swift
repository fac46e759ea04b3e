/// Byte-level pieces of presentation format shared by the printers and the parsers:
/// <character-string> quoting and unescaping (RFC 1035 §5.1), decimal numbers and TTLs.
enum PresentationText {
    // MARK: Output

    /// Appends `bytes` as a quoted <character-string>: `"` and `\` get a backslash, bytes
    /// outside printable ASCII become `\DDD`, so the text is ASCII and one token.
    static func appendQuoted<C: Collection>(_ bytes: C, to out: inout [UInt8]) where C.Element == UInt8 {
        out.append(0x22)
        for b in bytes {
            switch b {
            case 0x22, 0x5C: out.append(0x5C); out.append(b)
            case 0x20...0x7E: out.append(b)
            default: appendDDD(b, to: &out)
            }
        }
        out.append(0x22)
    }

    static func quoted<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 2)
        appendQuoted(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `bytes` as one unquoted token: the characters a zone file treats specially
    /// (whitespace, `"`, `\`, `(`, `)`, `;`) are escaped, so the token reads back the same.
    static func appendUnquoted<C: Collection>(_ bytes: C, to out: inout [UInt8]) where C.Element == UInt8 {
        for b in bytes {
            switch b {
            case 0x22, 0x5C, 0x28, 0x29, 0x3B: out.append(0x5C); out.append(b)
            case 0x21...0x7E: out.append(b)
            default: appendDDD(b, to: &out)
            }
        }
    }

    static func unquoted<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var out: [UInt8] = []
        appendUnquoted(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func appendDDD(_ b: UInt8, to out: inout [UInt8]) {
        out.append(0x5C)
        out.append(0x30 + b / 100)
        out.append(0x30 + (b / 10) % 10)
        out.append(0x30 + b % 10)
    }

    /// `text` cut into space-separated chunks of `width` characters, as `dig` prints long
    /// base64 and hex fields (its default `+split=56`).
    static func split(_ text: String, width: Int = 56) -> String {
        let u = Array(text.utf8)
        guard u.count > width else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(u.count + u.count / width)
        for (i, b) in u.enumerated() {
            if i > 0 && i % width == 0 { out.append(0x20) }
            out.append(b)
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Input

    /// Resolves the `\X` and `\DDD` escapes of a token's raw text (quotes already removed).
    ///
    /// `\DDD` needs exactly three digits and a value up to 255; a backslash at the end is an error.
    static func unescape<C: Collection>(_ raw: C) throws(PresentationError) -> [UInt8] where C.Element == UInt8 {
        let u = Array(raw)
        var out: [UInt8] = []
        out.reserveCapacity(u.count)
        var i = 0
        while i < u.count {
            let c = u[i]
            guard c == 0x5C else { out.append(c); i += 1; continue }
            guard i + 1 < u.count else { throw PresentationError("'\\' at the end of \(show(u))") }
            let d = u[i + 1]
            guard isDigit(d) else { out.append(d); i += 2; continue }
            guard i + 3 < u.count, isDigit(u[i + 2]), isDigit(u[i + 3]) else {
                throw PresentationError("\\DDD escape needs three digits in \(show(u))")
            }
            let v = Int(d - 0x30) * 100 + Int(u[i + 2] - 0x30) * 10 + Int(u[i + 3] - 0x30)
            guard v <= 255 else { throw PresentationError("\\\(v) is above \\255 in \(show(u))") }
            out.append(UInt8(v))
            i += 4
        }
        return out
    }

    /// An unsigned decimal number of at most `max`, without sign or separators.
    static func number<C: Collection>(_ raw: C, max: UInt64) throws(PresentationError) -> UInt64 where C.Element == UInt8 {
        guard !raw.isEmpty, raw.allSatisfy(isDigit) else {
            throw PresentationError("expected a decimal number, found \(show(raw))")
        }
        var v: UInt64 = 0
        for c in raw {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(c - 0x30))
            guard !o1, !o2, s <= max else {
                throw PresentationError("\(show(raw)) is out of range 0-\(max)")
            }
            v = s
        }
        return v
    }

    /// A TTL: seconds, or BIND's unit form such as `1h30m` or `2W` (s, m, h, d, w in any case),
    /// at most 2^32-1.
    static func ttl<C: Collection>(_ raw: C) throws(PresentationError) -> UInt32 where C.Element == UInt8 {
        let u = Array(raw)
        if !u.isEmpty, u.allSatisfy(isDigit) {
            return UInt32(try number(u, max: UInt64(UInt32.max)))
        }
        var total: UInt64 = 0
        var i = 0
        guard !u.isEmpty else { throw PresentationError("expected a TTL, found an empty field") }
        while i < u.count {
            let start = i
            while i < u.count, isDigit(u[i]) { i += 1 }
            guard i > start, i < u.count else {
                throw PresentationError("\(show(u)) is not a TTL (seconds, or units like 1h30m)")
            }
            let unit: UInt64
            switch asciiLower(u[i]) {
            case 0x73: unit = 1         // s
            case 0x6D: unit = 60        // m
            case 0x68: unit = 3600      // h
            case 0x64: unit = 86400     // d
            case 0x77: unit = 604800    // w
            default: throw PresentationError("\(show(u)) is not a TTL: unknown unit \(byteForMessage(u[i]))")
            }
            let n = try number(u[start..<i], max: UInt64(UInt32.max))
            total += n * unit  // both below 2^32 and 2^20: no overflow in 64 bits
            guard total <= UInt64(UInt32.max) else {
                throw PresentationError("TTL \(show(u)) is out of range 0-\(UInt32.max) seconds")
            }
            i += 1
        }
        return UInt32(total)
    }

    /// Raw token text for an error message, quoted.
    static func show<C: Collection>(_ raw: C) -> String where C.Element == UInt8 {
        "'" + String(decoding: Array(raw.prefix(80)), as: UTF8.self) + (raw.count > 80 ? "…'" : "'")
    }

    @inline(__always)
    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
}
