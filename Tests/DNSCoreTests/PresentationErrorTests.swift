import Testing
@testable import DNSCore

/// Malformed presentation text: each case must throw (never trap) an error that names the
/// problem; `contains` is checked against the message and `line` against the line.
@Suite struct PresentationErrorTests {
    func rdataError(_ type: RRType, _ text: String) -> PresentationError? {
        do {
            _ = try RData(type: type, presentation: text)
            return nil
        } catch {
            return error
        }
    }

    func zoneError(_ text: String) -> PresentationError? {
        do {
            _ = try ZoneFileParser.records(in: text, origin: try! DNSName("example.com."), defaultTTL: 300)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        (RRType.a, "192.0.2.256", "A address: '192.0.2.256' is not an IPv4 address: octet 256 is above 255"),
        (.a, "192.0.2", "3 parts, need 4"),
        (.a, "", "A address: expected an IPv4 address, found the end of the record"),
        (.a, "192.0.2.1 192.0.2.2", "A data: unexpected '192.0.2.2' after the last field"),
        (.aaaa, "2001:db8::1::2", "more than one '::'"),
        (.mx, "70000 mail.example.", "MX preference: '70000' is out of range 0-65535"),
        (.mx, "-1 mail.example.", "MX preference: expected a decimal number, found '-1'"),
        (.mx, "10", "MX exchange: expected a domain name, found the end of the record"),
        (.ns, "a..example.", "NS name server: empty label"),
        (.ns, String(repeating: "a", count: 64) + ".example.", "label of 64 bytes"),
        (.txt, "\"" + String(repeating: "x", count: 256) + "\"", "TXT text: character-string of 256 bytes (limit 255)"),
        (.txt, "", "TXT text: expected a character-string"),
        (.txt, #""bad \300""#, "above \\255"),
        (.txt, #""bad \12x""#, "three digits"),
        (.txt, "\"abc", "quoted string is not closed"),
        (.txt, "( \"abc\"", "'(' opened on line 1 is never closed"),
        (.txt, "\"abc\" )", "')' without a matching '('"),
        (.soa, "ns. host. 1 2 3 4", "SOA minimum: expected a number of seconds"),
        (.soa, "ns. host. 4294967296 2 3 4 5", "SOA serial: '4294967296' is out of range 0-4294967295"),
        (.soa, "ns. host. 1 99999999999 3 4 5", "SOA refresh"),
        (.srv, "1 2 65536 t.", "SRV port: '65536' is out of range"),
        (.caa, "256 issue \"x\"", "CAA flags: '256' is out of range 0-255"),
        (.caa, "0 is-sue \"x\"", "CAA tag: 'is-sue' is not 1-255 letters and digits"),
        (.dnskey, "256 3 8 AwEA!AAA", "DNSKEY public key: invalid base64 character '!' at position 4"),
        (.dnskey, "256 3 8 AwEAAA", "not a multiple of 4"),
        (.dnskey, "256 3 NOSUCHALG AwEA", "DNSKEY algorithm: unknown algorithm 'NOSUCHALG'"),
        (.ds, "1 8 2 abc", "DS digest: hex text of 3 digits"),
        (.ds, "1 8 2 zz", "invalid hex digit 'z'"),
        (.rrsig, "A 8 2 300 20031322000000 20030101000000 1 example. AAAA", "RRSIG expiration: time '20031322000000' has month 13"),
        (.rrsig, "FOO 8 2 300 1 2 3 example. AAAA", "RRSIG type covered: unknown type 'FOO'"),
        (.rrsig, "TYPE65536 8 2 300 1 2 3 example. AAAA", "out of range 0-65535"),
        (.nsec, "next.example. A BOGUS", "NSEC type list: unknown type 'BOGUS'"),
        (.nsec3, "1 1 12 aabbccdd CPNMU=== A", "NSEC3 next hashed owner: invalid base32hex character '='"),
        (.nsec3, "1 1 12 abc 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR", "NSEC3 salt: hex text of 3 digits"),
        (.nsec3param, "1 0 65536 -", "NSEC3PARAM iterations: '65536' is out of range"),
        (.svcb, "1 . alpn", "SVCB alpn: needs a value"),
        (.svcb, "1 . port", "SVCB port: needs a value"),
        (.svcb, "1 . port=http", "SVCB port: expected a decimal number"),
        (.svcb, "1 . no-default-alpn=abc", "SVCB no-default-alpn: takes no value"),
        (.svcb, "1 . mandatory=mandatory", "may not list mandatory itself"),
        (.svcb, "1 . mandatory=key123,key123 key123=abc", "lists key123 twice"),
        (.svcb, "1 . key123=abc key123=def", "SVCB SvcParam: duplicate key key123"),
        (.svcb, "1 . foo=bar", "SVCB SvcParam: unknown key 'foo'"),
        (.svcb, "1 . key65536=x", "out of range 0-65535"),
        (.svcb, "1 . alpn=h2,,h3", "empty item in the list"),
        (.svcb, "1 . ipv4hint=192.0.2.1,192.0.2", "is not an IPv4 address"),
        (.svcb, "1 . ech=!!!!", "invalid base64 character"),
        (.svcb, "1 . \"alpn=h2\"", "without a key"),
        (.https, "\\# 8 000100000300021e", "\\# data: not valid HTTPS data"),
        (.a, "\\# 4 0A0000", "\\# data: 3 bytes of hex where the length says 4"),
        (.a, "\\# 3 0A0000", "not valid A data: RDLENGTH 3 is wrong for A"),
        (.a, "\\# 70000 00", "\\# length: '70000' is out of range 0-65535"),
        (.ns, "\\# 2 c000", "not valid NS data"),
        (.a, "\"\\#\" 4 0A000001", "is not an IPv4 address"),
        (RRType(731), "abcd", "TYPE731 data: no text form known for TYPE731: write it as \\# <length> <hex>"),
        (.opt, "", "no text form known for OPT"),
    ] as [(RRType, String, String)])
    func rdataErrors(type: RRType, text: String, contains: String) {
        guard let e = rdataError(type, text) else {
            Issue.record("\(type) '\(text)' parsed")
            return
        }
        #expect(e.message.contains(contains), "\(e)")
    }

    @Test(arguments: [
        ("www 300 IN FOO 192.0.2.1", 1, "unknown type 'FOO' (expected a type)"),
        ("www FOO 192.0.2.1", 1, "unknown type 'FOO' (expected a TTL, a class or a type)"),
        ("www 300 IN A 192.0.2.300", 1, "A address: '192.0.2.300' is not an IPv4 address"),
        ("a A 192.0.2.1\n\nb A 192.0.2.999", 3, "octet 999 is above 255"),
        ("a TXT \"one\"\nb TXT \"two", 2, "quoted string is not closed"),
        ("a TXT (\n\"one\"\n\"two\"\nb A 192.0.2.1\n", 1, "'(' opened on line 1 is never closed"),
        ("a TXT ( \"x\" ( \"y\" ) )", 1, "'(' inside parentheses"),
        ("a A 192.0.2.1 )", 1, "')' without a matching '('"),
        ("  A 192.0.2.1", 1, "the first record has no owner name"),
        ("$INCLUDE other.zone", 1, "$INCLUDE is not supported"),
        ("$GENERATE 1-10 host$ A 192.0.2.$", 1, "$GENERATE is not supported"),
        ("$FOO bar", 1, "unknown directive '$FOO'"),
        ("$ORIGIN", 1, "$ORIGIN needs a domain name"),
        ("$TTL 1h extra", 1, "unexpected 'extra' after $TTL"),
        ("$TTL forever", 1, "$TTL: 'forever' is not a TTL"),
        ("a 4294967296 A 192.0.2.1", 1, "TTL: '4294967296' is out of range"),
        ("a 300 CLASS70000 A 192.0.2.1", 1, "class: class number in 'CLASS70000' is out of range 0-65535"),
        ("a 300 TYPE70000 \\# 0", 1, "type number in 'TYPE70000' is out of range 0-65535"),
        ("a 300 IN", 1, "record for a.example.com. has no type"),
        ("a 300 IN \"A\" 192.0.2.1", 1, "quoted string 'A' where a type was expected"),
        ("a\\", 1, "'\\' at the end of the text"),
        ("a MX 10 (\n mail\n extra )", 3, "MX data: unexpected 'extra'"),
        ("a TXT \"\\\n\"", 1, "quoted string is not closed"),
        ("$ORIGIN a..b.", 1, "$ORIGIN: empty label"),
        ("a..b A 192.0.2.1", 1, "owner: empty label"),
    ] as [(String, Int, String)])
    func zoneErrors(text: String, line: Int, contains: String) {
        guard let e = zoneError(text) else {
            Issue.record("'\(text)' parsed")
            return
        }
        #expect(e.line == line, "\(e)")
        #expect(e.message.contains(contains), "\(e)")
    }

    @Test func noTTL() {
        #expect(throws: PresentationError("record for a.example. has no TTL and there is no $TTL before it", line: 1)) {
            try ZoneFileParser.records(in: "a.example. A 192.0.2.1")
        }
    }

    @Test func singleRecordErrors() {
        #expect(throws: PresentationError("no record in the text")) { try ResourceRecord(presentation: " ; nothing") }
        #expect(throws: PresentationError.self) { try ResourceRecord(presentation: "a. 1 A 192.0.2.1\nb. 1 A 192.0.2.2") }
        #expect(throws: PresentationError.self) { try ResourceRecord(presentation: " 1 A 192.0.2.1") }
        #expect(throws: PresentationError.self) { try ResourceRecord(presentation: "$TTL 1") }
    }

    /// Every prefix of valid text, and text with bytes flipped, must throw or parse: never trap.
    @Test func noTraps() {
        let zone = """
            $ORIGIN example.com.
            $TTL 1h
            @ IN SOA ns1 host ( 1 2h 15m 2w 5m )
              NS ns1
            www 300 IN A 192.0.2.1
              AAAA 2001:db8::1
            t TXT "a\\"b" c\\032d ; note
            s HTTPS 1 . alpn="h2,h3" ipv4hint=192.0.2.1 key9="x\\255"
            k DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh ( 5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3 )
            r RRSIG A 8 2 300 20250101000000 20241201000000 1 example.com. AAAA
            n NSEC3 1 1 0 - CPNMUOJ1E8 A
            g TYPE65280 \\# 2 abcd
            """
        let bytes = Array(zone.utf8)
        for cut in 0...bytes.count {
            _ = try? ZoneFileParser.records(in: String(decoding: bytes[..<cut], as: UTF8.self))
        }
        var rng = SplitMix64(seed: 0x5EED_7E47)
        let specials = Array("\\\"();$@.:=,# \n\t0123456789aZ\u{7f}".utf8) + [0x00, 0xFF]
        for _ in 0..<3000 {
            var b = bytes
            for _ in 0..<rng.int(1...4) { b[rng.int(0..<b.count)] = rng.pick(specials) }
            _ = try? ZoneFileParser.records(in: String(decoding: b, as: UTF8.self))
        }
        // Printed random records of every type, mutated, through each type's parser.
        var g = MessageGenerator(seed: 0xBAD_7E47)
        for _ in 0..<400 {
            for rr in g.records(max: 4) {
                var b = Array(rr.presentation.utf8)
                for _ in 0..<rng.int(1...3) where !b.isEmpty {
                    let at = rng.int(0..<b.count)
                    switch rng.int(0..<3) {
                    case 0: b[at] = rng.pick(specials)
                    case 1: b.remove(at: at)
                    default: b.insert(rng.pick(specials), at: at)
                    }
                }
                _ = try? ResourceRecord(presentation: String(decoding: b, as: UTF8.self))
            }
        }
    }
}
