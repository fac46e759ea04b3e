extension RData {
    /// Parses the RDATA of `type` from presentation text, as found after the type in a zone
    /// file or in `dig` output (RFC 1035 §5.1 and each type's RFC).
    ///
    /// Relative names are completed with `origin`; without one they are taken as absolute. The
    /// text may span lines inside parentheses and carry `;` comments. The generic form
    /// `\# <length> <hex>` (RFC 3597 §5) is accepted for every type; for a type DNSCore knows,
    /// its bytes are parsed into the typed case and must be valid wire data. Types with no
    /// typed case (other than HINFO) accept only the generic form.
    public init(type: RRType, presentation: String, origin: DNSName? = nil) throws(PresentationError) {
        let lines = try PresentationLexer.lines(Array(presentation.utf8))
        var f = PresentationFields(lines.flatMap(\.tokens), type: type, endLine: 1)
        self = try RData.parse(type: type, fields: &f, origin: origin)
    }

    /// Parses all of `f`'s tokens as the data of `type`.
    static func parse(type: RRType, fields f: inout PresentationFields, origin: DNSName?) throws(PresentationError) -> RData {
        if let first = f.peek, first.isGenericMarker { return try parseGeneric(type: type, fields: &f) }
        let data: RData
        switch type {
        case .a: data = .a(try f.ipv4("address"))
        case .aaaa: data = .aaaa(try f.ipv6("address"))
        case .ns: data = .ns(try f.name("name server", origin: origin))
        case .cname: data = .cname(try f.name("target", origin: origin))
        case .dname: data = .dname(try f.name("target", origin: origin))
        case .ptr: data = .ptr(try f.name("target", origin: origin))
        case .soa:
            data = .soa(SOA(mname: try f.name("primary server", origin: origin),
                            rname: try f.name("mailbox", origin: origin),
                            serial: try f.u32("serial"), refresh: try f.seconds("refresh"),
                            retry: try f.seconds("retry"), expire: try f.seconds("expire"),
                            minimum: try f.seconds("minimum")))
        case .mx:
            data = .mx(MX(preference: try f.u16("preference"), exchange: try f.name("exchange", origin: origin)))
        case .txt:
            var strings: [[UInt8]] = [try f.characterString("text")]
            while !f.atEnd { strings.append(try f.characterString("text")) }
            data = .txt(strings)
        case .hinfo:
            // No typed case: keep the wire bytes, which print back as the two strings.
            var w = WireWriter(capacity: 32)
            w.characterString(try f.characterString("CPU"))
            w.characterString(try f.characterString("OS"))
            data = .unknown(w.bytes)
        case .srv:
            data = .srv(SRV(priority: try f.u16("priority"), weight: try f.u16("weight"), port: try f.u16("port"),
                            target: try f.name("target", origin: origin)))
        case .naptr:
            data = .naptr(NAPTR(order: try f.u16("order"), preference: try f.u16("preference"),
                                flags: try f.characterString("flags"), services: try f.characterString("services"),
                                regexp: try f.characterString("regexp"),
                                replacement: try f.name("replacement", origin: origin)))
        case .caa: data = .caa(try parseCAA(&f))
        case .ds, .cds:
            data = .ds(DS(keyTag: try f.u16("key tag"), algorithm: try f.algorithm("algorithm"),
                          digestType: DigestType(try f.u8("digest type")), digest: try f.hexRest("digest")))
        case .dnskey, .cdnskey:
            data = .dnskey(DNSKEY(flags: try f.u16("flags"), proto: try f.u8("protocol"),
                                  algorithm: try f.algorithm("algorithm"), publicKey: try f.base64Rest("public key")))
        case .rrsig:
            data = .rrsig(RRSIG(typeCovered: try f.rrType("type covered"), algorithm: try f.algorithm("algorithm"),
                                labels: try f.u8("labels"), originalTTL: try f.seconds("original TTL"),
                                expiration: try time(&f, "expiration"), inception: try time(&f, "inception"),
                                keyTag: try f.u16("key tag"), signerName: try f.name("signer", origin: origin),
                                signature: try f.base64Rest("signature")))
        case .nsec:
            data = .nsec(NSEC(nextName: try f.name("next name", origin: origin), types: try f.typeList("type list")))
        case .nsec3:
            let alg = try f.u8("hash algorithm"), flags = try f.u8("flags"), it = try f.u16("iterations")
            let s = try salt(&f)
            let t = try f.next("next hashed owner", expecting: "a base32hex hash")
            let hash = try f.wrap("next hashed owner", t) { raw throws(PresentationError) in try Base32Hex.decode(raw) }
            guard !hash.isEmpty, hash.count <= 255 else {
                throw f.error("next hashed owner", "hash of \(hash.count) bytes (1-255)", at: t)
            }
            data = .nsec3(NSEC3(hashAlgorithm: alg, flags: flags, iterations: it, salt: s, nextHashedOwner: hash,
                                types: try f.typeList("type list")))
        case .nsec3param:
            data = .nsec3param(NSEC3PARAM(hashAlgorithm: try f.u8("hash algorithm"), flags: try f.u8("flags"),
                                          iterations: try f.u16("iterations"), salt: try salt(&f)))
        case .svcb, .https:
            let prio = try f.u16("priority")
            let target = try f.name("target", origin: origin)
            data = .svcb(SVCB(priority: prio, target: target, params: try SVCB.parseParams(&f)))
        default:
            throw f.error("data", "no text form known for \(type): write it as \\# <length> <hex>", at: f.peek)
        }
        try f.finish()
        return data
    }

    /// `\# <length> <hex>…` (RFC 3597 §5): the hex may be split by whitespace; a known type's
    /// bytes must parse as its wire form.
    static func parseGeneric(type: RRType, fields f: inout PresentationFields) throws(PresentationError) -> RData {
        _ = try f.next("\\#", expecting: "\\#")
        let length = Int(try f.number("\\# length", max: 65535))
        let at = f.peek
        let bytes = try f.hexRest("\\# data")
        guard bytes.count == length else {
            throw f.error("\\# data", "\(bytes.count) bytes of hex where the length says \(length)", at: at)
        }
        var r = WireReader(bytes)
        do throws(WireError) {
            return try RData.parse(type: type, length: length, from: &r)
        } catch {
            throw f.error("\\# data", "not valid \(type) data: \(error)", at: at)
        }
    }

    private static func time(_ f: inout PresentationFields, _ field: String) throws(PresentationError) -> UInt32 {
        let t = try f.next(field, expecting: "a time as YYYYMMDDHHmmSS")
        return try f.wrap(field, t) { raw throws(PresentationError) in try DNSSECTime.parse(raw) }
    }

    /// NSEC3 and NSEC3PARAM salt: hex, or `-` for none (RFC 5155 §3.3).
    private static func salt(_ f: inout PresentationFields) throws(PresentationError) -> [UInt8] {
        let t = try f.next("salt", expecting: "a hex salt or '-'")
        if t.raw == [0x2D] { return [] }
        let s = try f.wrap("salt", t) { raw throws(PresentationError) in try Hex.decode(raw) }
        guard s.count <= 255 else { throw f.error("salt", "salt of \(s.count) bytes (limit 255)", at: t) }
        return s
    }

    /// `flags tag "value"` (RFC 8659 §4.1.1): the tag is 1–255 letters and digits, the value a
    /// string of any length (not limited to 255 like a <character-string>).
    private static func parseCAA(_ f: inout PresentationFields) throws(PresentationError) -> CAA {
        let flags = try f.u8("flags")
        let t = try f.next("tag", expecting: "a tag such as issue")
        let tag = try f.characterString("tag", t)
        guard CAA.isValidTag(tag) else {
            throw f.error("tag", "\(PresentationText.show(t.raw)) is not 1-255 letters and digits", at: t)
        }
        let v = try f.next("value", expecting: "a value")
        let value = try f.wrap("value", v) { raw throws(PresentationError) in try PresentationText.unescape(raw) }
        return CAA(flags: flags, tag: tag, value: value)
    }
}

extension CAA {
    /// Whether `tag` is 1–255 ASCII letters and digits, the tags presentation format can carry.
    static func isValidTag(_ tag: [UInt8]) -> Bool {
        !tag.isEmpty && tag.count <= 255
            && tag.allSatisfy { PresentationText.isDigit($0) || (asciiLower($0) >= 0x61 && asciiLower($0) <= 0x7A) }
    }
}
