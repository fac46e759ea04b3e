/// Typed record data. Types DNSCore does not know stay `.unknown` with their bytes, so they
/// round-trip unchanged (RFC 3597).
///
/// The record type lives in ``ResourceRecord``; the same case can serve two types (DS and CDS,
/// DNSKEY and CDNSKEY, SVCB and HTTPS), so always read the record's `type` as well.
public enum RData: Hashable, Sendable {
    case a(IPv4Address)
    case aaaa(IPv6Address)
    case ns(DNSName)
    case cname(DNSName)
    case dname(DNSName)
    case ptr(DNSName)
    case soa(SOA)
    case mx(MX)
    case txt([[UInt8]])
    case srv(SRV)
    case naptr(NAPTR)
    case caa(CAA)
    case ds(DS)
    case dnskey(DNSKEY)
    case rrsig(RRSIG)
    case nsec(NSEC)
    case nsec3(NSEC3)
    case nsec3param(NSEC3PARAM)
    case svcb(SVCB)
    case opt([EDNSOption])
    case unknown([UInt8])
}

extension RData {
    /// Types whose RDATA names a receiver decompresses (RFC 3597 §4, RFC 6672 for DNAME).
    static func allowsCompressionIn(_ t: RRType) -> Bool {
        switch t {
        case .ns, .cname, .soa, .ptr, .mx, .srv, .naptr, .dname: true
        default: false
        }
    }

    /// Types whose RDATA names a sender may compress (RFC 3597 §4: only the RFC 1035 types).
    static func compressesOut(_ t: RRType) -> Bool {
        switch t {
        case .ns, .cname, .soa, .ptr, .mx: true
        default: false
        }
    }

    /// Types whose RDATA names are lower-cased in canonical form (RFC 4034 §6.2, RFC 6840 §5.1).
    static func lowercasesCanonically(_ t: RRType) -> Bool {
        switch t {
        case .ns, .cname, .soa, .ptr, .mx, .srv, .naptr, .dname, .rrsig: true
        default: false
        }
    }

    /// Parses RDATA of `type` that occupies exactly `length` bytes at `r.offset`.
    ///
    /// Names may use compression pointers into the whole message where the type allows it.
    /// On return `r` is positioned after the RDATA and its limit restored.
    public static func parse(type: RRType, length: Int, from r: inout WireReader) throws(WireError) -> RData {
        let start = r.offset
        let outerLimit = r.limit
        guard length <= r.remaining else {
            throw WireError(.truncated(needed: length, available: r.remaining), at: start)
        }
        r.limit = start + length
        defer { r.limit = outerLimit }
        let c = allowsCompressionIn(type)
        let data: RData
        switch type {
        case .a:
            guard length == 4 else { throw WireError(.badRDLength(type: type, length: length), at: start) }
            data = .a(IPv4Address(try r.u32()))
        case .aaaa:
            guard length == 16 else { throw WireError(.badRDLength(type: type, length: length), at: start) }
            let h = UInt64(try r.u32()) << 32 | UInt64(try r.u32())
            let l = UInt64(try r.u32()) << 32 | UInt64(try r.u32())
            data = .aaaa(IPv6Address(high: h, low: l))
        case .ns: data = .ns(try r.name(allowCompression: c))
        case .cname: data = .cname(try r.name(allowCompression: c))
        case .dname: data = .dname(try r.name(allowCompression: c))
        case .ptr: data = .ptr(try r.name(allowCompression: c))
        case .soa:
            data = .soa(SOA(mname: try r.name(allowCompression: c), rname: try r.name(allowCompression: c),
                            serial: try r.u32(), refresh: try r.u32(), retry: try r.u32(),
                            expire: try r.u32(), minimum: try r.u32()))
        case .mx:
            data = .mx(MX(preference: try r.u16(), exchange: try r.name(allowCompression: c)))
        case .txt:
            guard length > 0 else { throw WireError(.badRDLength(type: type, length: length), at: start) }
            var strings: [[UInt8]] = []
            while !r.atEnd { strings.append(try r.characterString()) }
            data = .txt(strings)
        case .srv:
            data = .srv(SRV(priority: try r.u16(), weight: try r.u16(), port: try r.u16(),
                            target: try r.name(allowCompression: c)))
        case .naptr:
            data = .naptr(NAPTR(order: try r.u16(), preference: try r.u16(), flags: try r.characterString(),
                                services: try r.characterString(), regexp: try r.characterString(),
                                replacement: try r.name(allowCompression: c)))
        case .caa:
            let flags = try r.u8()
            let tag = try r.characterString()
            guard !tag.isEmpty else { throw WireError(.invalidField("CAA tag is empty"), at: start + 1) }
            data = .caa(CAA(flags: flags, tag: tag, value: r.rest()))
        case .ds, .cds:
            let tag = try r.u16(), alg = DNSSECAlgorithm(try r.u8()), dt = DigestType(try r.u8())
            data = .ds(DS(keyTag: tag, algorithm: alg, digestType: dt, digest: r.rest()))
        case .dnskey, .cdnskey:
            let flags = try r.u16(), proto = try r.u8(), alg = DNSSECAlgorithm(try r.u8())
            data = .dnskey(DNSKEY(flags: flags, proto: proto, algorithm: alg, publicKey: r.rest()))
        case .rrsig:
            let covered = RRType(try r.u16()), alg = DNSSECAlgorithm(try r.u8()), labels = try r.u8()
            let ttl = try r.u32(), exp = try r.u32(), inc = try r.u32(), tag = try r.u16()
            let signer = try r.name(allowCompression: false)
            data = .rrsig(RRSIG(typeCovered: covered, algorithm: alg, labels: labels, originalTTL: ttl,
                                expiration: exp, inception: inc, keyTag: tag, signerName: signer,
                                signature: r.rest()))
        case .nsec:
            let next = try r.name(allowCompression: false)
            data = .nsec(NSEC(nextName: next, types: try TypeBitmap(from: &r)))
        case .nsec3:
            let alg = try r.u8(), flags = try r.u8(), it = try r.u16()
            let salt = try r.characterString()
            let hashAt = r.offset
            let hash = try r.characterString()
            guard !hash.isEmpty else { throw WireError(.invalidField("NSEC3 hash is empty"), at: hashAt) }
            data = .nsec3(NSEC3(hashAlgorithm: alg, flags: flags, iterations: it, salt: salt,
                                nextHashedOwner: hash, types: try TypeBitmap(from: &r)))
        case .nsec3param:
            data = .nsec3param(NSEC3PARAM(hashAlgorithm: try r.u8(), flags: try r.u8(),
                                          iterations: try r.u16(), salt: try r.characterString()))
        case .svcb, .https:
            let prio = try r.u16()
            let target = try r.name(allowCompression: false)
            var params: [SVCParam] = []
            var last = -1
            while !r.atEnd {
                let at = r.offset
                let key = try r.u16()
                guard Int(key) > last else {
                    throw WireError(.invalidField("SvcParamKeys not in strictly increasing order"), at: at)
                }
                last = Int(key)
                let n = Int(try r.u16())
                params.append(SVCParam(key: SVCParamKey(key), value: try r.bytes(n)))
            }
            data = .svcb(SVCB(priority: prio, target: target, params: params))
        case .opt:
            var options: [EDNSOption] = []
            while !r.atEnd {
                let code = EDNSOptionCode(try r.u16())
                let n = Int(try r.u16())
                options.append(EDNSOption(code: code, data: try r.bytes(n)))
            }
            data = .opt(options)
        default:
            data = .unknown(r.rest())
        }
        guard r.offset == start + length else {
            throw WireError(.badRDLength(type: type, length: length), at: start)
        }
        return data
    }

    /// Writes the RDATA (without RDLENGTH). Names are compressed only for the RFC 1035 types and
    /// only when `compress` is set; `lowercase` gives the canonical form of RFC 4034 §6.2.
    public func write(type: RRType, to w: inout WireWriter, compress: Bool, lowercase: Bool = false) {
        let c = compress && RData.compressesOut(type)
        let lc = lowercase && RData.lowercasesCanonically(type)
        func name(_ n: DNSName) { w.name(lc ? n.lowercased : n, compress: c) }
        switch self {
        case let .a(ip): w.u32(ip.value)
        case let .aaaa(ip):
            w.u32(UInt32(ip.high >> 32)); w.u32(UInt32(ip.high & 0xFFFF_FFFF))
            w.u32(UInt32(ip.low >> 32)); w.u32(UInt32(ip.low & 0xFFFF_FFFF))
        case let .ns(n), let .cname(n), let .dname(n), let .ptr(n): name(n)
        case let .soa(s):
            name(s.mname); name(s.rname)
            w.u32(s.serial); w.u32(s.refresh); w.u32(s.retry); w.u32(s.expire); w.u32(s.minimum)
        case let .mx(m): w.u16(m.preference); name(m.exchange)
        case let .txt(strings): for s in strings { w.characterString(s) }
        case let .srv(s): w.u16(s.priority); w.u16(s.weight); w.u16(s.port); name(s.target)
        case let .naptr(n):
            w.u16(n.order); w.u16(n.preference)
            w.characterString(n.flags); w.characterString(n.services); w.characterString(n.regexp)
            name(n.replacement)
        case let .caa(x): w.u8(x.flags); w.characterString(x.tag); w.append(x.value)
        case let .ds(d): w.u16(d.keyTag); w.u8(d.algorithm.rawValue); w.u8(d.digestType.rawValue); w.append(d.digest)
        case let .dnskey(k): w.u16(k.flags); w.u8(k.proto); w.u8(k.algorithm.rawValue); w.append(k.publicKey)
        case let .rrsig(s):
            s.writeWithoutSignature(to: &w, lowercase: lc)
            w.append(s.signature)
        case let .nsec(n): name(n.nextName); n.types.write(to: &w)
        case let .nsec3(n):
            w.u8(n.hashAlgorithm); w.u8(n.flags); w.u16(n.iterations)
            w.characterString(n.salt); w.characterString(n.nextHashedOwner)
            n.types.write(to: &w)
        case let .nsec3param(n):
            w.u8(n.hashAlgorithm); w.u8(n.flags); w.u16(n.iterations); w.characterString(n.salt)
        case let .svcb(s):
            w.u16(s.priority); name(s.target)
            for p in s.params { w.u16(p.key.rawValue); w.u16(UInt16(p.value.count)); w.append(p.value) }
        case let .opt(options):
            for o in options { w.u16(o.code.rawValue); w.u16(UInt16(o.data.count)); w.append(o.data) }
        case let .unknown(b): w.append(b)
        }
    }

    /// The uncompressed RDATA bytes; lower-cased names for the types RFC 4034 §6.2 lists.
    public func wire(type: RRType, canonical: Bool = false) -> [UInt8] {
        var w = WireWriter(capacity: 64)
        write(type: type, to: &w, compress: false, lowercase: canonical)
        return w.bytes
    }
}

extension RRSIG {
    /// RRSIG RDATA up to and excluding the signature: the prefix of the data that is signed
    /// (RFC 4034 §3.1.8.1), with the signer name lower-cased when `lowercase` is set.
    public func writeWithoutSignature(to w: inout WireWriter, lowercase: Bool = true) {
        w.u16(typeCovered.rawValue); w.u8(algorithm.rawValue); w.u8(labels)
        w.u32(originalTTL); w.u32(expiration); w.u32(inception); w.u16(keyTag)
        w.name(lowercase ? signerName.lowercased : signerName, compress: false)
    }
}
