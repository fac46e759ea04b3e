import DNSCore
import Foundation
import Testing
@testable import DNSSEC

/// KeyTrap (CVE-2023-50387): keys with colliding tags and many signatures are tried only up to
/// the caps, and the exhaustion is a typed bogus result.
@Suite struct WorkLimitTests {
    let zone = name("example.")
    let verifier = RRSetVerifier(now: testNow)

    /// `count` different DNSKEYs with the key tag and algorithm of `key`: bytes at two even
    /// offsets of the public key moved by +k and -k leave the tag's checksum unchanged.
    func colliding(with key: DNSKEY, count: Int) -> [DNSKEY] {
        (1...count).map { k in
            var pk = key.publicKey
            pk[0] = pk[0] &+ UInt8(k)
            pk[2] = pk[2] &- UInt8(k)
            return DNSKEY(flags: key.flags, algorithm: key.algorithm, publicKey: pk)
        }
    }

    /// An Ed25519 key whose bytes 0 and 2 leave room for the collisions without wrapping.
    func roomyKey() -> TestKey {
        while true {
            let k = TestKey(.ed25519, owner: zone)
            if k.publicKey[0] < 200, k.publicKey[2] > 50 { return k }
        }
    }

    @Test("colliding key tags: at most keysPerSignature keys are tried, then the limit is the answer")
    func keyTrap() {
        let key = roomyKey()
        let fakes = colliding(with: key.dnskey, count: 6)
        #expect(Set(fakes.map(\.keyTag)) == [key.dnskey.keyTag])
        #expect(Set(fakes).count == 6)
        let set = key.signed(aSet("www.example."), now: testNow)
        var budget = WorkBudget()
        let r = verifier.verify(set, zone: zone, keys: fakes + [key.dnskey], budget: &budget)
        #expect(r.security == .bogus(.workLimitExceeded(.keysPerSignature)))
        #expect(budget.verifications == 4)
        #expect(BogusReason.workLimitExceeded(.keysPerSignature).extendedError == .dnssecBogus)
        // The real key among the first four tried: secure.
        var fresh = WorkBudget()
        #expect(verifier.verify(set, zone: zone, keys: Array(fakes.prefix(3)) + [key.dnskey], budget: &fresh).security == .secure)
        // And with a higher cap the whole list is tried.
        var roomy = WorkBudget(WorkLimits(keysPerSignature: 10))
        #expect(verifier.verify(set, zone: zone, keys: fakes + [key.dnskey], budget: &roomy).security == .secure)
        #expect(roomy.verifications == 7)
    }

    @Test("many failing signatures on one RRset: at most signaturesPerRRset are tried")
    func signatureFlood() {
        let key = TestKey(.ecdsaP256SHA256, owner: zone)
        let liar = TestKey(.ecdsaP256SHA256, owner: zone)
        let set = aSet("www.example.")
        var s = set
        s.signatures = (0..<20).map { i in
            liar.sign(set, inception: testNow - 10 - UInt32(i), expiration: testNow + 10, keyTag: key.dnskey.keyTag)
        } + [key.sign(set, inception: testNow - 10, expiration: testNow + 10)]
        var budget = WorkBudget()
        #expect(verifier.verify(s, zone: zone, keys: [key.dnskey], budget: &budget).security == .bogus(.workLimitExceeded(.signaturesPerRRset)))
        #expect(budget.verifications == 8)
    }

    @Test("the per-resolution verification budget runs across RRsets")
    func perResolution() {
        let key = TestKey(.ed25519, owner: zone)
        var budget = WorkBudget(WorkLimits(verificationsPerResolution: 3))
        for i in 1...3 {
            #expect(verifier.verify(key.signed(aSet("h\(i).example."), now: testNow), zone: zone, keys: [key.dnskey], budget: &budget).security == .secure)
        }
        let fourth = verifier.verify(key.signed(aSet("h4.example."), now: testNow), zone: zone, keys: [key.dnskey], budget: &budget)
        #expect(fourth.security == .bogus(.workLimitExceeded(.verificationsPerResolution)))
        #expect(throws: WorkExhausted(.verificationsPerResolution)) { try budget.spendVerification() }
        // A new answer resets the NSEC3 allowance, not the verifications.
        budget.startAnswer()
        #expect(budget.verifications == 3)
    }

    @Test("DS matching hashes at most keysPerSignature colliding keys per DS")
    func dsKeyTrap() {
        let key = roomyKey()
        let fakes = colliding(with: key.dnskey, count: 6)
        let ds = key.dnskey.ds(owner: zone)!
        #expect(DSMatcher.matchingKeys([ds], keys: fakes + [key.dnskey], owner: zone).isEmpty)
        #expect(DSMatcher.matchingKeys([ds], keys: [key.dnskey] + fakes, owner: zone) == [key.dnskey])
    }
}

@Suite struct TrustAnchorTests {
    @Test("built-in root anchors: IANA's KSK-2017 and KSK-2024")
    func builtIn() {
        let a = TrustAnchors.ianaRoot
        #expect(a.zones == [.root])
        #expect(a.ds[.root]?.map(\.keyTag) == [20326, 38696])
        #expect(a.ds[.root]?.allSatisfy { $0.algorithm == .rsaSHA256 && $0.digestType == .sha256 && $0.digest.count == 32 } == true)
        #expect(a.closestAnchor(for: name("www.example.com.")) == .root)
    }

    @Test("a file of DS and DNSKEY records; the closest anchor wins")
    func parse() throws {
        let a = try TrustAnchors.parse("""
            ; a comment
            . IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
            example.com. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=
            """)
        #expect(a.ds[.root]?.first?.keyTag == 20326)
        #expect(a.keys[name("example.com.")]?.first?.keyTag == 3613)
        #expect(a.closestAnchor(for: name("www.example.com.")) == name("example.com."))
        #expect(a.closestAnchor(for: name("example.org.")) == .root)
        #expect(TrustAnchors().closestAnchor(for: name("example.org.")) == nil)
    }

    @Test("a file on disk, e.g. Debian's dns-root-data root.key form; a missing file names its path")
    func load() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("anchors-\(UUID().uuidString).key").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ". IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4= ; keytag 3613\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try TrustAnchors.load(path: path).keys[.root]?.map(\.keyTag) == [3613])
        #expect(throws: TrustAnchorError.self) { try TrustAnchors.load(path: path + ".missing") }
        do { _ = try TrustAnchors.load(path: path + ".missing") } catch { #expect(error.source == path + ".missing") }
    }

    @Test("files that hold no anchor or something else are refused with the reason")
    func errors() {
        #expect(throws: TrustAnchorError.self) { try TrustAnchors.parse("; nothing\n") }
        #expect(throws: TrustAnchorError(source: "anchors.txt", reason: "www.example. A is neither DS nor DNSKEY")) {
            try TrustAnchors.parse("www.example. 300 IN A 192.0.2.1\n", source: "anchors.txt")
        }
        #expect(throws: TrustAnchorError.self) { try TrustAnchors.parse("example. IN DNSKEY 1 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=\n") }
        #expect(throws: TrustAnchorError.self) { try TrustAnchors.parse(". IN DS 1 8 2 zz\n") }
    }
}

@Suite struct ExtendedErrorTests {
    @Test("bogus reasons become EDE options that survive EDNS (RFC 8914), with the reason as extra text")
    func ede() {
        let cases: [(BogusReason, UInt16)] = [
            (.signatureExpired, 7), (.signatureNotYetValid, 8), (.dnskeyMissing, 9), (.rrsigsMissing, 10),
            (.noZoneKeyBitSet, 11), (.nsecMissing, 12), (.signatureInvalid, 6), (.signatureExpiredBeforeValid, 25),
            (.nsec3Iterations(600), 27), (.workLimitExceeded(.nsec3HashesPerAnswer), 6),
        ]
        for (reason, code) in cases {
            var edns = EDNS()
            edns.addExtendedError(reason.extendedDNSError)
            #expect(edns.extendedErrors.map(\.code.rawValue) == [code], "\(reason)")
            #expect(edns.extendedErrors.first?.extraText == Array(reason.description.utf8))
        }
        #expect(EDECode.unsupportedNSEC3Iterations.description == "Unsupported NSEC3 Iterations Value")
        #expect(InsecureReason.optOut.extendedError == nil)
    }
}
