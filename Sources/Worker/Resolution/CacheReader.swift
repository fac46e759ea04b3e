import DNSCore
import ShmCache

/// What the resolver takes from the cache as an answer, and where iteration starts.
///
/// Only answer-grade data is returned as an answer: glue and referral NS sets never are
/// (RFC 2181 §5.4.1). A cached DNAME at an ancestor rewrites the name (RFC 6672 §3.3).
struct CacheReader: Sendable {
    let cache: any ResolverCache
    let hints: RootHints
    let limits: ResolverLimits
    /// Validation is on: answer data cached without a verdict (written with validation off,
    /// or by a peer) is not answered from, so that it is resolved and validated again.
    var validating = false
    var bogusReasons = BogusReasons()
    /// With validation: negative and wildcard answers synthesised from validated NSEC/NSEC3
    /// records (RFC 8198).
    var aggressive: AggressiveNSEC?

    /// The verdict of a cached entry of `name`/`type` in `state`. Without validation, none: a
    /// worker with `dnssec: off` sets no AD and answers bogus data even when a validating
    /// worker of the same segment stored the verdict.
    func verdict(_ state: ValidationState, _ name: DNSName, _ type: RRType) -> ValidationVerdict {
        guard validating else { return .indeterminate }
        return ValidationVerdict(state, reason: state == .bogus ? bogusReasons.reason(name, type) : nil)
    }

    /// Whether a cached entry in `state` may answer.
    func usable(_ state: ValidationState) -> Bool { !validating || state != .indeterminate }

    /// Answer-grade data or a negative answer for `q`, or nil.
    func step(_ q: Question, allowStale: Bool) -> ResolutionStep? {
        if let c = cache.rrset(q.name, q.type, allowStale: allowStale), c.rank >= .nonAuthoritativeAnswer,
           usable(c.validation) {
            return ResolutionStep(chain: [], outcome: .answer([c.set]), verdict: verdict(c.validation, q.name, q.type))
        }
        if q.type != .cname, let c = cache.rrset(q.name, .cname, allowStale: allowStale), c.rank >= .nonAuthoritativeAnswer,
           usable(c.validation), case let .cname(target)? = c.set.rdatas.first {
            return ResolutionStep(chain: [c.set], outcome: .alias(target), verdict: verdict(c.validation, q.name, q.type))
        }
        if !allowStale, let n = cache.negative(q.name, q.type), usable(n.validation) {
            return ResolutionStep(chain: [], outcome: .negative(n.kind, n.authority), verdict: verdict(n.validation, q.name, q.type))
        }
        // A cached DNAME at an ancestor rewrites the name (RFC 6672 §3.3); the CNAME it implies
        // is synthesized here each time, never cached, so the DNAME is always shown with it.
        var ancestor = q.name.parent
        while let a = ancestor, !a.isRoot {
            if let d = cache.rrset(a, .dname, allowStale: allowStale), d.rank >= .nonAuthoritativeAnswer,
               usable(d.validation), case let .dname(target)? = d.set.rdatas.first,
               let rewritten = try? DNSName(labels: q.name.labels.prefix(q.name.labelCount - a.labelCount).map(Array.init))
                   .appending(target) {
                let cname = RRSet(name: q.name, type: .cname, rrclass: d.set.rrclass, ttl: d.set.ttl,
                                  rdatas: [.cname(rewritten)])
                return ResolutionStep(chain: [d.set, cname], outcome: .alias(rewritten),
                                      verdict: verdict(d.validation, q.name, q.type))
            }
            ancestor = a.parent
        }
        if !allowStale, let s = aggressive?.synthesize(q) { return s }
        return nil
    }

    /// Answers from the cache only (a client query with RD=0): data or a negative answer when
    /// cached, else SERVFAIL saying so.
    func answer(_ q: Question) -> Resolution {
        var chain: [RRSet] = []
        var name = q.name
        var v: ValidationVerdict?
        for _ in 0...limits.maxChainLength {
            guard let step = step(Question(name: name, type: q.type, qclass: q.qclass), allowStale: false) else { break }
            chain += step.chain
            v = v.map { $0.combined(with: step.verdict) } ?? step.verdict
            switch step.outcome {
            case let .answer(sets): return Resolution(rcode: .noError, answer: chain + sets, verdict: v ?? .indeterminate)
            case let .alias(target): name = target
            case let .negative(kind, authority):
                return Resolution(rcode: kind == .nxDomain ? .nxDomain : .noError, answer: chain, authority: authority,
                                  verdict: v ?? .indeterminate)
            case .failure: break
            }
        }
        return Resolution(rcode: .servFail, answer: chain,
                          extendedErrors: [ede(.other, "not in cache and recursion not desired")])
    }

    /// The deepest zone cut at or above `name` whose NS set is cached, or the root from hints.
    func closestZone(_ name: DNSName) -> (zone: DNSName, ns: RRSet) {
        var n = name
        while !n.isRoot {
            if let ns = cache.rrset(n, .ns, allowStale: false) { return (n, ns.set) }
            n = n.parent ?? .root
        }
        if let ns = cache.rrset(.root, .ns, allowStale: false) { return (.root, ns.set) }
        return (.root, hints.ns)
    }
}
