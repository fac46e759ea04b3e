import DNSCore
import Synchronization

/// Where a chain of trust gets the records it needs: DNSKEY sets from each zone, DS sets (or
/// the proof of their absence) from each parent. The worker's source reads the shared cache
/// and resolves what is missing; tests serve signed zones from memory.
public protocol ChainSource: Sendable {
    /// The DNSKEY RRset of `zone`, with its RRSIGs; nil when it cannot be had.
    func dnskeys(_ zone: DNSName) async -> RRSet?
    /// The DS RRset of `zone` from its parent, or the parent's negative answer for it.
    func ds(_ zone: DNSName) async -> DSAnswer
}

/// The parent's answer to a DS question.
public enum DSAnswer: Sendable {
    /// The DS RRset, with its RRSIGs.
    case present(RRSet)
    /// No DS: the authority section (SOA, NSEC or NSEC3 sets with their RRSIGs) of the
    /// NODATA or NXDOMAIN answer.
    case absent(authority: [RRSet])
    /// No answer could be had.
    case unavailable
}

/// A response as the validator needs it: what was asked, what kind of answer it is, and its
/// RRsets with their signatures. (The worker builds it from its classified response.)
public struct SignedResponse: Sendable {
    public enum Kind: Sendable, Equatable {
        case answer
        case nxDomain
        case noData
        case referral(child: DNSName)
    }
    public var question: Question
    public var kind: Kind
    /// The CNAME/DNAME chain from the question name, then the answer sets.
    public var answers: [RRSet]
    /// NS and DS sets of a referral; SOA and NSEC/NSEC3 sets of a negative answer or of a
    /// wildcard expansion's proof.
    public var authority: [RRSet]
    /// The name a negative answer is about (the question name, or the end of the chain).
    public var finalName: DNSName

    public init(question: Question, kind: Kind, answers: [RRSet] = [], authority: [RRSet] = [], finalName: DNSName? = nil) {
        self.question = question; self.kind = kind; self.answers = answers; self.authority = authority
        self.finalName = finalName ?? question.name
    }
}

/// Walks chains of trust from the trust anchors down to the zone that signed the data
/// (RFC 4035 §5), and validates whole responses: answers, CNAME chains, wildcard expansions,
/// negative answers and referrals.
///
/// Validated key sets (and insecure or bogus zone verdicts) are remembered per zone, key sets
/// for their validated TTL but at most ``keyCacheSeconds``, bogus verdicts for `bogusTTL`
/// seconds, so one chain is walked once.
/// All work is spent from the caller's ``WorkBudget``.
public final class ChainValidator: Sendable {
    public let anchors: TrustAnchors
    public let policy: ValidationPolicy
    public let source: any ChainSource
    /// Seconds since the epoch (modulo 2^32, as RRSIG times).
    let clock: @Sendable () -> UInt32
    /// How long a bogus zone verdict is remembered, in seconds.
    public let bogusTTL: UInt32

    /// The remembered verdict of each zone's key set, with the time it runs out.
    private let keyCache = Mutex<[DNSName: (result: ZoneKeys, expires: UInt32)]>([:])
    /// Cap on ``keyCache`` entries: beyond it, the cache is cleared (it is a shortcut, not state).
    static let keyCacheLimit = 4096

    public typealias ZoneKeys = Validated<KeySet>

    /// The validated zone keys of one zone, and for how many seconds they may be trusted (the
    /// DNSKEY RRset's TTL capped by its signature, RFC 4035 §5.3.3).
    public struct KeySet: Sendable, Hashable {
        public var keys: [DNSKEY]
        public var ttl: UInt32
    }

    /// The longest a verdict is remembered, whatever the TTLs say.
    public static let keyCacheSeconds: UInt32 = 3600

    /// The negative trust anchor (RFC 7646) at or above a name, if any: asked on every walk, so
    /// anchors added or removed at run time take effect at once.
    let negativeAnchor: @Sendable (DNSName) -> DNSName?

    public init(anchors: TrustAnchors = .ianaRoot, policy: ValidationPolicy = ValidationPolicy(),
                source: any ChainSource, bogusTTL: UInt32 = 60,
                negativeAnchor: @escaping @Sendable (DNSName) -> DNSName? = { _ in nil },
                clock: @escaping @Sendable () -> UInt32) {
        self.negativeAnchor = negativeAnchor
        self.anchors = anchors
        self.policy = policy
        self.source = source
        self.bogusTTL = bogusTTL
        self.clock = clock
    }

    // MARK: Chain of trust

    /// The validated zone keys of `zone`: secure with the keys, insecure (no anchor above it,
    /// an unsigned delegation on the way, unsupported algorithms) or bogus.
    public func zoneKeys(_ zone: DNSName, budget: inout WorkBudget) async -> ZoneKeys {
        var walk = Walk()
        return await zoneKeys(zone, budget: &budget, walk: &walk)
    }

    /// What one validation carries through its walks: the DNSKEY and DS sets the response
    /// itself brought (used before the source's: they are verified the same way), and the zone
    /// whose DNSKEY or DS set could not be had, if any (the verdict is then bogus, DNSKEY
    /// Missing, and not remembered).
    struct Walk {
        var missing: DNSName?
        /// Some set came from the response: a bogus verdict may be a forged response's, so it
        /// is not remembered for the zone.
        var usedResponseSets = false
        var dnskeys: [DNSName: RRSet] = [:]
        var ds: [DNSName: RRSet] = [:]

        func mayRemember(_ r: ZoneKeys) -> Bool {
            missing == nil && !(usedResponseSets && r.security.isBogus)
        }

        init(carrying sets: [RRSet] = []) {
            for s in sets where s.type == .dnskey { dnskeys[s.name] = s }
            for s in sets where s.type == .ds { ds[s.name] = s }
        }
    }

    private func dnskeys(_ zone: DNSName, _ walk: inout Walk) async -> RRSet? {
        if let s = walk.dnskeys[zone] { walk.usedResponseSets = true; return s }
        return await source.dnskeys(zone)
    }

    private func ds(_ zone: DNSName, _ walk: inout Walk) async -> DSAnswer {
        if let s = walk.ds[zone] { walk.usedResponseSets = true; return .present(s) }
        return await source.ds(zone)
    }

    /// As ``zoneKeys(_:budget:)``, within one validation's walk.
    func zoneKeys(_ zone: DNSName, budget: inout WorkBudget, walk: inout Walk) async -> ZoneKeys {
        if let nta = negativeAnchor(zone) { return .insecure(.negativeTrustAnchor(nta)) }
        let now = clock()
        if let hit = cached(zone, now: now) { return hit }
        guard let anchorZone = anchors.closestAnchor(for: zone) else { return .insecure(.noTrustAnchor) }
        // Start from the deepest zone on the way whose verdict is remembered, else the anchor.
        var current = anchorZone
        var result: ZoneKeys
        if let (z, r) = deepestCached(zone, above: anchorZone, now: now) {
            current = z
            result = r
        } else {
            result = await anchorKeys(anchorZone, now: now, budget: &budget, walk: &walk)
            if walk.mayRemember(result) { remember(anchorZone, result, now: now) }
        }
        var lastIsCut = true
        while current != zone {
            guard case let .secure(keySet) = result else { return result }
            let next = zone.suffix(labels: current.labelCount + 1)
            // Another validation may have walked this far while this one waited for a set:
            // remembered verdicts are those of zone cuts (or not secure).
            if let hit = cached(next, now: now) {
                result = hit
                lastIsCut = true
                current = next
                continue
            }
            let (step, isCut) = await descend(from: current, keys: keySet, to: next, now: now, budget: &budget, walk: &walk)
            lastIsCut = isCut
            if isCut || !step.security.isSecure {
                result = step
                if walk.mayRemember(step) { remember(next, step, now: now) }
            }
            current = next
        }
        // Keys were asked for a name that is no zone cut: nothing there can sign.
        if !lastIsCut, case .secure = result { return .bogus(.dnskeyMissing) }
        return result
    }

    /// The keys of an anchored zone: its DNSKEY set authenticated by the anchor's DS or keys.
    private func anchorKeys(_ zone: DNSName, now: UInt32, budget: inout WorkBudget, walk: inout Walk) async -> ZoneKeys {
        guard let set = await dnskeys(zone, &walk) else { walk.missing = zone; return .bogus(.dnskeyMissing) }
        let v = KeySetValidator(policy: policy, now: now)
        let r: Validated<VerifiedRRSet>
        if let ds = anchors.ds[zone], !ds.isEmpty {
            r = v.validate(set, zone: zone, dsSet: ds, budget: &budget)
        } else {
            r = v.validate(set, zone: zone, anchorKeys: anchors.keys[zone] ?? [], budget: &budget)
        }
        return keys(r, v)
    }

    /// One step down: `next` is a zone cut with a validated DS (its keys), a provably unsigned
    /// delegation (insecure), or no cut at all (the parent's keys go on; `isCut` false).
    private func descend(from parent: DNSName, keys keySet: KeySet, to next: DNSName, now: UInt32,
                         budget: inout WorkBudget, walk: inout Walk) async -> (ZoneKeys, isCut: Bool) {
        let verifier = RRSetVerifier(policy: policy, now: now)
        let keys = keySet.keys
        let dsAnswer = await ds(next, &walk)
        // Concurrent validations of one zone wait for the same fetches (shared by the resolver)
        // and resume one after the other: the first to get here verifies, the others find its
        // verdict rather than verifying the same sets again.
        if let hit = cached(next, now: now) { return (hit, true) }
        switch dsAnswer {
        case .unavailable:
            walk.missing = next
            return (.bogus(.dnskeyMissing), true)
        case let .present(dsSet):
            switch verifier.verify(dsSet, zone: parent, keys: keys, budget: &budget) {
            case .secure: break
            case let .insecure(r): return (.insecure(r), true)
            case let .bogus(r): return (.bogus(r), true)
            }
            let ds = dsSet.rdatas.compactMap { if case let .ds(d) = $0 { d } else { nil } }
            // Only algorithms or digests this validator lacks: insecure, without asking for keys.
            if DSMatcher.usable(ds, policy: policy).isEmpty, !ds.isEmpty {
                return (.insecure(DSMatcher.insecureReason(ds, policy: policy)), true)
            }
            guard let childKeys = await dnskeys(next, &walk) else { walk.missing = next; return (.bogus(.dnskeyMissing), true) }
            if let hit = cached(next, now: now) { return (hit, true) }
            let v = KeySetValidator(policy: policy, now: now)
            return (self.keys(v.validate(childKeys, zone: next, dsSet: ds, budget: &budget), v), true)
        case let .absent(authority):
            var verified: [RRSet] = []
            for s in authority where s.type == .nsec || s.type == .nsec3 {
                switch verifier.verify(s, zone: parent, keys: keys, budget: &budget) {
                case .secure: verified.append(s)
                case let .insecure(r): return (.insecure(r), true)
                case let .bogus(r): return (.bogus(r), true)
                }
            }
            let proof = denial(zone: parent, verified)
            let noDS = proof.noDS(next, &budget)
            if case .insecure = noDS { return (noDS.asKeys, true) }
            if case .bogus(.workLimitExceeded) = noDS { return (noDS.asKeys, true) }
            // Not a delegation at all: an ordinary name or an empty non-terminal of the parent.
            if proof.noData(next, .ds, &budget) == .secure || proof.nameError(next, &budget) == .secure {
                return (.secure(keySet), false)
            }
            return (noDS.isBogus ? noDS.asKeys : .bogus(.nsecMissing), true)
        }
    }

    private func keys(_ r: Validated<VerifiedRRSet>, _ v: KeySetValidator) -> ZoneKeys {
        switch r {
        case let .secure(set): .secure(KeySet(keys: v.keys(of: set.rrset).filter(\.isUsableZoneKey), ttl: set.rrset.ttl))
        case let .insecure(reason): .insecure(reason)
        case let .bogus(reason): .bogus(reason)
        }
    }

    private func cached(_ zone: DNSName, now: UInt32) -> ZoneKeys? {
        keyCache.withLock { c in
            guard let e = c[zone] else { return nil }
            return RRSetVerifier.serialDistance(from: now, to: e.expires) > 0 ? e.result : nil
        }
    }

    private func deepestCached(_ zone: DNSName, above anchor: DNSName, now: UInt32) -> (DNSName, ZoneKeys)? {
        var n: DNSName? = zone.parent
        while let cur = n, cur.isSubdomain(of: anchor) {
            if let r = cached(cur, now: now) { return (cur, r) }
            n = cur.parent
        }
        return nil
    }

    private func remember(_ zone: DNSName, _ r: ZoneKeys, now: UInt32) {
        // Running out of work is this resolution's state, not the zone's.
        if case .bogus(.workLimitExceeded) = r { return }
        let ttl: UInt32
        switch r {
        case let .secure(k): ttl = min(k.ttl, Self.keyCacheSeconds)
        case .insecure: ttl = Self.keyCacheSeconds
        case .bogus: ttl = bogusTTL
        }
        guard ttl > 0 else { return }
        keyCache.withLock { c in
            if c.count >= Self.keyCacheLimit { c.removeAll() }
            c[zone] = (r, now &+ ttl)
        }
    }

    /// Forgets every remembered key set (a trust anchor or policy change).
    public func flush() { keyCache.withLock { $0.removeAll() } }

    // MARK: Responses

    /// The security of a whole response sent by a server of `zone` (RFC 4035 §5.3–5.4):
    /// every answer set verified by its signer's keys (a wildcard expansion with its proof),
    /// a negative answer's SOA and NSEC/NSEC3 sets verified and proving it, a referral's DS set
    /// verified or its absence proven (insecure). The worst verdict wins.
    ///
    /// A DNSKEY or DS set the source cannot give makes the zone's data bogus (DNSKEY Missing):
    /// a validator that cannot authenticate a signed zone's keys must not call its data
    /// anything else. ``validateIfAvailable(_:zone:budget:)`` says so instead.
    public func validate(_ r: SignedResponse, zone: DNSName, budget: inout WorkBudget) async -> Security {
        var walk = Walk(carrying: r.answers + r.authority)
        return await validate(r, zone: zone, budget: &budget, walk: &walk)
    }

    /// As ``validate(_:zone:budget:)``, but nil when a DNSKEY or DS set needed for the verdict
    /// could not be had from the source (a source that only reads a cache), instead of bogus.
    public func validateIfAvailable(_ r: SignedResponse, zone: DNSName, budget: inout WorkBudget) async -> Security? {
        var walk = Walk(carrying: r.answers + r.authority)
        let s = await validate(r, zone: zone, budget: &budget, walk: &walk)
        return walk.missing == nil ? s : nil
    }

    func validate(_ r: SignedResponse, zone: DNSName, budget: inout WorkBudget, walk: inout Walk) async -> Security {
        // RFC 7646: names at or below a negative trust anchor are not validated, whoever signed.
        if let nta = negativeAnchor(r.question.name) ?? negativeAnchor(r.finalName) {
            return .insecure(.negativeTrustAnchor(nta))
        }
        budget.startAnswer()
        var verdict = Security.secure
        func merge(_ s: Security) {
            switch (verdict, s) {
            case (.bogus, _): break
            case (_, .bogus): verdict = s
            case (.insecure, _): break
            case (_, .insecure): verdict = s
            default: break
            }
        }
        var previous: RRSet?
        for set in r.answers {
            defer { previous = set }
            // A CNAME synthesised from a DNAME (RFC 6672 §5.3.1) is unsigned; the DNAME is, and
            // the CNAME must be exactly what it synthesises.
            if set.type == .cname, set.signatures.isEmpty, let p = previous, p.type == .dname,
               set.name.isStrictSubdomain(of: p.name) {
                guard Self.isSynthesised(set, from: p) else { return .bogus(.badSynthesis) }
                continue
            }
            merge(await validateAnswerSet(set, zone: zone, authority: r.authority, budget: &budget, walk: &walk))
            if verdict.isBogus { return verdict }
        }
        switch r.kind {
        case .answer:
            break
        case .nxDomain, .noData:
            let signer = r.authority.lazy.flatMap(\.signatures).first?.signerName ?? zone
            guard r.finalName.isSubdomain(of: signer) else { return .bogus(.badSignatureFields("signer \(signer) above the name")) }
            let keys: [DNSKEY]
            switch await zoneKeys(signer, budget: &budget, walk: &walk) {
            case let .secure(k): keys = k.keys
            case let .insecure(x): merge(.insecure(x)); return verdict
            case let .bogus(x): return .bogus(x)
            }
            let verifier = RRSetVerifier(policy: policy, now: clock())
            var proofSets: [RRSet] = []
            for s in r.authority where s.type == .soa || s.type == .nsec || s.type == .nsec3 {
                switch verifier.verify(s, zone: signer, keys: keys, budget: &budget) {
                case .secure: if s.type != .soa { proofSets.append(s) }
                case let .insecure(x): merge(.insecure(x))
                case let .bogus(x): return .bogus(x)
                }
            }
            guard !proofSets.isEmpty else { return .bogus(.nsecMissing) }
            let proof = denial(zone: signer, proofSets)
            merge(r.kind == .nxDomain ? proof.nameError(r.finalName, &budget) : proof.noData(r.finalName, r.question.type, &budget))
        case let .referral(child):
            let keys: [DNSKEY]
            switch await zoneKeys(zone, budget: &budget, walk: &walk) {
            case let .secure(k): keys = k.keys
            case let .insecure(x): merge(.insecure(x)); return verdict
            case let .bogus(x): return .bogus(x)
            }
            let verifier = RRSetVerifier(policy: policy, now: clock())
            if let ds = r.authority.first(where: { $0.type == .ds && $0.name == child }) {
                merge(verifier.verify(ds, zone: zone, keys: keys, budget: &budget).security)
            } else {
                var proofSets: [RRSet] = []
                for s in r.authority where s.type == .nsec || s.type == .nsec3 {
                    switch verifier.verify(s, zone: zone, keys: keys, budget: &budget) {
                    case .secure: proofSets.append(s)
                    case let .insecure(x): merge(.insecure(x))
                    case let .bogus(x): return .bogus(x)
                    }
                }
                guard !proofSets.isEmpty else { return .bogus(.nsecMissing) }
                merge(denial(zone: zone, proofSets).noDS(child, &budget))
            }
        }
        return verdict
    }

    /// Whether `cname` is the CNAME `dname` synthesises for its owner: the owner's labels
    /// below the DNAME's owner, put in front of the DNAME's target.
    static func isSynthesised(_ cname: RRSet, from dname: RRSet) -> Bool {
        guard cname.rdatas.count == 1, case let .cname(target) = cname.rdatas[0],
              dname.rdatas.count == 1, case let .dname(newSuffix) = dname.rdatas[0] else { return false }
        let prefix = cname.name.wire.prefix(cname.name.wire.count - dname.name.wire.count)
        guard let expected = try? DNSName(wire: Array(prefix) + newSuffix.wire) else { return false }
        return expected == target
    }

    /// One answer set: its signer's keys (or, unsigned, the server's zone must be insecure),
    /// the signature, and for a wildcard expansion the proof that no closer name exists.
    func validateAnswerSet(_ set: RRSet, zone: DNSName, authority: [RRSet], budget: inout WorkBudget,
                           walk: inout Walk) async -> Security {
        guard let signer = set.signatures.first(where: { $0.typeCovered == set.type })?.signerName else {
            switch await zoneKeys(zone, budget: &budget, walk: &walk) {
            case .secure: return .bogus(.rrsigsMissing)
            case let .insecure(r): return .insecure(r)
            case let .bogus(r): return .bogus(r)
            }
        }
        guard set.name.isSubdomain(of: signer) else { return .bogus(.badSignatureFields("signer \(signer) above the owner")) }
        let keys: [DNSKEY]
        switch await zoneKeys(signer, budget: &budget, walk: &walk) {
        case let .secure(k): keys = k.keys
        case let .insecure(r): return .insecure(r)
        case let .bogus(r): return .bogus(r)
        }
        let verifier = RRSetVerifier(policy: policy, now: clock())
        switch verifier.verify(set, zone: signer, keys: keys, budget: &budget) {
        case let .insecure(r): return .insecure(r)
        case let .bogus(r): return .bogus(r)
        case let .secure(v):
            guard let wildcard = v.wildcard else { return .secure }
            var proofSets: [RRSet] = []
            for s in authority where (s.type == .nsec || s.type == .nsec3) && s.name.isSubdomain(of: signer) {
                if case .secure = verifier.verify(s, zone: signer, keys: keys, budget: &budget) { proofSets.append(s) }
            }
            return denial(zone: signer, proofSets).wildcard(set.name, wildcard, &budget)
        }
    }

    /// NSEC or NSEC3 proofs over `sets`, whichever the zone uses.
    private func denial(zone: DNSName, _ sets: [RRSet]) -> Denial { Denial(zone: zone, sets, policy: policy) }
}

/// NSEC or NSEC3, behind one set of questions. The sets must already be validated data of
/// the zone (the validator's own proofs, or sets cached as secure for aggressive use, RFC 8198).
public enum Denial: Sendable {
    case nsec(NSECProof)
    case nsec3(NSEC3Proof)

    /// NSEC or NSEC3 proofs over `sets`, whichever the zone uses.
    public init(zone: DNSName, _ sets: [RRSet], policy: ValidationPolicy) {
        self = sets.contains { $0.type == .nsec3 } ? .nsec3(NSEC3Proof(zone: zone, rrsets: sets, policy: policy))
            : .nsec(NSECProof(zone: zone, rrsets: sets))
    }

    public func nameError(_ n: DNSName, _ b: inout WorkBudget) -> Security {
        switch self {
        case let .nsec(p): p.proveNameError(n)
        case let .nsec3(p): p.proveNameError(n, budget: &b)
        }
    }

    public func noData(_ n: DNSName, _ t: RRType, _ b: inout WorkBudget) -> Security {
        switch self {
        case let .nsec(p): p.proveNoData(n, t)
        case let .nsec3(p): p.proveNoData(n, t, budget: &b)
        }
    }

    public func noDS(_ n: DNSName, _ b: inout WorkBudget) -> Security {
        switch self {
        case let .nsec(p): p.proveNoDS(n)
        case let .nsec3(p): p.proveNoDS(n, budget: &b)
        }
    }

    public func wildcard(_ n: DNSName, _ w: DNSName, _ b: inout WorkBudget) -> Security {
        switch self {
        case let .nsec(p): p.proveWildcardAnswer(n, wildcard: w)
        case let .nsec3(p): p.proveWildcardAnswer(n, wildcard: w, budget: &b)
        }
    }
}

extension Security {
    /// A zone-key verdict without keys, for a non-secure proof result.
    var asKeys: ChainValidator.ZoneKeys {
        switch self {
        case .secure: .bogus(.nsecMissing)
        case let .insecure(r): .insecure(r)
        case let .bogus(r): .bogus(r)
        }
    }
}
