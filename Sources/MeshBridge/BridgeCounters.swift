import Synchronization

/// What the bridge did, counted with relaxed atomics (read by the executable at exit, by tests
/// and, later, by metrics while the bridge runs).
public final class BridgeCounters: Sendable {
    /// Entries and batches sent.
    let published = Atomic<UInt64>(0)
    let publishedBatches = Atomic<UInt64>(0)
    /// Batches libnats refused (reconnect buffer full, connection closed): followed by a resync.
    let publishFailures = Atomic<UInt64>(0)
    /// Journal events whose slot no longer held the journaled version (overwritten since).
    let superseded = Atomic<UInt64>(0)
    /// Entries not published: from the mesh, bogus, expired, or too large for a batch.
    let notPublished = Atomic<UInt64>(0)
    let journalOverruns = Atomic<UInt64>(0)
    let resyncs = Atomic<UInt64>(0)

    let receivedBatches = Atomic<UInt64>(0)
    /// Update batches of peers that never arrived (gaps in their sequence numbers).
    let lostBatches = Atomic<UInt64>(0)
    let applied = Atomic<UInt64>(0)
    /// Entries not written because the local entry is fresher, ranked higher, or validated.
    let keptLocal = Atomic<UInt64>(0)
    let expiredInTransit = Atomic<UInt64>(0)
    /// Entries already cached from the mesh with the same data and expiry.
    let duplicates = Atomic<UInt64>(0)
    /// Secure entries not taken under `dnssec-from-peers: insecure-only`.
    let policySkipped = Atomic<UInt64>(0)
    /// Writes the cache dropped (slots busy, too large).
    let writeFailures = Atomic<UInt64>(0)
    /// Refused batches by reason (rare: a mutex is cheap enough).
    let rejected = Mutex<[RejectionReason: UInt64]>([:])

    /// Warm-up: ``WarmUpState`` raw value, chunks and entries pulled, the donor's total.
    let warmUpState = Atomic<UInt8>(WarmUpState.starting.rawValue)
    let warmUpChunks = Atomic<UInt64>(0)
    let warmUpEntries = Atomic<UInt64>(0)
    let warmUpTotal = Atomic<UInt64>(0)
    /// Catch-ups pulled after a reconnect, and snapshot chunks served to peers.
    let catchUps = Atomic<UInt64>(0)
    let chunksServed = Atomic<UInt64>(0)

    let connectFailures = Atomic<UInt64>(0)
    /// Messages libnats dropped because this bridge fell behind (slow consumer).
    let slowConsumerDrops = Atomic<UInt64>(0)
    /// Counted by the connection's callbacks.
    let disconnects = Atomic<UInt64>(0)
    let reconnects = Atomic<UInt64>(0)
    let lastConnectError = Mutex<String>("")

    public init() {}

    func reject(_ r: RejectionReason) {
        rejected.withLock { $0[r, default: 0] += 1 }
    }

    /// The counters at one moment.
    public struct Snapshot: Sendable, Hashable, CustomStringConvertible {
        public var published: UInt64, publishedBatches: UInt64, publishFailures: UInt64, superseded: UInt64
        public var notPublished: UInt64, journalOverruns: UInt64, resyncs: UInt64
        public var receivedBatches: UInt64, applied: UInt64, keptLocal: UInt64, expiredInTransit: UInt64
        public var duplicates: UInt64, policySkipped: UInt64, lostBatches: UInt64
        public var writeFailures: UInt64
        public var rejected: [RejectionReason: UInt64]
        public var connectFailures: UInt64, disconnects: UInt64, reconnects: UInt64, slowConsumerDrops: UInt64
        public var warmUpState: WarmUpState, warmUpChunks: UInt64, warmUpEntries: UInt64, warmUpTotal: UInt64
        public var catchUps: UInt64, chunksServed: UInt64
        public var lastConnectError: String

        public var totalRejected: UInt64 { rejected.values.reduce(0, +) }

        /// One `name value` line per counter, named as the metrics will be.
        public var description: String {
            var lines = [
                "shoal_mesh_published_total \(published)", "shoal_mesh_published_batches_total \(publishedBatches)",
                "shoal_mesh_publish_failures_total \(publishFailures)", "shoal_mesh_superseded_total \(superseded)",
                "shoal_mesh_not_published_total \(notPublished)", "shoal_mesh_journal_overruns_total \(journalOverruns)",
                "shoal_mesh_resyncs_total \(resyncs)", "shoal_mesh_received_batches_total \(receivedBatches)",
                "shoal_mesh_applied_total \(applied)", "shoal_mesh_kept_local_total \(keptLocal)",
                "shoal_mesh_expired_in_transit_total \(expiredInTransit)", "shoal_mesh_duplicates_total \(duplicates)",
                "shoal_mesh_policy_skipped_total \(policySkipped)", "shoal_mesh_lost_batches_total \(lostBatches)",
                "shoal_mesh_write_failures_total \(writeFailures)", "shoal_mesh_connect_failures_total \(connectFailures)",
                "shoal_mesh_disconnects_total \(disconnects)", "shoal_mesh_reconnects_total \(reconnects)",
                "shoal_mesh_slow_consumer_drops_total \(slowConsumerDrops)",
                "shoal_mesh_warmup_state{state=\"\(warmUpState)\"} 1", "shoal_mesh_warmup_chunks_total \(warmUpChunks)",
                "shoal_mesh_warmup_entries_total \(warmUpEntries)", "shoal_mesh_warmup_donor_entries \(warmUpTotal)",
                "shoal_mesh_catchups_total \(catchUps)", "shoal_mesh_snapshot_chunks_served_total \(chunksServed)",
            ]
            for r in RejectionReason.allCases {
                lines.append("shoal_mesh_rejected_total{reason=\"\(r.rawValue)\"} \(rejected[r] ?? 0)")
            }
            return lines.joined(separator: "\n")
        }
    }

    public func snapshot() -> Snapshot {
        func l(_ a: borrowing Atomic<UInt64>) -> UInt64 { a.load(ordering: .relaxed) }
        let rej = rejected.withLock { $0 }
        return Snapshot(published: l(published), publishedBatches: l(publishedBatches),
                        publishFailures: l(publishFailures), superseded: l(superseded), notPublished: l(notPublished),
                        journalOverruns: l(journalOverruns), resyncs: l(resyncs), receivedBatches: l(receivedBatches),
                        applied: l(applied), keptLocal: l(keptLocal), expiredInTransit: l(expiredInTransit),
                        duplicates: l(duplicates), policySkipped: l(policySkipped), lostBatches: l(lostBatches),
                        writeFailures: l(writeFailures), rejected: rej, connectFailures: l(connectFailures),
                        disconnects: l(disconnects), reconnects: l(reconnects), slowConsumerDrops: l(slowConsumerDrops),
                        warmUpState: WarmUpState(rawValue: warmUpState.load(ordering: .relaxed)) ?? .notNeeded,
                        warmUpChunks: l(warmUpChunks), warmUpEntries: l(warmUpEntries), warmUpTotal: l(warmUpTotal),
                        catchUps: l(catchUps), chunksServed: l(chunksServed),
                        lastConnectError: lastConnectError.withLock { $0 })
    }
}

/// Where the warm-up of this node's segment is.
public enum WarmUpState: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// Disabled, or the segment was not empty.
    case notNeeded = 0
    case pulling, complete
    /// No peer answered: started cold.
    case cold
    /// Donors failed part way; what arrived is kept.
    case incomplete
    /// Not decided yet (the bridge is connecting): shoald's wait for the warm-up goes on.
    case starting

    public var description: String {
        switch self {
        case .notNeeded: "not-needed"
        case .pulling: "pulling"
        case .complete: "complete"
        case .cold: "cold"
        case .incomplete: "incomplete"
        case .starting: "starting"
        }
    }
}
