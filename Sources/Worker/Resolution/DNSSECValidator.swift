import DNSCore
import DNSSEC
import Logging
import ShmCache
import ShoalSystem
import Synchronization

/// DNSSEC validation at the resolver's seam: a ``ResponseValidator`` that walks the chain of
/// trust from the trust anchors (``ChainValidator``) over DNSKEY and DS sets.
///
/// Two sources of those sets:
/// - ``CachedChain`` (``init(anchors:policy:cache:clock:)``) reads only the shared cache and the
///   response itself; a response whose chain is not at hand is
///   ``ValidationState/indeterminate``, never bogus for want of data;
/// - ``ResolvingChain`` (what the worker runs with `dnssec: validate`) reads the cache and
///   resolves what is missing through the resolver's own iteration, as sub-resolutions one
///   nesting level deeper (``ValidationScope``), so a resolution never waits on itself: a
///   DNSKEY or DS question already being fetched up the same chain, or one past
///   ``ResolverLimits/maxNestingDepth``, is not asked again, and the verdict is then
///   indeterminate rather than bogus.
///
/// Inside a client resolution (``ResolutionCharges``) the work caps hold across its responses;
/// outside one, each response gets its own ``WorkBudget``.
public final class DNSSECValidator: ResponseValidator {
    public let chain: ChainValidator
    /// Whether the source resolves missing sets (then a missing set is bogus, DNSKEY Missing).
    let fetches: Bool
    public let bogusTTL: UInt32
    let logger: Logger?
    /// Where verdicts are counted (the worker's statistics in the segment).
    let counter: (any ResolverCache)?
    private let count = Atomic<Int>(0)

    /// Responses validated so far by this validator.
    public var validations: Int { count.load(ordering: .relaxed) }

    /// A validator over the shared cache only: it fetches nothing.
    public init(anchors: TrustAnchors = .ianaRoot, policy: ValidationPolicy = ValidationPolicy(),
                cache: any ResolverCache, clock: @escaping @Sendable () -> UInt32 = { Clock.wallSeconds() }) {
        chain = ChainValidator(anchors: anchors, policy: policy, source: CachedChain(cache: cache), clock: clock)
        fetches = false
        bogusTTL = 60
        logger = nil
        counter = nil
    }

    /// A validator whose DNSKEY and DS sets come from `source` (which resolves what is missing).
    init(anchors: TrustAnchors, policy: ValidationPolicy, source: ResolvingChain, bogusTTL: UInt32,
         negativeAnchor: @escaping @Sendable (DNSName) -> DNSName? = { _ in nil }, logger: Logger?,
         counter: (any ResolverCache)? = nil,
         clock: @escaping @Sendable () -> UInt32 = { Clock.wallSeconds() }) {
        self.counter = counter
        chain = ChainValidator(anchors: anchors, policy: policy, source: source, bogusTTL: bogusTTL,
                               negativeAnchor: negativeAnchor,
                               clock: clock)
        fetches = true
        self.bogusTTL = bogusTTL
        self.logger = logger
    }

    public func validate(_ response: UpstreamResponse, question: Question, zone: DNSName) async -> ValidationState {
        await verdict(response, question: question, zone: zone).state
    }

    public func verdict(_ response: UpstreamResponse, question: Question, zone: DNSName) async -> ValidationVerdict {
        guard let signed = Self.signedResponse(response, question: question) else { return .indeterminate }
        count.wrappingAdd(1, ordering: .relaxed)
        // The resolution's budget: what its earlier responses (and sub-resolutions) left.
        let charges = ValidationScope.charges
        var limits = chain.policy.limits
        if let charges {
            let left = limits.verificationsPerResolution - charges.verificationsSpent
            guard left > 0 else {
                return ValidationVerdict(.bogus, reason: BogusReason.workLimitExceeded(.verificationsPerResolution).extendedDNSError)
            }
            limits.verificationsPerResolution = left
        }
        var budget = WorkBudget(limits)
        defer { charges?.spent(verifications: budget.verifications) }
        let security: Security?
        if fetches {
            let cut = LoopCut()
            let s = await ValidationScope.$cut.withValue(cut) { await chain.validate(signed, zone: zone, budget: &budget) }
            // A set left unfetched to avoid a loop says nothing about the zone.
            security = cut.happened && s == .bogus(.dnskeyMissing) ? nil : s
        } else {
            security = await chain.validateIfAvailable(signed, zone: zone, budget: &budget)
        }
        let v: ValidationVerdict
        switch security {
        case nil: v = .indeterminate
        case .secure?: v = ValidationVerdict(.secure)
        case .insecure?: v = ValidationVerdict(.insecure)
        case let .bogus(reason)?: v = ValidationVerdict(.bogus, reason: reason.extendedDNSError)
        }
        counter?.countVerdict(v.state)
        logger?.debug("dnssec: validated \(question.name.presentation) \(question.type) from \(zone.presentation): \(security.map { "\($0)" } ?? "indeterminate")")
        return v
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

/// Where a validation stands in the resolution that runs it, carried as task-local values
/// (the ``ChainSource`` calls have no other way to it): the nesting depth of the step whose
/// response is validated, and the DNSKEY/DS questions being fetched up the chain.
enum ValidationScope {
    @TaskLocal static var depth = 0
    @TaskLocal static var fetching: Set<Question> = []
    /// Set by a validation to learn whether some fetch was left out.
    @TaskLocal static var cut: LoopCut?
    /// What the client resolution has spent so far (set by ``Resolver``).
    @TaskLocal static var charges: ResolutionCharges?
}

/// What one client resolution spends across all its responses and the sub-resolutions that
/// fetch DNSKEY and DS sets: signature verifications, against
/// ``WorkLimits/verificationsPerResolution`` (KeyTrap, CVE-2023-50387), and the upstream
/// queries of those sub-resolutions (counted with the resolution's own).
///
/// A validation takes what is left when it starts; one nested inside it (a fetched set being
/// validated) spends from the same account meanwhile, so the cap can be passed at most by the
/// nesting depth's worth of allowances, never without bound.
final class ResolutionCharges: Sendable {
    private let state = Mutex<(verifications: Int, upstream: Int)>((0, 0))

    var verificationsSpent: Int { state.withLock { $0.verifications } }
    var upstreamQueries: Int { state.withLock { $0.upstream } }

    func spent(verifications: Int) { state.withLock { $0.verifications += verifications } }
    func spent(upstreamQueries: Int) { state.withLock { $0.upstream += upstreamQueries } }
}

/// Records that a fetch was left out to avoid a loop or too deep a nesting.
final class LoopCut: Sendable {
    private let flag = Atomic<Bool>(false)
    var happened: Bool { flag.load(ordering: .relaxed) }
    func mark() { flag.store(true, ordering: .relaxed) }
}

/// DNSKEY and DS sets from the shared cache, and, when missing, resolved through the
/// resolver's iteration (``Iterator/lookup(_:depth:_:)``) one nesting level deeper than the
/// step being validated. The fetched response is itself validated and cached on the way.
final class ResolvingChain: ChainSource {
    let cache: any ResolverCache
    let limits: ResolverLimits
    /// Set once, right after the iterator that uses this source is built.
    private let iteratorBox = Mutex<Iterator?>(nil)

    init(cache: any ResolverCache, limits: ResolverLimits) {
        self.cache = cache
        self.limits = limits
    }

    func attach(_ iterator: Iterator) { iteratorBox.withLock { $0 = iterator } }

    func dnskeys(_ zone: DNSName) async -> RRSet? {
        if let c = cache.rrset(zone, .dnskey, allowStale: false) { return c.set }
        guard case let .answer(sets)? = await fetch(Question(name: zone, type: .dnskey))?.outcome else { return nil }
        return sets.first { $0.type == .dnskey && $0.name == zone }
    }

    func ds(_ zone: DNSName) async -> DSAnswer {
        if let ds = cache.rrset(zone, .ds, allowStale: false) { return .present(ds.set) }
        if let neg = cache.negative(zone, .ds) { return .absent(authority: neg.authority) }
        switch await fetch(Question(name: zone, type: .ds))?.outcome {
        case let .answer(sets)?:
            if let s = sets.first(where: { $0.type == .ds && $0.name == zone }) { return .present(s) }
            return .unavailable
        case let .negative(_, authority)?:
            return .absent(authority: authority)
        default:
            return .unavailable
        }
    }

    /// DNSKEY and DS fetches in flight that other validations may join (see ``fetch(_:)``).
    private let inflight = Mutex<[Question: Task<SharedFetch, Never>]>([:])

    /// What a shared fetch gives every validation that waits for it.
    struct SharedFetch: Sendable {
        var step: ResolutionStep?
        /// The fetch left something out to avoid a loop (the waiter's verdict then says nothing).
        var cut: Bool
    }

    /// Resolves `q` as a sub-resolution, unless it is being fetched up this chain already or
    /// the nesting is too deep (then nil, and the validation's ``LoopCut`` is marked).
    ///
    /// A validation that is not itself inside a fetch (the first level, that of a client's
    /// resolution) shares its fetches: concurrent resolutions in one zone wait for one DNSKEY
    /// and one DS resolution instead of each sending its own. Fetches further down never wait
    /// for another's (nor, at a nesting depth above 0, for a shared iteration step), so a
    /// waiter never holds anything a fetch it waits for could need: no cycle of waits.
    private func fetch(_ q: Question) async -> ResolutionStep? {
        let key = Question(name: q.name.lowercased, type: q.type, qclass: q.qclass)
        let depth = ValidationScope.depth + 1
        guard let iterator = iteratorBox.withLock({ $0 }), depth <= limits.maxNestingDepth,
              !ValidationScope.fetching.contains(key) else {
            ValidationScope.cut?.mark()
            return nil
        }
        guard ValidationScope.fetching.isEmpty else { return await fetchNow(q, key: key, depth: depth, iterator) }
        let (task, joined) = inflight.withLock { table -> (Task<SharedFetch, Never>, Bool) in
            if let t = table[key] { return (t, true) }
            // Task-local values (depth, the resolution's charges) go with it.
            let t = Task(executorPreference: iterator.executor) { () -> SharedFetch in
                let cut = LoopCut()
                let step = await ValidationScope.$cut.withValue(cut) { await self.fetchNow(q, key: key, depth: depth, iterator) }
                return SharedFetch(step: step, cut: cut.happened)
            }
            table[key] = t
            return (t, false)
        }
        let shared = await task.value
        if !joined { inflight.withLock { _ = $0.removeValue(forKey: key) } }
        // Another resolution's fetch that failed (its upstream budget spent, a server that did
        // not answer it) is no verdict for this one, which asks for itself.
        if joined {
            switch shared.step?.outcome {
            case .answer?, .negative?: break
            default: return await fetchNow(q, key: key, depth: depth, iterator)
            }
        }
        if shared.cut { ValidationScope.cut?.mark() }
        return shared.step
    }

    private func fetchNow(_ q: Question, key: Question, depth: Int, _ iterator: Iterator) async -> ResolutionStep? {
        await ValidationScope.$fetching.withValue(ValidationScope.fetching.union([key])) {
            // The resolution's fetches share one upstream budget (``ResolverLimits/maxUpstreamQueries``),
            // beside its own: a chain of trust cannot multiply the queries one client query causes.
            var ctx = ResolutionContext(tracer: nil)
            let before = ValidationScope.charges?.upstreamQueries ?? 0
            ctx.upstreamQueries = before
            let step = await iterator.lookup(q, depth: depth, &ctx)
            ValidationScope.charges?.spent(upstreamQueries: ctx.upstreamQueries - before)
            return step
        }
    }
}
