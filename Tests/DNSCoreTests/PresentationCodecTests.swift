import Testing
@testable import DNSCore

@Suite struct PresentationCodecTests {
    @Test func base64() throws {
        // RFC 4648 §10 test vectors.
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=",
                       "foobar": "Zm9vYmFy"]
        for (plain, coded) in vectors {
            #expect(Base64.encode(Array(plain.utf8)) == coded)
            #expect(try Base64.decode(coded) == Array(plain.utf8))
        }
        let all = (0...255).map { UInt8($0) }
        #expect(try Base64.decode(Base64.encode(all)) == all)
        #expect(throws: PresentationError.self) { try Base64.decode("Zm9") }
        #expect(throws: PresentationError.self) { try Base64.decode("Zm=v") }
        #expect(throws: PresentationError.self) { try Base64.decode("Z===") }
        #expect(throws: PresentationError.self) { try Base64.decode("Zg==Zg==") }
        #expect(throws: PresentationError("invalid base64 character '!' at position 2")) { try Base64.decode("Zm!v") }
        #expect(throws: PresentationError.self) { try Base64.decode("Zm9v\u{e9}Zg=") }
    }

    @Test func base32hex() throws {
        // RFC 4648 §10 test vectors, without padding as NSEC3 writes them.
        let vectors = ["": "", "f": "CO", "fo": "CPNG", "foo": "CPNMU", "foob": "CPNMUOG", "fooba": "CPNMUOJ1",
                       "foobar": "CPNMUOJ1E8"]
        for (plain, coded) in vectors {
            #expect(Base32Hex.encode(Array(plain.utf8)) == coded)
            #expect(Base32Hex.encode(Array(plain.utf8), uppercase: false) == coded.lowercased())
            #expect(try Base32Hex.decode(coded) == Array(plain.utf8))
            #expect(try Base32Hex.decode(coded.lowercased()) == Array(plain.utf8))
        }
        let all = (0...255).map { UInt8($0) }
        #expect(try Base32Hex.decode(Base32Hex.encode(all)) == all)
        #expect(throws: PresentationError.self) { try Base32Hex.decode("CPNMU===") }  // padding refused
        #expect(throws: PresentationError.self) { try Base32Hex.decode("C") }        // impossible length
        #expect(throws: PresentationError.self) { try Base32Hex.decode("CPW") }
        #expect(throws: PresentationError.self) { try Base32Hex.decode("WX") }       // outside 0-9A-V
    }

    @Test func hex() throws {
        #expect(Hex.encode([0x00, 0xAB, 0xFF]) == "00abff")
        #expect(Hex.encode([0x00, 0xAB, 0xFF], uppercase: true) == "00ABFF")
        #expect(try Hex.decode("00aBfF") == [0x00, 0xAB, 0xFF])
        #expect(try Hex.decode("") == [])
        #expect(throws: PresentationError.self) { try Hex.decode("abc") }
        #expect(throws: PresentationError.self) { try Hex.decode("zz") }
    }

    @Test func dnssecTimes() throws {
        let cases: [(String, UInt32)] = [
            ("19700101000000", 0),
            ("20030322173103", 1_048_354_263),   // RFC 4034 §3.3
            ("20150420235959", 1_429_574_399),
            ("20000229120000", 951_825_600),     // leap day of a century leap year
            ("21060207062815", UInt32.max),
        ]
        for (text, seconds) in cases {
            #expect(try DNSSECTime.parse(Array(text.utf8)) == seconds, "\(text)")
            #expect(DNSSECTime.format(seconds) == text)
        }
        // Past 2106 the 32-bit field wraps (RFC 4034 §3.1.5, serial arithmetic).
        #expect(try DNSSECTime.parse(Array("21060207062816".utf8)) == 0)
        #expect(try DNSSECTime.parse(Array("1048354263".utf8)) == 1_048_354_263)
        // Every day boundary from 1970 to 2106 maps back and forth.
        for day in stride(from: 0, to: 49_710, by: 1) {
            let (y, m, d) = DNSSECTime.civil(fromDays: day)
            #expect(DNSSECTime.days(year: y, month: m, day: d) == day)
        }
        for bad in ["20031322173103", "20030230000000", "19690101000000", "20030322246000", "2003032217310",
                    "20030322173160", "99999999999", "2003-03-22"] {
            #expect(throws: PresentationError.self, "\(bad)") { try DNSSECTime.parse(Array(bad.utf8)) }
        }
    }

    @Test func numbersAndTTLs() throws {
        #expect(try PresentationText.number(Array("65535".utf8), max: 65535) == 65535)
        #expect(throws: PresentationError("'65536' is out of range 0-65535")) {
            try PresentationText.number(Array("65536".utf8), max: 65535)
        }
        #expect(throws: PresentationError.self) {
            try PresentationText.number(Array("99999999999999999999999".utf8), max: UInt64.max)
        }
        #expect(throws: PresentationError.self) { try PresentationText.number(Array("-1".utf8), max: 10) }
        #expect(throws: PresentationError.self) { try PresentationText.number(Array("+1".utf8), max: 10) }
        #expect(try PresentationText.ttl(Array("1h30m".utf8)) == 5400)
        #expect(try PresentationText.ttl(Array("1W2d3H4M5S".utf8)) == 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5)
        #expect(try PresentationText.ttl(Array("4294967295".utf8)) == UInt32.max)
        #expect(throws: PresentationError.self) { try PresentationText.ttl(Array("4294967296".utf8)) }
        #expect(throws: PresentationError.self) { try PresentationText.ttl(Array("7102w".utf8)) }
        #expect(throws: PresentationError.self) { try PresentationText.ttl(Array("1h30".utf8)) }
        #expect(throws: PresentationError.self) { try PresentationText.ttl(Array("1x".utf8)) }
        #expect(throws: PresentationError.self) { try PresentationText.ttl(Array("h".utf8)) }
    }

    @Test func ipv4() throws {
        #expect(try IPv4Address(presentation: "192.0.2.1") == IPv4Address(192, 0, 2, 1))
        #expect(IPv4Address(0xC000_0201).presentation == "192.0.2.1")
        #expect(throws: PresentationError("'192.0.2.256' is not an IPv4 address: octet 256 is above 255")) {
            try IPv4Address(presentation: "192.0.2.256")
        }
        for bad in ["", "1.2.3", "1.2.3.4.5", "1..2.3", "01.2.3.4", "1.2.3.a", "1.2.3.1000", " 1.2.3.4"] {
            #expect(throws: PresentationError.self, "\(bad)") { try IPv4Address(presentation: bad) }
        }
    }
}
