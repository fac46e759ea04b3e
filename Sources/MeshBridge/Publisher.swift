import CNATS
import DNSCore
import Logging
import ShmCache

/// Where batches go: a NATS connection, or anything else that takes bytes on a subject (tests).
public protocol BatchSink {
    func publish(subject: String, _ bytes: [UInt8]) throws(NATSError)
}

extension NATSConnection: BatchSink {}

/// Follows the segment's change journal and publishes what workers stored, in batches.
///
/// Only local entries are published: mesh entries are not journaled, and a resync (a scan of
/// the whole cache) skips them, so nothing learned from a peer goes out again. Bogus and
/// expired entries are never published. A journal overrun (this reader fell more than the
/// ring behind) is counted and answered with a resync, not a stall.
public final class Publisher {
    let segment: SharedSegment
    let counters: BridgeCounters
    let logger: Logger
    public let subject: String
    var reader: JournalReader
    var encoder: BatchEncoder
    var sequence: UInt64 = 0
    /// A resync is due (at start, after an overrun, after a failed publish).
    public private(set) var resyncPending: Bool
    /// Events handled per `pump`, so that receiving is never starved.
    public var budget = 8192

    public init(segment: SharedSegment, settings: BridgeSettings, maxPayload: Int, counters: BridgeCounters,
                logger: Logger, resyncAtStart: Bool = true) {
        self.segment = segment
        self.counters = counters
        self.logger = logger
        self.subject = MeshSubjects.updates(cluster: settings.cluster, node: settings.nodeID)
        self.encoder = BatchEncoder(cluster: settings.cluster, origin: settings.nodeID, maxPayload: maxPayload)
        self.reader = segment.journal.makeReader()
        self.reader.register()
        self.resyncPending = resyncAtStart
    }

    /// Publishes what the journal recorded since the last call (at most `budget` events), and
    /// the whole cache when a resync is due. Returns the events read.
    @discardableResult
    public func pump(to sink: BatchSink, canResync: Bool = true) -> Int {
        let now = shmNow()
        let overrunsBefore = reader.overruns
        var n = 0
        while n < budget, let e = reader.next() {
            n += 1
            switch e.table {
            case .records:
                guard let c = segment.records.entry(slot: e.slot, version: e.version, now: now) else {
                    counters.superseded.wrappingAdd(1, ordering: .relaxed); continue
                }
                add(c, to: sink)
            case .negative:
                guard let c = segment.negative.entry(slot: e.slot, version: e.version, now: now) else {
                    counters.superseded.wrappingAdd(1, ordering: .relaxed); continue
                }
                add(c, to: sink)
            default:
                continue   // packets are derived data; NS speed is not sent yet
            }
        }
        let lost = reader.overruns - overrunsBefore
        if lost > 0 {
            counters.journalOverruns.wrappingAdd(lost, ordering: .relaxed)
            logger.warning("journal overrun: \(lost) change(s) lost to the ring; resyncing")
            resyncPending = true
        }
        if resyncPending && canResync { resync(to: sink, now: now) }
        send(to: sink)
        return n
    }

    /// Wall-clock second of the last scan of the NS speed table.
    var lastServerScan: UInt32 = 0

    /// Publishes what this node measured of authoritative servers since the last call (at
    /// most an hour old); entries created from the mesh and not measured here since (`learnt`,
    /// from the applier) are not sent on.
    public func publishServers(to sink: BatchSink, learnt: [ServerAddress: UInt32]) {
        let now = shmNow()
        let since = lastServerScan
        lastServerScan = now
        segment.nsSpeed.forEach { e in
            guard e.srttMicros > 0, e.lastUpdate >= since, e.lastUpdate <= now,
                  now - e.lastUpdate <= MeshServer.maxAgeSeconds, learnt[e.address] != e.lastUpdate else { return true }
            add(.server(MeshServer(address: e.address, srttMicros: min(e.srttMicros, MeshServer.maxMicros),
                                   ageSeconds: now - e.lastUpdate, edns: e.edns, cookie: e.cookie)), to: sink)
            return true
        }
        send(to: sink)
    }

    /// Publishes every live local entry of the record and negative caches.
    func resync(to sink: BatchSink, now: UInt32) {
        resyncPending = false
        counters.resyncs.wrappingAdd(1, ordering: .relaxed)
        let before = counters.published.load(ordering: .relaxed)
        segment.records.forEach(now: now) { c in add(c, to: sink); return true }
        segment.negative.forEach(now: now) { c in add(c, to: sink); return true }
        send(to: sink)
        logger.info("resync: \(counters.published.load(ordering: .relaxed) - before) entries published")
    }

    func add(_ c: CachedRRSet, to sink: BatchSink) {
        let counts = c.value.count >= 12 ? (Int(c.value[8]) << 8 | Int(c.value[9]), Int(c.value[10]) << 8 | Int(c.value[11])) : (0, 0)
        guard c.origin == .local, c.validation != .bogus, !c.isStale, c.ttl > 0,
              counts.0 <= MeshFormat.maxRecordsPerSet, counts.1 <= MeshFormat.maxRecordsPerSet else {
            counters.notPublished.wrappingAdd(1, ordering: .relaxed); return
        }
        add(.rrset(MeshRRSet(c)), to: sink)
    }

    func add(_ c: CachedNegative, to sink: BatchSink) {
        guard c.origin == .local, c.validation != .bogus, !c.isStale, c.ttl > 0, let n = MeshNegative(c) else {
            counters.notPublished.wrappingAdd(1, ordering: .relaxed); return
        }
        add(.negative(n), to: sink)
    }

    func add(_ entry: MeshEntry, to sink: BatchSink) {
        let e = BatchEncoder.encode(entry)
        guard encoder.fits(entryBytes: e.count) else {
            counters.notPublished.wrappingAdd(1, ordering: .relaxed); return
        }
        if !encoder.add(encoded: e) {
            send(to: sink)
            _ = encoder.add(encoded: e)
        }
    }

    /// Sends the batch being built, if any.
    func send(to sink: BatchSink) {
        guard !encoder.isEmpty else { return }
        let entries = encoder.count
        sequence += 1
        let bytes = encoder.finish(sentAtMillis: UInt64(max(nats_Now(), 0)), sequence: sequence)
        do {
            try sink.publish(subject: subject, bytes)
            counters.published.wrappingAdd(UInt64(entries), ordering: .relaxed)
            counters.publishedBatches.wrappingAdd(1, ordering: .relaxed)
        } catch {
            counters.publishFailures.wrappingAdd(1, ordering: .relaxed)
            if !resyncPending { logger.warning("publish of \(entries) entries failed: \(error); resync when connected") }
            resyncPending = true
        }
    }
}

/// The subjects of the mesh, all under `shoal.<cluster>.v1.`.
public enum MeshSubjects {
    /// Where `node` publishes its batches.
    public static func updates(cluster: MeshIdentifier, node: MeshIdentifier) -> String {
        "shoal.\(cluster).v1.updates.\(node)"
    }
    /// Every node's batches.
    public static func allUpdates(cluster: MeshIdentifier) -> String { "shoal.\(cluster).v1.updates.*" }
    /// Snapshot requests to any donor (queue group ``donorQueue``).
    public static func snapshot(cluster: MeshIdentifier) -> String { "shoal.\(cluster).v1.snapshot" }
    /// Snapshot requests to one donor (the chunks after the first).
    public static func snapshot(cluster: MeshIdentifier, donor: MeshIdentifier) -> String {
        "shoal.\(cluster).v1.snapshot.\(donor)"
    }
    public static let donorQueue = "donors"
}
