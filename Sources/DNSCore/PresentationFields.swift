/// A cursor over the tokens of one record's data that reads typed fields.
///
/// Every error names the record type, the field, and the offending token, and carries the
/// token's line, e.g. `line 7: MX preference: '70000' is out of range 0-65535`.
struct PresentationFields {
    let tokens: [PresentationToken]
    private(set) var index = 0
    let type: RRType
    /// Line for errors found at the end of the tokens.
    let endLine: Int

    init<S: Sequence>(_ tokens: S, type: RRType, endLine: Int) where S.Element == PresentationToken {
        self.tokens = Array(tokens)
        self.type = type
        self.endLine = self.tokens.last?.line ?? endLine
    }

    var atEnd: Bool { index >= tokens.count }
    var peek: PresentationToken? { atEnd ? nil : tokens[index] }

    func error(_ field: String, _ message: String, at token: PresentationToken? = nil) -> PresentationError {
        PresentationError("\(type) \(field): \(message)", line: token?.line ?? endLine)
    }

    /// The next token, or an error saying what was expected.
    mutating func next(_ field: String, expecting what: String) throws(PresentationError) -> PresentationToken {
        guard let t = peek else { throw error(field, "expected \(what), found the end of the record") }
        index += 1
        return t
    }

    /// All remaining tokens.
    mutating func rest() -> ArraySlice<PresentationToken> {
        defer { index = tokens.count }
        return tokens[index...]
    }

    /// Requires that every token was used.
    func finish() throws(PresentationError) {
        if let t = peek {
            throw error("data", "unexpected \(PresentationText.show(t.raw)) after the last field", at: t)
        }
    }

    /// Runs `body` on the token, prefixing any error with the type and field.
    func wrap<T>(_ field: String, _ t: PresentationToken,
                 _ body: ([UInt8]) throws(PresentationError) -> T) throws(PresentationError) -> T {
        do throws(PresentationError) { return try body(t.raw) } catch { throw self.error(field, error.message, at: t) }
    }

    // MARK: Typed fields

    mutating func number(_ field: String, max: UInt64) throws(PresentationError) -> UInt64 {
        let t = try next(field, expecting: "a number")
        return try wrap(field, t) { raw throws(PresentationError) in try PresentationText.number(raw, max: max) }
    }

    mutating func u8(_ field: String) throws(PresentationError) -> UInt8 {
        UInt8(try number(field, max: UInt64(UInt8.max)))
    }

    mutating func u16(_ field: String) throws(PresentationError) -> UInt16 {
        UInt16(try number(field, max: UInt64(UInt16.max)))
    }

    mutating func u32(_ field: String) throws(PresentationError) -> UInt32 {
        UInt32(try number(field, max: UInt64(UInt32.max)))
    }

    /// A number of seconds that may use TTL units (`1h`), as BIND allows in SOA timers.
    mutating func seconds(_ field: String) throws(PresentationError) -> UInt32 {
        let t = try next(field, expecting: "a number of seconds")
        return try wrap(field, t) { raw throws(PresentationError) in try PresentationText.ttl(raw) }
    }

    /// A domain name, relative ones completed with `origin`.
    mutating func name(_ field: String, origin: DNSName?) throws(PresentationError) -> DNSName {
        let t = try next(field, expecting: "a domain name")
        return try wrap(field, t) { raw throws(PresentationError) in
            try DNSName(String(decoding: raw, as: UTF8.self), origin: origin)
        }
    }

    /// A <character-string>: one token, quoted or not, at most 255 bytes once unescaped.
    mutating func characterString(_ field: String) throws(PresentationError) -> [UInt8] {
        let t = try next(field, expecting: "a character-string")
        return try characterString(field, t)
    }

    func characterString(_ field: String, _ t: PresentationToken) throws(PresentationError) -> [UInt8] {
        let s = try wrap(field, t) { raw throws(PresentationError) in try PresentationText.unescape(raw) }
        guard s.count <= 255 else {
            throw error(field, "character-string of \(s.count) bytes (limit 255)", at: t)
        }
        return s
    }

    mutating func ipv4(_ field: String) throws(PresentationError) -> IPv4Address {
        let t = try next(field, expecting: "an IPv4 address")
        return try wrap(field, t) { raw throws(PresentationError) in try IPv4Address(presentationBytes: raw) }
    }

    mutating func ipv6(_ field: String) throws(PresentationError) -> IPv6Address {
        let t = try next(field, expecting: "an IPv6 address")
        return try wrap(field, t) { raw throws(PresentationError) in try IPv6Address(presentationBytes: raw) }
    }

    /// A type mnemonic or `TYPEnnn`.
    mutating func rrType(_ field: String) throws(PresentationError) -> RRType {
        let t = try next(field, expecting: "a record type")
        return try wrap(field, t) { raw throws(PresentationError) in try PresentationFields.parseType(raw) }
    }

    /// The remaining tokens as a list of types (NSEC, NSEC3); possibly empty.
    mutating func typeList(_ field: String) throws(PresentationError) -> TypeBitmap {
        var types: [RRType] = []
        for t in rest() {
            types.append(try wrap(field, t) { raw throws(PresentationError) in try PresentationFields.parseType(raw) })
        }
        return TypeBitmap(types)
    }

    /// A DNSSEC algorithm as a number or a mnemonic such as `RSASHA256` (RFC 4034 §2.2).
    mutating func algorithm(_ field: String) throws(PresentationError) -> DNSSECAlgorithm {
        let t = try next(field, expecting: "an algorithm number or mnemonic")
        if let first = t.raw.first, PresentationText.isDigit(first) {
            return DNSSECAlgorithm(UInt8(try wrap(field, t) { raw throws(PresentationError) in
                try PresentationText.number(raw, max: 255)
            }))
        }
        let upper = String(decoding: t.raw, as: UTF8.self).uppercased()
        for v in UInt8.min...UInt8.max {
            let a = DNSSECAlgorithm(v)
            if a.description == upper && !upper.hasPrefix("ALG") { return a }
        }
        throw error(field, "unknown algorithm \(PresentationText.show(t.raw))", at: t)
    }

    /// The remaining tokens joined and decoded as hex (RFC 4034 allows whitespace inside).
    mutating func hexRest(_ field: String) throws(PresentationError) -> [UInt8] {
        try joinedRest(field) { raw throws(PresentationError) in try Hex.decode(raw) }
    }

    /// The remaining tokens joined and decoded as base64.
    mutating func base64Rest(_ field: String) throws(PresentationError) -> [UInt8] {
        try joinedRest(field) { raw throws(PresentationError) in try Base64.decode(raw) }
    }

    private mutating func joinedRest(_ field: String,
                                     _ decode: ([UInt8]) throws(PresentationError) -> [UInt8]) throws(PresentationError) -> [UInt8] {
        let ts = rest()
        guard let first = ts.first else { return [] }
        if let q = ts.first(where: \.quoted) {
            throw error(field, "unexpected quoted string", at: q)
        }
        let joined = ts.flatMap(\.raw)
        do throws(PresentationError) { return try decode(joined) } catch { throw self.error(field, error.message, at: first) }
    }

    // MARK: Mnemonics

    /// A type mnemonic (any case) or `TYPEnnn` (RFC 3597 §5), with a range check on nnn.
    static func parseType<C: Collection>(_ raw: C) throws(PresentationError) -> RRType where C.Element == UInt8 {
        let text = String(decoding: Array(raw), as: UTF8.self)
        let upper = text.uppercased()
        if upper.hasPrefix("TYPE"), upper.utf8.count > 4 {
            let digits = Array(upper.utf8.dropFirst(4))
            if digits.allSatisfy(PresentationText.isDigit) {
                guard let v = try? PresentationText.number(digits, max: UInt64(UInt16.max)) else {
                    throw PresentationError("type number in \(PresentationText.show(raw)) is out of range 0-65535")
                }
                return RRType(UInt16(v))
            }
        }
        guard let t = RRType.byName[upper] else {
            throw PresentationError("unknown type \(PresentationText.show(raw))")
        }
        return t
    }

    /// A class mnemonic or `CLASSnnn`; nil when the token is not class-like at all.
    static func parseClass<C: Collection>(_ raw: C) throws(PresentationError) -> RRClass? where C.Element == UInt8 {
        let upper = String(decoding: Array(raw), as: UTF8.self).uppercased()
        if upper.hasPrefix("CLASS"), upper.utf8.count > 5 {
            let digits = Array(upper.utf8.dropFirst(5))
            if digits.allSatisfy(PresentationText.isDigit) {
                guard let v = try? PresentationText.number(digits, max: UInt64(UInt16.max)) else {
                    throw PresentationError("class number in \(PresentationText.show(raw)) is out of range 0-65535")
                }
                return RRClass(UInt16(v))
            }
        }
        switch upper {
        case "IN", "CH", "HS", "NONE", "ANY": return RRClass(mnemonic: upper)
        default: return nil
        }
    }
}
