import DNSCore
import Testing
@testable import DNSSEC

/// RRsets signed in the test with swift-crypto keys of each algorithm, then verified; and each
/// way a signature can fail, separately.
@Suite struct SignatureTests {
    let zone = name("example.")
    let verifier = RRSetVerifier(now: testNow)

    static let algorithms: [DNSSECAlgorithm] = [.rsaSHA1, .rsaSHA1NSEC3, .rsaSHA256, .rsaSHA512,
                                                 .ecdsaP256SHA256, .ecdsaP384SHA384, .ed25519]

    @Test("a signature by each supported algorithm verifies, and a changed record does not", arguments: algorithms)
    func eachAlgorithm(_ alg: DNSSECAlgorithm) {
        let key = TestKey(alg, owner: zone)
        let set = key.signed(aSet("www.example."), now: testNow)
        var budget = WorkBudget()
        let ok = verifier.verify(set, zone: zone, keys: [key.dnskey], budget: &budget)
        #expect(ok.security == .secure)
        #expect(ok.value?.wildcard == nil)
        var changed = set
        changed.rdatas = [.a(IPv4Address(192, 0, 2, 99))]
        #expect(verifier.verify(changed, zone: zone, keys: [key.dnskey], budget: &budget).security == .bogus(.signatureInvalid))
    }

    @Test("canonical form: owner and RDATA names in any case, records in any order, duplicates dropped")
    func canonicalForm() {
        let key = TestKey(.ecdsaP256SHA256, owner: zone)
        let set = RRSet(name: name("example."), type: .ns, ttl: 3600,
                        rdatas: [.ns(name("b.example.")), .ns(name("a.example."))])
        let sig = key.sign(set, inception: testNow - 10, expiration: testNow + 10)
        var shuffled = RRSet(name: name("EXAMPLE."), type: .ns, ttl: 3600,
                             rdatas: [.ns(name("A.Example.")), .ns(name("B.EXAMPLE.")), .ns(name("a.example."))])
        shuffled.signatures = [sig]
        var budget = WorkBudget()
        #expect(verifier.verify(shuffled, zone: zone, keys: [key.dnskey], budget: &budget).security == .secure)
        // The signed TTL is the RRSIG's original TTL, whatever TTL the records arrive with.
        shuffled.ttl = 17
        #expect(verifier.verify(shuffled, zone: zone, keys: [key.dnskey], budget: &budget).security == .secure)
    }

    @Test("SHA-1 algorithms follow the policy: validated by default, skipped (RRSIGs missing) when refused")
    func sha1Policy() {
        let key = TestKey(.rsaSHA1, owner: zone)
        let set = key.signed(aSet("www.example."), now: testNow)
        var budget = WorkBudget()
        #expect(verifier.verify(set, zone: zone, keys: [key.dnskey], budget: &budget).security == .secure)
        let strict = RRSetVerifier(policy: ValidationPolicy(validatesSHA1Algorithms: false), now: testNow)
        #expect(strict.verify(set, zone: zone, keys: [key.dnskey], budget: &budget).security == .bogus(.rrsigsMissing))
        #expect(SignatureVerifier.verify(signature: set.signatures[0].signature, data: set.signedData(for: set.signatures[0])!,
                                         key: key.dnskey, policy: ValidationPolicy(validatesSHA1Algorithms: false)) == .unsupportedAlgorithm)
    }

    @Test("expired, not yet valid, and expiring before inception; the clock-skew allowance")
    func times() {
        let key = TestKey(.ed25519, owner: zone)
        let set = aSet("www.example.")
        var budget = WorkBudget()
        func check(_ inception: UInt32, _ expiration: UInt32) -> Security {
            var s = set
            s.signatures = [key.sign(set, inception: inception, expiration: expiration)]
            return verifier.verify(s, zone: zone, keys: [key.dnskey], budget: &budget).security
        }
        #expect(check(testNow - 86400, testNow - 3600) == .bogus(.signatureExpired))
        #expect(check(testNow + 3600, testNow + 86400) == .bogus(.signatureNotYetValid))
        #expect(check(testNow + 100, testNow - 100) == .bogus(.signatureExpiredBeforeValid))
        // Within the 300 s skew either way: valid.
        #expect(check(testNow - 86400, testNow - 200) == .secure)
        #expect(check(testNow + 200, testNow + 86400) == .secure)
        #expect(check(testNow - 86400, testNow - 301) == .bogus(.signatureExpired))
        #expect(BogusReason.signatureExpired.extendedError == .signatureExpired)
        #expect(BogusReason.signatureNotYetValid.extendedError == .signatureNotYetValid)
    }

    @Test("serial-number arithmetic: a validity window across the 2^32 wrap")
    func serialWrap() {
        let key = TestKey(.ed25519, owner: zone)
        let now: UInt32 = 0xFFFF_FF00
        let set = aSet("www.example.")
        var s = set
        s.signatures = [key.sign(set, inception: now &- 3600, expiration: now &+ 86400)]  // expiration wraps to a small number
        var budget = WorkBudget()
        let v = RRSetVerifier(now: now)
        let r = v.verify(s, zone: zone, keys: [key.dnskey], budget: &budget)
        #expect(r.security == .secure)
        #expect(r.value?.rrset.ttl == 3600)
        // After the wrap, the same signature is seen as expired once its time has passed.
        #expect(RRSetVerifier(now: now &+ 90000).verify(s, zone: zone, keys: [key.dnskey], budget: &budget).security == .bogus(.signatureExpired))
        #expect(RRSetVerifier.serialDistance(from: 0xFFFF_FFF0, to: 0x10) == 0x20)
    }

    @Test("the TTL is capped by the original TTL and by the time left on the signature")
    func ttlCapping() {
        let key = TestKey(.ecdsaP256SHA256, owner: zone)
        let set = aSet("www.example.", ttl: 86400)
        var budget = WorkBudget()
        var s = set
        s.signatures = [key.sign(set, inception: testNow - 10, expiration: testNow + 100_000, originalTTL: 600)]
        // The signature covers TTL 600; the records arrived with 86400, which a cache must not keep.
        #expect(verifier.verify(s, zone: zone, keys: [key.dnskey], budget: &budget).value?.rrset.ttl == 600)
        s.signatures = [key.sign(set, inception: testNow - 10, expiration: testNow + 50)]
        #expect(verifier.verify(s, zone: zone, keys: [key.dnskey], budget: &budget).value?.rrset.ttl == 50)
    }

    @Test("labels: a wildcard expansion is reported with its wildcard; labels above the owner's are refused")
    func labels() {
        let key = TestKey(.ed25519, owner: zone)
        // Signed as *.w.example. (labels 2), answered as a.b.w.example.
        let wildcard = RRSet(name: name("*.w.example."), type: .txt, ttl: 300, rdatas: [.txt([Array("x".utf8)])])
        let sig = key.sign(wildcard, inception: testNow - 10, expiration: testNow + 1000)
        #expect(sig.labels == 2)
        var expanded = RRSet(name: name("a.b.w.example."), type: .txt, ttl: 300, rdatas: wildcard.rdatas)
        expanded.signatures = [sig]
        var budget = WorkBudget()
        let r = verifier.verify(expanded, zone: zone, keys: [key.dnskey], budget: &budget)
        #expect(r.security == .secure)
        #expect(r.value?.wildcard == name("*.w.example."))
        // The wildcard owner itself is not an expansion.
        var own = wildcard
        own.signatures = [sig]
        #expect(verifier.verify(own, zone: zone, keys: [key.dnskey], budget: &budget).value?.wildcard == nil)
        // Labels more than the owner has.
        var s = aSet("www.example.")
        s.signatures = [key.sign(aSet("www.example."), inception: testNow - 10, expiration: testNow + 10, labels: 3)]
        #expect(verifier.verify(s, zone: zone, keys: [key.dnskey], budget: &budget).security.isBogus)
        #expect(verifier.checkFields(s.signatures[0], of: s, zone: zone) == .badSignatureFields("labels 3 above the owner's 2"))
    }

    @Test("wrong key, missing key, missing RRSIG, other signer, no zone key bit")
    func keyFailures() {
        let key = TestKey(.ed25519, owner: zone)
        let other = TestKey(.ed25519, owner: zone)
        let set = aSet("www.example.")
        var budget = WorkBudget()
        // Signed by another key claiming this key's tag: the signature does not verify.
        var s = set
        s.signatures = [other.sign(set, inception: testNow - 10, expiration: testNow + 10, keyTag: key.dnskey.keyTag)]
        #expect(verifier.verify(s, zone: zone, keys: [key.dnskey], budget: &budget).security == .bogus(.signatureInvalid))
        // Signed by a key the zone does not publish.
        s.signatures = [other.sign(set, inception: testNow - 10, expiration: testNow + 10)]
        #expect(verifier.verify(s, zone: zone, keys: [key.dnskey], budget: &budget).security == .bogus(.dnskeyMissing))
        // No RRSIG at all, or only one for another type or from another signer.
        #expect(verifier.verify(set, zone: zone, keys: [key.dnskey], budget: &budget).security == .bogus(.rrsigsMissing))
        s.signatures = [key.sign(set, inception: testNow - 10, expiration: testNow + 10, signer: name("other."))]
        #expect(verifier.verify(s, zone: zone, keys: [key.dnskey], budget: &budget).security == .bogus(.rrsigsMissing))
        // The only matching key lacks the Zone Key flag.
        let nonZone = TestKey(.ed25519, owner: zone, flags: 1)
        s.signatures = [nonZone.sign(set, inception: testNow - 10, expiration: testNow + 10)]
        #expect(verifier.verify(s, zone: zone, keys: [nonZone.dnskey], budget: &budget).security == .bogus(.noZoneKeyBitSet))
        #expect(BogusReason.rrsigsMissing.extendedError == .rrsigsMissing)
        #expect(BogusReason.noZoneKeyBitSet.extendedError == .noZoneKeyBitSet)
        #expect(BogusReason.signatureInvalid.extendedError == .dnssecBogus)
        // A malformed key never traps.
        let broken = DNSKEY(flags: 257, algorithm: .rsaSHA256, publicKey: [0])
        #expect(SignatureVerifier.verify(signature: [1, 2], data: [3], key: broken) == .malformedKey)
        #expect(SignatureVerifier.verify(signature: [], data: [], key: DNSKEY(flags: 257, algorithm: .ecdsaP256SHA256, publicKey: [1, 2, 3])) == .malformedKey)
    }

    @Test("one good signature among bad ones is enough (RFC 6840 §5.11)")
    func anyValidSignature() {
        let key = TestKey(.ecdsaP256SHA256, owner: zone)
        let other = TestKey(.ecdsaP256SHA256, owner: zone)
        let set = aSet("www.example.")
        var s = set
        s.signatures = [other.sign(set, inception: testNow - 10, expiration: testNow + 10, keyTag: key.dnskey.keyTag),
                        key.sign(set, inception: testNow - 86400, expiration: testNow - 3600),
                        key.sign(set, inception: testNow - 10, expiration: testNow + 10)]
        var budget = WorkBudget()
        #expect(verifier.verify(s, zone: zone, keys: [key.dnskey], budget: &budget).security == .secure)
        #expect(budget.verifications == 2)  // the expired one is refused before any crypto
    }
}

/// DS → DNSKEY: the chain-of-trust step, digests and algorithm support.
@Suite struct KeySetTests {
    let zone = name("example.")
    let validator = KeySetValidator(now: testNow)

    @Test("a DNSKEY set signed by the key its DS names is secure, for each digest type", arguments: [DigestType.sha1, .sha256, .sha384])
    func secureStep(_ digest: DigestType) throws {
        let ksk = TestKey(.ecdsaP256SHA256, owner: zone)
        let zsk = TestKey(.ecdsaP256SHA256, owner: zone, flags: 256)
        let keys = keySet(zone, [ksk, zsk], signers: [ksk])
        let ds = try #require(ksk.dnskey.ds(owner: zone, type: digest))
        var budget = WorkBudget()
        let r = validator.validate(keys, zone: zone, dsSet: [ds], budget: &budget)
        #expect(r.security == .secure)
        #expect(validator.keys(of: r.value!.rrset).count == 2)
    }

    @Test("DS matching no DNSKEY is bogus with DNSKEY Missing; a DNSKEY set not signed by the DS's key too")
    func dsWithoutKey() throws {
        let ksk = TestKey(.ecdsaP256SHA256, owner: zone)
        let decoy = TestKey(.ecdsaP256SHA256, owner: zone)
        let zsk = TestKey(.ecdsaP256SHA256, owner: zone, flags: 256)
        var budget = WorkBudget()
        let keys = keySet(zone, [ksk, zsk], signers: [ksk])
        let r = validator.validate(keys, zone: zone, dsSet: [decoy.dnskey.ds(owner: zone)!], budget: &budget)
        #expect(r.security == .bogus(.dnskeyMissing))
        #expect(BogusReason.dnskeyMissing.extendedError == .dnskeyMissing)
        // The DS names the KSK, but only the ZSK signed the set.
        let zskSigned = keySet(zone, [ksk, zsk], signers: [zsk])
        #expect(validator.validate(zskSigned, zone: zone, dsSet: [ksk.dnskey.ds(owner: zone)!], budget: &budget).security == .bogus(.dnskeyMissing))
        // A DS computed for another owner name does not match.
        #expect(validator.validate(keys, zone: zone, dsSet: [ksk.dnskey.ds(owner: name("other."))!], budget: &budget).security == .bogus(.dnskeyMissing))
    }

    @Test("SHA-1 DS is ignored when SHA-256 is offered (no downgrade), used when it is all there is")
    func sha1OnlyWhenNothingBetter() {
        let ksk = TestKey(.ed25519, owner: zone)
        let keys = keySet(zone, [ksk])
        let sha1 = ksk.dnskey.ds(owner: zone, type: .sha1)!
        var badSHA256 = ksk.dnskey.ds(owner: zone, type: .sha256)!
        badSHA256.digest[0] ^= 0xFF
        var budget = WorkBudget()
        #expect(validator.validate(keys, zone: zone, dsSet: [sha1], budget: &budget).security == .secure)
        #expect(validator.validate(keys, zone: zone, dsSet: [sha1, badSHA256], budget: &budget).security == .bogus(.dnskeyMissing))
        #expect(DSMatcher.usable([sha1, badSHA256], policy: ValidationPolicy()) == [badSHA256])
    }

    @Test("only unsupported algorithms or digests: insecure, not bogus (RFC 4035 §5.2, RFC 6840 §5.2)")
    func unsupported() {
        let ksk = TestKey(.ed25519, owner: zone)
        let keys = keySet(zone, [ksk])
        var budget = WorkBudget()
        let ed448 = DS(keyTag: 1, algorithm: .ed448, digestType: .sha256, digest: [UInt8](repeating: 1, count: 32))
        let private253 = DS(keyTag: 2, algorithm: DNSSECAlgorithm(253), digestType: .sha256, digest: [UInt8](repeating: 2, count: 32))
        let gost = DS(keyTag: ksk.dnskey.keyTag, algorithm: .ed25519, digestType: DigestType(3), digest: [UInt8](repeating: 3, count: 32))
        let r1 = validator.validate(keys, zone: zone, dsSet: [ed448, private253], budget: &budget)
        #expect(r1.security == .insecure(.unsupportedAlgorithm(.ed448)))
        #expect(InsecureReason.unsupportedAlgorithm(.ed448).extendedError == .unsupportedDNSKEYAlgorithm)
        let r2 = validator.validate(keys, zone: zone, dsSet: [gost], budget: &budget)
        #expect(r2.security == .insecure(.unsupportedDigest(DigestType(3))))
        #expect(InsecureReason.unsupportedDigest(DigestType(3)).extendedError == .unsupportedDSDigest)
        // An unsupported DS beside a supported one that fails is bogus: the supported one counts.
        var bad = ksk.dnskey.ds(owner: zone)!
        bad.digest[3] ^= 1
        #expect(validator.validate(keys, zone: zone, dsSet: [ed448, bad], budget: &budget).security == .bogus(.dnskeyMissing))
        // RSA/SHA-1 refused by policy makes a SHA-1-only zone insecure.
        let sha1Key = TestKey(.rsaSHA1NSEC3, owner: zone)
        let strict = KeySetValidator(policy: ValidationPolicy(validatesSHA1Algorithms: false), now: testNow)
        #expect(strict.validate(keySet(zone, [sha1Key]), zone: zone, dsSet: [sha1Key.dnskey.ds(owner: zone)!], budget: &budget).security
                == .insecure(.unsupportedAlgorithm(.rsaSHA1NSEC3)))
        #expect(validator.validate(keySet(zone, [sha1Key]), zone: zone, dsSet: [sha1Key.dnskey.ds(owner: zone)!], budget: &budget).security == .secure)
    }

    @Test("a DNSKEY trust anchor: the anchored key must be in the set and sign it")
    func dnskeyAnchor() {
        let ksk = TestKey(.ecdsaP384SHA384, owner: zone)
        let other = TestKey(.ecdsaP384SHA384, owner: zone)
        var budget = WorkBudget()
        #expect(validator.validate(keySet(zone, [ksk]), zone: zone, anchorKeys: [ksk.dnskey], budget: &budget).security == .secure)
        #expect(validator.validate(keySet(zone, [other]), zone: zone, anchorKeys: [ksk.dnskey], budget: &budget).security == .bogus(.dnskeyMissing))
        #expect(validator.validate(keySet(zone, [ksk, other], signers: [other]), zone: zone, anchorKeys: [ksk.dnskey], budget: &budget).security
                == .bogus(.dnskeyMissing))
    }
}
