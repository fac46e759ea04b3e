import DNSCore
import Logging
import ShmCache
import Synchronization

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
    /// Resolutions this worker runs at once at most; a query that would start one more is
    /// dropped and counted (``StatCounter/overloadDrops``), as unbound's num-queries-per-thread
    /// and PowerDNS Recursor's max-mthreads bound theirs. A flood of names that miss the cache
    /// then costs bounded memory and sockets, and what is cached is still answered.
    public let maxResolutions: Int
    private let resolving = Atomic<Int>(0)

    public init(segment: SharedSegment, resolver: Resolver, acl: AccessControl, stats: WorkerStatistics,
                logger: Logger, maxResolutions: Int = 2048) {
        self.segment = segment
        self.resolver = resolver
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
        // The common case first: a plain query whose answer is in the packet cache, found and
        // answered without building a Message.
        let plain = clientAllowed ? PlainQuery(bytes, overTCP: overTCP) : nil
        if let plain, let hit = packetHit(plain) {
            stats.add(.packetHits)
            return .respond(hit)
        }
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
            // A plain query has been looked up already; only the others are tried here.
            if plain == nil, let hit = packetHit(PlainQuery(q)) {
                stats.add(.packetHits)
                return .respond(hit)
            }
            stats.add(.misses)
            if !q.message.header.recursionDesired {
                return .respond(ResponseBuilder.build(for: q, resolver.answerFromCache(q.question)))
            }
            // Counted from here: the caller must hand every `.resolve` to `resolve(_:)`.
            guard resolving.wrappingAdd(1, ordering: .relaxed).newValue <= maxResolutions else {
                resolving.wrappingSubtract(1, ordering: .relaxed)
                stats.add(.overloadDrops)
                return .drop
            }
            return .resolve(q)
        }
    }

    /// Resolves a query that missed the packet cache and stores the response there.
    public func resolve(_ q: ClientQuery) async -> [UInt8] {
        defer { resolving.wrappingSubtract(1, ordering: .relaxed) }
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
        // The cache lower-cases the name in its key itself.
        PacketKey(name: q.question.name, type: q.question.type, class: q.question.qclass,
                  dnssecOK: q.dnssecOK, checkingDisabled: q.message.header.checkingDisabled)
    }

    /// The cached response for `q`, personalised (ID, name spelling, RD, OPT) and aged.
    func packetHit(_ q: PlainQuery) -> [UInt8]? {
        let now = shmNow()
        let key = PacketKey(name: q.name, type: q.type, class: q.qclass, dnssecOK: q.dnssecOK,
                            checkingDisabled: q.checkingDisabled)
        guard let hit = segment.packets.lookup(key, now: now),
              var wire = hit.response(id: q.id, now: now) else { return nil }
        PacketAging.personalize(&wire, id: q.id, queryName: q.wireName)
        PacketAging.setRecursionDesired(&wire, q.recursionDesired)
        if q.hasEDNS {
            PacketAging.appendOPT(&wire, udpPayloadSize: QueryScreen.ednsPayloadSize, dnssecOK: q.dnssecOK)
        }
        if wire.count > q.maxResponseSize {
            // Rare: too big for this client's transport; rebuild with truncation.
            guard let m = try? Message(wire: wire), let b = try? m.serialize(maxSize: q.maxResponseSize) else { return nil }
            return b
        }
        return wire
    }
}

/// What the packet cache needs from a query. Read straight from the bytes for the plain case —
/// one question, no records but an OPT without options — so a hit costs no Message.
struct PlainQuery {
    var id: UInt16
    var recursionDesired: Bool
    var checkingDisabled: Bool
    var name: DNSName
    /// The question name exactly as the client wrote it.
    var wireName: ArraySlice<UInt8>
    var type: RRType
    var qclass: RRClass
    var hasEDNS: Bool
    var dnssecOK: Bool
    var maxResponseSize: Int

    init(_ q: ClientQuery) {
        id = q.message.header.id
        recursionDesired = q.message.header.recursionDesired
        checkingDisabled = q.message.header.checkingDisabled
        name = q.question.name
        wireName = q.wireName[...]
        type = q.question.type
        qclass = q.question.qclass
        hasEDNS = q.message.edns != nil
        dnssecOK = q.dnssecOK
        maxResponseSize = q.maxResponseSize
    }

    /// Nil for anything but a plain query (then the full screening path decides).
    init?(_ b: [UInt8], overTCP: Bool) {
        guard b.count >= 17, b[2] & 0xF8 == 0,          // QR clear, opcode QUERY
              b[4] == 0, b[5] == 1, b[6] == 0, b[7] == 0, b[8] == 0, b[9] == 0, b[10] == 0, b[11] <= 1 else { return nil }
        var r = WireReader(b, offset: 12)
        guard let n = try? r.name(allowCompression: false), let t = try? r.u16(), let c = try? r.u16(),
              c == RRClass.in.rawValue, t != RRType.axfr.rawValue, t != RRType.ixfr.rawValue, t != RRType.opt.rawValue
        else { return nil }
        name = n
        wireName = b[12..<(12 + n.wire.count)]
        type = RRType(t)
        qclass = .in
        id = UInt16(b[0]) << 8 | UInt16(b[1])
        recursionDesired = b[2] & 0x01 != 0
        checkingDisabled = b[3] & 0x10 != 0
        if b[11] == 1 {
            // OPT at the root, version 0, no options: 11 bytes.
            let o = r.offset
            guard b.count == o + 11, b[o] == 0, b[o + 1] == 0, b[o + 2] == 41, b[o + 6] == 0,
                  b[o + 9] == 0, b[o + 10] == 0 else { return nil }
            hasEDNS = true
            dnssecOK = b[o + 7] & 0x80 != 0
            let payload = Int(b[o + 3]) << 8 | Int(b[o + 4])
            maxResponseSize = overTCP ? 65535 : min(Int(QueryScreen.ednsPayloadSize), max(512, payload))
        } else {
            guard r.atEnd else { return nil }
            hasEDNS = false
            dnssecOK = false
            maxResponseSize = overTCP ? 65535 : 512
        }
        // RD=0 queries are answered from the cache too; a miss goes the full way.
    }

}
