import DNSCore
import Logging
import ShmCache

/// Writes peers' batches into the segment, as untrusted input.
///
/// Every message goes through the strict ``BatchDecoder``; a refused one is counted by reason
/// and touches nothing. Accepted entries get their TTL reduced by the time they spent in
/// transit and capped by the local `max-ttl`, are written with origin `.mesh` (so they are not
/// journaled, hence never published again), and never replace a live local entry that ranks
/// higher, is validated when the peer's is not, or lives at least as long.
///
/// The check of the local entry and the write are two steps: a worker storing the same key in
/// between can be overwritten by the peer's equally ranked data, which the cache allows anyway.
public final class Applier {
    let segment: SharedSegment
    let decoder: BatchDecoder
    let counters: BridgeCounters
    let logger: Logger
    let maxTTL: UInt32
    let policy: BridgeSettings.PeerDNSSECPolicy
    /// Rejections logged so far (the first few of each reason, then every 1000th).
    var logged: [RejectionReason: UInt64] = [:]
    /// The last update batch seen from each peer (its number and send time in wall seconds),
    /// to count the ones lost in between.
    var lastSequence: [MeshIdentifier: (sequence: UInt64, sentAt: UInt32)] = [:]
    /// Since when entries may be missing because of lost batches (the send time of the last
    /// batch before the earliest gap seen); taken by the bridge, which pulls them.
    public private(set) var missedSince: UInt32? = nil
    /// Send time (wall seconds) of the last update batch decoded: what the client dropped after
    /// it was sent later.
    public private(set) var lastUpdateSentAt: UInt32? = nil
    /// Servers whose table entry was created from the mesh, with the update time it got: the
    /// publisher does not send them on (bounded: forgotten when it grows past 100,000).
    public private(set) var learntServers: [ServerAddress: UInt32] = [:]

    public init(segment: SharedSegment, settings: BridgeSettings, maxPayload: Int, counters: BridgeCounters,
                logger: Logger) {
        self.segment = segment
        self.decoder = BatchDecoder(cluster: settings.cluster, node: settings.nodeID, maxPayload: maxPayload)
        self.counters = counters
        self.logger = logger
        self.maxTTL = min(settings.maxTTL, MeshFormat.maxTTL)
        self.policy = settings.dnssecFromPeers
    }

    /// Decodes and applies one message received at `nowMillis` (wall clock, ms since the epoch)
    /// on `subject` (an updates subject must be the origin's own; empty: not checked, for
    /// snapshot chunks). Returns the entries written, or the rejection.
    @discardableResult
    public func apply(_ bytes: [UInt8], subject: String = "", nowMillis: UInt64) -> Result<Int, MeshRejection> {
        counters.receivedBatches.wrappingAdd(1, ordering: .relaxed)
        let batch: MeshBatch
        do throws(MeshRejection) {
            batch = try decoder.decode(bytes, nowMillis: nowMillis)
            if !subject.isEmpty, subject != MeshSubjects.updates(cluster: batch.cluster, node: batch.origin) {
                throw MeshRejection(.originMismatch, at: 0, "origin '\(batch.origin)' on \(subject)")
            }
        } catch {
            counters.reject(error.reason)
            let n = logged[error.reason, default: 0]
            logged[error.reason] = n + 1
            if n < 5 || n % 1000 == 0 {
                logger.warning("rejected a batch of \(bytes.count) bytes on \(subject): \(error)")
            }
            return .failure(error)
        }
        if !subject.isEmpty {
            // Updates from one peer come in order: a jump means batches were lost (dropped as
            // a slow consumer, or sent while we were disconnected); a smaller number, that the
            // peer restarted.
            if let last = lastSequence[batch.origin], batch.sequence > last.sequence + 1 {
                counters.lostBatches.wrappingAdd(batch.sequence - last.sequence - 1, ordering: .relaxed)
                missedSince = min(missedSince ?? .max, last.sentAt)
            }
            lastUpdateSentAt = UInt32(clamping: batch.sentAtMillis / 1000)
            if lastSequence.count >= 10_000 { lastSequence.removeAll() }
            lastSequence[batch.origin] = (batch.sequence, UInt32(clamping: batch.sentAtMillis / 1000))
        }
        // Whole seconds in transit, rounded up; a sender's clock ahead of ours counts as none.
        let transit = UInt32(clamping: nowMillis > batch.sentAtMillis ? (nowMillis - batch.sentAtMillis + 999) / 1000 : 0)
        let now = shmNow()
        var written = 0
        for entry in batch.entries {
            switch entry {
            case let .rrset(s): if apply(s, transit: transit, now: now) { written += 1 }
            case let .negative(n): if apply(n, transit: transit, now: now) { written += 1 }
            case let .server(v): if apply(v, transit: transit, now: now) { written += 1 }
            }
        }
        counters.applied.wrappingAdd(UInt64(written), ordering: .relaxed)
        return .success(written)
    }

    /// Since when entries may be missing (see ``missedSince``), once.
    public func takeMissedSince() -> UInt32? {
        defer { missedSince = nil }
        return missedSince
    }

    /// The TTL to store, or nil when the entry expired in transit.
    func ttl(_ sent: UInt32, transit: UInt32) -> UInt32? {
        guard sent > transit else {
            counters.expiredInTransit.wrappingAdd(1, ordering: .relaxed)
            return nil
        }
        return min(sent - transit, maxTTL)
    }

    /// The state to store a peer's entry with under the `dnssec-from-peers` policy; nil: not taken.
    func state(_ v: ValidationState) -> ValidationState? {
        guard v == .secure else { return v }
        switch policy {
        case .trust: return v
        case .revalidate: return .indeterminate
        case .insecureOnly:
            counters.policySkipped.wrappingAdd(1, ordering: .relaxed)
            return nil
        }
    }

    func apply(_ peer: MeshRRSet, transit: UInt32, now: UInt32) -> Bool {
        guard let v = state(peer.validation) else { return false }
        var s = peer
        s.validation = v
        guard let ttl = ttl(s.ttl, transit: transit) else { return false }
        if let cached = segment.records.peek(name: s.name, type: s.type, class: s.rrclass, now: now) {
            if cached.origin == .local,
               cached.rank > s.rank || cached.expiry >= now &+ ttl || (cached.validation == .secure && s.validation != .secure) {
                counters.keptLocal.wrappingAdd(1, ordering: .relaxed)
                return false
            }
            // The same data again (a snapshot and an update crossing): nothing to write.
            if cached.origin == .mesh, cached.rank == s.rank, cached.validation == s.validation,
               cached.expiry >= now &+ ttl, cached.rdata == s.rdata, cached.signatures == s.signatures {
                counters.duplicates.wrappingAdd(1, ordering: .relaxed)
                return false
            }
        }
        let r = segment.records.insert(name: s.name, type: s.type, class: s.rrclass, ttl: ttl, rdata: s.rdata,
                                       signatures: s.signatures, validation: s.validation, rank: s.rank,
                                       origin: .mesh, now: now)
        return counted(r)
    }

    /// The local data a peer's NXDOMAIN is checked against.
    static let typesAnNXDomainMustNotHide: [RRType] = [.a, .aaaa, .cname, .dname, .ns, .mx, .txt, .soa, .ds, .https, .svcb, .srv, .ptr]

    func apply(_ peer: MeshNegative, transit: UInt32, now: UInt32) -> Bool {
        guard let v = state(peer.validation) else { return false }
        var n = peer
        n.validation = v
        guard let ttl = ttl(n.ttl, transit: transit) else { return false }
        if let cached = segment.negative.peek(name: n.name, type: n.type, class: n.rrclass, now: now), cached.kind == n.kind {
            if cached.origin == .local,
               cached.expiry >= now &+ ttl || (cached.validation == .secure && n.validation != .secure) {
                counters.keptLocal.wrappingAdd(1, ordering: .relaxed)
                return false
            }
            if cached.origin == .mesh, cached.validation == n.validation, cached.expiry >= now &+ ttl {
                counters.duplicates.wrappingAdd(1, ordering: .relaxed)
                return false
            }
        }
        // A denial never hides data this node has: a NODATA claim its data of the type, an
        // NXDOMAIN claim its data of the common types at the name (the record cache is keyed by
        // name and type, with no index by name: the types are looked up one by one).
        let types = n.kind == .noData ? [n.type] : Self.typesAnNXDomainMustNotHide
        if types.contains(where: { segment.records.peek(name: n.name, type: $0, class: n.rrclass, now: now)?.origin == .local }) {
            counters.keptLocal.wrappingAdd(1, ordering: .relaxed)
            return false
        }
        let soa = ResourceRecord(name: n.soa.name, type: .soa, rrclass: n.soa.rrclass, ttl: min(n.soa.ttl, ttl),
                                 rdata: n.soa.rdata)
        let r = n.kind == .nxDomain
            ? segment.negative.insertNXDomain(name: n.name, class: n.rrclass, ttl: ttl, soa: soa, proofs: n.proofs,
                                              validation: n.validation, origin: .mesh, now: now)
            : segment.negative.insertNoData(name: n.name, type: n.type, class: n.rrclass, ttl: ttl, soa: soa,
                                            proofs: n.proofs, validation: n.validation, origin: .mesh, now: now)
        return counted(r)
    }

    /// A peer's measurement of a server. This node's own measurements win: a server it knows
    /// keeps its RTT, and only learns an EDNS or cookie status still unknown here.
    func apply(_ v: MeshServer, transit: UInt32, now: UInt32) -> Bool {
        let table = segment.nsSpeed
        if let local = table.lookup(v.address) {
            var learnt = false
            if local.edns == .unknown && v.edns != .unknown { table.setEDNSStatus(v.address, v.edns, now: now); learnt = true }
            if local.cookie == .unknown && v.cookie != .unknown {
                table.setCookieStatus(v.address, v.cookie, now: now)
                learnt = true
            }
            if !learnt { counters.keptLocal.wrappingAdd(1, ordering: .relaxed) }
            return learnt
        }
        let srtt = table.policy.decayed(v.srttMicros, elapsed: v.ageSeconds &+ transit)
        table.recordRTT(v.address, microseconds: max(1, srtt), now: now)
        if v.edns != .unknown { table.setEDNSStatus(v.address, v.edns, now: now) }
        if v.cookie != .unknown { table.setCookieStatus(v.address, v.cookie, now: now) }
        if learntServers.count >= 100_000 { learntServers.removeAll() }
        learntServers[v.address] = now
        return true
    }

    func counted(_ r: InsertResult) -> Bool {
        switch r {
        case .inserted, .replaced, .evicted: return true
        case .rejectedLowerRank: counters.keptLocal.wrappingAdd(1, ordering: .relaxed)
        case .droppedBusy, .tooLarge: counters.writeFailures.wrappingAdd(1, ordering: .relaxed)
        }
        return false
    }
}
