import DNSCore
import Logging
import ShmCache
import ShoalSystem
import Synchronization

/// Answers client queries: screening (``QueryScreen``, once per query), the packet-cache fast
/// path (``PacketAnswers``, which also stores what resolution answered), and resolution, with
/// everything counted in this worker slot's statistics.
///
/// The engine holds no state of its own beyond configuration: the caches and statistics live
/// in the segment, so a replacement worker starts exactly where this one stopped.
public final class WorkerEngine: Sendable {
    public let segment: SharedSegment
    public let resolver: Resolver
    /// The packet cache's owner: the fast path's lookups and every write.
    public let packets: PacketAnswers
    public let acl: AccessControl
    public let stats: WorkerStatistics
    let logger: Logger
    /// Resolutions this worker runs at once at most; a query that would start one more is
    /// dropped and counted (``StatCounter/overloadDrops``), as unbound's num-queries-per-thread
    /// and PowerDNS Recursor's max-mthreads bound theirs. A flood of names that miss the cache
    /// then costs bounded memory and sockets, and what is cached is still answered.
    public let maxResolutions: Int
    private let resolving = Atomic<Int>(0)

    /// Resolutions started and not yet answered (a draining worker waits for them).
    public var resolutionsInProgress: Int { resolving.load(ordering: .relaxed) }

    /// The worker slot whose pending-query table records this engine's UDP resolutions (so
    /// that the next worker of the slot adopts them if this one dies); nil: not recorded.
    public let pendingSlot: Int?

    public init(segment: SharedSegment, resolver: Resolver, acl: AccessControl, stats: WorkerStatistics,
                logger: Logger, maxResolutions: Int = 2048, pendingSlot: Int? = nil) {
        self.pendingSlot = pendingSlot
        self.segment = segment
        self.resolver = resolver
        self.packets = PacketAnswers(segment.packets, validating: resolver.dnssecValidator != nil)
        self.acl = acl
        self.stats = stats
        self.logger = logger
        self.maxResolutions = maxResolutions
    }

    /// What to do right now with a datagram or TCP message.
    public enum Immediate: Sendable {
        case respond([UInt8])
        case drop
        case resolve(ClientQuery)
    }

    /// The synchronous part of answering: screening, ACL, and the packet cache.
    public func receive(_ bytes: [UInt8], clientAllowed: Bool, overTCP: Bool) -> Immediate {
        stats.add(.queries)
        let screened: ScreenedQuery
        switch QueryScreen.screen(bytes, overTCP: overTCP, clientAllowed: clientAllowed) {
        case .ignore:
            return .drop
        case let .drop(reason):
            stats.add(.errors)
            logger.debug("dropped a client packet: \(reason)")
            return .drop
        case let .respond(b, reason):
            stats.add(.errors)
            logger.debug("answered a bad query at once: \(reason)")
            return answered(b)
        case let .answer(s):
            screened = s
        }
        // The common case first: found and answered without building a Message.
        if let hit = packets.answer(screened.packet) {
            stats.add(.packetHits)
            return answered(hit)
        }
        let q: ClientQuery
        switch screened.clientQuery() {
        case let .success(parsed):
            q = parsed
        case let .failure(rejection):
            stats.add(.errors)
            logger.debug("turned away a query that missed: \(rejection.reason)")
            return rejection.response.map { answered($0) } ?? .drop
        }
        stats.add(.misses)
        if !q.message.header.recursionDesired {
            return answered(ResponseBuilder.build(for: q, resolver.answerFromCache(q.question)))
        }
        // Counted from here: the caller must hand every `.resolve` to `resolve(_:)`.
        guard resolving.wrappingAdd(1, ordering: .relaxed).newValue <= maxResolutions else {
            resolving.wrappingSubtract(1, ordering: .relaxed)
            stats.add(.overloadDrops)
            return .drop
        }
        return .resolve(q)
    }

    /// Resolves a query that missed the packet cache; the packet cache keeps the response if
    /// its policy says so.
    public func resolve(_ q: ClientQuery) async -> [UInt8] {
        defer { resolving.wrappingSubtract(1, ordering: .relaxed) }
        let started = Clock.monotonicNanos()
        let b = await resolveUncounted(q)
        let micros = (Clock.monotonicNanos() &- started) / 1000
        stats.add(.latencySumMicros, micros)
        stats.add(StatCounter.latencyBucket(micros: micros))
        if b.count >= 4 { stats.add(StatCounter.answers(rcode: b[3] & 0x0F)) }
        return b
    }

    /// An answer given at once (a cache hit or an error): counted by RCODE, and in the first
    /// latency bucket (it leaves within its receive batch) without being timed.
    @inline(__always)
    private func answered(_ b: [UInt8]) -> Immediate {
        if b.count >= 4 { countAnswer(rcodeByte: b[3]) }
        return .respond(b)
    }

    /// An answer sent at once (the fastest latency bucket), by its rcode.
    private func countAnswer(rcodeByte: UInt8) {
        stats.add(StatCounter.answers(rcode: rcodeByte & 0x0F))
        stats.add(.latencyFirstBucket)
    }

    /// The hit path of a UDP datagram, allocating nothing: a plain query answered from the
    /// packet cache straight into `out` (a send buffer), counted like any answer. Returns the
    /// answer's length, or nil — then nothing was counted and ``receive(_:clientAllowed:overTCP:)``
    /// decides. The caller has checked the client against the ACL.
    /// `prefetched` is what ``prefetchHit(_:)`` returned for the same datagram, if it was
    /// called: its screened query and key hash are used rather than worked out again.
    public func answerHit(_ datagram: UnsafeRawBufferPointer, prefetched: PrefetchedHit? = nil,
                          into out: UnsafeMutableRawBufferPointer) -> Int? {
        guard let q = prefetched?.query ?? HitQuery(plain: datagram, overTCP: false),
              let n = packets.write(q, name: UnsafeRawBufferPointer(rebasing: datagram[12..<q.nameEnd]),
                                    hash: prefetched?.hash, into: out),
              n <= q.maxResponseSize else { return nil }
        stats.add(.queries)
        stats.add(.packetHits)
        countAnswer(rcodeByte: out[3])
        return n
    }

    /// A plain query screened and its packet-cache key hashed by ``prefetchHit(_:)``, for the
    /// steps after it on the same datagram.
    public struct PrefetchedHit {
        let query: HitQuery
        let hash: UInt64
    }

    /// The hit path's prefetch for a batch of datagrams, in two steps, each done for every
    /// datagram of the batch before the next step: `prefetchHit` screens a plain query, asks
    /// for the packet cache's bucket line and returns the query with its key's hash (nil: not
    /// a plain query); ``prefetchHitSlot(_:)`` then asks for the slot lines that line points
    /// to; `answerHit` last. Hints only: every answer is the same without them; they let the
    /// cache misses of a batch's lookups overlap instead of coming one after another.
    public func prefetchHit(_ datagram: UnsafeRawBufferPointer) -> PrefetchedHit? {
        guard let q = HitQuery(plain: datagram, overTCP: false),
              let hash = packets.prefetch(q, name: UnsafeRawBufferPointer(rebasing: datagram[12..<q.nameEnd])) else { return nil }
        return PrefetchedHit(query: q, hash: hash)
    }

    public func prefetchHitSlot(_ p: PrefetchedHit) { packets.prefetchSlot(hash: p.hash) }

    private func resolveUncounted(_ q: ClientQuery) async -> [UInt8] {
        let r = await resolver.resolve(q.question)
        stats.add(.upstreamQueries, UInt64(r.upstreamQueries))
        var m = ResponseBuilder.message(for: q, r)
        if m.rcode == .servFail { stats.add(.errors) }
        packets.store(m, for: q, resolution: r)
        if let b = try? m.serialize(maxSize: q.maxResponseSize) { return b }
        m.answers = []; m.authority = []; m.additional = []
        return QueryScreen.errorResponse(q.message.header, .servFail, q.message)
    }
}
