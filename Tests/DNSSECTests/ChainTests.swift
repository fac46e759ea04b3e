import DNSCore
import Synchronization
import Testing
@testable import DNSSEC

/// Signed zones served from memory, as a ``ChainSource``: DNSKEY sets from each zone, DS sets
/// (or all of the parent's NSEC/NSEC3 sets) from the closest enclosing zone. Counts its calls.
final class ZoneSource: ChainSource {
    let zones: [LdnsZone]
    let calls = Mutex(0)
    init(_ zones: [LdnsZone]) { self.zones = zones }

    func dnskeys(_ zone: DNSName) async -> RRSet? {
        calls.withLock { $0 += 1 }
        return zones.first { $0.origin == zone }?.keys
    }

    func ds(_ zone: DNSName) async -> DSAnswer {
        calls.withLock { $0 += 1 }
        guard let parent = zones.filter({ zone.isStrictSubdomain(of: $0.origin) }).max(by: { $0.origin.labelCount < $1.origin.labelCount }) else {
            return .unavailable
        }
        if let ds = parent.sets.first(where: { $0.name == zone && $0.type == .ds }) { return .present(ds) }
        return .absent(authority: parent.sets.filter { $0.type == .soa || $0.type == .nsec || $0.type == .nsec3 })
    }
}

func dsLine(_ owner: String, _ d: DS) -> String {
    "\(owner) 3600 IN DS \(d.keyTag) \(d.algorithm.rawValue) \(d.digestType.rawValue) \(Hex.encode(d.digest))"
}

/// A small signed hierarchy: the root (NSEC) delegating to example. (NSEC3), expired. (its
/// signatures long expired), bogus. (DS matching no key), private. (DS of an unknown
/// algorithm) and unsigned. (no DS); example. delegates to unsigned.example. without DS.
struct Hierarchy {
    let root: LdnsZone, example: LdnsZone, expired: LdnsZone, bogus: LdnsZone
    let anchors: TrustAnchors
    let source: ZoneSource

    static func make() throws -> Hierarchy {
        let example = try LdnsZone.make(origin: "example.", records: """
            example. 3600 IN SOA ns.example. host.example. 1 3600 600 86400 300
            example. 3600 IN NS ns.example.
            ns.example. 3600 IN A 127.0.0.1
            www.example. 3600 IN A 192.0.2.1
            d.example. 3600 IN DNAME example.net.
            *.w.example. 3600 IN TXT "wild"
            unsigned.example. 3600 IN NS ns.unsigned.example.
            ns.unsigned.example. 3600 IN A 127.0.0.2

            """, algorithm: 13, nsec3: ("", 0))
        let expired = try LdnsZone.make(origin: "expired.", records: """
            expired. 3600 IN SOA ns.expired. host.expired. 1 3600 600 86400 300
            expired. 3600 IN NS ns.expired.
            www.expired. 3600 IN A 192.0.2.3

            """, algorithm: 15, inception: testNowReal - 200_000, expiration: testNowReal - 100_000)
        let bogus = try LdnsZone.make(origin: "bogus.", records: """
            bogus. 3600 IN SOA ns.bogus. host.bogus. 1 3600 600 86400 300
            bogus. 3600 IN NS ns.bogus.
            www.bogus. 3600 IN A 192.0.2.4

            """, algorithm: 13)
        var decoy = bogus.ds
        decoy.digest[0] ^= 0xFF
        let root = try LdnsZone.make(origin: ".", records: """
            . 86400 IN SOA a.root. host.root. 1 3600 600 86400 300
            . 86400 IN NS a.root.
            example. 3600 IN NS ns.example.
            \(dsLine("example.", example.ds))
            expired. 3600 IN NS ns.expired.
            \(dsLine("expired.", expired.ds))
            bogus. 3600 IN NS ns.bogus.
            \(dsLine("bogus.", decoy))
            private. 3600 IN NS ns.private.
            private. 3600 IN DS 1 253 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
            unsigned. 3600 IN NS ns.unsigned.

            """, algorithm: 13)
        var anchors = TrustAnchors()
        anchors.add(.root, root.ds)
        return Hierarchy(root: root, example: example, expired: expired, bogus: bogus, anchors: anchors,
                         source: ZoneSource([root, example, expired, bogus]))
    }

    func validator(_ limits: WorkLimits = WorkLimits(), anchors: TrustAnchors? = nil) -> ChainValidator {
        ChainValidator(anchors: anchors ?? self.anchors, policy: ValidationPolicy(limits: limits), source: source) { testNowReal }
    }
}

@Suite(.enabled(if: ldnsInstalled, "needs ldnsutils (scripts/packages.txt)"))
struct ChainTests {
    let h: Hierarchy
    init() throws { h = try Hierarchy.make() }

    func answer(_ set: RRSet, authority: [RRSet] = []) -> SignedResponse {
        SignedResponse(question: Question(name: set.name, type: set.type), kind: .answer, answers: [set], authority: authority)
    }

    @Test("a signed answer is secure through root → example.; the key sets are walked once")
    func secureAnswer() async throws {
        let v = h.validator()
        var budget = WorkBudget()
        let www = try #require(h.example.set("www.example.", .a))
        #expect(await v.validate(answer(www), zone: name("example."), budget: &budget) == .secure)
        let calls = h.source.calls.withLock { $0 }
        let spent = budget.verifications
        #expect(spent == 4)  // root DNSKEY, example. DS, example. DNSKEY, the A set
        #expect(await v.validate(answer(www), zone: name("example."), budget: &budget) == .secure)
        #expect(h.source.calls.withLock { $0 } == calls)
        #expect(budget.verifications == spent + 1)
        // Without its RRSIG the same answer is bogus: the zone is signed.
        var stripped = www
        stripped.signatures = []
        #expect(await v.validate(answer(stripped), zone: name("example."), budget: &budget) == .bogus(.rrsigsMissing))
    }

    @Test("negative answers: NXDOMAIN and NODATA proven by NSEC3; a missing proof is bogus")
    func negatives() async throws {
        let v = h.validator()
        var budget = WorkBudget()
        let soa = try #require(h.example.set("example.", .soa))
        let proof = [soa] + h.example.nsec3s
        let nx = SignedResponse(question: Question(name: name("nope.example."), type: .a), kind: .nxDomain, authority: proof)
        #expect(await v.validate(nx, zone: name("example."), budget: &budget) == .secure)
        let nodata = SignedResponse(question: Question(name: name("www.example."), type: .aaaa), kind: .noData, authority: proof)
        #expect(await v.validate(nodata, zone: name("example."), budget: &budget) == .secure)
        let lie = SignedResponse(question: Question(name: name("www.example."), type: .a), kind: .nxDomain, authority: proof)
        #expect(await v.validate(lie, zone: name("example."), budget: &budget).isBogus)
        let bare = SignedResponse(question: Question(name: name("nope.example."), type: .a), kind: .nxDomain, authority: [soa])
        #expect(await v.validate(bare, zone: name("example."), budget: &budget) == .bogus(.nsecMissing))
        // The root's NSEC proves a missing TLD.
        let rootNX = SignedResponse(question: Question(name: name("nope."), type: .a), kind: .nxDomain,
                                    authority: [try #require(h.root.set(".", .soa))] + h.root.nsecs)
        #expect(await v.validate(rootNX, zone: .root, budget: &budget) == .secure)
    }

    @Test("a wildcard answer needs its NSEC3 proof")
    func wildcard() async throws {
        let v = h.validator()
        var budget = WorkBudget()
        var expanded = try #require(h.example.set("*.w.example.", .txt))
        expanded.name = name("a.w.example.")
        #expect(await v.validate(answer(expanded, authority: h.example.nsec3s), zone: name("example."), budget: &budget) == .secure)
        #expect(await v.validate(answer(expanded), zone: name("example."), budget: &budget) == .bogus(.nsecMissing))
    }

    @Test("unsigned delegations are insecure, from the root (NSEC) and from example. (NSEC3)")
    func insecure() async throws {
        let v = h.validator()
        var budget = WorkBudget()
        let data = RRSet(name: name("www.unsigned.example."), type: .a, ttl: 300, rdatas: [.a(IPv4Address(192, 0, 2, 9))])
        #expect(await v.validate(answer(data), zone: name("unsigned.example."), budget: &budget)
                == .insecure(.noDS(name("unsigned.example."))))
        let tld = RRSet(name: name("www.unsigned."), type: .a, ttl: 300, rdatas: [.a(IPv4Address(192, 0, 2, 9))])
        #expect(await v.validate(answer(tld), zone: name("unsigned."), budget: &budget) == .insecure(.noDS(name("unsigned."))))
        // The referral itself: no DS, proven.
        let referral = SignedResponse(question: Question(name: name("www.unsigned.example."), type: .a),
                                      kind: .referral(child: name("unsigned.example.")), authority: h.example.nsec3s)
        #expect(await v.validate(referral, zone: name("example."), budget: &budget) == .insecure(.noDS(name("unsigned.example."))))
        // A referral with a DS set is secure; one whose proof was stripped is bogus.
        let signedReferral = SignedResponse(question: Question(name: name("www.example."), type: .a), kind: .referral(child: name("example.")),
                                            authority: [try #require(h.root.set("example.", .ds))])
        #expect(await v.validate(signedReferral, zone: .root, budget: &budget) == .secure)
        let stripped = SignedResponse(question: Question(name: name("www.unsigned."), type: .a), kind: .referral(child: name("unsigned.")))
        #expect(await v.validate(stripped, zone: .root, budget: &budget) == .bogus(.nsecMissing))
    }

    @Test("a DNAME's synthesised CNAME needs no signature, but must follow from the DNAME")
    func dname() async throws {
        let v = h.validator()
        var budget = WorkBudget()
        let dname = try #require(h.example.set("d.example.", .dname))
        func cname(_ target: String) -> RRSet {
            RRSet(name: name("x.y.d.example."), type: .cname, ttl: 3600, rdatas: [.cname(name(target))])
        }
        let good = SignedResponse(question: Question(name: name("x.y.d.example."), type: .a), kind: .answer,
                                  answers: [dname, cname("x.y.example.net.")])
        #expect(await v.validate(good, zone: name("example."), budget: &budget) == .secure)
        let forged = SignedResponse(question: Question(name: name("x.y.d.example."), type: .a), kind: .answer,
                                    answers: [dname, cname("x.y.evil.net.")])
        #expect(await v.validate(forged, zone: name("example."), budget: &budget) == .bogus(.badSynthesis))
    }

    @Test("bogus zones: DS matching no key, expired signatures; unknown DS algorithm is insecure")
    func bogus() async throws {
        let v = h.validator()
        var budget = WorkBudget()
        let www = try #require(h.bogus.set("www.bogus.", .a))
        let r = await v.validate(answer(www), zone: name("bogus."), budget: &budget)
        #expect(r == .bogus(.dnskeyMissing))
        let old = try #require(h.expired.set("www.expired.", .a))
        #expect(await v.validate(answer(old), zone: name("expired."), budget: &budget) == .bogus(.signatureExpired))
        let priv = RRSet(name: name("www.private."), type: .a, ttl: 300, rdatas: [.a(IPv4Address(192, 0, 2, 5))])
        #expect(await v.validate(answer(priv), zone: name("private."), budget: &budget)
                == .insecure(.unsupportedAlgorithm(DNSSECAlgorithm(253))))
    }

    @Test("negative trust anchors make a bogus zone insecure, and only below them")
    func negativeAnchors() async throws {
        let ntas = Mutex(NegativeTrustAnchors([name("bogus.")]))
        let v = ChainValidator(anchors: h.anchors, source: h.source, negativeAnchor: { n in ntas.withLock { $0.covering(n) } }) { testNowReal }
        var budget = WorkBudget()
        let www = try #require(h.bogus.set("www.bogus.", .a))
        let q = SignedResponse(question: Question(name: www.name, type: .a), kind: .answer, answers: [www])
        #expect(await v.validate(q, zone: name("bogus."), budget: &budget) == .insecure(.negativeTrustAnchor(name("bogus."))))
        let good = try #require(h.example.set("www.example.", .a))
        #expect(await v.validate(SignedResponse(question: Question(name: good.name, type: .a), kind: .answer, answers: [good]),
                                 zone: name("example."), budget: &budget) == .secure)
        // Removed at run time: bogus again at once.
        ntas.withLock { $0.remove(name("bogus.")) }
        #expect(await v.validate(q, zone: name("bogus."), budget: &budget) == .bogus(.dnskeyMissing))
        // An anchor below the signing zone still covers the names under it.
        let narrow = ChainValidator(anchors: h.anchors, source: h.source, negativeAnchor: { NegativeTrustAnchors([name("www.example.")]).covering($0) }) { testNowReal }
        var stripped = good
        stripped.signatures = []
        #expect(await narrow.validate(SignedResponse(question: Question(name: good.name, type: .a), kind: .answer, answers: [stripped]),
                                      zone: name("example."), budget: &budget) == .insecure(.negativeTrustAnchor(name("www.example."))))
        #expect(NegativeTrustAnchors([name("example.")]).covering(name("a.b.example.")) == name("example."))
        #expect(NegativeTrustAnchors([name("example.")]).covering(name("example.org.")) == nil)
    }

    @Test("no trust anchor: insecure; a wrong anchor: bogus")
    func anchors() async throws {
        var budget = WorkBudget()
        let www = try #require(h.example.set("www.example.", .a))
        #expect(await h.validator(anchors: TrustAnchors()).validate(answer(www), zone: name("example."), budget: &budget)
                == .insecure(.noTrustAnchor))
        // The real IANA anchors do not match the test root.
        #expect(await h.validator(anchors: .ianaRoot).validate(answer(www), zone: name("example."), budget: &budget)
                == .bogus(.dnskeyMissing))
        // An anchor for example. itself (as its DNSKEY) starts the chain there.
        var own = TrustAnchors()
        own.add(name("example."), dnskeys(of: h.example.keys).first { $0.isSEP }!)
        #expect(await h.validator(anchors: own).validate(answer(www), zone: name("example."), budget: &budget) == .secure)
    }

    @Test("the per-resolution budget stops a chain walk with a typed result")
    func budget() async throws {
        var small = WorkBudget(WorkLimits(verificationsPerResolution: 2))
        let www = try #require(h.example.set("www.example.", .a))
        let v = h.validator()
        #expect(await v.validate(answer(www), zone: name("example."), budget: &small)
                == .bogus(.workLimitExceeded(.verificationsPerResolution)))
        // The next resolution, with its own budget, is not held to the last one's exhaustion.
        var fresh = WorkBudget()
        #expect(await v.validate(answer(www), zone: name("example."), budget: &fresh) == .secure)
    }
}

/// A source with holes: the zones in `gap` have no DNSKEY set.
final class GappySource: ChainSource {
    let inner: ZoneSource
    let gap: Mutex<Set<DNSName>>
    let dsGap: Mutex<Set<DNSName>>
    init(_ inner: ZoneSource, gap: Set<DNSName>, dsGap: Set<DNSName> = []) {
        self.inner = inner; self.gap = Mutex(gap); self.dsGap = Mutex(dsGap)
    }
    func dnskeys(_ zone: DNSName) async -> RRSet? {
        if gap.withLock({ $0.contains(zone) }) { return nil }
        return await inner.dnskeys(zone)
    }
    func ds(_ zone: DNSName) async -> DSAnswer {
        if dsGap.withLock({ $0.contains(zone) }) { return .unavailable }
        return await inner.ds(zone)
    }
}

@Suite(.enabled(if: ldnsInstalled, "needs ldnsutils (scripts/packages.txt)"))
struct ChainSourceGapTests {
    @Test("a key set the source cannot give: bogus for validate, nil for validateIfAvailable, and not remembered")
    func unavailable() async throws {
        let h = try Hierarchy.make()
        let source = GappySource(h.source, gap: [name("example.")])
        let v = ChainValidator(anchors: h.anchors, source: source) { testNowReal }
        let www = try #require(h.example.set("www.example.", .a))
        let q = SignedResponse(question: Question(name: www.name, type: .a), kind: .answer, answers: [www])
        var budget = WorkBudget()
        #expect(await v.validateIfAvailable(q, zone: name("example."), budget: &budget) == nil)
        #expect(await v.validate(q, zone: name("example."), budget: &budget) == .bogus(.dnskeyMissing))
        // Once the keys can be had, the same validator decides: nothing was remembered from the gap.
        source.gap.withLock { $0.removeAll() }
        #expect(await v.validateIfAvailable(q, zone: name("example."), budget: &budget) == .secure)
    }
}

@Suite(.enabled(if: ldnsInstalled, "needs ldnsutils (scripts/packages.txt)"))
struct ChainMemoryTests {
    @Test("remembered key sets run out with their TTL: the chain is walked again afterwards")
    func keyTTL() async throws {
        let h = try Hierarchy.make()
        let clock = Mutex(testNowReal)
        let v = ChainValidator(anchors: h.anchors, source: h.source) { clock.withLock { $0 } }
        let www = try #require(h.example.set("www.example.", .a))
        let q = SignedResponse(question: Question(name: www.name, type: .a), kind: .answer, answers: [www])
        var budget = WorkBudget(WorkLimits(verificationsPerResolution: 1000))
        #expect(await v.validate(q, zone: name("example."), budget: &budget) == .secure)
        let walked = h.source.calls.withLock { $0 }
        clock.withLock { $0 += 600 }
        #expect(await v.validate(q, zone: name("example."), budget: &budget) == .secure)
        #expect(h.source.calls.withLock { $0 } == walked)
        let ttl = h.example.keys.ttl
        clock.withLock { $0 += min(ttl, ChainValidator.keyCacheSeconds) }
        #expect(await v.validate(q, zone: name("example."), budget: &budget) == .secure)
        #expect(h.source.calls.withLock { $0 } > walked)
    }
}

@Suite struct MalformedInputTests {
    @Test("a DS digest of the wrong length matches nothing: bogus, not insecure")
    func shortDigest() {
        let zone = name("example.")
        let key = TestKey(.ed25519, owner: zone)
        var ds = key.dnskey.ds(owner: zone)!
        ds.digest.removeLast()
        var budget = WorkBudget()
        #expect(KeySetValidator(now: testNow).validate(keySet(zone, [key]), zone: zone, dsSet: [ds], budget: &budget).security
                == .bogus(.dnskeyMissing))
    }

    @Test("NSEC records never deny names outside their zone")
    func outOfZone() {
        let nsec = RRSet(name: name("zz.example."), type: .nsec, ttl: 300,
                         rdatas: [.nsec(NSEC(nextName: name("example."), types: TypeBitmap([.a])))])
        let p = NSECProof(zone: name("example."), rrsets: [nsec])
        #expect(p.covering(name("zzz.example.")) != nil)
        #expect(p.covering(name("www.other.")) == nil)
        #expect(p.proveNameError(name("www.other.")) == .bogus(.nsecMissing))
    }
}

@Suite(.enabled(if: ldnsInstalled, "needs ldnsutils (scripts/packages.txt)"))
struct ResponseSetsTests {
    @Test("a response's own DNSKEY and DS sets fill the source's gaps, verified like any other")
    func overlay() async throws {
        let h = try Hierarchy.make()
        let source = GappySource(h.source, gap: [name("example.")], dsGap: [name("example.")])
        let v = ChainValidator(anchors: h.anchors, source: source) { testNowReal }
        var budget = WorkBudget()
        // The answer to "example. DNSKEY" carries the keys; the DS comes from the cache-less gap: undecided.
        let keys = SignedResponse(question: Question(name: name("example."), type: .dnskey), kind: .answer, answers: [h.example.keys])
        #expect(await v.validateIfAvailable(keys, zone: name("example."), budget: &budget) == nil)
        // With the parent's DS in the authority section too (as a referral brings it), decided.
        let ds = try #require(h.root.set("example.", .ds))
        let both = SignedResponse(question: Question(name: name("example."), type: .dnskey), kind: .answer,
                                  answers: [h.example.keys], authority: [ds])
        #expect(await v.validateIfAvailable(both, zone: name("example."), budget: &budget) == .secure)
    }

    @Test("a forged DNSKEY set in a response is bogus, but the zone is not held bogus for it")
    func forged() async throws {
        let h = try Hierarchy.make()
        let v = h.validator()
        var budget = WorkBudget()
        let other = try LdnsZone.make(origin: "example.", records: "example. 3600 IN SOA ns.example. h.example. 1 3600 600 86400 300\n")
        let forged = SignedResponse(question: Question(name: name("example."), type: .dnskey), kind: .answer, answers: [other.keys])
        #expect(await v.validate(forged, zone: name("example."), budget: &budget) == .bogus(.dnskeyMissing))
        let www = try #require(h.example.set("www.example.", .a))
        #expect(await v.validate(SignedResponse(question: Question(name: www.name, type: .a), kind: .answer, answers: [www]),
                                 zone: name("example."), budget: &budget) == .secure)
    }
}
