import Testing
@testable import DNSCore

/// Parses `text` as `type`, checks it prints as `printed` (default: `text`), that the printed
/// form parses to the same value, and that the value survives its wire form. Returns the value.
@discardableResult
func presentationRoundTrip(_ type: RRType, _ text: String, _ printed: String? = nil,
                           origin: DNSName? = nil,
                           sourceLocation: SourceLocation = #_sourceLocation) throws -> RData {
    let rd = try RData(type: type, presentation: text, origin: origin)
    let out = rd.presentation(type: type)
    #expect(out == (printed ?? text), sourceLocation: sourceLocation)
    #expect(try RData(type: type, presentation: out) == rd, sourceLocation: sourceLocation)
    let wire = rd.wire(type: type)
    var r = WireReader(wire)
    let back = try RData.parse(type: type, length: wire.count, from: &r)
    #expect(back == rd, sourceLocation: sourceLocation)
    #expect(back.wire(type: type) == wire, sourceLocation: sourceLocation)
    // The RFC 3597 generic form of the same bytes reads back as the typed value too.
    let generic = "\\# \(wire.count) " + Hex.encode(wire)
    #expect(try RData(type: type, presentation: generic) == rd, sourceLocation: sourceLocation)
    return rd
}

@Suite struct PresentationRDataTests {
    let example = try! DNSName("example.com.")

    @Test func addressesAndNames() throws {
        #expect(try presentationRoundTrip(.a, "192.0.2.1") == .a(IPv4Address(192, 0, 2, 1)))
        try presentationRoundTrip(.a, "0.0.0.0")
        try presentationRoundTrip(.a, "255.255.255.255")
        try presentationRoundTrip(.aaaa, "2001:db8::1")
        #expect(try presentationRoundTrip(.ns, "ns1.example.com.") == .ns(try DNSName("ns1.example.com.")))
        try presentationRoundTrip(.cname, "www", "www.example.com.", origin: example)
        try presentationRoundTrip(.cname, "@", "example.com.", origin: example)
        try presentationRoundTrip(.dname, "example.net.")
        try presentationRoundTrip(.ptr, "host.example.com.")
        try presentationRoundTrip(.ns, ".")
    }

    @Test func soaMXSRV() throws {
        let soa = try presentationRoundTrip(.soa, "ns1.example.com. hostmaster.example.com. 2025112201 7200 900 1209600 300")
        guard case let .soa(s) = soa else { Issue.record("not SOA"); return }
        #expect(s.serial == 2025112201 && s.expire == 1209600 && s.minimum == 300)
        // BIND's unit form for the timers, over several lines.
        try presentationRoundTrip(.soa, "ns1 hostmaster ( 1 ; serial\n 2h 15m\n 2w 5m )",
                                  "ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 300", origin: example)
        try presentationRoundTrip(.mx, "10 mail.example.com.")
        try presentationRoundTrip(.mx, "0 .")
        try presentationRoundTrip(.srv, "0 5 5060 sipserver.example.com.")
        try presentationRoundTrip(.srv, "65535 65535 65535 _sip._tcp.example.com.")
    }

    @Test func txtAndCharacterStrings() throws {
        try presentationRoundTrip(.txt, "\"v=spf1 -all\"")
        #expect(try presentationRoundTrip(.txt, "\"a\" \"b c\" \"\"") == .txt([[0x61], [0x62, 0x20, 0x63], []]))
        // Unquoted words are separate strings.
        try presentationRoundTrip(.txt, "hello world", "\"hello\" \"world\"")
        // Quote, backslash, control bytes and UTF-8 are escaped on output.
        let rd = try presentationRoundTrip(.txt, #""say \"hi\" \\ tab\009 é""#, #""say \"hi\" \\ tab\009 \195\169""#)
        #expect(rd == .txt([Array("say \"hi\" \\ tab\t é".utf8)]))
        // \X escapes any character; `;` inside quotes is not a comment.
        try presentationRoundTrip(.txt, #""a\;b; c""#, #""a;b; c""#)
        try presentationRoundTrip(.txt, #"\065\066C"#, #""ABC""#)
        // 255 bytes is the limit of one string.
        let long = String(repeating: "x", count: 255)
        try presentationRoundTrip(.txt, "\"\(long)\" \"\(long)\"")
        try presentationRoundTrip(.hinfo, "\"PC-Intel-700mhz\" \"NetBSD 1.4\"")
    }

    @Test func naptrAndCAA() throws {
        // RFC 3403 §6.2: a backslash in a regexp is doubled in the quoted string.
        let n = try presentationRoundTrip(.naptr, #"100 10 "" "" "!^urn:cid:.+@([^\\.]+\\.)(.*)$!\\2!i" ."#)
        guard case let .naptr(x) = n else { Issue.record("not NAPTR"); return }
        #expect(x.regexp == Array(#"!^urn:cid:.+@([^\.]+\.)(.*)$!\2!i"#.utf8))
        try presentationRoundTrip(.naptr, #"100 50 "s" "z3950+I2L+I2C" "" _z3950._tcp.gatech.edu."#)
        try presentationRoundTrip(.naptr, #"10 100 "S" "SIP+D2U" "" _sip._udp.example.com."#)
        // RFC 8659 examples.
        #expect(try presentationRoundTrip(.caa, #"0 issue "ca.example.net""#)
                == .caa(CAA(flags: 0, tag: Array("issue".utf8), value: Array("ca.example.net".utf8))))
        try presentationRoundTrip(.caa, #"0 iodef "mailto:security@example.com""#)
        try presentationRoundTrip(.caa, #"128 tbs "Unknown""#)
        try presentationRoundTrip(.caa, "0 issue ca.example.net", #"0 issue "ca.example.net""#)
        try presentationRoundTrip(.caa, #"0 issuewild ";""#)
        // A value may be longer than a <character-string>.
        let long = String(repeating: "v", count: 300)
        try presentationRoundTrip(.caa, "0 issue \"\(long)\"")
        // A tag text cannot carry prints in the generic form.
        let odd = RData.caa(CAA(flags: 0, tag: [0x20, 0x41], value: []))
        #expect(odd.presentation(type: .caa) == "\\# 4 00022041")
        #expect(try RData(type: .caa, presentation: odd.presentation(type: .caa)) == odd)
    }

    // RFC 4034 §2.3, §3.3, §4.3, §5.4 examples.
    static let rfc4034Key = "AQPSKmynfzW4kyBv015MUG2DeIQ3Cbl+BBZH4b/0PY1kxkmvHjcZc8nokfzj31GajIQKY+5CptLr3buXA10h"
        + "WqTkF7H6RfoRqXQeogmMHfpftf6zMv1LyBUgia7za6ZEzOJBOztyvhjL742iU/TpPSEDhm2SNKLijfUppn1UaNvv4w=="
    static let rfc4034Sig = "oJB1W6WNGv+ldvQ3WDG0MQkg5IEhjRip8WTrPYGv07h108dUKGMeDPKijVCHX3DDKdfb+v6oB9wfuh3DTJXUAfI/"
        + "M0zmO/zz8bW0Rznl8O3tGNazPwQKkRN20XPXV6nwwfoXmJQbsLNrLfkGJ5D6fwFm8nN+6pBzeDQfsS3Ap3o="

    @Test func dnssecRecords() throws {
        let key = try presentationRoundTrip(.dnskey, "256 3 5 ( \(Self.rfc4034Key) )",
                                            "256 3 5 " + PresentationText.split(Self.rfc4034Key))
        guard case let .dnskey(k) = key else { Issue.record("not DNSKEY"); return }
        #expect(k.isZoneKey && !k.isSEP && k.algorithm == .rsaSHA1 && k.publicKey.count == 130)
        // dig splits long base64 into chunks of 56 characters; the parser joins them again.
        #expect(key.presentation(type: .dnskey).hasPrefix("256 3 5 AQPSKmynfzW4kyBv015MUG2DeIQ3Cbl+BBZH4b/0PY1kxkmvHjcZc8no kfzj31"))
        try presentationRoundTrip(.cdnskey, "257 3 RSASHA1 \(Self.rfc4034Key)",
                                  "257 3 5 " + PresentationText.split(Self.rfc4034Key))

        let sig = try presentationRoundTrip(
            .rrsig, "A 5 3 86400 20030322173103 ( 20030220173103 2642 example.com.\n\(Self.rfc4034Sig) )",
            "A 5 3 86400 20030322173103 20030220173103 2642 example.com. " + PresentationText.split(Self.rfc4034Sig))
        guard case let .rrsig(s) = sig else { Issue.record("not RRSIG"); return }
        #expect(s.typeCovered == .a && s.labels == 3 && s.keyTag == 2642)
        #expect(s.expiration == 1_048_354_263 && s.inception == 1_045_762_263)
        // Times may also be plain seconds.
        try presentationRoundTrip(.rrsig, "TYPE1234 13 2 300 1048354263 0 1 example. AAAA",
                                  "TYPE1234 13 2 300 20030322173103 19700101000000 1 example. AAAA")

        let ds = try presentationRoundTrip(.ds, "60485 5 1 ( 2BB183AF5F22588179A53B0A\n 98631FAD1A292118 )",
                                           "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118")
        guard case let .ds(d) = ds else { Issue.record("not DS"); return }
        #expect(d.keyTag == 60485 && d.digestType == .sha1 && d.digest.count == 20)
        // Lower-case input prints upper-case, split at 56 like dig.
        try presentationRoundTrip(.cds, "20326 8 2 e06d44b80b8f1d39a95c0b0d7c65d08458e880409bbc683457104237c7f8ec8d",
                                  "20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237 C7F8EC8D")

        try presentationRoundTrip(.nsec, "host.example.com. A MX RRSIG NSEC TYPE1234")
        try presentationRoundTrip(.nsec, "host.example.com. nsec a TYPE1 mx rrsig TYPE1234",
                                  "host.example.com. A MX RRSIG NSEC TYPE1234")
        try presentationRoundTrip(.nsec, "\\000.example.com.")
    }

    @Test func nsec3() throws {
        // RFC 5155 Appendix A; dig prints salt and hash upper-case.
        let rd = try presentationRoundTrip(
            .nsec3, "1 1 12 aabbccdd ( 2t7b4g4vsa5smi47k61mv5bv1a22bojr MX DNSKEY NS\n SOA NSEC3PARAM RRSIG )",
            "1 1 12 AABBCCDD 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR NS SOA MX RRSIG DNSKEY NSEC3PARAM")
        guard case let .nsec3(n) = rd else { Issue.record("not NSEC3"); return }
        #expect(n.optOut && n.iterations == 12 && n.salt == [0xAA, 0xBB, 0xCC, 0xDD] && n.nextHashedOwner.count == 20)
        #expect(n.types.contains(.dnskey) && !n.types.contains(.a))
        // No salt, no types (an empty non-terminal).
        try presentationRoundTrip(.nsec3, "1 0 0 - K8UDEMVP1J2F7EG6JEBPS17VP3N8I58H")
        try presentationRoundTrip(.nsec3param, "1 0 12 aabbccdd", "1 0 12 AABBCCDD")
        try presentationRoundTrip(.nsec3param, "1 0 0 -")
    }

    @Test func svcb() throws {
        // RFC 9460 Appendix D.
        try presentationRoundTrip(.svcb, "0 foo.example.com.")
        try presentationRoundTrip(.svcb, "1 .")
        try presentationRoundTrip(.svcb, "16 foo.example.com. port=53")
        try presentationRoundTrip(.svcb, "1 foo.example.com. key667=hello", "1 foo.example.com. key667=\"hello\"")
        try presentationRoundTrip(.svcb, #"1 foo.example.com. key667="hello\210qoo""#)
        try presentationRoundTrip(.svcb, #"1 foo.example.com. ipv6hint="2001:db8::1,2001:db8::53:1""#,
                                  "1 foo.example.com. ipv6hint=2001:db8::1,2001:db8::53:1")
        try presentationRoundTrip(.svcb, #"1 example.com. ipv6hint="2001:db8:ffff:ffff:ffff:ffff:198.51.100.100""#,
                                  "1 example.com. ipv6hint=2001:db8:ffff:ffff:ffff:ffff:c633:6464")
        let sorted = try presentationRoundTrip(
            .svcb, "16 foo.example.org. (alpn=h2,h3-19 mandatory=ipv4hint,alpn\n ipv4hint=192.0.2.1)",
            #"16 foo.example.org. mandatory=alpn,ipv4hint alpn="h2,h3-19" ipv4hint=192.0.2.1"#)
        guard case let .svcb(s) = sorted else { Issue.record("not SVCB"); return }
        #expect(s.params.map(\.key) == [.mandatory, .alpn, .ipv4hint])
        #expect(s.params[0].value == [0, 1, 0, 4])
        // An alpn id holding a comma and a backslash, in both escapings of Appendix D.
        let a = try presentationRoundTrip(.svcb, #"16 foo.example.org. alpn="f\\\\oo\\,bar,h2""#)
        let b = try presentationRoundTrip(.svcb, #"16 foo.example.org. alpn=f\\\092oo\092,bar,h2"#,
                                          #"16 foo.example.org. alpn="f\\\\oo\\,bar,h2""#)
        #expect(a == b)
        guard case let .svcb(v) = a else { Issue.record("not SVCB"); return }
        #expect(v.params == [SVCParam(key: .alpn, value: [8] + Array(#"f\oo,bar"#.utf8) + [2, 0x68, 0x32])])

        // HTTPS as served today, with ECH; dohpath from RFC 9461.
        let ech = "AEj+CgBETwAgACDeVpr34JzYHDGNFoGWhksj5mpBxradonbqH3X9+h7jHgAEAAEAAQAAABNjbG91ZGZsYXJlLWVzbmkuY29tAAA="
        try presentationRoundTrip(.https, "1 . alpn=\"h3,h2\" ipv4hint=104.16.132.229,104.16.133.229 ech=\(ech) "
                                  + "ipv6hint=2606:4700::6810:84e5,2606:4700::6810:85e5")
        try presentationRoundTrip(.https, "1 . no-default-alpn alpn=h3 port=8443",
                                  "1 . alpn=\"h3\" no-default-alpn port=8443")
        try presentationRoundTrip(.svcb, "2 doh.example.net. alpn=h2 dohpath=/dns-query{?dns}",
                                  "2 doh.example.net. alpn=\"h2\" dohpath=\"/dns-query{?dns}\"")
        try presentationRoundTrip(.svcb, "1 . key65000 key65001=\"\"", "1 . key65000 key65001")
        // Values the typed forms cannot show print generically and read back unchanged.
        let bad = RData.svcb(SVCB(priority: 1, target: .root, params: [
            SVCParam(key: .mandatory, value: [0, 4, 0, 1]), SVCParam(key: .port, value: [1]),
            SVCParam(key: .ipv6hint, value: [])]))
        #expect(bad.presentation(type: .svcb) == #"1 . key0="\000\004\000\001" key3="\001" key6"#)
        #expect(try RData(type: .svcb, presentation: bad.presentation(type: .svcb)) == bad)
    }

    @Test func aaaaCanonicalText() throws {
        let cases: [(String, String)] = [
            ("::", "::"),
            ("::1", "::1"),
            ("1::", "1::"),
            ("2001:db8::1", "2001:db8::1"),
            ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
            ("2001:DB8::ABCD", "2001:db8::abcd"),
            // A single zero group is not compressed (RFC 5952 §4.2.2).
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
            ("fe80::1:2:3:4:5:6", "fe80:0:1:2:3:4:5:6"),
            ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
            // The longest run wins; of equal runs, the first (§4.2.3).
            ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            ("0:0:1:0:0:1:0:0", "::1:0:0:1:0:0"),
            ("1:0:0:0:0:0:0:0", "1::"),
            // Leading zeros dropped inside groups.
            ("2001:db8:00aa:0bb:c:0d00::", "2001:db8:aa:bb:c:d00::"),
            // Embedded IPv4: mapped addresses keep the dotted form (§5), others do not.
            ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
            ("::FFFF:c000:0201", "::ffff:192.0.2.1"),
            ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
        ]
        for (input, canonical) in cases {
            #expect(try IPv6Address(presentation: input).presentation == canonical, "\(input)")
            try presentationRoundTrip(.aaaa, input, canonical)
        }
        for bad in ["", ":", ":::", "1::2::3", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "12345::", "g::1", ":1::2",
                    "1::2:", "1:2:3:4:5:6:7:8::", "::1.2.3", "1.2.3.4::", "::256.0.0.1", "1:2:3:4:5:6:7:1.2.3.4"] {
            #expect(throws: PresentationError.self, "\(bad)") { try IPv6Address(presentation: bad) }
        }
    }

    @Test func nameEscapes() throws {
        let n = try presentationRoundTrip(.ns, #"a\.b.example."#)
        guard case let .ns(name) = n else { Issue.record("not NS"); return }
        #expect(name.labels.map(Array.init) == [Array("a.b".utf8), Array("example".utf8)])
        try presentationRoundTrip(.ns, #"\065bc.example."#, "Abc.example.")
        try presentationRoundTrip(.ns, #"my\ host.example."#, #"my\032host.example."#)
        try presentationRoundTrip(.ptr, #"\@\$\(\)\;\"\\.example."#)
        try presentationRoundTrip(.cname, #"\255\000.example."#)
    }

    @Test func genericForm() throws {
        // RFC 3597 §5 examples.
        let unknown = try RData(type: RRType(731), presentation: "\\# 6 abcd (\n ef 01 23 45 )")
        #expect(unknown == .unknown([0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45]))
        #expect(unknown.presentation(type: RRType(731)) == "\\# 6 ABCDEF012345")
        #expect(try presentationRoundTrip(RRType(62347), "\\# 0") == .unknown([]))
        #expect(try RData(type: .a, presentation: "\\# 4 0A000001") == .a(IPv4Address(10, 0, 0, 1)))
        // Known types are parsed into their typed case.
        let mx = try RData(type: .mx, presentation: "\\# 20 000a 046d61696c076578616d706c6503636f6d00")
        #expect(mx == .mx(MX(preference: 10, exchange: try DNSName("mail.example.com."))))
        #expect(try RData(type: .txt, presentation: "\\# 3 026869") == .txt([[0x68, 0x69]]))
        // OPT data exists only in the generic form.
        let opt = RData.opt([EDNSOption(code: .cookie, data: [1, 2, 3, 4, 5, 6, 7, 8])])
        #expect(opt.presentation(type: .opt) == "\\# 12 000A00080102030405060708")
        #expect(try RData(type: .opt, presentation: opt.presentation(type: .opt)) == opt)
        // A type without a typed case prints generically even with a long payload, split like dig.
        let big = RData.unknown([UInt8](repeating: 0xAB, count: 40))
        #expect(big.presentation(type: RRType(65280))
                == "\\# 40 " + String(repeating: "AB", count: 28) + " " + String(repeating: "AB", count: 12))
        try presentationRoundTrip(RRType(65280), big.presentation(type: RRType(65280)))
        // HINFO that is not two strings stays generic.
        try presentationRoundTrip(.hinfo, "\\# 2 0161")
    }
}
