import DNSCore
import ShmCache
import Logging
import NIOCore
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

    public init(rcode: RCode, answer: [RRSet] = [], authority: [RRSet] = [],
                extendedErrors: [ExtendedDNSError] = [], stale: Bool = false, upstreamQueries: Int = 0) {
        self.rcode = rcode; self.answer = answer; self.authority = authority
        self.extendedErrors = extendedErrors; self.stale = stale; self.upstreamQueries = upstreamQueries
    }
}

/// Sends one query to one server. ``UpstreamClient`` is the real one; the indirection lets the
/// worker count and trace every query in one place.
public protocol UpstreamSender: Sendable {
    func send(_ q: UpstreamQuery) async throws(UpstreamError) -> UpstreamReply
}

extension UpstreamClient: UpstreamSender {}

/// Iterative resolution from the root hints (RFC 1034 §5.3.3), reading and filling the shared
/// caches.
///
/// Follows referrals with QNAME minimisation (RFC 9156), glue and glueless NS names, CNAME and
/// DNAME chains; caches positive data by rank and negative answers (RFC 2308); retries other
/// servers on timeouts, lame answers and failures; falls back to TCP on truncation and to no
/// EDNS when a server rejects it; serves stale data when every server fails (RFC 8767). Every
/// loop is bounded by ``ResolverLimits``.
public final class Resolver: Sendable {
    let cache: any ResolverCache
    let upstream: any UpstreamSender
    let hints: RootHints
    public let limits: ResolverLimits
    let logger: Logger
    /// Names whose resolution is logged step by step at `info` level.
    let traceNames: Set<DNSName>
    /// Resolutions in progress, by question: a second client asking the same question while
    /// the first is being resolved waits for that resolution instead of sending its own
    /// upstream queries.
    private let inflight = Mutex<[Question: Task<Resolution, Never>]>([:])
    /// Upstream steps in progress, by zone and question: resolutions of different names that
    /// need the same step (typically the same delegation from a TLD) share one exchange.
    private let inflightSteps = Mutex<[StepKey: Task<(UpstreamResponse?, Int), Never>]>([:])

    /// Where the resolution tasks this resolver starts run (shared resolutions and shared
    /// steps are unstructured tasks, which do not inherit the caller's preference): the I/O
    /// reactor, where UDP queries arrive and upstream replies are read.
    let executor: any TaskExecutor = IOReactor.shared

    struct StepKey: Hashable {
        var zone: DNSName
        var question: Question
    }

    public init(cache: any ResolverCache, upstream: any UpstreamSender, hints: RootHints,
                limits: ResolverLimits = ResolverLimits(), logger: Logger, traceNames: Set<DNSName> = []) {
        self.cache = cache
        self.upstream = upstream
        self.hints = hints
        self.limits = limits
        self.logger = logger
        self.traceNames = traceNames
    }

    /// Per client query bookkeeping shared by nested resolutions.
    struct Context {
        var upstreamQueries = 0
        var trace: Bool
        var stale = false
    }

    /// One step of a chain: data or a pointer to the next name.
    struct Step {
        enum Outcome {
            case answer([RRSet])
            case alias(DNSName)
            case negative(NegativeAnswer.Kind, [RRSet])
            case failure(ExtendedDNSError)
        }
        var chain: [RRSet]
        var outcome: Outcome
    }

    /// Resolves `q`, following aliases across zones.
    public func resolve(_ q: Question) async -> Resolution {
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

    /// Resolves `q` without sharing, following aliases across zones.
    func resolveFresh(_ q: Question) async -> Resolution {
        var ctx = Context(trace: traceNames.contains(q.name))
        var chain: [RRSet] = []
        var name = q.name
        var seen: Set<DNSName> = []
        while true {
            guard seen.insert(name).inserted, chain.count <= limits.maxChainLength else {
                trace(&ctx, "chain loops or exceeds \(limits.maxChainLength) steps at \(name)")
                return finish(&ctx, Resolution(rcode: .servFail, answer: chain,
                                               extendedErrors: [ede(.other, "CNAME/DNAME chain too long or looping")]))
            }
            let step = await lookup(Question(name: name, type: q.type, qclass: q.qclass), depth: 0, &ctx)
            chain += step.chain
            switch step.outcome {
            case let .answer(sets):
                return finish(&ctx, Resolution(rcode: .noError, answer: chain + sets))
            case let .alias(target):
                name = target
            case let .negative(kind, authority):
                return finish(&ctx, Resolution(rcode: kind == .nxDomain ? .nxDomain : .noError, answer: chain,
                                               authority: authority))
            case let .failure(e):
                return finish(&ctx, Resolution(rcode: .servFail, answer: chain, extendedErrors: [e]))
            }
        }
    }

    /// Answers from the cache only (a client query with RD=0): data or a negative answer when
    /// cached, else SERVFAIL saying so.
    public func answerFromCache(_ q: Question) -> Resolution {
        var chain: [RRSet] = []
        var name = q.name
        for _ in 0...limits.maxChainLength {
            guard let step = fromCache(Question(name: name, type: q.type, qclass: q.qclass), allowStale: false) else { break }
            chain += step.chain
            switch step.outcome {
            case let .answer(sets): return Resolution(rcode: .noError, answer: chain + sets)
            case let .alias(target): name = target
            case let .negative(kind, authority):
                return Resolution(rcode: kind == .nxDomain ? .nxDomain : .noError, answer: chain, authority: authority)
            case .failure: break
            }
        }
        return Resolution(rcode: .servFail, answer: chain,
                          extendedErrors: [ede(.other, "not in cache and recursion not desired")])
    }

    private func finish(_ ctx: inout Context, _ r: Resolution) -> Resolution {
        var r = r
        if !ctx.stale {   // stale data keeps the TTL of 30 s RFC 8767 asks for
            r.answer = r.answer.map(capped)
            r.authority = r.authority.map(capped)
        }
        r.upstreamQueries = ctx.upstreamQueries
        r.stale = ctx.stale
        if ctx.stale { r.extendedErrors.append(ede(.staleAnswer)) }
        return r
    }

    /// One name: from the cache, else by iteration, else stale from the cache.
    func lookup(_ q: Question, depth: Int, _ ctx: inout Context) async -> Step {
        if let s = fromCache(q, allowStale: false) {
            trace(&ctx, "\(q): from cache")
            return s
        }
        let step = await iterate(q, depth: depth, &ctx)
        if case .failure = step.outcome, let s = fromCache(q, allowStale: true) {
            trace(&ctx, "\(q): every server failed, serving stale data")
            ctx.stale = true
            return s
        }
        return step
    }

    /// Answer-grade data only: glue and referral NS sets are never returned as answers
    /// (RFC 2181 §5.4.1).
    func fromCache(_ q: Question, allowStale: Bool) -> Step? {
        if let c = cache.rrset(q.name, q.type, allowStale: allowStale), c.rank >= .nonAuthoritativeAnswer {
            return Step(chain: [], outcome: .answer([c.set]))
        }
        if q.type != .cname, let c = cache.rrset(q.name, .cname, allowStale: allowStale), c.rank >= .nonAuthoritativeAnswer,
           case let .cname(target)? = c.set.rdatas.first {
            return Step(chain: [c.set], outcome: .alias(target))
        }
        if !allowStale, let n = cache.negative(q.name, q.type) {
            return Step(chain: [], outcome: .negative(n.kind, n.authority))
        }
        // A cached DNAME at an ancestor rewrites the name (RFC 6672 §3.3); the CNAME it implies
        // is synthesized here each time, never cached, so the DNAME is always shown with it.
        var ancestor = q.name.parent
        while let a = ancestor, !a.isRoot {
            if let d = cache.rrset(a, .dname, allowStale: allowStale), d.rank >= .nonAuthoritativeAnswer,
               case let .dname(target)? = d.set.rdatas.first,
               let rewritten = try? DNSName(labels: q.name.labels.prefix(q.name.labelCount - a.labelCount).map(Array.init))
                   .appending(target) {
                let cname = RRSet(name: q.name, type: .cname, rrclass: d.set.rrclass, ttl: d.set.ttl,
                                  rdatas: [.cname(rewritten)])
                return Step(chain: [d.set, cname], outcome: .alias(rewritten))
            }
            ancestor = a.parent
        }
        return nil
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

    /// Iterates from the closest known zone cut down to the answer for `q`.
    func iterate(_ q: Question, depth: Int, _ ctx: inout Context) async -> Step {
        // DS lives in the parent zone (RFC 4035 §3.1.4.1).
        let start = q.type == .ds && !q.name.isRoot ? (q.name.parent ?? .root) : q.name
        var (zone, ns) = closestZone(start)
        var known = zone.labelCount  // labels of q.name known to have no cut above them
        var referrals = 0
        while true {
            var target = q
            if limits.qnameMinimisation, q.name.labelCount > max(known, zone.labelCount) + 1 {
                target = Question(name: q.name.suffix(labels: max(known, zone.labelCount) + 1), type: .a, qclass: q.qclass)
                // Already asked (the answer or its absence is cached): that name is no cut.
                if let cached = fromCache(target, allowStale: false) {
                    if case let .negative(.nxDomain, authority) = cached.outcome {
                        return Step(chain: [], outcome: .negative(.nxDomain, authority))   // RFC 8020
                    }
                    known = target.name.labelCount
                    continue
                }
            }
            guard let r = await queryZoneShared(target, zone: zone, ns: ns, depth: depth, &ctx) else {
                let e = ctx.upstreamQueries >= limits.maxUpstreamQueries
                    ? ede(.other, "upstream query limit reached")
                    : ede(.noReachableAuthority, "no server of \(zone.presentation) answered")
                return Step(chain: [], outcome: .failure(e))
            }
            if case let .referral(child) = r.kind {
                referrals += 1
                guard referrals <= limits.maxReferrals else {
                    return Step(chain: [], outcome: .failure(ede(.other, "too many referrals")))
                }
                // DS questions must stay with the parent: a referral to the name itself ends here.
                if q.type == .ds && child == q.name {
                    return Step(chain: [], outcome: .negative(.noData, r.authority.filter { $0.type != .ns }))
                }
                zone = child
                ns = r.authority.first { $0.type == .ns } ?? ns
                known = max(known, child.labelCount)
                trace(&ctx, "referral to \(child.presentation)")
                continue
            }
            if target != q {
                switch r.kind {
                case .nxDomain:
                    // RFC 8020: nothing exists below a name that does not exist.
                    let n = NegativeAnswer(kind: .nxDomain, authority: r.authority, ttl: negativeTTL(r.authority))
                    if n.ttl > 0 { cache.storeNegative(q.name, q.type, n) }
                    return Step(chain: [], outcome: .negative(.nxDomain, negativeAuthority(r.authority)))
                default:
                    // The minimised name exists and is no cut: go one label deeper.
                    known = target.name.labelCount
                    continue
                }
            }
            switch r.kind {
            case .answer:
                return Step(chain: r.chain, outcome: .answer(r.answers))
            case let .alias(next):
                return Step(chain: r.chain, outcome: .alias(next))
            case .nxDomain:
                return Step(chain: r.chain, outcome: .negative(.nxDomain, negativeAuthority(r.authority)))
            case .noData:
                return Step(chain: r.chain, outcome: .negative(.noData, negativeAuthority(r.authority)))
            case .referral, .lame, .failure, .invalid:
                // queryZone only returns usable kinds; referrals were handled above.
                return Step(chain: [], outcome: .failure(ede(.other, "unexpected response kind")))
            }
        }
    }

    /// ``queryZone`` shared with identical steps already in flight. Only top-level steps
    /// (depth 0) share: a nested step (resolving a glueless NS name) never waits on another,
    /// so no step can end up waiting on itself.
    func queryZoneShared(_ q: Question, zone: DNSName, ns: RRSet, depth: Int, _ ctx: inout Context) async -> UpstreamResponse? {
        guard depth == 0 else { return await queryZone(q, zone: zone, ns: ns, depth: depth, &ctx) }
        let key = StepKey(zone: zone.lowercased, question: Question(name: q.name.lowercased, type: q.type, qclass: q.qclass))
        let start = ctx
        let (task, joined) = inflightSteps.withLock { table -> (Task<(UpstreamResponse?, Int), Never>, Bool) in
            if let t = table[key] { return (t, true) }
            let t = Task(executorPreference: executor) { () -> (UpstreamResponse?, Int) in
                var c = start
                let r = await self.queryZone(q, zone: zone, ns: ns, depth: depth, &c)
                return (r, c.upstreamQueries)
            }
            table[key] = t
            return (t, false)
        }
        let (r, used) = await task.value
        if joined {
            trace(&ctx, "\(q) at \(zone.presentation): joined an identical query in flight")
        } else {
            inflightSteps.withLock { _ = $0.removeValue(forKey: key) }
            ctx.upstreamQueries = used
        }
        return r
    }

    /// Asks the servers of `zone` until one gives a usable response, which is cached before
    /// it is returned. Nil when every server failed or the budget ran out.
    func queryZone(_ q: Question, zone: DNSName, ns: RRSet, depth: Int, _ ctx: inout Context) async -> UpstreamResponse? {
        var tried: Set<ServerAddress> = []
        var gluelessTried: Set<DNSName> = []
        var attempts = 0
        while attempts < limits.maxServersPerStep {
            let candidates = knownAddresses(ns).filter { !tried.contains($0) }
            if candidates.isEmpty {
                guard await resolveGlueless(ns, zone: zone, depth: depth, tried: &gluelessTried, &ctx) else { return nil }
                continue
            }
            // Fastest first, throttled last; servers never measured count as
            // `unknownServerRTTMicros`; ties are broken at random, so concurrent resolutions
            // spread over equally unknown servers.
            var rng = PooledRandom()
            let server = candidates.map { a -> ((Int, UInt32, UInt32), ServerAddress) in
                let e = cache.serverEstimate(a)
                return ((e.throttled ? 1 : 0, e.rttMicros == 0 ? limits.unknownServerRTTMicros : e.rttMicros,
                         UInt32.random(in: 0...UInt32.max, using: &rng)), a)
            }.min { $0.0 < $1.0 }!.1
            tried.insert(server)
            attempts += 1
            guard let reply = await exchange(q, server: server, &ctx) else {
                if ctx.upstreamQueries >= limits.maxUpstreamQueries { return nil }
                continue
            }
            let r = UpstreamResponse.classify(reply.message, question: q, zone: zone)
            switch r.kind {
            case .lame, .failure, .invalid:
                trace(&ctx, "\(server) for \(zone.presentation): \(r.kind), trying another server")
                continue
            default:
                trace(&ctx, "\(server) answered \(q) in \(reply.rtt.nanoseconds / 1000) µs: \(r.kind)")
                store(r, question: q, authoritative: reply.message.header.authoritative)
                return r
            }
        }
        return nil
    }

    /// Sends `q` to `server`: UDP with EDNS, then TCP on truncation, then without EDNS when the
    /// server rejects it. Updates the speed table. Nil on timeout or network error.
    func exchange(_ q: Question, server: ServerAddress, _ ctx: inout Context) async -> UpstreamReply? {
        guard let address = try? server.socketAddress(port: limits.upstreamPort) else { return nil }
        // With 0x20 the name goes out in random case; the reply must echo it exactly (the
        // upstream client compares the question byte for byte), then gets our spelling back.
        let sent = limits.use0x20 ? Question(name: q.name.randomizingCase(), type: q.type, qclass: q.qclass) : q
        var uq = UpstreamQuery(question: sent, server: address)
        if cache.rejectsEDNS(server) { uq.ednsPayloadSize = nil }
        let estimate = cache.serverEstimate(server)
        let t = estimate.rttMicros == 0 ? limits.initialTimeoutMillis
            : min(limits.maxTimeoutMillis, max(100, Int(estimate.rttMicros) * 4 / 1000))
        uq.timeout = .milliseconds(Int64(t))
        for _ in 0..<3 {
            guard ctx.upstreamQueries < limits.maxUpstreamQueries else { return nil }
            ctx.upstreamQueries += 1
            do {
                let reply = try await upstream.send(uq)
                cache.recordRTT(server, micros: UInt32(clamping: reply.rtt.nanoseconds / 1000))
                if reply.message.header.truncated && !uq.overTCP {
                    trace(&ctx, "\(server): truncated, retrying over TCP")
                    uq.overTCP = true
                    uq.timeout = .milliseconds(Int64(limits.maxTimeoutMillis))
                    continue
                }
                if uq.ednsPayloadSize != nil, reply.message.edns == nil,
                   [RCode.formErr, .notImp].contains(reply.message.rcode) {
                    trace(&ctx, "\(server): rejects EDNS, retrying without")
                    cache.recordEDNSRejected(server)
                    uq.ednsPayloadSize = nil
                    continue
                }
                return limits.use0x20 ? reply.respelling(sent.name, as: q.name) : reply
            } catch {
                if error == .timeout { cache.recordTimeout(server) }
                trace(&ctx, "\(server): \(error)")
                return nil
            }
        }
        return nil
    }

    /// Addresses of the NS set's names that the cache (glue included) or the hints know.
    func knownAddresses(_ ns: RRSet) -> [ServerAddress] {
        var out: [ServerAddress] = []
        for case let .ns(name) in ns.rdatas {
            for t in [RRType.a, .aaaa] {
                if let c = cache.rrset(name, t, allowStale: true) {
                    out += c.set.rdatas.compactMap(ServerAddress.init(rdata:))
                } else if let h = hints.addresses[name] {
                    out += h.filter { t == .a ? $0.isIPv4 : !$0.isIPv4 }
                }
            }
        }
        return Array(Set(out)).sorted { ($0.high, $0.low) < ($1.high, $1.low) }
    }

    /// Resolves addresses of NS names that have none (glueless delegation), a few at a time.
    /// False when nothing more can be tried.
    func resolveGlueless(_ ns: RRSet, zone: DNSName, depth: Int, tried: inout Set<DNSName>,
                         _ ctx: inout Context) async -> Bool {
        guard depth < limits.maxNestingDepth, tried.count < limits.maxGluelessNamesPerDelegation else { return false }
        for case let .ns(name) in ns.rdatas where !tried.contains(name) {
            // A name inside the zone needs glue; asking the zone for it would loop.
            if name.isSubdomain(of: zone) { tried.insert(name); continue }
            tried.insert(name)
            trace(&ctx, "resolving glueless NS name \(name.presentation)")
            let step = await lookup(Question(name: name, type: .a), depth: depth + 1, &ctx)
            if case .answer = step.outcome { return true }
            if tried.count >= limits.maxGluelessNamesPerDelegation { return false }
        }
        return false
    }

    /// Writes what a usable response taught into the cache, by rank.
    func store(_ r: UpstreamResponse, question: Question, authoritative: Bool) {
        let answerRank: Rank = authoritative ? .authoritativeAnswer : .nonAuthoritativeAnswer
        // CNAMEs synthesized from a DNAME are not cached: the DNAME is, and lookups under it
        // synthesize again (so answers from the cache still show the DNAME).
        var previous: RRSet?
        for s in r.chain + r.answers {
            defer { previous = s }
            if s.type == .cname, let p = previous, p.type == .dname, s.name.isStrictSubdomain(of: p.name) { continue }
            cache.store(capped(s), rank: answerRank)
        }
        switch r.kind {
        case let .referral(child):
            // RFC 2181 §5.4.1: a referral's NS set ranks with additional data, below anything
            // the child says about itself.
            for s in r.authority where s.type == .ns && s.name == child { cache.store(capped(s), rank: .additional) }
            for s in r.authority where s.type == .ds { cache.store(capped(s), rank: .authoritativeAuthority) }
            for s in r.glue { cache.store(capped(s), rank: .glue) }
        case .nxDomain, .noData:
            let ttl = negativeTTL(r.authority)
            if ttl > 0, let name = r.finalName {
                let kind: NegativeAnswer.Kind = r.kind == .nxDomain ? .nxDomain : .noData
                cache.storeNegative(name, question.type, NegativeAnswer(kind: kind, authority: r.authority, ttl: ttl))
            }
        case .answer:
            for s in r.authority where s.type == .ns {
                cache.store(capped(s), rank: authoritative ? .authoritativeAuthority : .additional)
            }
        default:
            break
        }
    }

    func capped(_ s: RRSet) -> RRSet {
        var s = s
        s.ttl = min(s.ttl, limits.maxTTL)
        return s
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

    func ede(_ code: EDECode, _ text: String = "") -> ExtendedDNSError {
        ExtendedDNSError(code: code, extraText: Array(text.utf8))
    }

    func trace(_ ctx: inout Context, _ message: @autoclosure () -> String) {
        guard ctx.trace else { return }
        logger.info("trace: \(message())")
    }
}

extension DNSName {
    /// The same name with each ASCII letter's case chosen at random.
    func randomizingCase() -> DNSName {
        var w = wire
        var i = 0
        var rng = PooledRandom()
        while w[i] != 0 {
            let n = Int(w[i])
            for k in (i + 1)...(i + n) where (w[k] | 0x20) >= 0x61 && (w[k] | 0x20) <= 0x7A {
                w[k] = Bool.random(using: &rng) ? w[k] | 0x20 : w[k] & ~0x20
            }
            i += n + 1
        }
        return (try? DNSName(wire: w)) ?? self
    }
}

extension UpstreamReply {
    /// The reply with every owner name spelled `from` (exact case) written as `to`, so the
    /// random case of a 0x20 query does not leak into the cache or to clients.
    func respelling(_ from: DNSName, as to: DNSName) -> UpstreamReply {
        func fix(_ rrs: [ResourceRecord]) -> [ResourceRecord] {
            rrs.map { rr in
                guard rr.name.wire == from.wire else { return rr }
                var r = rr
                r.name = to
                return r
            }
        }
        var r = self
        r.message.questions = r.message.questions.map { $0.name.wire == from.wire ? Question(name: to, type: $0.type, qclass: $0.qclass) : $0 }
        r.message.answers = fix(r.message.answers)
        r.message.authority = fix(r.message.authority)
        r.message.additional = fix(r.message.additional)
        return r
    }
}

extension ServerAddress {
    init?(rdata: RData) {
        switch rdata {
        case let .a(a): self.init(a)
        case let .aaaa(a): self.init(a)
        default: return nil
        }
    }

    /// The NIO socket address of this server at `port`.
    func socketAddress(port: UInt16) throws -> SocketAddress {
        var packed = ByteBuffer()
        if isIPv4 {
            packed.writeInteger(UInt32(truncatingIfNeeded: low))
        } else {
            packed.writeInteger(high)
            packed.writeInteger(low)
        }
        return try SocketAddress(packedIPAddress: packed, port: Int(port))
    }
}
