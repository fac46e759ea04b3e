import DNSCore
import ShmCache

/// The stage between classification and the cache write, where DNSSEC validation plugs in.
///
/// The iterator calls it on every usable response (``UpstreamResponse/classify(_:question:zone:)``
/// has already dropped what is out of bailiwick), before anything in it is cached, and hands
/// the verdict to the ``CacheWriter`` with the response. A validator may fetch DNSKEY and DS
/// sets on the way (it is async and gets the zone the response came from); it must bound its
/// work per response (KeyTrap, CVE-2023-50387; NSEC3 iterations, CVE-2023-50868).
public protocol ResponseValidator: Sendable {
    /// The validation state of `response` to `question`, sent by a server of `zone`.
    func validate(_ response: UpstreamResponse, question: Question, zone: DNSName) async -> ValidationState
    /// The state with, when bogus, the Extended DNS Error (RFC 8914) a SERVFAIL carries.
    func verdict(_ response: UpstreamResponse, question: Question, zone: DNSName) async -> ValidationVerdict
    /// How long a bogus verdict is cached, in seconds.
    var bogusTTL: UInt32 { get }
}

extension ResponseValidator {
    public func verdict(_ response: UpstreamResponse, question: Question, zone: DNSName) async -> ValidationVerdict {
        let state = await validate(response, question: question, zone: zone)
        return ValidationVerdict(state, reason: state == .bogus ? ede(.dnssecBogus) : nil)
    }
    public var bogusTTL: UInt32 { 60 }
}

/// A DNSSEC verdict as the resolver carries it: the state cached with the data and, when
/// bogus, why (the Extended DNS Error of the SERVFAIL).
public struct ValidationVerdict: Sendable, Equatable {
    public var state: ValidationState
    public var reason: ExtendedDNSError?

    public init(_ state: ValidationState, reason: ExtendedDNSError? = nil) {
        self.state = state
        self.reason = reason
    }

    public static let indeterminate = ValidationVerdict(.indeterminate)

    /// The verdict of data made of both parts: bogus if either is, then indeterminate (not
    /// validated), then insecure; secure only when both are.
    public func combined(with o: ValidationVerdict) -> ValidationVerdict {
        func rank(_ s: ValidationState) -> Int {
            switch s {
            case .bogus: 3
            case .secure: 0
            case .insecure: 1
            default: 2
            }
        }
        return rank(o.state) > rank(state) ? o : self
    }
}

/// No validation (`dnssec: off`): every response is ``ValidationState/indeterminate``, which
/// the cache writer stores as such; AD is never set and nothing is SERVFAIL for DNSSEC.
public struct NoValidation: ResponseValidator {
    public init() {}
    public func validate(_ response: UpstreamResponse, question: Question, zone: DNSName) async -> ValidationState {
        .indeterminate
    }
}

/// Writes what a usable response taught into the shared caches, by rank (RFC 2181 §5.4.1),
/// with TTLs capped (``ResolverLimits/maxTTL``) and negative answers kept for the SOA's
/// negative TTL (RFC 2308 §5).
struct CacheWriter: Sendable {
    let cache: any ResolverCache
    let limits: ResolverLimits
    /// With aggressive NSEC (RFC 8198): where the proofs of secure negative answers, and the
    /// wildcards secure answers were expanded from, are kept for synthesis.
    var aggressive: AggressiveNSEC?

    /// Stores `r`, the answer to `question`, with its validation state: answer data, DS sets
    /// and negative answers carry the verdict (a bogus one for at most `bogusTTL` seconds, so
    /// it is not re-validated per query and CD=1 clients still get the data); NS sets and glue,
    /// which a referral does not sign, are stored not validated.
    func store(_ r: UpstreamResponse, question: Question, authoritative: Bool, validation: ValidationState,
               bogusTTL: UInt32 = 60) {
        let bogus = validation == .bogus
        func verdictTTL(_ s: RRSet) -> RRSet {
            var s = limits.capped(s)
            if bogus { s.ttl = min(s.ttl, bogusTTL) }
            return s
        }
        // A bogus response (perhaps forged) does not replace validated data of the same set.
        func mayStore(_ s: RRSet) -> Bool {
            !bogus || cache.rrset(s.name, s.type, allowStale: false)?.validation != .secure
        }
        let answerRank: Rank = authoritative ? .authoritativeAnswer : .nonAuthoritativeAnswer
        // CNAMEs synthesized from a DNAME are not cached: the DNAME is, and lookups under it
        // synthesize again (so answers from the cache still show the DNAME).
        var previous: RRSet?
        for s in r.chain + r.answers {
            defer { previous = s }
            if s.type == .cname, let p = previous, p.type == .dname, s.name.isStrictSubdomain(of: p.name) { continue }
            if mayStore(s) { cache.store(verdictTTL(s), rank: answerRank, validation: validation) }
            if validation == .secure { aggressive?.recordWildcard(s) }
        }
        switch r.kind {
        case let .referral(child):
            // RFC 2181 §5.4.1: a referral's NS set ranks with additional data, below anything
            // the child says about itself.
            for s in r.authority where s.type == .ns && s.name == child { cache.store(limits.capped(s), rank: .additional) }
            for s in r.authority where s.type == .ds && mayStore(s) {
                cache.store(verdictTTL(s), rank: .authoritativeAuthority, validation: validation)
            }
            for s in r.glue { cache.store(limits.capped(s), rank: .glue) }
        case .nxDomain, .noData:
            let ttl = bogus ? min(negativeTTL(r.authority), bogusTTL) : negativeTTL(r.authority)
            if ttl > 0, let name = r.finalName {
                let kind: NegativeAnswer.Kind = r.kind == .nxDomain ? .nxDomain : .noData
                cache.storeNegative(name, question.type, NegativeAnswer(kind: kind, authority: r.authority, ttl: ttl,
                                                                        validation: validation))
            }
            if validation == .secure { aggressive?.record(r.authority) }
        case .answer:
            // The zone's own NS set in an authoritative answer refreshes the delegation (it
            // outranks the parent's referral). Without AA it ranks no higher than the referral
            // it would replace (RFC 2181 §5.4.1), and replacing on equal rank would let any
            // answer re-delegate the zone: it is not cached at all.
            guard authoritative else { break }
            for s in r.authority where s.type == .ns { cache.store(limits.capped(s), rank: .authoritativeAuthority) }
        default:
            break
        }
    }

    /// RFC 2308 §5: the lower of the SOA's TTL and its MINIMUM field; 0 (do not cache) without SOA.
    func negativeTTL(_ authority: [RRSet]) -> UInt32 {
        guard let soa = authority.first(where: { $0.type == .soa }), case let .soa(s)? = soa.rdatas.first else { return 0 }
        return min(soa.ttl, s.minimum, limits.maxNegativeTTL)
    }

    /// RFC 2308 §3: the SOA in a negative answer carries the negative TTL.
    func negativeAuthority(_ sets: [RRSet]) -> [RRSet] {
        let ttl = negativeTTL(sets)
        return sets.map { var s = $0; s.ttl = min(s.ttl, ttl); return s }
    }
}
