import DNSCore
import DNSSEC
import Logging
import Synchronization

/// The outcome of resolving one client question.
public struct Resolution: Sendable, Equatable {
    public var rcode: RCode
    /// CNAME/DNAME chain followed by the final RRsets, RRSIGs attached.
    public var answer: [RRSet]
    /// For negative answers: SOA and NSEC/NSEC3 proofs.
    public var authority: [RRSet]
    public var extendedErrors: [ExtendedDNSError]
    /// Some data was served past its expiry (RFC 8767).
    public var stale: Bool
    /// Upstream queries this resolution sent.
    public var upstreamQueries: Int
    /// The DNSSEC verdict of the whole answer (or denial): bogus when any part is, secure only
    /// when every part is. A bogus resolution keeps its data for CD=1 clients;
    /// ``forClient(checkingDisabled:)`` turns it into SERVFAIL for the others.
    public var verdict: ValidationVerdict

    public init(rcode: RCode, answer: [RRSet] = [], authority: [RRSet] = [],
                extendedErrors: [ExtendedDNSError] = [], stale: Bool = false, upstreamQueries: Int = 0,
                verdict: ValidationVerdict = .indeterminate) {
        self.rcode = rcode; self.answer = answer; self.authority = authority
        self.extendedErrors = extendedErrors; self.stale = stale; self.upstreamQueries = upstreamQueries
        self.verdict = verdict
    }

    /// The data is secure (a validated chain of trust reaches all of it).
    public var isSecure: Bool { verdict.state == .secure }

    /// What a client gets: a bogus resolution is SERVFAIL with its Extended DNS Error (RFC
    /// 8914), unless the client set CD (RFC 4035 §3.2.2: it checks for itself).
    public func forClient(checkingDisabled: Bool) -> Resolution {
        guard verdict.state == .bogus, !checkingDisabled else { return self }
        return Resolution(rcode: .servFail, extendedErrors: [verdict.reason ?? ExtendedDNSError(code: .dnssecBogus)],
                          upstreamQueries: upstreamQueries, verdict: verdict)
    }
}

/// Sends one query to one server. ``UpstreamClient`` is the real one; the indirection lets the
/// worker count and trace every query in one place.
public protocol UpstreamSender: Sendable {
    func send(_ q: UpstreamQuery) async throws(UpstreamError) -> UpstreamReply
}

extension UpstreamClient: UpstreamSender {}

/// Resolves client questions iteratively from the root hints (RFC 1034 §5.3.3), reading and
/// filling the shared caches; the entry point of resolution, made of parts with one job each:
///
/// - ``CacheReader``: answer-grade data from the cache, and where iteration starts;
/// - ``Iterator``: referrals, QNAME minimisation (RFC 9156), glue and glueless NS names;
/// - ``ServerSelection``: which server of a zone to ask, and how long to wait;
/// - ``UpstreamFallbacks``: TCP on truncation, no EDNS when a server rejects it, 0x20;
/// - ``ResponseValidator`` then ``CacheWriter``: each classified response is judged (DNSSEC
///   plugs in there) and written by rank (RFC 2181 §5.4.1) and negative TTL (RFC 2308).
///
/// This type follows CNAME and DNAME chains across zones, serves stale data when every server
/// fails (RFC 8767), and shares identical resolutions in flight. Every loop is bounded by
/// ``ResolverLimits``. Its tasks run on the injected `executor` (in the worker, the I/O
/// reactor, where UDP queries arrive and upstream replies are read).
public final class Resolver: Sendable {
    public let limits: ResolverLimits
    /// Where the tasks this resolver starts run (shared resolutions and shared steps are
    /// unstructured tasks, which do not inherit the caller's preference); the front end starts
    /// its resolution tasks there too.
    public let executor: any TaskExecutor
    let reader: CacheReader
    let iterator: Iterator
    let logger: Logger
    /// Names whose resolution is logged step by step at `info` level.
    let traceNames: Set<DNSName>
    /// Resolutions in progress, by question: a second client asking the same question while
    /// the first is being resolved waits for that resolution instead of sending its own
    /// upstream queries.
    private let inflight = Mutex<[Question: Task<Resolution, Never>]>([:])

    /// With `dnssec`, responses are validated by a ``DNSSECValidator`` that fetches missing
    /// DNSKEY and DS sets through this resolver (it replaces `validator`), cached answers
    /// without a verdict are resolved again, and each ``Resolution`` carries its verdict.
    public init(cache: any ResolverCache, upstream: any UpstreamSender, hints: RootHints,
                limits: ResolverLimits = ResolverLimits(), validator: any ResponseValidator = NoValidation(),
                dnssec: DNSSECSettings? = nil,
                executor: any TaskExecutor, logger: Logger, traceNames: Set<DNSName> = []) {
        self.limits = limits
        self.executor = executor
        self.logger = logger
        self.traceNames = traceNames
        let selection = ServerSelection(cache: cache, hints: hints, limits: limits)
        var reader = CacheReader(cache: cache, hints: hints, limits: limits)
        var writer = CacheWriter(cache: cache, limits: limits)
        // With `dnssec`, the validator fetches DNSKEY and DS sets through this resolver's own
        // iteration: its source is attached to the iterator once that exists.
        var chain: ResolvingChain?
        var validator = validator
        if let dnssec {
            let source = ResolvingChain(cache: cache, limits: limits)
            let v = DNSSECValidator(anchors: dnssec.anchors, policy: dnssec.policy, source: source,
                                    bogusTTL: dnssec.bogusTTL, negativeAnchor: { dnssec.negativeAnchor($0) },
                                    logger: logger, counter: cache)
            chain = source
            validator = v
            reader.validating = true
            if dnssec.aggressiveNSEC {
                let aggressive = AggressiveNSEC(cache: cache, limits: limits, policy: dnssec.policy,
                                                negativeAnchor: { dnssec.negativeAnchor($0) })
                reader.aggressive = aggressive
                writer.aggressive = aggressive
            }
            dnssecValidator = v
        } else {
            dnssecValidator = nil
        }
        self.reader = reader
        iterator = Iterator(reader: reader, selection: selection,
                            fallbacks: UpstreamFallbacks(upstream: upstream, cache: cache, selection: selection, limits: limits),
                            validator: validator, writer: writer,
                            limits: limits, executor: executor, bogusReasons: reader.bogusReasons)
        chain?.attach(iterator)
    }

    /// The validator when DNSSEC validation is on (`dnssec:` settings given), else nil.
    public let dnssecValidator: DNSSECValidator?

    /// The root NS question, whose resolution is the priming of RFC 8109.
    static let rootNS = Question(name: .root, type: .ns, qclass: .in)

    /// Primes the root (RFC 8109): asks a server of the hints for the root's NS set, so that
    /// the root servers used come from the root zone itself, not from the hints file. Shared
    /// like any resolution; answered from the cache while the set is cached. The worker calls
    /// it at start, and every resolution that finds the set expired calls it first.
    public func primeRoot() async -> Resolution { await resolve(Self.rootNS) }

    /// Resolves `q`, following aliases across zones.
    public func resolve(_ q: Question) async -> Resolution {
        // The root NS set gone from the cache (expired, evicted, a new segment): prime again
        // before iterating from the hints.
        var priming = 0
        if q != Self.rootNS && reader.cache.rrset(.root, .ns, allowStale: false) == nil {
            priming = await primeRoot().upstreamQueries
        }
        var r = await resolveShared(q)
        r.upstreamQueries += priming
        if r.upstreamQueries > 0 {
            logger.debug("resolved \(q.name.presentation) \(q.type): \(r.rcode), \(r.upstreamQueries) upstream queries")
        }
        return r
    }

    private func resolveShared(_ q: Question) async -> Resolution {
        let key = Question(name: q.name.lowercased, type: q.type, qclass: q.qclass)
        let (task, joined) = inflight.withLock { table -> (Task<Resolution, Never>, Bool) in
            if let t = table[key] { return (t, true) }
            let t = Task(executorPreference: executor) { await self.resolveFresh(q) }
            table[key] = t
            return (t, false)
        }
        var r = await task.value
        if joined {
            r.upstreamQueries = 0   // counted once, by the resolution that sent them
        } else {
            inflight.withLock { _ = $0.removeValue(forKey: key) }
        }
        return r
    }

    /// Resolves `q` without sharing, following aliases across zones, with one validation
    /// budget (``ResolutionCharges``) for all of it.
    func resolveFresh(_ q: Question) async -> Resolution {
        let charges = ResolutionCharges()
        var r = await ValidationScope.$charges.withValue(charges) { await resolveChain(q) }
        r.upstreamQueries += charges.upstreamQueries
        return r
    }

    private func resolveChain(_ q: Question) async -> Resolution {
        var ctx = ResolutionContext(tracer: traceNames.contains(q.name) ? logger : nil)
        var chain: [RRSet] = []
        var verdict: ValidationVerdict?
        var name = q.name
        var seen: Set<DNSName> = []
        while true {
            guard seen.insert(name).inserted, chain.count <= limits.maxChainLength else {
                ctx.trace("chain loops or exceeds \(limits.maxChainLength) steps at \(name)")
                // SERVFAIL carries no records: a client must not take half a chain for data.
                return finish(&ctx, Resolution(rcode: .servFail,
                                               extendedErrors: [ede(.invalidData, "CNAME/DNAME chain too long or looping")]))
            }
            let step = await iterator.lookup(Question(name: name, type: q.type, qclass: q.qclass), depth: 0, &ctx)
            chain += step.chain
            verdict = verdict.map { $0.combined(with: step.verdict) } ?? step.verdict
            let v = verdict ?? .indeterminate
            switch step.outcome {
            case let .answer(sets):
                return finish(&ctx, Resolution(rcode: .noError, answer: chain + sets, verdict: v))
            case let .alias(target):
                name = target
            case let .negative(kind, authority):
                return finish(&ctx, Resolution(rcode: kind == .nxDomain ? .nxDomain : .noError, answer: chain,
                                               authority: authority, verdict: v))
            case let .failure(e):
                return finish(&ctx, Resolution(rcode: .servFail, extendedErrors: [e]))
            }
        }
    }

    /// Answers from the cache only (a client query with RD=0): data or a negative answer when
    /// cached, else SERVFAIL saying so.
    public func answerFromCache(_ q: Question) -> Resolution {
        var r = reader.answer(q)
        r.answer = Self.eachSetOnce(r.answer)
        return r
    }

    private func finish(_ ctx: inout ResolutionContext, _ r: Resolution) -> Resolution {
        var r = r
        // A chain may pass the same DNAME (or CNAME) twice; each RRset goes out once per section.
        r.answer = Self.eachSetOnce(r.answer)
        r.authority = Self.eachSetOnce(r.authority)
        if !ctx.stale {   // stale data keeps the TTL of 30 s RFC 8767 asks for
            r.answer = r.answer.map(limits.capped)
            r.authority = r.authority.map(limits.capped)
        }
        r.upstreamQueries = ctx.upstreamQueries
        // A SERVFAIL carries no data, stale or not.
        r.stale = ctx.stale && r.rcode != .servFail
        if r.stale { r.extendedErrors.append(ede(.staleAnswer)) }
        return r
    }

    /// `sets` without the repeats of an owner, type and class already listed, in order.
    static func eachSetOnce(_ sets: [RRSet]) -> [RRSet] {
        guard sets.count > 1 else { return sets }
        var seen: Set<Question> = []
        return sets.filter { seen.insert(Question(name: $0.name.lowercased, type: $0.type, qclass: $0.rrclass)).inserted }
    }
}

/// DNSSEC validation as the worker configures it (`dnssec: validate`).
public struct DNSSECSettings: Sendable {
    public var anchors: TrustAnchors
    public var policy: ValidationPolicy
    /// How long a bogus verdict is cached, in seconds (`dnssec-bogus-ttl`).
    public var bogusTTL: UInt32
    /// Names at and below which nothing is validated (answered insecure).
    public var negativeAnchors = NegativeTrustAnchors()
    /// Negative trust anchors added at run time, asked on every validation after
    /// `negativeAnchors` (the worker passes the segment's table: `shoalctl nta`).
    public var runtimeNegativeAnchor: (@Sendable (DNSName) -> DNSName?)?
    /// NXDOMAIN, NODATA and wildcard answers synthesised from validated NSEC/NSEC3 records
    /// in the cache (RFC 8198; `aggressive-nsec`, on by default as in unbound and Knot Resolver).
    public var aggressiveNSEC = true

    /// The negative trust anchor at or above `name`: configured, else added at run time.
    public func negativeAnchor(_ name: DNSName) -> DNSName? {
        negativeAnchors.covering(name.lowercased) ?? runtimeNegativeAnchor?(name)
    }

    public init(anchors: TrustAnchors = .ianaRoot, policy: ValidationPolicy = ValidationPolicy(), bogusTTL: UInt32 = 60) {
        self.anchors = anchors
        self.policy = policy
        self.bogusTTL = bogusTTL
    }
}

extension DNSSECSettings {
    /// Settings whose trust anchors are the DS or DNSKEY records of a trust-anchor file.
    public init(trustAnchorFile path: String, contents: String, bogusTTL: UInt32 = 60) throws(ConfigError) {
        do {
            self.init(anchors: try TrustAnchors.parse(contents, source: path), bogusTTL: bogusTTL)
        } catch {
            throw ConfigError("\(path): \(error)")
        }
    }
}
