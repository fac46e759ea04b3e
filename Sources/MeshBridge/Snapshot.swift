import CNATS
import DNSCore
import ShmCache
import ShoalSystem

/// Snapshot requests and replies (docs/mesh-format.md, "Snapshots"): how a node with an empty
/// segment, or one that was disconnected, pulls a peer's cache in chunks.
public enum SnapshotWire {
    static let requestMagic: (UInt8, UInt8) = (0x53, 0x52)   // "SR"
    static let replyMagic: (UInt8, UInt8) = (0x53, 0x43)     // "SC"
    /// Bytes a reply adds around its batch (header with a 64-byte donor id).
    public static let replyOverhead = 4 + 1 + MeshFormat.maxIdentifierBytes + 4 + 4 + 4

    public struct Request: Hashable, Sendable {
        public var requester: MeshIdentifier
        public var session: UInt64
        /// 0 starts a session; each next chunk is asked for once the previous one is applied.
        public var chunk: UInt32
        /// Only entries stored at or after this wall-clock second (0: everything).
        public var since: UInt32
        /// The largest batch the requester takes.
        public var maxBytes: UInt32
    }

    public struct Reply: Hashable, Sendable {
        public var donor: MeshIdentifier
        public var chunk: UInt32
        public var last: Bool
        /// No chunk now: ask again after `retryAfterMillis` (the donor is rate-limited).
        public var busy: Bool
        /// The donor has no such session (expired, or it restarted): start again.
        public var unknownSession: Bool
        public var retryAfterMillis: UInt32
        /// Entries in the whole snapshot (for progress).
        public var total: UInt32
        /// One batch (format v1), empty when busy or unknown.
        public var batch: [UInt8]
    }

    public static func encode(_ r: Request) -> [UInt8] {
        var w = WireWriter(capacity: 96)
        w.u8(requestMagic.0); w.u8(requestMagic.1); w.u8(1); w.u8(0)
        w.u8(UInt8(r.requester.bytes.count)); w.append(r.requester.bytes)
        w.u32(UInt32(truncatingIfNeeded: r.session >> 32)); w.u32(UInt32(truncatingIfNeeded: r.session))
        w.u32(r.chunk); w.u32(r.since); w.u32(r.maxBytes)
        return w.bytes
    }

    public static func encode(_ r: Reply) -> [UInt8] {
        var w = WireWriter(capacity: 32 + r.batch.count)
        w.u8(replyMagic.0); w.u8(replyMagic.1); w.u8(1)
        w.u8((r.last ? 1 : 0) | (r.busy ? 2 : 0) | (r.unknownSession ? 4 : 0))
        w.u8(UInt8(r.donor.bytes.count)); w.append(r.donor.bytes)
        w.u32(r.chunk); w.u32(r.retryAfterMillis); w.u32(r.total)
        w.append(r.batch)
        return w.bytes
    }

    /// Whether an encoded reply carries a chunk (not busy, not an unknown session).
    public static func isChunk(_ reply: [UInt8]) -> Bool { reply.count > 3 && reply[3] & 6 == 0 }

    public static func decodeRequest(_ b: [UInt8]) throws(MeshRejection) -> Request {
        var r = WireReader(b)
        let d = BatchDecoder.self
        guard try d.u8(&r) == requestMagic.0, try d.u8(&r) == requestMagic.1 else { throw MeshRejection(.badMagic, at: 0) }
        guard try d.u8(&r) == 1 else { throw MeshRejection(.wrongVersion, at: 2) }
        guard try d.u8(&r) == 0 else { throw MeshRejection(.badMagic, at: 3, "reserved flags set") }
        let who = try d.identifier(&r)
        let session = UInt64(try d.u32(&r)) << 32 | UInt64(try d.u32(&r))
        let req = Request(requester: who, session: session, chunk: try d.u32(&r), since: try d.u32(&r),
                          maxBytes: try d.u32(&r))
        guard r.atEnd else { throw MeshRejection(.badLength, at: r.offset, "\(r.remaining) bytes after the request") }
        return req
    }

    public static func decodeReply(_ b: [UInt8]) throws(MeshRejection) -> Reply {
        var r = WireReader(b)
        let d = BatchDecoder.self
        guard try d.u8(&r) == replyMagic.0, try d.u8(&r) == replyMagic.1 else { throw MeshRejection(.badMagic, at: 0) }
        guard try d.u8(&r) == 1 else { throw MeshRejection(.wrongVersion, at: 2) }
        let flags = try d.u8(&r)
        guard flags & ~7 == 0 else { throw MeshRejection(.badMagic, at: 3, "reserved flags set") }
        let donor = try d.identifier(&r)
        let chunk = try d.u32(&r), retry = try d.u32(&r), total = try d.u32(&r)
        return Reply(donor: donor, chunk: chunk, last: flags & 1 != 0, busy: flags & 2 != 0,
                     unknownSession: flags & 4 != 0, retryAfterMillis: retry, total: total, batch: r.rest())
    }
}

/// The donor side: answers snapshot requests from the segment, hottest entries first.
///
/// A session's order is fixed at its first chunk (slots sorted by hits, then by last hit; the
/// negative entries after the RRsets, then what this node measured of authoritative servers); each chunk re-reads its slots, so an entry overwritten
/// since is skipped, never sent torn. The same chunk asked twice (a lost reply) is sent again;
/// a session is dropped after 30 s without requests.
/// Chunks are rate-limited across all sessions so that a donor's host keeps serving.
public final class SnapshotDonor {
    struct Ref { var table: TableID; var slot: Int; var version: UInt32 }
    struct Session {
        var refs: [Ref]
        /// Server measurements, sent after the entries (copied at the start: they are small).
        var servers: [MeshServer] = []
        var next = 0
        var count: Int { refs.count + servers.count }
        var last: (chunk: UInt32, bytes: [UInt8])? = nil
        var lastUsed: UInt64
    }

    let segment: SharedSegment
    let cluster: MeshIdentifier
    let node: MeshIdentifier
    let maxPayload: Int
    let chunksPerSecond: Int
    var sessions: [String: Session] = [:]
    /// Token bucket: chunks that may be sent now, refilled at `chunksPerSecond`.
    var tokens: Double
    var refilledAt = Clock.monotonicNanos()
    var lastSessionStart: UInt64 = 0
    public static let maxSessions = 8
    public static let idleNanos: UInt64 = 30_000_000_000

    public init(segment: SharedSegment, settings: BridgeSettings, maxPayload: Int) {
        self.segment = segment
        self.cluster = settings.cluster
        self.node = settings.nodeID
        self.maxPayload = maxPayload
        self.chunksPerSecond = settings.donorChunksPerSecond
        self.tokens = Double(settings.donorChunksPerSecond)
    }

    /// The reply to a request, or the reason it was refused.
    public func answer(_ bytes: [UInt8]) -> Result<[UInt8], MeshRejection> {
        let req: SnapshotWire.Request
        do { req = try SnapshotWire.decodeRequest(bytes) } catch { return .failure(error) }
        guard req.requester != node else { return .failure(MeshRejection(.ownEcho, at: 5)) }
        let limit = min(maxPayload, Int(req.maxBytes)) - SnapshotWire.replyOverhead
        guard limit >= MeshFormat.minPayload - SnapshotWire.replyOverhead else {
            return .failure(MeshRejection(.oversized, at: 0, "requester takes only \(req.maxBytes) bytes"))
        }
        let now = Clock.monotonicNanos()
        sessions = sessions.filter { now - $0.value.lastUsed < Self.idleNanos }
        let key = "\(req.requester)/\(req.session)"
        var reply = SnapshotWire.Reply(donor: node, chunk: req.chunk, last: false, busy: false, unknownSession: false,
                                       retryAfterMillis: 0, total: 0, batch: [])
        if var s = sessions[key], let last = s.last, last.chunk == req.chunk {
            s.lastUsed = now
            sessions[key] = s
            return .success(last.bytes)   // a repeat: the reply was lost
        }
        guard take(now: now) else {
            reply.busy = true
            reply.retryAfterMillis = UInt32(max(1, 1000 / max(chunksPerSecond, 1)))
            return .success(SnapshotWire.encode(reply))
        }
        var session: Session
        if req.chunk == 0 {
            // A session starts with a scan of the whole segment: at most two a second, and
            // at most `maxSessions` open.
            let open = sessions.values.filter { $0.next < $0.count }.count
            guard open < Self.maxSessions || sessions[key] != nil, now - lastSessionStart >= 500_000_000 else {
                reply.busy = true
                reply.retryAfterMillis = 500
                return .success(SnapshotWire.encode(reply))
            }
            lastSessionStart = now
            session = Session(refs: collect(since: req.since), servers: servers(since: req.since), lastUsed: now)
        } else if let s = sessions[key], let last = s.last, last.chunk &+ 1 == req.chunk, s.next < s.count {
            session = s
        } else {
            reply.unknownSession = true
            return .success(SnapshotWire.encode(reply))
        }
        var enc = BatchEncoder(cluster: cluster, origin: node, maxPayload: limit)
        let wall = shmNow()
        while session.next < session.count {
            if let entry = item(session, session.next, now: wall) {
                let e = BatchEncoder.encode(entry)
                if enc.fits(entryBytes: e.count) && !enc.add(encoded: e) { break }
            }
            session.next += 1
        }
        reply.last = session.next >= session.count
        reply.total = UInt32(clamping: session.count)
        reply.batch = enc.finish(sentAtMillis: UInt64(Clock.wallSeconds()) * 1000, sequence: UInt64(req.chunk))
        let bytes = SnapshotWire.encode(reply)
        session.last = (req.chunk, bytes)
        session.lastUsed = now
        // Kept after the last chunk too, until idle (its reply may be lost and asked for
        // again), without its list.
        if reply.last { session.refs = []; session.servers = []; session.next = 0 }
        sessions[key] = session
        return .success(bytes)
    }

    /// Item `i` of a session as it is now: nil when its slot changed since the session began.
    func item(_ session: Session, _ i: Int, now: UInt32) -> MeshEntry? {
        guard i < session.refs.count else { return .server(session.servers[i - session.refs.count]) }
        let ref = session.refs[i]
        switch ref.table {
        case .records:
            return segment.records.entry(slot: ref.slot, version: ref.version, now: now)
                .flatMap { $0.isStale || $0.ttl == 0 ? nil : .rrset(MeshRRSet($0)) }
        default:
            return segment.negative.entry(slot: ref.slot, version: ref.version, now: now)
                .flatMap { $0.isStale || $0.ttl == 0 ? nil : MeshNegative($0).map { .negative($0) } }
        }
    }

    func take(now: UInt64) -> Bool {
        tokens = min(Double(chunksPerSecond), tokens + Double(now - refilledAt) / 1e9 * Double(chunksPerSecond))
        refilledAt = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// What this node knows of authoritative servers, measured at most an hour ago and at or
    /// after `since`.
    func servers(since: UInt32) -> [MeshServer] {
        let now = shmNow()
        var out: [MeshServer] = []
        segment.nsSpeed.forEach { e in
            if e.srttMicros > 0, e.lastUpdate >= since, e.lastUpdate <= now, now - e.lastUpdate <= MeshServer.maxAgeSeconds {
                out.append(MeshServer(address: e.address, srttMicros: min(e.srttMicros, MeshServer.maxMicros),
                                      ageSeconds: now - e.lastUpdate, edns: e.edns, cookie: e.cookie))
            }
            return true
        }
        return out
    }

    /// Live, non-bogus entries stored at or after `since`: RRsets hottest first, then negatives.
    func collect(since: UInt32) -> [Ref] {
        let now = shmNow()
        var hot: [(hits: UInt32, lastHit: UInt32, ref: Ref)] = []
        segment.records.forEach(now: now) { c in
            if !c.isStale, c.validation != .bogus, c.storedAt >= since {
                hot.append((c.hits, c.lastHit, Ref(table: .records, slot: c.slot, version: c.version)))
            }
            return true
        }
        hot.sort { ($0.hits, $0.lastHit) > ($1.hits, $1.lastHit) }
        var refs = hot.map(\.ref)
        segment.negative.forEach(now: now) { c in
            let storedAt = c.expiry &- (c.value.count >= 8 ? UInt32(c.value[4]) << 24 | UInt32(c.value[5]) << 16
                                        | UInt32(c.value[6]) << 8 | UInt32(c.value[7]) : 0)
            if !c.isStale, c.validation != .bogus, storedAt >= since {
                refs.append(Ref(table: .negative, slot: c.slot, version: c.version))
            }
            return true
        }
        return refs
    }
}

/// How a pull ended.
public enum PullOutcome: Hashable, Sendable {
    /// Every chunk applied.
    case complete(entries: Int, donor: MeshIdentifier)
    /// Nobody answers snapshot requests: start cold.
    case noPeer
    /// Donors failed or sent what the applier refused; what arrived is kept.
    case incomplete(entries: Int, why: String)
    case stopped
}

/// The requester side: pulls a snapshot chunk by chunk (each asked for once the previous one is
/// applied: the flow control), first through the donors' queue group, then from the donor that
/// answered. A lost reply is asked for again; a donor that disappears is replaced by another
/// through the queue group, from the start.
struct SnapshotPuller {
    let connection: NATSConnection
    let applier: Applier
    let settings: BridgeSettings
    let maxPayload: Int
    let counters: BridgeCounters
    let logger: (String) -> Void
    let shouldStop: () -> Bool

    func pull(since: UInt32) -> PullOutcome {
        var session = UInt64.random(in: 1...UInt64.max)
        var target = MeshSubjects.snapshot(cluster: settings.cluster)
        var chunk: UInt32 = 0
        var failures = 0, restarts = 0, applied = 0
        func restart(_ why: String) -> Bool {
            restarts += 1
            guard restarts <= 3 else { return false }
            logger("snapshot: \(why); starting again through the donors' queue group")
            session = UInt64.random(in: 1...UInt64.max)
            target = MeshSubjects.snapshot(cluster: settings.cluster)
            chunk = 0
            failures = 0
            return true
        }
        while !shouldStop() {
            let request = SnapshotWire.encode(SnapshotWire.Request(requester: settings.nodeID, session: session, chunk: chunk,
                                                                   since: since, maxBytes: UInt32(maxPayload)))
            let message: NATSMessage
            do {
                message = try connection.request(subject: target, request, timeoutMillis: settings.warmUpTimeoutMillis)
            } catch {
                if chunk == 0 && restarts == 0 && (error.status == .noResponders || error.status == .timeout) { return .noPeer }
                failures += 1
                if failures <= 3 && error.status != .noResponders { continue }
                if !restart("\(error) from \(target)") { return .incomplete(entries: applied, why: "\(error)") }
                continue
            }
            let reply: SnapshotWire.Reply
            do throws(MeshRejection) {
                reply = try SnapshotWire.decodeReply(message.data)
                guard reply.chunk == chunk else {
                    throw MeshRejection(.badLength, at: 5, "chunk \(reply.chunk) when \(chunk) was asked for")
                }
            } catch {
                counters.reject(error.reason)
                return .incomplete(entries: applied, why: "donor's reply refused: \(error)")
            }
            if reply.busy {
                nats_Sleep(Int64(min(reply.retryAfterMillis, 1000)))
                continue
            }
            if reply.unknownSession {
                if !restart("donor \(reply.donor) lost the session") { return .incomplete(entries: applied, why: "sessions lost") }
                continue
            }
            failures = 0
            switch applier.apply(reply.batch, nowMillis: UInt64(Clock.wallSeconds()) * 1000) {
            case let .success(n):
                applied += n
                counters.warmUpEntries.wrappingAdd(UInt64(n), ordering: .relaxed)
            case let .failure(e):
                return .incomplete(entries: applied, why: "chunk \(chunk) from \(reply.donor) refused: \(e)")
            }
            counters.warmUpChunks.wrappingAdd(1, ordering: .relaxed)
            counters.warmUpTotal.store(UInt64(reply.total), ordering: .relaxed)
            if chunk == 0 { target = MeshSubjects.snapshot(cluster: settings.cluster, donor: reply.donor) }
            if reply.last { return .complete(entries: applied, donor: reply.donor) }
            chunk += 1
            if chunk % 50 == 0 { logger("snapshot: \(chunk) chunks, \(applied) entries of \(reply.total) from \(reply.donor)") }
        }
        return .stopped
    }
}
