import DNSCore
import ShmCache
import Synchronization

/// ``ResolverCache`` over the shared segment: what every worker reads and writes.
///
/// Each call copies data in or out of the segment; nothing is kept in the process, so a
/// worker killed at any point loses nothing another worker would miss.
public struct SegmentCache: ResolverCache {
    public let segment: SharedSegment
    let stats: WorkerStatistics?
    /// How long past expiry data may be served when every server fails (RFC 8767).
    let serveStaleSeconds: UInt32
    /// When this process first saw each server's "rejects EDNS" verdict (the shared entry has
    /// no room for its age), so the verdict is re-probed after ``ednsReprobeSeconds``.
    let ednsVerdicts = EDNSVerdicts()
    let ednsReprobeSeconds: UInt32

    public init(segment: SharedSegment, stats: WorkerStatistics?, serveStaleSeconds: UInt32,
                ednsReprobeSeconds: UInt32 = 900) {
        self.segment = segment
        self.stats = stats
        self.serveStaleSeconds = serveStaleSeconds
        self.ednsReprobeSeconds = ednsReprobeSeconds
    }

    public func rrset(_ name: DNSName, _ type: RRType, allowStale: Bool) -> RankedRRSet? {
        let now = shmNow()
        guard let c = segment.records.lookup(name: name, type: type, now: now,
                                             allowStaleFor: allowStale ? serveStaleSeconds : 0),
              let (records, sigs) = try? c.records() else { return nil }
        stats?.add(.recordHits)
        let rrsigs = sigs.compactMap { rr -> RRSIG? in if case let .rrsig(s) = rr.rdata { s } else { nil } }
        // RFC 8767 §4: stale data goes out with a TTL of 30 seconds.
        let set = RRSet(name: name, type: type, rrclass: c.rrclass, ttl: c.isStale ? 30 : c.ttl,
                        rdatas: records.map(\.rdata), signatures: rrsigs)
        return RankedRRSet(set: set, rank: c.rank, stale: c.isStale, validation: c.validation)
    }

    public func store(_ set: RRSet, rank: Rank) { store(set, rank: rank, validation: .indeterminate) }

    public func store(_ set: RRSet, rank: Rank, validation: ValidationState) {
        guard !set.rdatas.isEmpty, set.ttl > 0 else { return }
        let result = segment.records.insert(
            name: set.name, type: set.type, class: set.rrclass, ttl: set.ttl,
            rdata: set.rdatas.map { $0.wire(type: set.type) },
            signatures: set.signatures.map { RData.rrsig($0).wire(type: .rrsig) },
            validation: validation, rank: rank, now: shmNow())
        count(result)
    }

    public func negative(_ name: DNSName, _ type: RRType) -> NegativeAnswer? {
        guard let n = segment.negative.lookup(name: name, type: type, now: shmNow()),
              let records = try? n.records() else { return nil }
        stats?.add(.negativeHits)
        return NegativeAnswer(kind: n.kind == .nxDomain ? .nxDomain : .noData,
                              authority: RRSet.group(records), ttl: n.ttl, validation: n.validation)
    }

    public func storeNegative(_ name: DNSName, _ type: RRType, _ negative: NegativeAnswer) {
        let records = negative.authority.flatMap(\.records)
        guard let soa = records.first(where: { $0.type == .soa }) else { return }
        let proofs = records.filter { $0.type != .soa }
        let now = shmNow()
        let result = negative.kind == .nxDomain
            ? segment.negative.insertNXDomain(name: name, ttl: negative.ttl, soa: soa, proofs: proofs,
                                              validation: negative.validation, now: now)
            : segment.negative.insertNoData(name: name, type: type, ttl: negative.ttl, soa: soa, proofs: proofs,
                                            validation: negative.validation, now: now)
        count(result)
    }

    public func serverEstimate(_ address: ServerAddress) -> (rttMicros: UInt32, throttled: Bool) {
        let now = shmNow()
        guard let e = segment.nsSpeed.lookup(address) else { return (0, false) }
        return (segment.nsSpeed.estimate(address, now: now) ?? e.srttMicros, e.isThrottled(now: now))
    }

    public func recordRTT(_ address: ServerAddress, micros: UInt32) {
        segment.nsSpeed.recordRTT(address, microseconds: micros, now: shmNow())
    }

    public func recordTimeout(_ address: ServerAddress) {
        stats?.add(.timeouts)
        segment.nsSpeed.recordTimeout(address, now: shmNow())
    }

    /// Whether to leave EDNS out for `address`: it rejected EDNS, and the verdict is younger
    /// than ``ednsReprobeSeconds`` (an older one is dropped, so the next query probes again).
    public func rejectsEDNS(_ address: ServerAddress) -> Bool {
        guard segment.nsSpeed.lookup(address)?.edns == .noEDNS else { return false }
        let now = shmNow()
        if now &- ednsVerdicts.firstSeen(address, now: now) >= ednsReprobeSeconds {
            ednsVerdicts.forget(address)
            segment.nsSpeed.setEDNSStatus(address, .unknown, now: now)
            return false
        }
        return true
    }

    public func recordEDNSRejected(_ address: ServerAddress) {
        segment.nsSpeed.setEDNSStatus(address, .noEDNS, now: shmNow())
    }

    /// Process-local ages of EDNS verdicts, bounded (cleared when full: at worst a few early
    /// re-probes).
    final class EDNSVerdicts: Sendable {
        private let seen = Mutex<[ServerAddress: UInt32]>([:])
        func firstSeen(_ a: ServerAddress, now: UInt32) -> UInt32 {
            seen.withLock { m in
                if let t = m[a] { return t }
                if m.count >= 4096 { m.removeAll() }
                m[a] = now
                return now
            }
        }
        func forget(_ a: ServerAddress) { _ = seen.withLock { $0.removeValue(forKey: a) } }
    }

    public func countVerdict(_ state: ValidationState) {
        switch state {
        case .secure: stats?.add(.dnssecSecure)
        case .insecure: stats?.add(.dnssecInsecure)
        case .bogus: stats?.add(.dnssecBogus)
        default: break
        }
    }

    private func count(_ r: InsertResult) {
        switch r {
        case .inserted, .replaced: stats?.add(.inserts)
        case .evicted: stats?.add(.inserts); stats?.add(.evictions)
        default: break
        }
    }
}
