import DNSCore
import ShoalSystem
import Synchronization

/// Iterative resolution of one name from the closest known zone cut (RFC 1034 §5.3.3): QNAME
/// minimisation (RFC 9156), referrals, glue and glueless NS names, bounded by
/// ``ResolverLimits``. It asks servers through ``UpstreamFallbacks`` in the order
/// ``ServerSelection`` gives, classifies each response (``UpstreamResponse``), has it judged
/// by the ``ResponseValidator`` and written by the ``CacheWriter``, in that order.
///
/// Identical top-level steps in flight (typically the same delegation from a TLD, for
/// different names) share one exchange; their tasks run on `executor`.
final class Iterator: Sendable {
    let reader: CacheReader
    let selection: ServerSelection
    let fallbacks: UpstreamFallbacks
    let validator: any ResponseValidator
    let writer: CacheWriter
    let limits: ResolverLimits
    let executor: any TaskExecutor
    /// Why recent bogus verdicts were bogus, for the EDE of answers read back from the cache.
    let bogusReasons: BogusReasons

    /// Zones whose servers failed a minimised query (RFC 9156 §2.3), with the monotonic second
    /// until which their names go out whole.
    private let unminimised = Mutex<[DNSName: Int64]>([:])
    /// How long a zone stays in ``unminimised``, in seconds.
    static let unminimisedSeconds: Int64 = 900
    /// RFC 9156 §2.3: at most this many minimised queries per name (MAX_MINIMISE_COUNT), the
    /// first few adding one label each (MINIMISE_ONE_LAB), the others more.
    static let maxMinimiseCount = 10
    static let minimiseOneLabel = 4

    /// Upstream steps in progress, by zone and question.
    private let inflightSteps = Mutex<[StepKey: Task<(Result<UpstreamResponse, ZoneFailure>, Int), Never>]>([:])

    struct StepKey: Hashable {
        var zone: DNSName
        var question: Question
    }

    init(reader: CacheReader, selection: ServerSelection, fallbacks: UpstreamFallbacks,
         validator: any ResponseValidator, writer: CacheWriter, limits: ResolverLimits, executor: any TaskExecutor,
         bogusReasons: BogusReasons) {
        self.bogusReasons = bogusReasons
        self.reader = reader
        self.selection = selection
        self.fallbacks = fallbacks
        self.validator = validator
        self.writer = writer
        self.limits = limits
        self.executor = executor
    }

    /// One name: from the cache, else by iteration, else stale from the cache.
    func lookup(_ q: Question, depth: Int, _ ctx: inout ResolutionContext) async -> ResolutionStep {
        if let s = reader.step(q, allowStale: false) {
            ctx.trace("\(q): from cache")
            return s
        }
        let step = await iterate(q, depth: depth, &ctx)
        // RFC 8767: stale data only when no server answered in time. A server that answered
        // with an error (a looping DNAME, SERVFAIL) said something newer than the cache.
        if case let .failure(e) = step.outcome, e.code == .noReachableAuthority || e.code == .networkError,
           let s = reader.step(q, allowStale: true) {
            ctx.trace("\(q): no server answered, serving stale data")
            ctx.stale = true
            return s
        }
        return step
    }

    /// Iterates from the closest known zone cut down to the answer for `q`.
    func iterate(_ q: Question, depth: Int, _ ctx: inout ResolutionContext) async -> ResolutionStep {
        // DS lives in the parent zone (RFC 4035 §3.1.4.1).
        let start = q.type == .ds && !q.name.isRoot ? (q.name.parent ?? .root) : q.name
        var (zone, ns) = reader.closestZone(start)
        var known = zone.labelCount  // labels of q.name known to have no cut above them
        var referrals = 0
        // Set when the zone's known addresses all failed: the parent's glue, asked instead.
        // (When the glue is what fails, the NS names outside the zone are resolved in their
        // own zones by the glueless path of `queryZone`.)
        var parentGlue: [ServerAddress]?
        var failedHere: Set<ServerAddress> = []
        // Off for the rest of this zone once a minimised query failed there.
        var minimise = limits.qnameMinimisation
        var minimised = 0
        // The full name is being asked because a minimised one was NXDOMAIN.
        var afterNXDomain = false
        while true {
            var target = q
            let have = max(known, zone.labelCount)
            if minimise, minimised < Self.maxMinimiseCount, q.name.labelCount > have + 1, !isUnminimised(zone) {
                let add = minimised < Self.minimiseOneLabel
                    ? 1 : max(1, (q.name.labelCount - have) / (Self.maxMinimiseCount - minimised))
                if have + add < q.name.labelCount {
                    target = Question(name: q.name.suffix(labels: have + add), type: .a, qclass: q.qclass)
                }
            }
            if target != q {
                // Already asked (the answer or its absence is cached): that name is no cut.
                if let cached = reader.step(target, allowStale: false) {
                    if case let .negative(.nxDomain, authority) = cached.outcome {
                        return ResolutionStep(chain: [], outcome: .negative(.nxDomain, authority))   // RFC 8020
                    }
                    known = target.name.labelCount
                    continue
                }
            }
            if target != q { minimised += 1 }
            let r: UpstreamResponse
            switch await queryZoneShared(target, zone: zone, ns: ns, depth: depth, only: parentGlue, &ctx) {
            case let .success(response): r = response
            case let .failure(f) where target != q && f.serversAsked && !f.budget:
                // RFC 9156 §2.3: REFUSED, SERVFAIL, FORMERR, NOTIMP or silence to a minimised
                // query: ask the full name, and keep doing so in this zone for a while.
                ctx.trace("minimised \(target) failed at \(zone.presentation): asking the full name")
                remember(unminimised: zone)
                minimise = false
                continue
            case let .failure(f):
                failedHere.formUnion(f.failed)
                // The child's addresses for its servers (which outrank glue in the cache) may be
                // wrong where the parent's glue is right, or missing (an address query the child
                // answered oddly): ask the parent again, once per zone.
                // (When no server could be asked, only if some NS name is inside the zone and so
                // needs glue: out-of-zone names that do not resolve have none to find.)
                let needsGlue = ns.rdatas.contains { if case let .ns(n) = $0 { n.isSubdomain(of: zone) } else { false } }
                if parentGlue == nil, !f.budget, !zone.isRoot, f.serversAsked || needsGlue,
                   let glue = await delegationGlue(zone, depth: depth, &ctx)?.filter({ !failedHere.contains($0) }),
                   !glue.isEmpty {
                    ctx.trace("servers of \(zone.presentation) failed; trying the parent's glue \(glue)")
                    parentGlue = glue
                    continue
                }
                return ResolutionStep(chain: [], outcome: .failure(f.extendedError(zone: zone)))
            }
            if afterNXDomain, r.kind != .nxDomain {
                // The server said NXDOMAIN for a name with data below: its NXDOMAIN, now cached,
                // must not stop minimised steps in this zone, which are left off for a while.
                remember(unminimised: zone)
                afterNXDomain = false
            }
            if case let .referral(child) = r.kind {
                referrals += 1
                guard referrals <= limits.maxReferrals else {
                    return ResolutionStep(chain: [], outcome: .failure(ede(.other, "too many referrals")))
                }
                // DS questions must stay with the parent: a referral to the name itself ends here.
                if q.type == .ds && child == q.name {
                    return ResolutionStep(chain: [], outcome: .negative(.noData, r.authority.filter { $0.type != .ns }),
                                          verdict: r.verdict)
                }
                zone = child
                parentGlue = nil
                minimise = limits.qnameMinimisation
                ns = r.authority.first { $0.type == .ns } ?? ns
                known = max(known, child.labelCount)
                ctx.trace("referral to \(child.presentation)")
                continue
            }
            if target != q {
                switch r.kind {
                case .nxDomain:
                    // RFC 8020 says nothing exists below a name that does not exist, but some
                    // servers say NXDOMAIN for empty non-terminals: without DNSSEC to prove it,
                    // the full name is asked (RFC 9156 §2.3, as unbound does); its NXDOMAIN is
                    // cached for it.
                    ctx.trace("NXDOMAIN for minimised \(target): asking the full name")
                    minimise = false
                    afterNXDomain = true
                    continue
                default:
                    // The minimised name exists and is no cut: go one label deeper.
                    known = target.name.labelCount
                    continue
                }
            }
            switch r.kind {
            case .answer:
                return ResolutionStep(chain: r.chain, outcome: .answer(r.answers), verdict: r.verdict)
            case let .alias(next):
                return ResolutionStep(chain: r.chain, outcome: .alias(next), verdict: r.verdict)
            case .nxDomain:
                return ResolutionStep(chain: r.chain, outcome: .negative(.nxDomain, writer.negativeAuthority(r.authority)),
                                      verdict: r.verdict)
            case .noData:
                return ResolutionStep(chain: r.chain, outcome: .negative(.noData, writer.negativeAuthority(r.authority)),
                                      verdict: r.verdict)
            case .referral, .lame, .failure, .invalid:
                // queryZone only returns usable kinds; referrals were handled above.
                return ResolutionStep(chain: [], outcome: .failure(ede(.other, "unexpected response kind")))
            }
        }
    }

    private func isUnminimised(_ zone: DNSName) -> Bool {
        let key = zone.lowercased
        let now = Int64(ShoalSystem.Clock.monotonicSeconds())
        return unminimised.withLock { table in
            guard let until = table[key] else { return false }
            if until > now { return true }
            table[key] = nil
            return false
        }
    }

    private func remember(unminimised zone: DNSName) {
        let until = Int64(ShoalSystem.Clock.monotonicSeconds()) + Self.unminimisedSeconds
        unminimised.withLock { table in
            if table.count >= 10_000 { table.removeAll() }   // bounded; forgetting only costs queries
            table[zone.lowercased] = until
        }
    }

    /// ``queryZone`` shared with identical steps already in flight. Only top-level steps
    /// (depth 0) share: a nested step (resolving a glueless NS name) never waits on another,
    /// so no step can end up waiting on itself.
    func queryZoneShared(_ q: Question, zone: DNSName, ns: RRSet, depth: Int, only: [ServerAddress]? = nil,
                         _ ctx: inout ResolutionContext) async -> Result<UpstreamResponse, ZoneFailure> {
        guard depth == 0, only == nil else { return await queryZone(q, zone: zone, ns: ns, depth: depth, only: only, &ctx) }
        let key = StepKey(zone: zone.lowercased, question: Question(name: q.name.lowercased, type: q.type, qclass: q.qclass))
        let start = ctx
        typealias Shared = Task<(Result<UpstreamResponse, ZoneFailure>, Int), Never>
        let (task, joined) = inflightSteps.withLock { table -> (Shared, Bool) in
            if let t = table[key] { return (t, true) }
            let t = Task(executorPreference: executor) { () -> (Result<UpstreamResponse, ZoneFailure>, Int) in
                var c = start
                let r = await self.queryZone(q, zone: zone, ns: ns, depth: depth, &c)
                return (r, c.upstreamQueries)
            }
            table[key] = t
            return (t, false)
        }
        let (r, used) = await task.value
        if joined {
            ctx.trace("\(q) at \(zone.presentation): joined an identical query in flight")
        } else {
            inflightSteps.withLock { _ = $0.removeValue(forKey: key) }
            ctx.upstreamQueries = used
        }
        return r
    }

    /// The glue addresses the parent gives today for the delegation of `zone`, asked again
    /// (the cache may hold only the child's addresses, which outrank glue). Nil when the parent
    /// gives no referral to `zone`.
    func delegationGlue(_ zone: DNSName, depth: Int, _ ctx: inout ResolutionContext) async -> [ServerAddress]? {
        let (parent, parentNS) = reader.closestZone(zone.parent ?? .root)
        guard parent != zone,
              case let .success(r) = await queryZone(Question(name: zone, type: .ns), zone: parent, ns: parentNS,
                                                     depth: depth, &ctx),
              case let .referral(child) = r.kind, child == zone else { return nil }
        return r.glue.flatMap { $0.rdatas.compactMap(ServerAddress.init(rdata:)) }.filter(selection.mayAsk)
    }

    /// Asks the servers of `zone` until one gives a usable response, which is validated and
    /// cached before it is returned; otherwise what the servers did instead. With `only`, just
    /// those addresses are asked (the parent's glue after the zone's own addresses failed).
    func queryZone(_ q: Question, zone: DNSName, ns: RRSet, depth: Int, only: [ServerAddress]? = nil,
                   _ ctx: inout ResolutionContext) async -> Result<UpstreamResponse, ZoneFailure> {
        var tried: Set<ServerAddress> = []
        var gluelessTried: Set<DNSName> = []
        var attempts = 0
        var failure = ZoneFailure()
        while attempts < limits.maxServersPerStep {
            let candidates = (only ?? selection.knownAddresses(ns)).filter { !tried.contains($0) }
            if candidates.isEmpty, only != nil { return .failure(failure) }
            if candidates.isEmpty {
                guard await resolveGlueless(ns, zone: zone, depth: depth, tried: &gluelessTried, &ctx) else {
                    if ctx.upstreamQueries >= limits.maxUpstreamQueries { failure.budget = true }
                    return .failure(failure)
                }
                continue
            }
            let server = selection.choose(from: candidates)
            tried.insert(server)
            failure.failed.insert(server)
            attempts += 1
            let reply: UpstreamReply
            switch await fallbacks.exchange(q, server: server, &ctx) {
            case let .success(r): reply = r
            case .failure(.budget):
                failure.budget = true
                return .failure(failure)
            case .failure(.upstream(.timeout)):
                failure.timeouts += 1
                continue
            case .failure(.upstream(.malformed)):
                failure.answered.append("a malformed reply")
                failure.invalid = true
                continue
            case .failure(.upstream):
                failure.networkErrors += 1
                continue
            }
            let r = UpstreamResponse.classify(reply.message, question: q, zone: zone)
            switch r.kind {
            case let .lame(why):
                ctx.trace("\(server) for \(zone.presentation): \(r.kind), trying another server")
                failure.answered.append("lame (\(why))")
            case let .failure(rcode):
                ctx.trace("\(server) for \(zone.presentation): \(r.kind), trying another server")
                failure.answered.append("\(rcode)")
            case let .invalid(why):
                ctx.trace("\(server) for \(zone.presentation): \(r.kind), trying another server")
                failure.answered.append(why)
                failure.invalid = true
            default:
                ctx.trace("\(server) answered \(q) in \(reply.rtt.nanoseconds / 1000) µs: \(r.kind)")
                // Classification → validation → cache write: the DNSSEC seam.
                // The validator's sub-resolutions (DNSKEY and DS sets) go one level deeper.
                let verdict = await ValidationScope.$depth.withValue(depth) {
                    await validator.verdict(r, question: q, zone: zone)
                }
                if let reason = verdict.reason { bogusReasons.remember(q, finalName: r.finalName, reason) }
                writer.store(r, question: q, authoritative: reply.message.header.authoritative, validation: verdict.state,
                             bogusTTL: validator.bogusTTL)
                var validated = r
                validated.verdict = verdict
                return .success(validated)
            }
        }
        return .failure(failure)
    }

    /// Resolves addresses of NS names that have none (glueless delegation), a few at a time.
    /// False when nothing more can be tried.
    func resolveGlueless(_ ns: RRSet, zone: DNSName, depth: Int, tried: inout Set<DNSName>,
                         _ ctx: inout ResolutionContext) async -> Bool {
        guard depth < limits.maxNestingDepth, tried.count < limits.maxGluelessNamesPerDelegation else { return false }
        for case let .ns(name) in ns.rdatas where !tried.contains(name) {
            // A name inside the zone needs glue; asking the zone for it would loop.
            if name.isSubdomain(of: zone) { tried.insert(name); continue }
            tried.insert(name)
            ctx.trace("resolving glueless NS name \(name.presentation)")
            let step = await lookup(Question(name: name, type: .a), depth: depth + 1, &ctx)
            if case .answer = step.outcome { return true }
            if tried.count >= limits.maxGluelessNamesPerDelegation { return false }
        }
        return false
    }
}

/// What the servers of a zone did when none gave a usable response, for the Extended DNS
/// Error (RFC 8914) that says so and for the serve-stale decision (RFC 8767: only when no
/// server answered).
struct ZoneFailure: Error, Equatable {
    /// Queries that got nothing back in time.
    var timeouts = 0
    /// Queries that failed on the network (ICMP unreachable, a refused or reset connection).
    var networkErrors = 0
    /// What the servers that did answer said (lame, an RCODE, invalid data), in order.
    var answered: [String] = []
    /// Some answer was invalid data (a looping chain, a reply that did not parse).
    var invalid = false
    /// The client query's upstream budget ran out.
    var budget = false

    /// The addresses asked, none of which gave a usable response.
    var failed: Set<ServerAddress> = []

    /// Some server of the zone was asked (rather than none having an address).
    var serversAsked: Bool { !failed.isEmpty }

    func extendedError(zone: DNSName) -> ExtendedDNSError {
        let servers = "servers of \(zone.presentation)"
        if !answered.isEmpty {
            var seen: Set<String> = []
            let said = answered.filter { seen.insert($0).inserted }.joined(separator: ", ")
            return ede(invalid ? .invalidData : .other, "\(servers) answered: \(said)")
        }
        if budget { return ede(.other, "upstream query limit reached") }
        if networkErrors > 0 && timeouts == 0 {
            return ede(.networkError, "\(servers): network error")
        }
        if timeouts == 0 { return ede(.noReachableAuthority, "no usable address for the \(servers)") }
        return ede(.noReachableAuthority, "no server of \(zone.presentation) answered")
    }
}
