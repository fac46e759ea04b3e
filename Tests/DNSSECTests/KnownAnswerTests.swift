import DNSCore
import Testing
@testable import DNSSEC

/// Published vectors: signatures, key tags, digests and hashes made by other implementations.
/// A shared mistake in canonical form between a signer and this verifier cannot pass these.
@Suite struct KnownAnswerTests {
    /// Verifies the single RRSIG of `text`'s covered set with its single DNSKEY, at `now`, then
    /// checks that one flipped signature bit makes it fail.
    func verifyVector(_ text: String, type: RRType, zone: String, now: UInt32, tag: UInt16) throws {
        let sets = try rrsets(text)
        let keySet = try #require(sets.first { $0.type == .dnskey })
        let data = try #require(sets.first { $0.type == type })
        let keys = dnskeys(of: keySet)
        #expect(keys.map(\.keyTag) == [tag])
        let v = RRSetVerifier(now: now)
        var budget = WorkBudget()
        let result = v.verify(data, zone: name(zone), keys: keys, budget: &budget)
        #expect(result.security == .secure, "\(result.security)")
        #expect(budget.verifications == 1)

        var broken = data
        broken.signatures[0].signature[5] ^= 0x01
        #expect(v.verify(broken, zone: name(zone), keys: keys, budget: &budget).security == .bogus(.signatureInvalid))
        // The same vector checked at a time outside its validity.
        let late = RRSetVerifier(now: data.signatures[0].expiration &+ 10_000)
        #expect(late.verify(data, zone: name(zone), keys: keys, budget: &budget).security == .bogus(.signatureExpired))
    }

    @Test("RFC 5702 §6.1: RSA/SHA-256 (512-bit key)")
    func rfc5702sha256() throws {
        try verifyVector("""
            example.net. 3600 IN DNSKEY 256 3 8 AwEAAcFcGsaxxdgiuuGmCkVImy4h99CqT7jwY3pexPGcnUFtR2Fh36BponcwtkZ4cAgtvd4Qs8PkxUdp6p/DlUmObdk=
            www.example.net. 3600 IN A 192.0.2.91
            www.example.net. 3600 IN RRSIG A 8 3 3600 20300101000000 20000101000000 9033 example.net. kRCOH6u7l0QGy9qpC9l1sLncJcOKFLJ7GhiUOibu4teYp5VE9RncriShZNz85mwlMgNEacFYK/lPtPiVYP4bwg==
            """, type: .a, zone: "example.net.", now: 1_700_000_000, tag: 9033)
    }

    @Test("RFC 5702 §6.2: RSA/SHA-512")
    func rfc5702sha512() throws {
        try verifyVector("""
            example.net. 3600 IN DNSKEY 256 3 10 AwEAAdHoNTOW+et86KuJOWRDp1pndvwb6Y83nSVXXyLA3DLroROUkN6X0O6pnWnjJQujX/AyhqFDxj13tOnD9u/1kTg7cV6rklMrZDtJCQ5PCl/D7QNPsgVsMu1J2Q8gpMpztNFLpPBz1bWXjDtaR7ZQBlZ3PFY12ZTSncorffcGmhOL
            www.example.net. 3600 IN A 192.0.2.91
            www.example.net. 3600 IN RRSIG A 10 3 3600 20300101000000 20000101000000 3740 example.net. tsb4wnjRUDnB1BUi+t6TMTXThjVnG+eCkWqjvvjhzQL1d0YRoOe0CbxrVDYd0xDtsuJRaeUw1ep94PzEWzr0iGYgZBWm/zpq+9fOuagYJRfDqfReKBzMweOLDiNa8iP5g9vMhpuv6OPlvpXwm9Sa9ZXIbNl1MBGk0fthPgxdDLw=
            """, type: .a, zone: "example.net.", now: 1_700_000_000, tag: 3740)
    }

    @Test("RFC 6605 §6.1: ECDSA P-256 signature and DS")
    func rfc6605p256() throws {
        let text = """
            example.net. 3600 IN DNSKEY 257 3 13 GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==
            www.example.net. 3600 IN A 192.0.2.1
            www.example.net. 3600 IN RRSIG A 13 3 3600 20100909100439 20100812100439 55648 example.net. qx6wLYqmh+l9oCKTN6qIc+bw6ya+KJ8oMz0YP107epXAyGmt+3SNruPFKG7tZoLBLlUzGGus7ZwmwWep666VCw==
            """
        try verifyVector(text, type: .a, zone: "example.net.", now: 1_283_000_000, tag: 55648)
        let key = dnskeys(of: try rrset(text, .dnskey))[0]
        #expect(key.dsDigest(owner: name("EXAMPLE.net."), type: .sha256)
                == hexBytes("b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17"))
    }

    @Test("RFC 6605 §6.2: ECDSA P-384 signature and SHA-384 DS")
    func rfc6605p384() throws {
        let text = """
            example.net. 3600 IN DNSKEY 257 3 14 xKYaNhWdGOfJ+nPrL8/arkwf2EY3MDJ+SErKivBVSum1w/egsXvSADtNJhyem5RCOpgQ6K8X1DRSEkrbYQ+OB+v8/uX45NBwY8rp65F6Glur8I/mlVNgF6W/qTI37m40
            www.example.net. 3600 IN A 192.0.2.1
            www.example.net. 3600 IN RRSIG A 14 3 3600 20100909102025 20100812102025 10771 example.net. /L5hDKIvGDyI1fcARX3z65qrmPsVz73QD1Mr5CEqOiLP95hxQouuroGCeZOvzFaxsT8Glr74hbavRKayJNuydCuzWTSSPdz7wnqXL5bdcJzusdnI0RSMROxxwGipWcJm
            """
        try verifyVector(text, type: .a, zone: "example.net.", now: 1_283_000_000, tag: 10771)
        let key = dnskeys(of: try rrset(text, .dnskey))[0]
        #expect(key.dsDigest(owner: name("example.net."), type: .sha384)
                == hexBytes("72d7b62976ce06438e9c0bf319013cf801f09ecc84b8d7e9495f27e305c6a9b0563a9b5f4d288405c3008a946df983d6"))
    }

    @Test("RFC 8080 §6.1 (Errata 4935): Ed25519 signatures and DS", arguments: [
        ("l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=", UInt16(3613),
         "oL9krJun7xfBOIWcGHi7mag5/hdZrKWw15jPGrHpjQeRAvTdszaPD+QLs3fx8A4M3e23mRZ9VrbpMngwcrqNAg==",
         "3aa5ab37efce57f737fc1627013fee07bdf241bd10f3b1964ab55c78e79a304b"),
        ("zPnZ/QwEe7S8C5SPz2OfS5RR40ATk2/rYnE9xHIEijs=", UInt16(35217),
         "zXQ0bkYgQTEFyfLyi9QoiY6D8ZdYo4wyUhVioYZXFdT410QPRITQSqJSnzQoSm5poJ7gD7AQR0O7KuI5k2pcBg==",
         "401781b934e392de492ec77ae2e15d70f6575a1c0bc59c5275c04ebe80c6614c"),
    ])
    func rfc8080(key: String, tag: UInt16, sig: String, ds: String) throws {
        let text = """
            example.com. 3600 IN DNSKEY 257 3 15 \(key)
            example.com. 3600 IN MX 10 mail.example.com.
            example.com. 3600 IN RRSIG MX 15 2 3600 1440021600 1438207200 \(tag) example.com. \(sig)
            """
        try verifyVector(text, type: .mx, zone: "example.com.", now: 1_439_000_000, tag: tag)
        let k = dnskeys(of: try rrset(text, .dnskey))[0]
        #expect(k.dsDigest(owner: name("example.com."), type: .sha256) == hexBytes(ds))
    }

    @Test("RFC 4034 §5.4: key tag 60485 and the SHA-1 DS of dskey.example.com.")
    func rfc4034ds() throws {
        let key = dnskeys(of: try rrset("""
            dskey.example.com. 86400 IN DNSKEY 256 3 5 AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMmmAphXdvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw==
            """, .dnskey))[0]
        #expect(key.keyTag == 60485)
        #expect(key.dsDigest(owner: name("DSKEY.Example.COM."), type: .sha1) == hexBytes("2BB183AF5F22588179A53B0A98631FAD1A292118"))
    }

    @Test("the built-in root anchors are the DS of the root's KSK-2017 and KSK-2024")
    func rootAnchors() throws {
        let keys = dnskeys(of: try rrset("""
            . 172800 IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=
            . 172800 IN DNSKEY 257 3 8 AwEAAa96jeuknZlaeSrvyAJj6ZHv28hhOKkx3rLGXVaC6rXTsDc449/cidltpkyGwCJNnOAlFNKF2jBosZBU5eeHspaQWOmOElZsjICMQMC3aeHbGiShvZsx4wMYSjH8e7Vrhbu6irwCzVBApESjbUdpWWmEnhathWu1jo+siFUiRAAxm9qyJNg/wOZqqzL/dL/q8PkcRU5oUKEpUge71M3ej2/7CPqpdVwuMoTvoB+ZOT4YeGyxMvHmbrxlFzGOHOijtzN+u1TQNatX2XBuzZNQ1K+s2CXkPIZo7s6JgZyvaBevYtxPvYLw4z9mR7K2vaF18UYH9Z9GNUUeayffKC73PYc=
            """, .dnskey))
        #expect(keys.map(\.keyTag) == [20326, 38696])
        let anchors = try #require(TrustAnchors.ianaRoot.ds[.root])
        #expect(anchors.map(\.keyTag) == [20326, 38696])
        #expect(DSMatcher.matchingKeys(anchors, keys: keys, owner: .root) == keys)
        // One changed digest byte and that key no longer matches.
        var bad = anchors
        bad[1].digest[0] ^= 1
        #expect(DSMatcher.matchingKeys(bad, keys: keys, owner: .root) == [keys[0]])
    }

    @Test("RFC 5155 Appendix A: NSEC3 hashes (salt aabbccdd, 12 iterations)")
    func rfc5155hashes() {
        let vectors = [
            ("example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"), ("a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl"),
            ("ai.example.", "gjeqe526plbf1g8mklp59enfd789njgi"), ("ns1.example.", "2t7b4g4vsa5smi47k61mv5bv1a22bojr"),
            ("ns2.example.", "q04jkcevqvmu85r014c7dkba38o0ji5r"), ("w.example.", "k8udemvp1j2f7eg6jebps17vp3n8i58h"),
            ("*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"), ("x.w.example.", "b4um86eghhds6nea196smvmlo4ors995"),
            ("y.w.example.", "ji6neoaepv8b5o6k4ev33abha8ht9fgc"), ("x.y.w.example.", "2vptu5timamqttgl4luu9kg21e0aor3s"),
            ("xx.example.", "t644ebqk9bibcna874givr6joj62mlhv"), ("A.EXAMPLE.", "35mthgpgcu1qg68fab165klnsnk3dpvl"),
        ]
        for (n, want) in vectors {
            let h = NSEC3Hash.hash(name(n), salt: [0xAA, 0xBB, 0xCC, 0xDD], iterations: 12)
            #expect(Base32Hex.encode(h, uppercase: false) == want, "\(n)")
        }
    }
}
