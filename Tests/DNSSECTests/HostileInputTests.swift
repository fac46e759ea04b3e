import DNSCore
import Testing
@testable import DNSSEC

/// Whatever a server sends — keys, signatures, RRSIG fields, NSEC3 records — validation ends
/// in a verdict and never traps. Deterministic: the same seed, the same inputs.
@Suite struct HostileInputTests {
    func bytes(_ n: Int, _ rng: inout SplitMix64) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) } }

    @Test("random public keys and signatures for every algorithm: never valid, never a trap")
    func randomKeys() {
        var rng = SplitMix64(seed: 13)
        let algs: [UInt8] = [1, 3, 5, 7, 8, 10, 13, 14, 15, 16, 253]
        var outcomes: [SignatureCheck: Int] = [:]
        for i in 0..<3000 {
            let alg = DNSSECAlgorithm(algs[i % algs.count])
            // Lengths around the real ones, and RSA keys whose first bytes claim odd exponent lengths.
            var key = bytes([0, 1, 3, 31, 32, 33, 63, 64, 65, 96, 130, 260][Int.random(in: 0..<12, using: &rng)], &rng)
            if i % 7 == 0, !key.isEmpty { key[0] = 0 }
            let sig = bytes([0, 1, 32, 64, 96, 128, 256][Int.random(in: 0..<7, using: &rng)], &rng)
            let r = SignatureVerifier.verify(signature: sig, data: bytes(40, &rng), key: DNSKEY(flags: 257, algorithm: alg, publicKey: key))
            #expect(r != .valid)
            outcomes[r, default: 0] += 1
        }
        // Each kind of refusal was reached, so the inputs did exercise the decoders.
        #expect(outcomes[.malformedKey, default: 0] > 0)
        #expect(outcomes[.unsupportedAlgorithm, default: 0] > 0)
        #expect(outcomes[.invalid, default: 0] > 0)
    }

    @Test("random RRSIG fields over a real key: a verdict, never secure, never a trap")
    func randomRRSIGs() {
        var rng = SplitMix64(seed: 8)
        let zone = name("example.")
        let key = TestKey(.ed25519, owner: zone)
        let verifier = RRSetVerifier(now: testNow)
        for _ in 0..<500 {
            var set = aSet("www.example.")
            set.signatures = [RRSIG(typeCovered: .a, algorithm: .ed25519, labels: UInt8.random(in: 0...255, using: &rng),
                                    originalTTL: UInt32.random(in: 0...UInt32.max, using: &rng),
                                    expiration: UInt32.random(in: 0...UInt32.max, using: &rng),
                                    inception: UInt32.random(in: 0...UInt32.max, using: &rng),
                                    keyTag: Bool.random(using: &rng) ? key.dnskey.keyTag : UInt16.random(in: 0...65535, using: &rng),
                                    signerName: zone, signature: bytes(Int.random(in: 0...80, using: &rng), &rng))]
            var budget = WorkBudget()
            #expect(verifier.verify(set, zone: zone, keys: [key.dnskey], budget: &budget).security.isBogus)
        }
    }

    @Test("random NSEC3 records: proofs end in a verdict within the hash budget")
    func randomNSEC3() {
        var rng = SplitMix64(seed: 50)
        let zone = name("example.")
        for _ in 0..<200 {
            let sets: [RRSet] = (0..<Int.random(in: 0...6, using: &rng)).map { _ in
                let owner = Base32Hex.encode(bytes(20, &rng), uppercase: false)
                return RRSet(name: try! DNSName("\(owner).example."), type: .nsec3, ttl: 300, rdatas: [
                    .nsec3(NSEC3(hashAlgorithm: UInt8.random(in: 0...2, using: &rng), flags: UInt8.random(in: 0...3, using: &rng),
                                 iterations: UInt16.random(in: 0...3, using: &rng), salt: bytes(Int.random(in: 0...4, using: &rng), &rng),
                                 nextHashedOwner: bytes(Bool.random(using: &rng) ? 20 : 7, &rng),
                                 types: TypeBitmap([.a, .ns, .soa, .ds].filter { _ in Bool.random(using: &rng) }))),
                ])
            }
            let p = NSEC3Proof(zone: zone, rrsets: sets)
            var budget = WorkBudget(WorkLimits(nsec3HashesPerAnswer: 16))
            _ = p.proveNameError(name("a.b.c.d.example."), budget: &budget)
            _ = p.proveNoData(name("x.example."), .a, budget: &budget)
            _ = p.proveNoDS(name("y.example."), budget: &budget)
            _ = p.proveWildcardAnswer(name("q.w.example."), wildcard: name("*.w.example."), budget: &budget)
            #expect(budget.nsec3Hashes <= 16)
        }
    }
}
