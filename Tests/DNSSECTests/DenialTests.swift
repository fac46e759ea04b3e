import DNSCore
import Testing
@testable import DNSSEC

/// The zone every denial test signs with ldns-signzone: a name with two types, a wildcard, an
/// empty non-terminal (y.example.), an unsigned and a signed delegation.
let denialZone = """
    example. 3600 IN SOA ns.example. host.example. 1 3600 600 86400 300
    example. 3600 IN NS ns.example.
    ns.example. 3600 IN A 127.0.0.1
    a.example. 3600 IN A 192.0.2.1
    a.example. 3600 IN TXT "a"
    *.w.example. 3600 IN TXT "wild"
    x.y.example. 3600 IN A 192.0.2.2
    sub.example. 3600 IN NS ns.sub.example.
    ns.sub.example. 3600 IN A 127.0.0.2
    secure.example. 3600 IN NS ns.secure.example.
    secure.example. 3600 IN DS 12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    ns.secure.example. 3600 IN A 127.0.0.3

    """

/// Verifies every signed RRset of `z` with its DS, as a validator would before using them:
/// ldns's real signatures must all verify. Returns the verified NSEC or NSEC3 sets.
func verifiedDenialSets(_ z: LdnsZone, type: RRType) throws -> [RRSet] {
    var budget = WorkBudget(WorkLimits(verificationsPerResolution: 10_000))
    let keys = KeySetValidator(now: testNowReal).validate(z.keys, zone: z.origin, dsSet: [z.ds], budget: &budget)
    let zoneKeys = try #require(keys.value.map { dnskeys(of: $0.rrset) })
    let verifier = RRSetVerifier(now: testNowReal)
    var out: [RRSet] = []
    for s in z.sets where !s.signatures.isEmpty {
        let r = verifier.verify(s, zone: z.origin, keys: zoneKeys, budget: &budget)
        #expect(r.security == .secure, "\(s.name) \(s.type): \(r.security)")
        if s.type == type { out.append(s) }
    }
    #expect(!out.isEmpty)
    return out
}

@Suite(.enabled(if: ldnsInstalled, "needs ldnsutils (scripts/packages.txt)"))
struct NSECDenialTests {
    let zone = name("example.")

    @Test("ldns-signed zones verify for algorithms 5, 7, 8, 10, 13, 14 and 15", arguments: [5, 7, 8, 10, 13, 14, 15])
    func ldnsSignatures(_ alg: Int) throws {
        // Algorithm 7 exists for NSEC3 zones (RFC 5155 §2).
        let nsec3: (String, Int)? = alg == 7 ? ("", 0) : nil
        let z = try LdnsZone.make(origin: "example.", records: denialZone, algorithm: alg, nsec3: nsec3)
        _ = try verifiedDenialSets(z, type: nsec3 == nil ? .nsec : .nsec3)
        // An expired copy of the same zone is bogus with Signature Expired.
        let old = try LdnsZone.make(origin: "example.", records: denialZone, algorithm: alg, nsec3: nsec3,
                                    inception: testNowReal - 200_000, expiration: testNowReal - 100_000)
        var budget = WorkBudget()
        #expect(KeySetValidator(now: testNowReal).validate(old.keys, zone: zone, dsSet: [old.ds], budget: &budget).security
                == .bogus(.signatureExpired))
    }

    @Test("NXDOMAIN: proven for absent names; refused for existing names, names under a delegation or a wildcard")
    func nameError() throws {
        let z = try LdnsZone.make(origin: "example.", records: denialZone)
        let p = NSECProof(zone: zone, rrsets: try verifiedDenialSets(z, type: .nsec))
        #expect(p.proveNameError(name("nope.example.")) == .secure)
        #expect(p.proveNameError(name("b.a.example.")) == .secure)
        #expect(p.proveNameError(name("zzz.example.")) == .secure)  // covered by the last NSEC, which wraps
        #expect(p.proveNameError(name("a.example.")).isBogus)
        // Below the unsigned delegation only the child can deny: the parent's NSEC at sub.example. cannot.
        #expect(p.proveNameError(name("host.sub.example.")) == .bogus(.nsecMissing))
        // z.w.example. matches the wildcard: NXDOMAIN would be a lie.
        #expect(p.proveNameError(name("z.w.example.")) == .bogus(.nsecMissing))
        // A broken chain: the NSEC covering nope.example. is missing.
        let covering = try #require(p.covering(name("nope.example.")))
        let broken = NSECProof(zone: zone, rrsets: z.nsecs.filter { $0.name != covering.owner })
        #expect(broken.proveNameError(name("nope.example.")) == .bogus(.nsecMissing))
        #expect(BogusReason.nsecMissing.extendedError == .nsecMissing)
    }

    @Test("NODATA: a missing type, an empty non-terminal, a wildcard without the type; refused when the type exists")
    func noData() throws {
        let z = try LdnsZone.make(origin: "example.", records: denialZone)
        let p = NSECProof(zone: zone, rrsets: try verifiedDenialSets(z, type: .nsec))
        #expect(p.proveNoData(name("a.example."), .aaaa) == .secure)
        #expect(p.proveNoData(name("a.example."), .txt).isBogus)
        #expect(p.proveNoData(name("y.example."), .a) == .secure)
        #expect(p.proveNoData(name("z.w.example."), .aaaa) == .secure)
        #expect(p.proveNoData(name("z.w.example."), .txt).isBogus)
        #expect(p.proveNoData(name("sub.example."), .ds) == .secure)
        // The parent's NSEC at a delegation says nothing about the child's A records.
        #expect(p.proveNoData(name("sub.example."), .a).isBogus)
        #expect(p.proveNoData(name("nope.example."), .a) == .bogus(.nsecMissing))
    }

    @Test("a wildcard answer: the expansion verifies and the NSEC proves no closer name")
    func wildcardAnswer() throws {
        let z = try LdnsZone.make(origin: "example.", records: denialZone)
        let nsecs = try verifiedDenialSets(z, type: .nsec)
        let wild = try #require(z.set("*.w.example.", .txt))
        var answer = wild
        answer.name = name("z.w.example.")
        var budget = WorkBudget()
        let keys = KeySetValidator(now: testNowReal).validate(z.keys, zone: zone, dsSet: [z.ds], budget: &budget)
        let r = RRSetVerifier(now: testNowReal).verify(answer, zone: zone, keys: dnskeys(of: keys.value!.rrset), budget: &budget)
        let w = try #require(r.value?.wildcard)
        #expect(w == name("*.w.example."))
        #expect(NSECProof(zone: zone, rrsets: nsecs).proveWildcardAnswer(name("z.w.example."), wildcard: w) == .secure)
        #expect(NSECProof(zone: zone, rrsets: []).proveWildcardAnswer(name("z.w.example."), wildcard: w) == .bogus(.nsecMissing))
        // An expansion claimed for a name that exists is refused.
        #expect(NSECProof(zone: zone, rrsets: nsecs).proveWildcardAnswer(name("a.example."), wildcard: name("*.example.")).isBogus)
    }

    @Test("insecure delegation: NS without DS proven; a delegation with DS, or no delegation, is not")
    func noDS() throws {
        let z = try LdnsZone.make(origin: "example.", records: denialZone)
        let p = NSECProof(zone: zone, rrsets: try verifiedDenialSets(z, type: .nsec))
        #expect(p.proveNoDS(name("sub.example.")) == .insecure(.noDS(name("sub.example."))))
        #expect(p.proveNoDS(name("secure.example.")).isBogus)
        #expect(p.proveNoDS(name("a.example.")).isBogus)
        #expect(p.proveNoDS(name("nope.example.")) == .bogus(.nsecMissing))
    }
}

@Suite(.enabled(if: ldnsInstalled, "needs ldnsutils (scripts/packages.txt)"))
struct NSEC3DenialTests {
    let zone = name("example.")

    func proof(optOut: Bool = false, iterations: Int = 5, limits: WorkLimits = WorkLimits()) throws -> (NSEC3Proof, LdnsZone) {
        let z = try LdnsZone.make(origin: "example.", records: denialZone, nsec3: ("aabbccdd", iterations), optOut: optOut)
        let sets = try verifiedDenialSets(z, type: .nsec3)
        return (NSEC3Proof(zone: zone, rrsets: sets, policy: ValidationPolicy(limits: limits)), z)
    }

    @Test("NXDOMAIN: closest encloser, next closer and wildcard; a broken chain is bogus")
    func nameError() throws {
        let (p, z) = try proof()
        var budget = WorkBudget()
        #expect(p.proveNameError(name("nope.example."), budget: &budget) == .secure)
        #expect(p.proveNameError(name("c.b.a.example."), budget: &budget) == .secure)
        #expect(p.proveNameError(name("a.example."), budget: &budget).isBogus)
        #expect(p.proveNameError(name("z.w.example."), budget: &budget) == .bogus(.nsecMissing))
        #expect(p.proveNameError(name("host.sub.example."), budget: &budget).isBogus)
        // Remove the NSEC3 covering the next closer name: the chain no longer proves anything.
        let h = NSEC3Hash.hash(name("nope.example."), salt: [0xAA, 0xBB, 0xCC, 0xDD], iterations: 5)
        let cover = try #require(p.covering(h))
        let broken = NSEC3Proof(zone: zone, rrsets: z.nsec3s.filter { $0.name != cover.owner })
        budget.startAnswer()
        #expect(broken.proveNameError(name("nope.example."), budget: &budget) == .bogus(.nsecMissing))
    }

    @Test("NODATA: matching NSEC3 without the type, empty non-terminal, wildcard NODATA, DS at an unsigned delegation")
    func noData() throws {
        let (p, _) = try proof()
        var budget = WorkBudget()
        #expect(p.proveNoData(name("a.example."), .aaaa, budget: &budget) == .secure)
        #expect(p.proveNoData(name("a.example."), .txt, budget: &budget).isBogus)
        #expect(p.proveNoData(name("y.example."), .a, budget: &budget) == .secure)
        #expect(p.proveNoData(name("z.w.example."), .aaaa, budget: &budget) == .secure)
        #expect(p.proveNoData(name("z.w.example."), .txt, budget: &budget).isBogus)
        #expect(p.proveNoData(name("sub.example."), .ds, budget: &budget) == .secure)
        #expect(p.proveNoData(name("sub.example."), .a, budget: &budget).isBogus)
    }

    @Test("wildcard answers and unsigned delegations")
    func wildcardAndNoDS() throws {
        let (p, _) = try proof()
        var budget = WorkBudget()
        #expect(p.proveWildcardAnswer(name("z.w.example."), wildcard: name("*.w.example."), budget: &budget) == .secure)
        #expect(p.proveWildcardAnswer(name("a.example."), wildcard: name("*.example."), budget: &budget).isBogus)
        #expect(p.proveNoDS(name("sub.example."), budget: &budget) == .insecure(.noDS(name("sub.example."))))
        #expect(p.proveNoDS(name("secure.example."), budget: &budget).isBogus)
    }

    @Test("opt-out: NXDOMAIN and an unsigned delegation in an opt-out span are insecure")
    func optOut() throws {
        let (p, _) = try proof(optOut: true)
        var budget = WorkBudget()
        #expect(p.records.allSatisfy { $0.nsec3.optOut })
        #expect(p.proveNameError(name("nope.example."), budget: &budget) == .insecure(.optOut))
        let noDS = p.proveNoDS(name("sub.example."), budget: &budget)
        #expect(noDS == .insecure(.optOut) || noDS == .insecure(.noDS(name("sub.example."))))
        // A name that needs no opt-out still proves NODATA securely.
        #expect(p.proveNoData(name("a.example."), .aaaa, budget: &budget) == .secure)
    }

    @Test("RFC 9276 iteration limits: above 150 insecure, above 500 bogus, before any hash")
    func iterations() throws {
        var budget = WorkBudget()
        let (p151, _) = try proof(iterations: 151)
        #expect(p151.proveNameError(name("nope.example."), budget: &budget) == .insecure(.nsec3Iterations(151)))
        let (p150, _) = try proof(iterations: 150)
        #expect(p150.proveNameError(name("nope.example."), budget: &budget) == .secure)
        budget.startAnswer()
        let (p501, _) = try proof(iterations: 501)
        let before = budget.nsec3Hashes
        #expect(p501.proveNoData(name("a.example."), .aaaa, budget: &budget) == .bogus(.nsec3Iterations(501)))
        #expect(budget.nsec3Hashes == before)
        #expect(BogusReason.nsec3Iterations(501).extendedError == .unsupportedNSEC3Iterations)
    }

    @Test("the NSEC3 hash budget: a deep name exhausts a small one")
    func hashBudget() throws {
        let (p, _) = try proof()
        var small = WorkBudget(WorkLimits(nsec3HashesPerAnswer: 3))
        #expect(p.proveNameError(name("a.b.c.d.e.example."), budget: &small) == .bogus(.workLimitExceeded(.nsec3HashesPerAnswer)))
        #expect(small.nsec3Hashes == 3)
        var enough = WorkBudget()
        #expect(p.proveNameError(name("a.b.c.d.e.example."), budget: &enough) == .secure)
    }

    @Test("unknown NSEC3 hash algorithms or flags are ignored: nothing left is insecure or bogus")
    func unknownHash() {
        let types = TypeBitmap([.a])
        let alg2 = RRSet(name: name("0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example."), type: .nsec3, ttl: 300,
                         rdatas: [.nsec3(NSEC3(hashAlgorithm: 2, flags: 0, iterations: 0, salt: [],
                                               nextHashedOwner: [UInt8](repeating: 0xFF, count: 20), types: types))])
        var budget = WorkBudget()
        #expect(NSEC3Proof(zone: zone, rrsets: [alg2]).proveNameError(name("x.example."), budget: &budget) == .insecure(.unsupportedNSEC3Hash(2)))
        var flags = alg2
        flags.rdatas = [.nsec3(NSEC3(hashAlgorithm: 1, flags: 0x80, iterations: 0, salt: [],
                                     nextHashedOwner: [UInt8](repeating: 0xFF, count: 20), types: types))]
        #expect(NSEC3Proof(zone: zone, rrsets: [flags]).proveNameError(name("x.example."), budget: &budget) == .bogus(.nsecMissing))
    }
}
