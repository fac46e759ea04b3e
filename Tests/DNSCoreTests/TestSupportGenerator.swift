import DNSCore

/// Random but valid messages: everything `serialize()` writes must parse back to an equal message.
///
/// Names are drawn from a few shared suffixes (so compression has work to do), with random case
/// and occasionally arbitrary bytes or maximal lengths; every `RData` case appears with random
/// contents; EDNS carries random options.
struct MessageGenerator {
    var rng: SplitMix64
    /// Names handed out so far; new names often extend or re-case one of them.
    private var pool: [DNSName]

    init(seed: UInt64) {
        rng = SplitMix64(seed: seed)
        pool = [.root] + ["com.", "example.com.", "a.example.", "example.", "net.", "in-addr.arpa."].map {
            try! DNSName($0)
        }
    }

    // MARK: Names

    mutating func label() -> [UInt8] {
        switch rng.int(0..<20) {
        case 0: return rng.bytes(1...63)                                   // any bytes at all
        case 1: return [UInt8](repeating: 0x61 + UInt8(rng.int(0..<26)), count: 63)
        case 2: return [0x2A]                                              // "*"
        default:
            let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_".utf8)
            return (0..<rng.int(1...12)).map { _ in rng.pick(alphabet) }
        }
    }

    /// Flips the case of random letters: the same name to `==`, different bytes on the wire.
    mutating func recased(_ n: DNSName) -> DNSName {
        var w = n.wire
        var i = 0
        while w[i] != 0 {
            let len = Int(w[i])
            for j in (i + 1)...(i + len) where rng.chance(0.3) {
                let b = w[j]
                if (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) { w[j] = b ^ 0x20 }
            }
            i += len + 1
        }
        return try! DNSName(wire: w)
    }

    mutating func name() -> DNSName {
        var n = rng.pick(pool)
        if rng.chance(0.3) { return recased(n) }
        for _ in 0..<rng.int(0...3) {
            let l = label()
            guard n.wire.count + l.count + 1 <= 255 else { break }
            n = try! n.prepending(l)
        }
        if rng.chance(0.02) {
            // Grow to (nearly) the 255-byte limit.
            while n.wire.count < 250 {
                n = try! n.prepending(Array(repeating: 0x78, count: min(63, 254 - n.wire.count - 1)))
            }
        }
        if pool.count < 64 { pool.append(n) }
        return n
    }

    // MARK: Record data

    /// Types with a typed `RData` case, and a few without (HINFO, SPF, private use, 0).
    static let types: [RRType] = [
        .a, .aaaa, .ns, .cname, .dname, .ptr, .soa, .mx, .txt, .srv, .naptr, .caa, .ds, .cds, .dnskey,
        .cdnskey, .rrsig, .nsec, .nsec3, .nsec3param, .svcb, .https,
        .hinfo, RRType(99), RRType(65280), RRType(0), RRType(32769),
    ]

    mutating func string(max: Int = 255) -> [UInt8] { rng.bytes(0...(rng.chance(0.1) ? max : min(max, 20))) }

    mutating func bitmap() -> TypeBitmap {
        var t: [RRType] = []
        for _ in 0..<rng.int(0...8) {
            t.append(rng.chance(0.8) ? rng.pick(Self.types) : RRType(rng.u16()))
        }
        return TypeBitmap(t)
    }

    mutating func rdata(for type: RRType) -> RData {
        switch type {
        case .a: return .a(IPv4Address(rng.u32()))
        case .aaaa: return .aaaa(IPv6Address(high: rng.next(), low: rng.next()))
        case .ns: return .ns(name())
        case .cname: return .cname(name())
        case .dname: return .dname(name())
        case .ptr: return .ptr(name())
        case .soa:
            return .soa(SOA(mname: name(), rname: name(), serial: rng.u32(), refresh: rng.u32(),
                            retry: rng.u32(), expire: rng.u32(), minimum: rng.u32()))
        case .mx: return .mx(MX(preference: rng.u16(), exchange: name()))
        case .txt: return .txt((0..<rng.int(1...4)).map { _ in string() })
        case .srv: return .srv(SRV(priority: rng.u16(), weight: rng.u16(), port: rng.u16(), target: name()))
        case .naptr:
            return .naptr(NAPTR(order: rng.u16(), preference: rng.u16(), flags: string(), services: string(),
                                regexp: string(), replacement: name()))
        case .caa: return .caa(CAA(flags: rng.u8(), tag: rng.bytes(1...15), value: string(max: 300)))
        case .ds, .cds:
            let dt = DigestType(rng.pick([1, 2, 4, rng.u8()]))
            return .ds(DS(keyTag: rng.u16(), algorithm: DNSSECAlgorithm(rng.u8()), digestType: dt,
                          digest: rng.bytes(dt.digestLength ?? rng.int(0...64))))
        case .dnskey, .cdnskey:
            return .dnskey(DNSKEY(flags: rng.pick([256, 257, rng.u16()]), proto: rng.chance(0.9) ? 3 : rng.u8(),
                                  algorithm: DNSSECAlgorithm(rng.pick([8, 13, 15, rng.u8()])),
                                  publicKey: rng.bytes(0...132)))
        case .rrsig:
            return .rrsig(RRSIG(typeCovered: rng.pick(Self.types), algorithm: DNSSECAlgorithm(rng.u8()),
                                labels: rng.u8(), originalTTL: rng.u32(), expiration: rng.u32(),
                                inception: rng.u32(), keyTag: rng.u16(), signerName: name(),
                                signature: rng.bytes(0...128)))
        case .nsec: return .nsec(NSEC(nextName: name(), types: bitmap()))
        case .nsec3:
            return .nsec3(NSEC3(hashAlgorithm: rng.u8(), flags: rng.u8(), iterations: rng.u16(),
                                salt: rng.bytes(0...(rng.chance(0.05) ? 255 : 16)),
                                nextHashedOwner: rng.bytes(1...(rng.chance(0.05) ? 255 : 32)), types: bitmap()))
        case .nsec3param:
            return .nsec3param(NSEC3PARAM(hashAlgorithm: rng.u8(), flags: rng.u8(), iterations: rng.u16(),
                                          salt: rng.bytes(0...(rng.chance(0.05) ? 255 : 16))))
        case .svcb, .https:
            var key = -1
            var params: [SVCParam] = []
            for _ in 0..<rng.int(0...5) {
                key += rng.int(1...(rng.chance(0.1) ? 20000 : 4))
                guard key <= 65535 else { break }
                params.append(SVCParam(key: SVCParamKey(UInt16(key)), value: string(max: 300)))
            }
            return .svcb(SVCB(priority: rng.u16(), target: name(), params: params))
        default:
            return .unknown(rng.bytes(0...(rng.chance(0.05) ? 600 : 40)))
        }
    }

    // MARK: Records and messages

    mutating func rrset(into out: inout [ResourceRecord]) {
        let type = rng.pick(Self.types)
        let owner = name()
        let rrclass = rng.chance(0.9) ? RRClass.in : RRClass(rng.u16())
        let ttl = rng.chance(0.5) ? 3600 : rng.u32()
        for _ in 0..<rng.int(1...4) {
            // Re-case the owner inside an RRset too: still one RRset.
            let o = rng.chance(0.2) ? recased(owner) : owner
            out.append(ResourceRecord(name: o, type: type, rrclass: rrclass, ttl: ttl, rdata: rdata(for: type)))
            if type == .soa || type == .cname { break }
        }
    }

    mutating func records(max: Int) -> [ResourceRecord] {
        var out: [ResourceRecord] = []
        for _ in 0..<rng.int(0...max) { rrset(into: &out) }
        return out
    }

    mutating func edns() -> EDNS {
        var e = EDNS(udpPayloadSize: rng.pick([512, 1232, 4096, rng.u16()]), dnssecOK: rng.chance(0.5),
                     version: rng.chance(0.9) ? 0 : rng.u8(), extendedRCode: rng.chance(0.8) ? 0 : rng.u8())
        if rng.chance(0.1) { e.flags = rng.u16() }
        for _ in 0..<rng.int(0...4) {
            switch rng.int(0..<6) {
            case 0: e.setCookie(DNSCookie(client: rng.bytes(8), server: rng.chance(0.5) ? [] : rng.bytes(8...32)))
            case 1: e.addExtendedError(ExtendedDNSError(code: EDECode(rng.u16()), extraText: string()))
            case 2: e.addPadding(rng.int(0...200))
            case 3: e.options.append(EDNSOption(code: .nsid, data: string()))
            case 4: e.options.append(EDNSOption(code: .clientSubnet, data: [0, 1, 24, 0] + rng.bytes(3)))
            default: e.options.append(EDNSOption(code: EDNSOptionCode(rng.u16()), data: string()))
            }
        }
        return e
    }

    /// A message that fits comfortably in 65535 bytes and has no TC bit unless `allowTC`.
    mutating func message(maxRRsets: Int = 6, allowTC: Bool = false) -> Message {
        var h = Header(id: rng.u16(), flags: rng.u16())
        if !allowTC { h.truncated = false }
        let questions = (0..<(rng.chance(0.9) ? 1 : rng.int(0...3))).map { _ in
            Question(name: name(), type: rng.chance(0.8) ? rng.pick(Self.types) : RRType(rng.u16()),
                     qclass: rng.chance(0.9) ? .in : RRClass(rng.u16()))
        }
        return Message(header: h, questions: questions, answers: records(max: maxRRsets),
                       authority: records(max: maxRRsets), additional: records(max: maxRRsets),
                       edns: rng.chance(0.7) ? edns() : nil)
    }
}
