import DNSCore
import Logging
import ShmCache

/// Answers client queries: screening, the packet-cache fast path, and resolution, with every
/// result written to the shared segment and counted in this worker slot's statistics.
///
/// The engine holds no state of its own beyond configuration: the caches and statistics live
/// in the segment, so a replacement worker starts exactly where this one stopped.
public final class WorkerEngine: Sendable {
    public let segment: SharedSegment
    public let resolver: Resolver
    public let acl: AccessControl
    public let stats: WorkerStatistics
    let logger: Logger

    public init(segment: SharedSegment, resolver: Resolver, acl: AccessControl, stats: WorkerStatistics,
                logger: Logger) {
        self.segment = segment
        self.resolver = resolver
        self.acl = acl
        self.stats = stats
        self.logger = logger
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
        guard clientAllowed else {
            guard bytes.count >= 12, bytes[2] & 0x80 == 0 else { return .drop }
            stats.add(.errors)
            let h = Header(id: UInt16(bytes[0]) << 8 | UInt16(bytes[1]), flags: UInt16(bytes[2]) << 8 | UInt16(bytes[3]))
            return .respond(QueryScreen.errorResponse(h, .refused))
        }
        switch QueryScreen.screen(bytes, overTCP: overTCP) {
        case let .drop(reason):
            stats.add(.errors)
            logger.debug("dropped a client packet: \(reason)")
            return .drop
        case let .respond(b, reason):
            stats.add(.errors)
            logger.debug("answered a bad query at once: \(reason)")
            return .respond(b)
        case let .answer(q):
            if let hit = packetHit(q) {
                stats.add(.packetHits)
                return .respond(hit)
            }
            stats.add(.misses)
            if !q.message.header.recursionDesired {
                return .respond(ResponseBuilder.build(for: q, resolver.answerFromCache(q.question)))
            }
            return .resolve(q)
        }
    }

    /// Resolves a query that missed the packet cache and stores the response there.
    public func resolve(_ q: ClientQuery) async -> [UInt8] {
        let r = await resolver.resolve(q.question)
        stats.add(.upstreamQueries, UInt64(r.upstreamQueries))
        if r.rcode == .servFail { stats.add(.errors) }
        var m = ResponseBuilder.message(for: q, r)
        if (r.rcode == .noError || r.rcode == .nxDomain) && !r.stale {
            var stored = m
            stored.edns = nil
            let ttl = (stored.answers + stored.authority).map(\.ttl).min() ?? 0
            if ttl > 0, let full = try? stored.serialize() {
                _ = segment.packets.insert(packetKey(q), response: full, ttl: ttl, now: shmNow())
            }
        }
        if let b = try? m.serialize(maxSize: q.maxResponseSize) { return b }
        m.answers = []; m.authority = []; m.additional = []
        return QueryScreen.errorResponse(q.message.header, .servFail, q.message)
    }

    func packetKey(_ q: ClientQuery) -> PacketKey {
        PacketKey(name: q.question.name.lowercased, type: q.question.type, class: q.question.qclass,
                  dnssecOK: q.dnssecOK, checkingDisabled: q.message.header.checkingDisabled)
    }

    /// The cached response for `q`, personalised (ID, name spelling, RD, OPT) and aged.
    func packetHit(_ q: ClientQuery) -> [UInt8]? {
        let now = shmNow()
        guard let hit = segment.packets.lookup(packetKey(q), now: now),
              var wire = hit.response(id: q.message.header.id, now: now) else { return nil }
        PacketAging.personalize(&wire, id: q.message.header.id, queryName: q.wireName[...])
        PacketAging.setRecursionDesired(&wire, q.message.header.recursionDesired)
        if let edns = q.message.edns {
            PacketAging.appendOPT(&wire, udpPayloadSize: QueryScreen.ednsPayloadSize, dnssecOK: edns.dnssecOK)
        }
        if wire.count > q.maxResponseSize {
            // Rare: too big for this client's transport; rebuild with truncation.
            guard let m = try? Message(wire: wire), let b = try? m.serialize(maxSize: q.maxResponseSize) else { return nil }
            return b
        }
        return wire
    }
}
