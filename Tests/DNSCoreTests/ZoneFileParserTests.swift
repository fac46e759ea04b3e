import Testing
@testable import DNSCore

@Suite struct ZoneFileParserTests {
    func n(_ s: String) -> DNSName { try! DNSName(s) }

    @Test func zoneFeatures() throws {
        let zone = """
            ; A small zone using most of RFC 1035 §5.
            $ORIGIN example.com.
            $TTL 1h
            @   IN  SOA ns1 hostmaster (
                    2025112201 ; serial
                    2h         ; refresh
                    15m        ; retry
                    2w         ; expire
                    5m )       ; minimum
                IN  NS  ns1
                    NS  ns2.example.net.
                    MX  10 mail
            ns1 300 A   192.0.2.1
                IN 600 AAAA 2001:DB8::1
            mail    IN  A   192.0.2.25
            www     CNAME   @
            txt     TXT "hello; not a comment" ( "second"
                        "third" ) ; a comment
            esc\\.dot   A   192.0.2.3
            $ORIGIN sub
            host    60  A   192.0.2.2
            *           TXT wildcard
            $TTL 5m
            late        A   192.0.2.4
            abs.example.org. CH 7 TXT "chaos"
            """
        let rrs = try ZoneFileParser.records(in: zone)
        #expect(rrs.count == 14)
        let soa = rrs[0]
        #expect(soa.name == n("example.com.") && soa.type == .soa && soa.ttl == 3600 && soa.rrclass == .in)
        #expect(soa.rdata == .soa(SOA(mname: n("ns1.example.com."), rname: n("hostmaster.example.com."),
                                      serial: 2025112201, refresh: 7200, retry: 900, expire: 1209600, minimum: 300)))
        // Blank owners repeat the previous owner.
        #expect(rrs[1].name == n("example.com.") && rrs[1].rdata == .ns(n("ns1.example.com.")))
        #expect(rrs[2].name == n("example.com.") && rrs[2].rdata == .ns(n("ns2.example.net.")))
        #expect(rrs[3].rdata == .mx(MX(preference: 10, exchange: n("mail.example.com."))))
        // TTL and class in either order.
        #expect(rrs[4].name == n("ns1.example.com.") && rrs[4].ttl == 300)
        #expect(rrs[5].name == n("ns1.example.com.") && rrs[5].ttl == 600 && rrs[5].type == .aaaa)
        #expect(rrs[6].ttl == 3600)  // $TTL, not the last explicit TTL
        #expect(rrs[7].rdata == .cname(n("example.com.")))
        #expect(rrs[8].rdata == .txt([Array("hello; not a comment".utf8), Array("second".utf8), Array("third".utf8)]))
        #expect(rrs[9].name.labels.count == 3 && rrs[9].name.labels[0].elementsEqual("esc.dot".utf8))
        // $ORIGIN relative to the previous origin.
        #expect(rrs[10].name == n("host.sub.example.com.") && rrs[10].ttl == 60)
        #expect(rrs[11].name == n("*.sub.example.com.") && rrs[11].name.isWildcard)
        #expect(rrs[12].name == n("late.sub.example.com.") && rrs[12].ttl == 300)
        #expect(rrs[13].name == n("abs.example.org.") && rrs[13].rrclass == .ch && rrs[13].ttl == 7)
        // The class is kept for later records that omit it.
        let chaos = try ZoneFileParser.records(in: "abs.example.org. CH 7 TXT \"chaos\"\n  TXT again")
        #expect(chaos.map(\.rrclass) == [.ch, .ch] && chaos.map(\.ttl) == [7, 7])
    }

    @Test func ttlRules() throws {
        // Without $TTL, the last explicit TTL carries over (RFC 1035 §5.1).
        let rrs = try ZoneFileParser.records(in: "a.example. 300 A 192.0.2.1\nb.example. A 192.0.2.2\n$TTL 9\nc.example. A 192.0.2.3")
        #expect(rrs.map(\.ttl) == [300, 300, 9])
        // The default TTL given stands in for $TTL.
        let d = try ZoneFileParser.records(in: "a.example. A 192.0.2.1", defaultTTL: 42)
        #expect(d.first?.ttl == 42)
        // A TTL-looking owner is still the owner; units work in the TTL field.
        let o = try ZoneFileParser.records(in: "1 1d IN PTR host.example.", origin: n("2.0.192.in-addr.arpa."))
        #expect(o.first?.name == n("1.2.0.192.in-addr.arpa.") && o.first?.ttl == 86400)
    }

    @Test func parserKeepsStateAcrossPieces() throws {
        var p = ZoneFileParser()
        _ = try p.parse("$ORIGIN example.\n$TTL 60\n")
        let a = try p.parse("www A 192.0.2.1\n")
        let b = try p.parse("  AAAA ::1\n")
        #expect(a.first?.name == n("www.example.") && b.first?.name == n("www.example.") && b.first?.ttl == 60)
        #expect(p.origin == n("example.") && p.lastOwner == n("www.example."))
    }

    @Test func rfc3597Records() throws {
        // RFC 3597 §5.
        let rrs = try ZoneFileParser.records(in: """
            a.example.   CLASS32     TYPE731         \\# 6 abcd (
                                                      ef 01 23 45 )
            b.example.   HS          TYPE62347       \\# 0
            e.example.   IN          A               \\# 4 0A000001
            e.example.   CLASS1      TYPE1           10.0.0.2
            """, defaultTTL: 0)
        #expect(rrs.count == 4)
        #expect(rrs[0].rrclass == RRClass(32) && rrs[0].type == RRType(731))
        #expect(rrs[0].rdata == .unknown([0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45]))
        #expect(rrs[1].rrclass == .hs && rrs[1].rdata == .unknown([]))
        #expect(rrs[2].rdata == .a(IPv4Address(10, 0, 0, 1)))
        #expect(rrs[3].rrclass == .in && rrs[3].type == .a && rrs[3].rdata == .a(IPv4Address(10, 0, 0, 2)))
        #expect(rrs[0].presentation == "a.example.\t0\tCLASS32\tTYPE731\t\\# 6 ABCDEF012345")
    }

    /// RFC 9460 Appendix D in presentation and in wire form (the layout of NLnet Labs' test
    /// zones): each pair must give the same records.
    @Test func svcbTestVectors() throws {
        let pf = """
            $ORIGIN test-vectors.
            $TTL 3600
            @\tSOA\tprimary admin 1 3600 1800 7200 3600
            \tNS\tprimary
            primary\tA\t127.0.0.1
            v01\tSVCB\t0 foo.example.com.
            v02\tSVCB\t1 .
            v03\tSVCB\t16 foo.example.com. port=53
            v04\tSVCB\t1 foo.example.com. key667=hello
            v05\tSVCB\t1 foo.example.com. key667="hello\\210qoo"
            v06\tSVCB\t1 foo.example.com. ipv6hint="2001:db8::1,2001:db8::53:1"
            v07\tSVCB\t1 example.com. ipv6hint="2001:db8:ffff:ffff:ffff:ffff:198.51.100.100"
            v08\tSVCB\t16 foo.example.org. (alpn=h2,h3-19 mandatory=ipv4hint,alpn
                                ipv4hint=192.0.2.1)
            v09\tSVCB\t16 foo.example.org. alpn="f\\\\\\\\oo\\\\,bar,h2"
            v10\tSVCB\t16 foo.example.org. alpn=f\\\\\\092oo\\092,bar,h2
            """
        let wf = """
            $ORIGIN test-vectors.
            $TTL 3600
            @\tSOA\tprimary admin 1 3600 1800 7200 3600
            \tNS\tprimary
            primary\tA\t127.0.0.1
            v01\tSVCB\t\\# 19 (
            00 00                                              ; priority
            03 66 6f 6f 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00 ; target
            )
            v02\tSVCB\t\\# 3 ( 00 01 00 )
            v03\tSVCB\t\\# 25 (
            00 10 03 66 6f 6f 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00
            00 03 00 02 00 35 )
            v04\tSVCB\t\\# 28 (
            00 01 03 66 6f 6f 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00
            02 9b 00 05 68 65 6c 6c 6f )
            v05\tSVCB\t\\# 32 (
            00 01 03 66 6f 6f 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00
            02 9b 00 09 68 65 6c 6c 6f d2 71 6f 6f )
            v06\tSVCB\t\\# 55 (
            00 01 03 66 6f 6f 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00
            00 06 00 20
            20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01
            20 01 0d b8 00 00 00 00 00 00 00 00 00 53 00 01 )
            v07\tSVCB\t\\# 35 (
            00 01 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00
            00 06 00 10 20 01 0d b8 ff ff ff ff ff ff ff ff c6 33 64 64 )
            v08\tSVCB\t\\# 48 (
            00 10 03 66 6f 6f 07 65 78 61 6d 70 6c 65 03 6f 72 67 00
            00 00 00 04 00 01 00 04
            00 01 00 09 02 68 32 05 68 33 2d 31 39
            00 04 00 04 c0 00 02 01 )
            v09\tSVCB\t\\# 35 (
            00 10 03 66 6f 6f 07 65 78 61 6d 70 6c 65 03 6f 72 67 00
            00 01 00 0c 08 66 5c 6f 6f 2c 62 61 72 02 68 32 )
            v10\tSVCB\t\\# 35 (
            00 10 03 66 6f 6f 07 65 78 61 6d 70 6c 65 03 6f 72 67 00
            00 01 00 0c 08 66 5c 6f 6f 2c 62 61 72 02 68 32 )
            """
        let a = try ZoneFileParser.records(in: pf)
        let b = try ZoneFileParser.records(in: wf)
        #expect(a.count == 13)
        #expect(a == b)
        for (x, y) in zip(a, b) where x != y {
            Issue.record("\(x.presentation)\n  vs \(y.presentation)")
        }
        #expect(a[1].name == n("test-vectors.") && a[1].rdata == .ns(n("primary.test-vectors.")))
        #expect(a.last.map { $0.rdata.presentation(type: .svcb) } == #"16 foo.example.org. alpn="f\\\\oo\\,bar,h2""#)
    }

    /// What `dig +dnssec` prints for RFC 5155 Appendix B.1 (a name error under NSEC3), plus a
    /// DNSKEY answer: everything but the records is comments.
    static let digOutput = """

        ; <<>> DiG 9.18.33-1~deb12u2-Debian <<>> +dnssec @192.0.2.53 a.c.x.w.example. A
        ; (1 server found)
        ;; global options: +cmd
        ;; Got answer:
        ;; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 18447
        ;; flags: qr aa rd; QUERY: 1, ANSWER: 0, AUTHORITY: 8, ADDITIONAL: 1
        ;; WARNING: recursion requested but not available

        ;; OPT PSEUDOSECTION:
        ; EDNS: version: 0, flags: do; udp: 1232
        ; COOKIE: 4a0b3a1e5c2f8d71010000006740e9a1c3b1e0f2a4d5c6b7 (good)
        ;; QUESTION SECTION:
        ;a.c.x.w.example.\t\tIN\tA

        ;; AUTHORITY SECTION:
        example.\t\t3600\tIN\tSOA\tns1.example. bugs.x.w.example. 1 3600 300 3600000 3600
        example.\t\t3600\tIN\tRRSIG\tSOA 7 1 3600 20150420235959 20051021000000 40430 example. Hu25UIyNPmvPIVBrldN+9Mlp9Zql39qaUd8iq4ZLlYWfUUbbAS41pG+6 8z81q1xhkYAcEyHdVI2LmKusbZsT0Q==
        0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. 3600 IN NSEC3 1 1 12 AABBCCDD 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR NS SOA MX RRSIG DNSKEY NSEC3PARAM
        0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. 3600 IN RRSIG NSEC3 7 2 3600 20150420235959 20051021000000 40430 example. OSgWSm26B+cS+dDL8b5QrWr/dEWhtCsKlwKLIBHYH6blRxK9rC0bMJPw Q4mLIuw85H2EY762BOCXJZMnpuwhpA==
        b4um86eghhds6nea196smvmlo4ors995.example. 3600 IN NSEC3 1 1 12 AABBCCDD GJEQE526PLBF1G8MKLP59ENFD789NJGI MX RRSIG
        b4um86eghhds6nea196smvmlo4ors995.example. 3600 IN RRSIG NSEC3 7 2 3600 20150420235959 20051021000000 40430 example. ZkPG3M32lmoHM6pa3D6gZFGB/rhL//Bs3Omh5u4m/CUiwtblEVOaAKKZ d7S959OeiX43aLX3pOv0TSTyiTxIZg==
        35mthgpgcu1qg68fab165klnsnk3dpvl.example. 3600 IN NSEC3 1 1 12 AABBCCDD B4UM86EGHHDS6NEA196SMVMLO4ORS995 NS DS RRSIG
        35mthgpgcu1qg68fab165klnsnk3dpvl.example. 3600 IN RRSIG NSEC3 7 2 3600 20150420235959 20051021000000 40430 example. g6jPUUpduAJKRljUsN8gB4UagAX0NxY9shwQAynzo8EUWH+z6hEIBlUT PGj15eZll6VhQqgZXtAIR3chwgW+SA==

        ;; Query time: 0 msec
        ;; SERVER: 192.0.2.53#53(192.0.2.53) (UDP)
        ;; WHEN: Sat Nov 22 00:44:00 UTC 2025
        ;; MSG SIZE  rcvd: 1001

        ;; ANSWER SECTION:
        example.\t\t3600\tIN\tDNSKEY\t256 3 7 AwEAAaetidLzsKWUt4swWR8yu0wPHPiUi8LUsAD0QPWU+wzt89epO6tH zkMBVDkC7qphQO2hTY4hHn9npWFRw5BYubE=
        example.\t\t3600\tIN\tDNSKEY\t257 3 7 AwEAAcUlFV1vhmqx6NSOUOq2R/dsR7Xm3upJj7IommWSpJABVfW8Q0rO vXdM6kzt+TAu92L9AbsUdblMFin8CVF3n4s=
        example.\t\t3600\tIN\tRRSIG\tDNSKEY 7 1 3600 20150420235959 20051021000000 12708 example. AuU4juU9RaxescSmStrQks3Gh9FblGBlVU31uzMZ/U/FpsUb8aC6QZS+ sTsJXnLnz7flGOsmMGQZf3bH+QsCtg==
        """

    /// `dig +multiline` output: parentheses, and comments after the data and inside it.
    @Test func digMultilineOutput() throws {
        let text = """
            ;; ANSWER SECTION:
            example.com.\t\t3600 IN\tSOA ns.icann.org. noc.dns.icann.org. (
            \t\t\t\t2024081464 ; serial
            \t\t\t\t7200       ; refresh (2 hours)
            \t\t\t\t3600       ; retry (1 hour)
            \t\t\t\t1209600    ; expire (2 weeks)
            \t\t\t\t3600       ; minimum (1 hour)
            \t\t\t\t)
            example.com.\t\t3600 IN\tDNSKEY 257 3 13 (
            \t\t\t\tmdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+
            \t\t\t\tKkxLbxILfDLUT0rAK9iUzy1L53eKGQ==
            \t\t\t\t) ; KSK; alg = ECDSAP256SHA256 ; key id = 2371
            example.com.\t\t3600 IN\tRRSIG DNSKEY 13 2 3600 (
            \t\t\t\t20241120000000 20241030000000 2371 example.com.
            \t\t\t\t6gqUbxahuk2jHzgPp5Dw1MYmYvzNCzZX8QnGVpFSDJZYwCwQ6Mn1sb1k
            \t\t\t\tRfvgE6h6ndBSmExNXVNqeKfnZmtLeQ== )
            """
        let rrs = try ZoneFileParser.records(in: text)
        #expect(rrs.map(\.type) == [.soa, .dnskey, .rrsig])
        #expect(rrs[0].presentation == "example.com.\t3600\tIN\tSOA\tns.icann.org. noc.dns.icann.org. 2024081464 7200 3600 1209600 3600")
        guard case let .dnskey(k) = rrs[1].rdata, case let .rrsig(s) = rrs[2].rdata else {
            Issue.record("unexpected data")
            return
        }
        #expect(k.algorithm == .ecdsaP256SHA256 && k.publicKey.count == 64 && k.isSEP)
        #expect(s.typeCovered == .dnskey && s.keyTag == 2371 && s.signature.count == 64)
        #expect(rrs[2].presentation.hasSuffix(
            "20241120000000 20241030000000 2371 example.com. 6gqUbxahuk2jHzgPp5Dw1MYmYvzNCzZX8QnGVpFSDJZYwCwQ6Mn1sb1k RfvgE6h6ndBSmExNXVNqeKfnZmtLeQ=="))
    }

    @Test func digDNSSECOutput() throws {
        let rrs = try ZoneFileParser.records(in: Self.digOutput)
        #expect(rrs.count == 11)
        #expect(rrs.map(\.type) == [.soa, .rrsig, .nsec3, .rrsig, .nsec3, .rrsig, .nsec3, .rrsig, .dnskey, .dnskey, .rrsig])
        guard case let .rrsig(sig) = rrs[1].rdata, case let .nsec3(n3) = rrs[2].rdata,
              case let .dnskey(ksk) = rrs[9].rdata else {
            Issue.record("unexpected data")
            return
        }
        #expect(sig.typeCovered == .soa && sig.algorithm == .rsaSHA1NSEC3 && sig.labels == 1 && sig.keyTag == 40430)
        #expect(sig.expiration == 1_429_574_399 && sig.inception == 1_129_852_800 && sig.signature.count == 64)
        #expect(n3.salt == [0xAA, 0xBB, 0xCC, 0xDD] && n3.optOut && n3.iterations == 12)
        // The next hashed owner is the owner label of the next NSEC3 in the chain.
        #expect(n3.nextHashedOwner == (try Base32Hex.decode("2t7b4g4vsa5smi47k61mv5bv1a22bojr")))
        #expect(ksk.flags == 257 && ksk.isSEP && ksk.publicKey.count == 68)
        // Printing gives dig's text back, up to its column padding.
        let records = Self.digOutput.split(separator: "\n").filter { !$0.hasPrefix(";") && !$0.isEmpty }
        for (rr, line) in zip(rrs, records) {
            let squeeze = { (s: String) in s.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ") }
            #expect(squeeze(rr.presentation) == squeeze(String(line)))
        }
        // And the records survive the wire.
        let m = Message(header: Header(id: 1, flags: 0x8400), authority: rrs)
        #expect(try Message(wire: m.serialize()).authority == rrs)
    }
}
