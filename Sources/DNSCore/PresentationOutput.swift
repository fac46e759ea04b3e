extension RData {
    /// The RDATA in presentation format, as `dig` prints it (RFC 1035 §5.1 and each type's RFC).
    ///
    /// Any data that came from the wire reads back with ``init(type:presentation:origin:)`` to
    /// the same bytes. Data with no typed form here (`.unknown`, `.opt`, and a CAA tag that is
    /// not letters and digits) prints as RFC 3597's `\# <length> <hex>`; HINFO, which has no
    /// typed case, prints as its two strings when they are well formed.
    public func presentation(type: RRType) -> String {
        switch self {
        case let .a(ip): return ip.presentation
        case let .aaaa(ip): return ip.presentation
        case let .ns(n), let .cname(n), let .dname(n), let .ptr(n): return n.presentation
        case let .soa(s):
            return "\(s.mname.presentation) \(s.rname.presentation) \(s.serial) \(s.refresh) \(s.retry) \(s.expire) \(s.minimum)"
        case let .mx(m): return "\(m.preference) \(m.exchange.presentation)"
        case let .txt(strings): return strings.map { PresentationText.quoted($0) }.joined(separator: " ")
        case let .srv(s): return "\(s.priority) \(s.weight) \(s.port) \(s.target.presentation)"
        case let .naptr(n):
            return "\(n.order) \(n.preference) \(PresentationText.quoted(n.flags)) \(PresentationText.quoted(n.services)) "
                + "\(PresentationText.quoted(n.regexp)) \(n.replacement.presentation)"
        case let .caa(c):
            // A tag the text form cannot carry (RFC 8659: letters and digits) falls back to \#.
            guard CAA.isValidTag(c.tag) else { return RData.generic(wire(type: type)) }
            return "\(c.flags) \(String(decoding: c.tag, as: UTF8.self)) \(PresentationText.quoted(c.value))"
        case let .ds(d):
            // dig prints DS digests upper-case.
            return join("\(d.keyTag) \(d.algorithm.rawValue) \(d.digestType.rawValue)",
                        PresentationText.split(Hex.encode(d.digest, uppercase: true)))
        case let .dnskey(k):
            return join("\(k.flags) \(k.proto) \(k.algorithm.rawValue)",
                        PresentationText.split(Base64.encode(k.publicKey)))
        case let .rrsig(s):
            let head = "\(s.typeCovered) \(s.algorithm.rawValue) \(s.labels) \(s.originalTTL) "
                + "\(DNSSECTime.format(s.expiration)) \(DNSSECTime.format(s.inception)) \(s.keyTag) "
                + s.signerName.presentation
            return join(head, PresentationText.split(Base64.encode(s.signature)))
        case let .nsec(n):
            return join(n.nextName.presentation, typeList(n.types))
        case let .nsec3(n):
            let head = "\(n.hashAlgorithm) \(n.flags) \(n.iterations) \(salt(n.salt)) "
                + Base32Hex.encode(n.nextHashedOwner, uppercase: true)
            return join(head, typeList(n.types))
        case let .nsec3param(n):
            return "\(n.hashAlgorithm) \(n.flags) \(n.iterations) \(salt(n.salt))"
        case let .svcb(s):
            var out = "\(s.priority) \(s.target.presentation)"
            for p in s.params { out += " " + p.presentation }
            return out
        case .opt:
            return RData.generic(wire(type: type))
        case let .unknown(bytes):
            if type == .hinfo, let strings = RData.characterStrings(bytes), strings.count == 2 {
                return strings.map { PresentationText.quoted($0) }.joined(separator: " ")
            }
            return RData.generic(bytes)
        }
    }

    /// RFC 3597 §5 generic form: `\# <length> <hex>`, hex split like dig's.
    static func generic(_ bytes: [UInt8]) -> String {
        bytes.isEmpty ? "\\# 0" : "\\# \(bytes.count) " + PresentationText.split(Hex.encode(bytes, uppercase: true))
    }

    /// `bytes` read as consecutive <character-string>s, or nil when they are not exactly that.
    static func characterStrings(_ bytes: [UInt8]) -> [[UInt8]]? {
        var r = WireReader(bytes)
        var out: [[UInt8]] = []
        while !r.atEnd {
            guard let s = try? r.characterString() else { return nil }
            out.append(s)
        }
        return out
    }
}

private func join(_ head: String, _ tail: String) -> String {
    tail.isEmpty ? head : head + " " + tail
}

private func typeList(_ types: TypeBitmap) -> String {
    types.types.map(\.description).joined(separator: " ")
}

/// NSEC3 salt: hex, or `-` when empty (RFC 5155 §3.3).
private func salt(_ s: [UInt8]) -> String {
    s.isEmpty ? "-" : Hex.encode(s, uppercase: true)
}

extension ResourceRecord {
    /// `owner TTL CLASS TYPE RDATA`, tab-separated as `dig` prints a record; reads back with
    /// ``init(presentation:origin:defaultTTL:)``.
    public var presentation: String {
        "\(name.presentation)\t\(ttl)\t\(rrclass)\t\(type)\t\(rdata.presentation(type: type))"
    }
}

extension ResourceRecord: CustomStringConvertible {
    public var description: String { presentation }
}

extension Message: CustomStringConvertible {
    public var description: String { presentation }
}

extension IPv4Address: CustomStringConvertible {
    public var description: String { presentation }
}

extension IPv6Address: CustomStringConvertible {
    public var description: String { presentation }
}
