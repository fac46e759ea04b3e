// Text forms of IPv4 and IPv6 addresses, written here rather than with inet_pton/inet_ntop
// because DNSCore imports neither Foundation nor Glibc.

extension IPv4Address {
    /// Dotted-quad text, e.g. `192.0.2.1`.
    public var presentation: String {
        "\(value >> 24).\((value >> 16) & 0xFF).\((value >> 8) & 0xFF).\(value & 0xFF)"
    }

    /// Parses dotted-quad text: exactly four decimal octets 0–255, without leading zeros (which
    /// some parsers read as octal).
    public init(presentation text: String) throws(PresentationError) {
        try self.init(presentationBytes: Array(text.utf8))
    }

    init<C: Collection>(presentationBytes raw: C) throws(PresentationError) where C.Element == UInt8 {
        let parts = raw.split(separator: 0x2E, omittingEmptySubsequences: false)
        let shown = PresentationText.show(raw)
        guard parts.count == 4 else {
            throw PresentationError("\(shown) is not an IPv4 address: \(parts.count) parts, need 4")
        }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(PresentationText.isDigit) else {
                throw PresentationError("\(shown) is not an IPv4 address: bad octet \(PresentationText.show(p))")
            }
            guard p.count == 1 || p.first != 0x30 else {
                throw PresentationError("\(shown) is not an IPv4 address: octet \(PresentationText.show(p)) has a leading zero")
            }
            let n = p.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            guard n <= 255 else {
                throw PresentationError("\(shown) is not an IPv4 address: octet \(n) is above 255")
            }
            v = v << 8 | UInt32(n)
        }
        value = v
    }
}

extension IPv6Address {
    /// The eight 16-bit groups, most significant first.
    var groups: [UInt16] {
        (0..<4).map { UInt16(truncatingIfNeeded: high >> UInt64(48 - 16 * $0)) }
            + (0..<4).map { UInt16(truncatingIfNeeded: low >> UInt64(48 - 16 * $0)) }
    }

    /// Canonical text (RFC 5952 §4): lower-case hex without leading zeros, the longest run of
    /// two or more zero groups (the first of equal runs) as `::`, and IPv4-mapped addresses as
    /// `::ffff:192.0.2.1` (§5).
    public var presentation: String {
        if high == 0 && low >> 32 == 0xFFFF {
            return "::ffff:" + IPv4Address(UInt32(truncatingIfNeeded: low)).presentation
        }
        let g = groups
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            guard g[i] == 0 else { i += 1; continue }
            var j = i
            while j < 8 && g[j] == 0 { j += 1 }
            if j - i > bestLen { bestStart = i; bestLen = j - i }
            i = j
        }
        func hex(_ r: Range<Int>) -> String {
            r.map { String(g[$0], radix: 16) }.joined(separator: ":")
        }
        guard bestLen >= 2 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLen)..<8)
    }

    /// Parses IPv6 text (RFC 4291 §2.2): eight groups of 1–4 hex digits, one `::` standing for
    /// one or more zero groups, and an optional dotted IPv4 address as the last 32 bits.
    public init(presentation text: String) throws(PresentationError) {
        try self.init(presentationBytes: Array(text.utf8))
    }

    init<C: Collection>(presentationBytes raw: C) throws(PresentationError) where C.Element == UInt8 {
        let s = Array(raw)
        let shown = PresentationText.show(s)
        func bad(_ why: String) -> PresentationError {
            PresentationError("\(shown) is not an IPv6 address: \(why)")
        }
        var gap: Int? = nil
        var i = 0
        while i + 1 < s.count {
            if s[i] == 0x3A && s[i + 1] == 0x3A {
                guard gap == nil else { throw bad("more than one '::'") }
                gap = i
                i += 2
            } else {
                i += 1
            }
        }
        /// Groups of one side of the `::`; `last` says an IPv4 tail is allowed.
        func parseGroups(_ part: ArraySlice<UInt8>, last: Bool) throws(PresentationError) -> [UInt16] {
            if part.isEmpty { return [] }
            let fields = part.split(separator: 0x3A, omittingEmptySubsequences: false)
            var out: [UInt16] = []
            for (k, f) in fields.enumerated() {
                guard !f.isEmpty else { throw bad("empty group") }
                if f.contains(0x2E) {
                    guard last, k == fields.count - 1 else { throw bad("IPv4 part is not at the end") }
                    let v4: IPv4Address
                    do throws(PresentationError) { v4 = try IPv4Address(presentationBytes: f) } catch {
                        throw bad("bad IPv4 part \(PresentationText.show(f))")
                    }
                    out.append(UInt16(v4.value >> 16))
                    out.append(UInt16(v4.value & 0xFFFF))
                    continue
                }
                guard f.count <= 4 else { throw bad("group \(PresentationText.show(f)) has more than 4 digits") }
                var v: UInt16 = 0
                for c in f {
                    let d = Hex.values[Int(c)]
                    guard d >= 0 else { throw bad("\(byteForMessage(c)) is not a hex digit") }
                    v = v << 4 | UInt16(d)
                }
                out.append(v)
            }
            return out
        }
        guard !s.isEmpty else { throw bad("empty") }
        var all: [UInt16]
        if let gap {
            let head = try parseGroups(s[..<gap], last: false)
            let tail = try parseGroups(s[(gap + 2)...], last: true)
            guard head.count + tail.count <= 7 else { throw bad("too many groups around '::'") }
            all = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            all = try parseGroups(s[...], last: true)
            guard all.count == 8 else { throw bad("\(all.count) groups, need 8 (or '::')") }
        }
        var h: UInt64 = 0, l: UInt64 = 0
        for k in 0..<4 { h = h << 16 | UInt64(all[k]); l = l << 16 | UInt64(all[k + 4]) }
        self.init(high: h, low: l)
    }
}
