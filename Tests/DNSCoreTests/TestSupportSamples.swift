import DNSCore

// Real-looking packets: what a resolver sends and receives. The wire tests truncate and mutate
// them, and Fuzz/Sources/MakeCorpus (through a symbolic link to this file) writes them out as the
// fuzzer's seed corpus, so this file uses DNSCore's public API only.

enum SamplePackets {
    /// Name, seed-file name friendly, and wire bytes.
    static func all() -> [(name: String, wire: [UInt8])] {
        messages().map { ($0.name, try! $0.message.serialize()) } + raw()
    }

    private static func n(_ s: String) -> DNSName { try! DNSName(s) }

    private static func rr(_ owner: String, _ type: RRType, _ ttl: UInt32 = 3600, _ rdata: RData) -> ResourceRecord {
        ResourceRecord(name: n(owner), type: type, ttl: ttl, rdata: rdata)
    }

    private static func sig(_ owner: String, covers t: RRType, labels: UInt8, signer: String,
                            keyTag: UInt16 = 20326, alg: UInt8 = 13, length: Int = 64) -> ResourceRecord {
        // Deterministic "signature" bytes.
        var x: UInt32 = UInt32(keyTag) &* 2_654_435_761 &+ UInt32(t.rawValue)
        let bytes: [UInt8] = (0..<length).map { _ in x = x &* 1_103_515_245 &+ 12345; return UInt8(x >> 24) }
        return rr(owner, .rrsig, 3600, .rrsig(RRSIG(
            typeCovered: t, algorithm: DNSSECAlgorithm(alg), labels: labels, originalTTL: 3600,
            expiration: 1_767_225_600, inception: 1_764_547_200, keyTag: keyTag, signerName: n(signer),
            signature: bytes)))
    }

    private static func response(_ id: UInt16, _ q: String, _ t: RRType, rcode: RCode = .noError,
                                 aa: Bool = true, answers: [ResourceRecord] = [], authority: [ResourceRecord] = [],
                                 additional: [ResourceRecord] = [], edns: EDNS? = EDNS(udpPayloadSize: 1232)) -> Message {
        var h = Header(id: id)
        h.isResponse = true
        h.authoritative = aa
        h.recursionDesired = false
        var m = Message(header: h, questions: [Question(name: n(q), type: t)], answers: answers,
                        authority: authority, additional: additional, edns: edns)
        m.rcode = rcode
        return m
    }

    private static func a(_ s: String) -> RData {
        let p = s.split(separator: ".").map { UInt8($0)! }
        return .a(IPv4Address(p[0], p[1], p[2], p[3]))
    }

    private static func aaaa(_ high: UInt64, _ low: UInt64) -> RData { .aaaa(IPv6Address(high: high, low: low)) }

    private static func key(_ flags: UInt16, alg: UInt8 = 13, seed: UInt8, length: Int = 64) -> RData {
        .dnskey(DNSKEY(flags: flags, algorithm: DNSSECAlgorithm(alg),
                       publicKey: (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) }))
    }

    private static func hash(_ seed: UInt8) -> [UInt8] { (0..<20).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ Int(seed)) } }

    private static func soa(_ zone: String) -> ResourceRecord {
        rr(zone, .soa, 3600, .soa(SOA(mname: n("ns1." + zone), rname: n("hostmaster." + zone), serial: 2025112201,
                                      refresh: 7200, retry: 900, expire: 1_209_600, minimum: 300)))
    }

    static func messages() -> [(name: String, message: Message)] {
        var out: [(String, Message)] = []

        // Queries.
        out.append(("query-a-plain", .query(id: 0x1a2b, name: n("www.example.com."), type: .a, edns: nil)))
        var e = EDNS(udpPayloadSize: 1232, dnssecOK: true)
        e.setCookie(DNSCookie(client: [1, 2, 3, 4, 5, 6, 7, 8]))
        out.append(("query-aaaa-do-cookie", .query(id: 0x2b3c, name: n("wWw.ExAmPlE.CoM."), type: .aaaa, edns: e)))
        e.setCookie(DNSCookie(client: [1, 2, 3, 4, 5, 6, 7, 8], server: [0x01, 0, 0, 0, 0x67, 0x40, 0x2a, 0x10,
                                                                       9, 8, 7, 6, 5, 4, 3, 2]))
        var padded = Message.query(id: 0x3c4d, name: n("example.org."), type: .dnskey, recursionDesired: false, edns: e)
        let unpadded = (try! padded.serialize()).count
        padded.edns!.addPadding(128 - (unpadded + 4) % 128)
        out.append(("query-dnskey-cookie-padding", padded))
        var ecs = EDNS(udpPayloadSize: 4096)
        ecs.options.append(EDNSOption(code: .clientSubnet, data: [0, 1, 24, 0, 192, 0, 2]))
        ecs.options.append(EDNSOption(code: .nsid, data: []))
        out.append(("query-mx-ecs-nsid", .query(id: 7, name: n("mail.example.net."), type: .mx, edns: ecs)))
        out.append(("query-ds-qmin", .query(id: 0xffff, name: n("example.com."), type: .ds, recursionDesired: false)))
        out.append(("query-ptr", .query(id: 99, name: n("1.2.0.192.in-addr.arpa."), type: .ptr)))
        out.append(("query-https", .query(id: 100, name: n("_dns.resolver.arpa."), type: .svcb)))
        out.append(("query-root-ns", .query(id: 0, name: .root, type: .ns, recursionDesired: false)))
        var multi = Message.query(id: 5, name: n("a.example."), type: .a)
        multi.questions.append(Question(name: n("b.example."), type: .aaaa, qclass: .ch))
        out.append(("query-two-questions", multi))
        var notify = Message.query(id: 6, name: n("example.com."), type: .soa, edns: nil)
        notify.header.opcode = .notify
        notify.header.authoritative = true
        out.append(("notify", notify))

        // Referrals.
        let gtld = "abcdefghijklm".map { "\($0).gtld-servers.net." }
        out.append(("referral-root-to-com", response(
            0x4242, "www.example.com.", .a, aa: false,
            authority: gtld.map { rr("com.", .ns, 172800, .ns(n($0))) }
                + [rr("com.", .ds, 86400, .ds(DS(keyTag: 19718, algorithm: .ecdsaP256SHA256, digestType: .sha256,
                                                 digest: hash(3) + hash(4).prefix(12))))]
                + [sig("com.", covers: .ds, labels: 1, signer: ".", keyTag: 61050, alg: 8, length: 256)],
            additional: gtld.prefix(6).enumerated().map { rr($1, .a, 172800, a("192.\($0 + 5).6.30")) }
                + gtld.prefix(3).enumerated().map { rr($1, .aaaa, 172800, aaaa(0x2001_0503_0000_0000 | UInt64($0) << 16, 0x2_0030)) },
            edns: EDNS(udpPayloadSize: 1232, dnssecOK: true))))
        out.append(("referral-insecure-nsec3", response(
            0x5151, "www.example.com.", .a, aa: false,
            authority: [rr("example.com.", .ns, 172800, .ns(n("ns1.example.com."))),
                        rr("example.com.", .ns, 172800, .ns(n("ns2.example.net."))),
                        rr("CK0POJMG874LJREF7EFN8430QVIT8BSM.com.", .nsec3, 86400, .nsec3(NSEC3(
                            hashAlgorithm: 1, flags: 1, iterations: 0, salt: [], nextHashedOwner: hash(9),
                            types: TypeBitmap([.ns, .soa, .rrsig, .dnskey, .nsec3param])))),
                        sig("CK0POJMG874LJREF7EFN8430QVIT8BSM.com.", covers: .nsec3, labels: 2, signer: "com.")],
            additional: [rr("ns1.example.com.", .a, 172800, a("192.0.2.53")),
                         rr("ns1.example.com.", .aaaa, 172800, aaaa(0x2001_0db8_0000_0000, 0x53))],
            edns: EDNS(udpPayloadSize: 1232, dnssecOK: true))))
        out.append(("referral-glueless", response(
            77, "host.sub.example.", .aaaa, aa: false,
            authority: [rr("sub.example.", .ns, 3600, .ns(n("ns.other-provider.test."))),
                        rr("sub.example.", .ns, 3600, .ns(n("ns2.other-provider.test.")))], edns: nil)))

        // Signed answers.
        let signedA = response(
            0x6161, "www.example.com.", .a,
            answers: [rr("www.example.com.", .a, 300, a("93.184.215.14")), rr("www.example.com.", .a, 300, a("93.184.215.15")),
                      sig("www.example.com.", covers: .a, labels: 3, signer: "example.com.")],
            authority: [rr("example.com.", .ns, 86400, .ns(n("a.iana-servers.net."))),
                        sig("example.com.", covers: .ns, labels: 2, signer: "example.com.")],
            edns: EDNS(udpPayloadSize: 1232, dnssecOK: true))
        out.append(("answer-a-signed", signedA))
        var ad = signedA
        ad.header.authenticData = true
        ad.header.authoritative = false
        ad.header.recursionAvailable = true
        ad.header.recursionDesired = true
        out.append(("answer-a-signed-ad", ad))
        out.append(("answer-dnskey", response(
            0x7171, "example.com.", .dnskey,
            answers: [rr("example.com.", .dnskey, 3600, key(257, seed: 1)), rr("example.com.", .dnskey, 3600, key(256, seed: 2)),
                      rr("example.com.", .dnskey, 3600, key(256, alg: 8, seed: 3, length: 260)),
                      sig("example.com.", covers: .dnskey, labels: 2, signer: "example.com.", keyTag: 31406),
                      sig("example.com.", covers: .dnskey, labels: 2, signer: "example.com.", keyTag: 2371, alg: 8, length: 256)],
            edns: EDNS(udpPayloadSize: 4096, dnssecOK: true))))
        out.append(("answer-ds-cds-cdnskey", response(
            0x7272, "example.com.", .cds,
            answers: [rr("example.com.", .cds, 3600, .ds(DS(keyTag: 31406, algorithm: .ecdsaP256SHA256,
                                                               digestType: .sha256, digest: hash(1) + hash(2).prefix(12)))),
                      rr("example.com.", .cdnskey, 3600, key(257, seed: 1)),
                      rr("example.com.", .ds, 3600, .ds(DS(keyTag: 31406, algorithm: .ecdsaP256SHA256,
                                                              digestType: .sha384, digest: hash(5) + hash(6) + hash(7).prefix(8))))],
            edns: EDNS(udpPayloadSize: 1232, dnssecOK: true))))
        out.append(("nxdomain-nsec", response(
            0x8181, "nope.example.com.", .a, rcode: .nxDomain,
            authority: [soa("example.com."), sig("example.com.", covers: .soa, labels: 2, signer: "example.com."),
                        rr("example.com.", .nsec, 300, .nsec(NSEC(nextName: n("www.example.com."),
                                                                   types: TypeBitmap([.a, .ns, .soa, .mx, .txt, .aaaa, .rrsig, .nsec, .dnskey, .caa])))),
                        sig("example.com.", covers: .nsec, labels: 2, signer: "example.com."),
                        rr("mail.example.com.", .nsec, 300, .nsec(NSEC(nextName: n("\\000.mail.example.com."),
                                                                        types: TypeBitmap([.a, .rrsig, .nsec, RRType(65534)])))),
                        sig("mail.example.com.", covers: .nsec, labels: 3, signer: "example.com.")],
            edns: EDNS(udpPayloadSize: 1232, dnssecOK: true))))
        out.append(("nxdomain-nsec3", response(
            0x9191, "a.b.example.org.", .txt, rcode: .nxDomain,
            authority: [soa("example.org."), sig("example.org.", covers: .soa, labels: 2, signer: "example.org.")]
                + ["0P9MHAVEQVM6T7VBL5LOP2U3T2RP3TOM", "2T7B4G4VSA5SMI47K61MV5BV1A22BOJR", "Q04JKCEVQVMU85R014C7DKBA38O0JI5R"]
                .enumerated().flatMap { (i, h) in
                    [rr("\(h).example.org.", .nsec3, 300, .nsec3(NSEC3(
                        hashAlgorithm: 1, flags: 0, iterations: 0, salt: i == 0 ? [] : [0xAA, 0xBB, 0xCC, 0xDD],
                        nextHashedOwner: hash(UInt8(i + 40)), types: i == 0 ? TypeBitmap([.a, .rrsig]) : TypeBitmap([])))),
                     sig("\(h).example.org.", covers: .nsec3, labels: 3, signer: "example.org.")]
                },
            edns: EDNS(udpPayloadSize: 1232, dnssecOK: true))))
        out.append(("nodata-nsec3param", response(
            0xa1a1, "example.org.", .nsec3param,
            answers: [rr("example.org.", .nsec3param, 0, .nsec3param(NSEC3PARAM(hashAlgorithm: 1, flags: 0, iterations: 0, salt: []))),
                      sig("example.org.", covers: .nsec3param, labels: 2, signer: "example.org.")],
            edns: EDNS(udpPayloadSize: 1232, dnssecOK: true))))

        // Plain answers.
        out.append(("answer-cname-chain", response(
            0xb1b1, "www.shop.example.", .a, aa: false,
            answers: [rr("www.shop.example.", .cname, 300, .cname(n("shop.cdn.example.net."))),
                      rr("shop.cdn.example.net.", .cname, 60, .cname(n("edge-7.cdn.example.net."))),
                      rr("edge-7.cdn.example.net.", .a, 20, a("198.51.100.7")),
                      rr("edge-7.cdn.example.net.", .a, 20, a("198.51.100.8"))])))
        out.append(("answer-dname", response(
            0xc1c1, "host.old.example.", .aaaa,
            answers: [rr("old.example.", .dname, 3600, .dname(n("new.example."))),
                      rr("host.old.example.", .cname, 3600, .cname(n("host.new.example."))),
                      rr("host.new.example.", .aaaa, 3600, aaaa(0x2001_0db8_0001_0000, 1))])))
        out.append(("answer-mx", response(
            0xd1d1, "example.net.", .mx,
            answers: [rr("example.net.", .mx, 3600, .mx(MX(preference: 10, exchange: n("mx1.example.net.")))),
                      rr("example.net.", .mx, 3600, .mx(MX(preference: 20, exchange: n("MX2.Example.NET."))))],
            additional: [rr("mx1.example.net.", .a, 3600, a("203.0.113.25"))])))
        out.append(("answer-txt", response(
            0xe1e1, "example.net.", .txt,
            answers: [rr("example.net.", .txt, 300, .txt([Array("v=spf1 -all".utf8)])),
                      rr("example.net.", .txt, 300, .txt([Array("part one ".utf8), Array("part two".utf8), []])),
                      rr("example.net.", .txt, 300, .txt([[UInt8](repeating: 0x41, count: 255), Array("\u{1}\"\\;".utf8)]))])))
        out.append(("answer-srv-naptr", response(
            0xf1f1, "_sip._udp.example.com.", .srv,
            answers: [rr("_sip._udp.example.com.", .srv, 600, .srv(SRV(priority: 10, weight: 60, port: 5060, target: n("sip1.example.com.")))),
                      rr("_sip._udp.example.com.", .srv, 600, .srv(SRV(priority: 20, weight: 0, port: 5060, target: .root)))],
            additional: [rr("example.com.", .naptr, 600, .naptr(NAPTR(
                order: 100, preference: 10, flags: Array("S".utf8), services: Array("SIP+D2U".utf8), regexp: [],
                replacement: n("_sip._udp.example.com."))))])))
        out.append(("answer-caa", response(
            0x0101, "example.com.", .caa,
            answers: [rr("example.com.", .caa, 3600, .caa(CAA(flags: 0, tag: Array("issue".utf8), value: Array("letsencrypt.org".utf8)))),
                      rr("example.com.", .caa, 3600, .caa(CAA(flags: 128, tag: Array("iodef".utf8), value: Array("mailto:sec@example.com".utf8))))])))
        out.append(("answer-https-svcb", response(
            0x0202, "example.com.", .https,
            answers: [rr("example.com.", .https, 300, .svcb(SVCB(priority: 1, target: .root, params: [
                SVCParam(key: .alpn, value: [2] + Array("h2".utf8) + [2] + Array("h3".utf8)),
                SVCParam(key: .port, value: [0x01, 0xBB]),
                SVCParam(key: .ipv4hint, value: [192, 0, 2, 1, 192, 0, 2, 2]),
                SVCParam(key: .ech, value: hash(11) + hash(12)),
                SVCParam(key: .ipv6hint, value: IPv6Address(high: 0x2001_0db8_0000_0000, low: 1).bytes),
            ]))),
            rr("_dns.resolver.arpa.", .svcb, 300, .svcb(SVCB(priority: 0, target: n("svc.example.net."), params: [])))])))
        out.append(("answer-ptr", response(
            0x0303, "1.2.0.192.in-addr.arpa.", .ptr,
            answers: [rr("1.2.0.192.in-addr.arpa.", .ptr, 86400, .ptr(n("host.example.com.")))], edns: nil)))
        out.append(("answer-soa", response(0x0404, "example.com.", .soa, answers: [soa("example.com.")],
                                           authority: [rr("example.com.", .ns, 3600, .ns(n("ns1.example.com.")))])))
        out.append(("answer-unknown-types", response(
            0x0505, "example.com.", RRType(65280),
            answers: [rr("example.com.", RRType(65280), 60, .unknown([0xde, 0xad, 0xbe, 0xef])),
                      rr("example.com.", .hinfo, 60, .unknown([3] + Array("x86".utf8) + [5] + Array("Linux".utf8))),
                      rr("example.com.", RRType(99), 60, .unknown([]))])))
        var big = response(0x0606, "pool.example.", .a, answers: (0..<60).map { rr("pool.example.", .a, 30, a("10.0.\($0 / 256).\($0 % 256)")) })
        big.header.recursionAvailable = true
        out.append(("answer-60-a", big))

        // Errors.
        var fail = EDNS(udpPayloadSize: 1232, dnssecOK: true)
        fail.addExtendedError(ExtendedDNSError(code: .dnssecBogus, extraText: Array("RRSIG over example.com/A expired".utf8)))
        fail.addExtendedError(ExtendedDNSError(code: .signatureExpired))
        out.append(("servfail-ede", response(0x0707, "example.com.", .a, rcode: .servFail, aa: false, edns: fail)))
        var badCookie = EDNS(udpPayloadSize: 1232)
        badCookie.setCookie(DNSCookie(client: [8, 7, 6, 5, 4, 3, 2, 1], server: Array(hash(20).prefix(16))))
        out.append(("badcookie", response(0x0808, "example.com.", .a, rcode: .badCookie, aa: false, edns: badCookie)))
        out.append(("badvers", response(0x0909, "example.com.", .a, rcode: .badVers, aa: false,
                                        edns: EDNS(udpPayloadSize: 1232, version: 0))))
        out.append(("refused-noedns", response(0x0a0a, "example.com.", .a, rcode: .refused, aa: false, edns: nil)))
        var tc = response(0x0b0b, "big.example.", .txt, aa: true)
        tc.header.truncated = true
        out.append(("truncated-tc", tc))
        return out
    }

    /// Valid packets our encoder would not write: compression inside SRV, NAPTR and DNAME data
    /// (which receivers accept), pointers to pointers, pointers into RDATA, an OPT record that is
    /// not last, uncompressed repeats.
    static func raw() -> [(name: String, wire: [UInt8])] {
        var out: [(String, [UInt8])] = []
        func u16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        func label(_ s: String) -> [UInt8] { [UInt8(s.utf8.count)] + Array(s.utf8) }
        let header: (Int, Int, Int, Int) -> [UInt8] = { qd, an, ns, ar in
            u16(0x3141) + u16(0x8580) + u16(qd) + u16(an) + u16(ns) + u16(ar)
        }
        let q = label("_xmpp") + label("_tcp") + label("example") + label("com") + [0] + u16(33) + u16(1)
        // SRV whose target points at "example.com" in the question (offset 12 + 11).
        var p = header(1, 2, 0, 1) + q
        p += [0xC0, 12] + u16(33) + u16(1) + [0, 0, 0x0e, 0x10] + u16(6 + 5 + 2) + u16(5) + u16(0) + u16(5222)
            + label("xmpp") + [0xC0, 23]
        p += [0xC0, 12] + u16(33) + u16(1) + [0, 0, 0x0e, 0x10] + u16(6 + 2) + u16(10) + u16(0) + u16(5222)
            + [0xC0, UInt8(12 + q.count + 2 + 10 + 6)]   // points at "xmpp.example.com" in the first SRV
        p += [0] + u16(41) + u16(1232) + [0, 0, 0x80, 0] + u16(0)
        out.append(("raw-srv-compressed", p))

        // DNAME and NAPTR with compressed data, and a pointer to a pointer as an owner.
        p = header(1, 3, 0, 0) + label("x") + label("old") + label("test") + [0] + u16(1) + u16(1)
        let dnameAt = p.count
        p += [0xC0, 14] + u16(39) + u16(1) + [0, 0, 1, 0] + u16(6) + label("new") + [0xC0, 18]
        let ownerAt = p.count
        p += [0xC0, UInt8(dnameAt)] + u16(35) + u16(1) + [0, 0, 1, 0] + u16(4 + 2 + 1 + 1 + 2)
            + u16(1) + u16(2) + label("U") + [0] + [0] + [0xC0, UInt8(dnameAt + 12)]
        p += [0xC0, UInt8(ownerAt)] + u16(16) + u16(1) + [0, 0, 1, 0] + u16(4) + label("abc")
        out.append(("raw-dname-naptr-compressed", p))

        // OPT first in the additional section, then glue; names repeated without compression.
        p = header(1, 0, 1, 2) + label("ex") + [0] + u16(2) + u16(1)
        p += label("ex") + [0] + u16(2) + u16(1) + [0, 1, 0, 0] + u16(7) + label("ns") + label("ex") + [0]
        p += [0] + u16(41) + u16(4096) + [0, 0, 0, 0] + u16(4) + u16(12) + u16(0)
        p += label("ns") + label("ex") + [0] + u16(1) + u16(1) + [0, 1, 0, 0] + u16(4) + [192, 0, 2, 9]
        out.append(("raw-opt-first-uncompressed", p))

        // An MX exchange that points at the signer name inside an earlier RRSIG's data.
        p = header(1, 2, 0, 0) + label("example") + [0] + u16(15) + u16(1)
        let sigAt = p.count
        p += [0xC0, 12] + u16(46) + u16(1) + [0, 0, 0, 60] + u16(18 + 14 + 4)
            + u16(15) + [13, 1] + [0, 0, 0, 60] + [0x69, 0, 0, 0] + [0x68, 0, 0, 0] + u16(4242)
            + label("mail") + label("example") + [0] + [1, 2, 3, 4]
        p += [0xC0, 12] + u16(15) + u16(1) + [0, 0, 0, 60] + u16(4) + u16(5) + [0xC0, UInt8(sigAt + 12 + 18)]
        out.append(("raw-mx-into-rrsig", p))
        return out
    }
}
