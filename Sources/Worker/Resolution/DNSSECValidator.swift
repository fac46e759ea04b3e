import DNSCore
import DNSSEC
import ShmCache
import ShoalSystem

/// DNSSEC validation at the resolver's seam: a ``ResponseValidator`` that walks the chain of
/// trust from the trust anchors (``ChainValidator``) over the DNSKEY and DS sets in the shared
/// cache.
///
/// Not yet the worker's validator (it still runs ``NoValidation``): this step reads DNSKEY and
/// DS sets only from the cache and from the response itself (a DNSKEY answer, a referral's DS)
/// and fetches nothing, so a response whose chain is not at hand is
/// ``ValidationState/indeterminate`` (stored as today), never bogus for want of data. Bogus
/// responses are not cached (``CacheWriter``). Each response gets its own ``WorkBudget``: the
/// seam has no resolution context yet to carry one across a resolution.
public final class DNSSECValidator: ResponseValidator {
    public let chain: ChainValidator

    public init(anchors: TrustAnchors = .ianaRoot, policy: ValidationPolicy = ValidationPolicy(),
                cache: any ResolverCache, clock: @escaping @Sendable () -> UInt32 = { Clock.wallSeconds() }) {
        chain = ChainValidator(anchors: anchors, policy: policy, source: CachedChain(cache: cache), clock: clock)
    }

    public func validate(_ response: UpstreamResponse, question: Question, zone: DNSName) async -> ValidationState {
        guard let signed = Self.signedResponse(response, question: question) else { return .indeterminate }
        var budget = WorkBudget(chain.policy.limits)
        switch await chain.validateIfAvailable(signed, zone: zone, budget: &budget) {
        case nil: return .indeterminate
        case .secure?: return .secure
        case .insecure?: return .insecure
        case .bogus?: return .bogus
        }
    }

    /// What the validator needs of a classified response; nil for kinds that carry no data
    /// (lame, failure, invalid).
    static func signedResponse(_ r: UpstreamResponse, question: Question) -> SignedResponse? {
        let final = r.finalName ?? question.name
        switch r.kind {
        case .answer, .alias:
            return SignedResponse(question: question, kind: .answer, answers: r.chain + r.answers,
                                  authority: r.authority, finalName: final)
        case .nxDomain:
            return SignedResponse(question: question, kind: .nxDomain, answers: r.chain, authority: r.authority, finalName: final)
        case .noData:
            return SignedResponse(question: question, kind: .noData, answers: r.chain, authority: r.authority, finalName: final)
        case let .referral(child):
            return SignedResponse(question: question, kind: .referral(child: child), answers: r.chain,
                                  authority: r.authority, finalName: final)
        case .lame, .failure, .invalid:
            return nil
        }
    }
}

/// DNSKEY and DS sets, and negative DS answers, from the shared cache (with their RRSIGs).
struct CachedChain: ChainSource {
    let cache: any ResolverCache

    func dnskeys(_ zone: DNSName) async -> RRSet? {
        cache.rrset(zone, .dnskey, allowStale: false)?.set
    }

    func ds(_ zone: DNSName) async -> DSAnswer {
        if let ds = cache.rrset(zone, .ds, allowStale: false) { return .present(ds.set) }
        if let neg = cache.negative(zone, .ds) { return .absent(authority: neg.authority) }
        return .unavailable
    }
}
