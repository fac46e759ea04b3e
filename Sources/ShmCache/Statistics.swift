import Synchronization

/// A statistics counter. An open struct: counters added by a newer build are still summed.
public struct StatCounter: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let queries = StatCounter(rawValue: 0)
    public static let recordHits = StatCounter(rawValue: 1)
    public static let negativeHits = StatCounter(rawValue: 2)
    public static let packetHits = StatCounter(rawValue: 3)
    public static let misses = StatCounter(rawValue: 4)
    public static let inserts = StatCounter(rawValue: 5)
    public static let evictions = StatCounter(rawValue: 6)
    public static let upstreamQueries = StatCounter(rawValue: 7)
    public static let timeouts = StatCounter(rawValue: 8)
    public static let errors = StatCounter(rawValue: 9)
    /// Client queries dropped because the worker already had its maximum of resolutions in
    /// progress (PowerDNS Recursor's over-capacity-drops).
    public static let overloadDrops = StatCounter(rawValue: 10)
    /// DNSSEC verdicts reached by validating responses (not per answer: a verdict stored in the
    /// cache serves many).
    public static let dnssecSecure = StatCounter(rawValue: 11)
    public static let dnssecInsecure = StatCounter(rawValue: 12)
    public static let dnssecBogus = StatCounter(rawValue: 13)

    /// Not a counter: the boot-clock second of the worker's last heartbeat (written each second
    /// by the worker, read by shoald to tell a wedged worker from a live one).
    public static let heartbeat = StatCounter(rawValue: 15)
    /// Not a counter: the pid of the worker that last became ready (listening) in this slot;
    /// shoald waits for it before draining the worker a hot replace replaces.
    public static let readyPID = StatCounter(rawValue: 14)

    /// Answers sent, by response code (the RCODE of the header; other codes together).
    public static let answersNoError = StatCounter(rawValue: 16)
    public static let answersNXDomain = StatCounter(rawValue: 17)
    public static let answersServFail = StatCounter(rawValue: 18)
    public static let answersRefused = StatCounter(rawValue: 19)
    public static let answersFormErr = StatCounter(rawValue: 20)
    public static let answersOther = StatCounter(rawValue: 21)
    /// Answers by latency (from the start of their handling to the answer), one counter per
    /// bucket of ``latencyBoundsMicros`` (not cumulative; the last is everything above). Cache
    /// hits answered within their receive batch count in the first bucket without being timed.
    public static let latencyBuckets = (22..<31).map { StatCounter(rawValue: $0) }
    public static let latencyFirstBucket = StatCounter(rawValue: 22)
    public static let latencyBoundsMicros: [UInt64] = [1_000, 5_000, 10_000, 50_000, 100_000, 500_000, 1_000_000, 5_000_000]
    /// Sum of the timed latencies, in microseconds.
    public static let latencySumMicros = StatCounter(rawValue: 31)

    public static let all: [StatCounter] = (0..<14).map { StatCounter(rawValue: $0) }
    public static let answers: [StatCounter] = (16..<22).map { StatCounter(rawValue: $0) }
    /// Words per worker slot.
    public static let slotsPerWorker = 32

    /// The answers counter for an RCODE.
    @inline(__always)
    public static func answers(rcode: UInt8) -> StatCounter {
        switch rcode {
        case 0: answersNoError
        case 3: answersNXDomain
        case 2: answersServFail
        case 5: answersRefused
        case 1: answersFormErr
        default: answersOther
        }
    }

    /// The latency bucket of `micros`.
    @inline(__always)
    public static func latencyBucket(micros: UInt64) -> StatCounter {
        var i = 0
        while i < latencyBoundsMicros.count && micros > latencyBoundsMicros[i] { i += 1 }
        return latencyBuckets[i]
    }

    public var description: String {
        switch rawValue {
        case 0: "queries"
        case 1: "record-hits"
        case 2: "negative-hits"
        case 3: "packet-hits"
        case 4: "misses"
        case 5: "inserts"
        case 6: "evictions"
        case 7: "upstream-queries"
        case 8: "timeouts"
        case 9: "errors"
        case 10: "overload-drops"
        case 11: "dnssec-secure"
        case 12: "dnssec-insecure"
        case 13: "dnssec-bogus"
        case 14: "ready-pid"
        case 15: "heartbeat"
        case 16: "answers-noerror"
        case 17: "answers-nxdomain"
        case 18: "answers-servfail"
        case 19: "answers-refused"
        case 20: "answers-formerr"
        case 21: "answers-other"
        case 31: "latency-sum-us"
        default: "counter\(rawValue)"
        }
    }
}

/// Summed or single-worker counter values.
public struct StatisticsSnapshot: Hashable, Sendable {
    public var values = [UInt64](repeating: 0, count: StatCounter.slotsPerWorker)
    public init() {}
    public subscript(_ c: StatCounter) -> UInt64 { values[c.rawValue] }
    public static func += (a: inout StatisticsSnapshot, b: StatisticsSnapshot) {
        for i in 0..<a.values.count { a.values[i] &+= b.values[i] }
    }
}

/// One worker slot's counters: four 64-byte cache lines of its own, so workers never share a
/// line. They live in the segment, so they survive worker restarts, and any process can read
/// and sum them.
public struct WorkerStatistics: @unchecked Sendable {
    public static let slotBytes = 256
    let region: MappedRegion
    /// This slot's counters in the shared mapping: written by its worker (relaxed atomic adds),
    /// read by anyone (relaxed loads; totals need no ordering).
    let base: UnsafeMutablePointer<Atomic<UInt64>>

    init(region: MappedRegion, offset: Int) {
        self.region = region
        self.base = (region.base + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    @inline(__always)
    public func add(_ c: StatCounter, _ n: UInt64 = 1) {
        guard (0..<StatCounter.slotsPerWorker).contains(c.rawValue) else { return }
        base[c.rawValue].wrappingAdd(n, ordering: .relaxed)
    }

    public func value(_ c: StatCounter) -> UInt64 {
        guard (0..<StatCounter.slotsPerWorker).contains(c.rawValue) else { return 0 }
        return base[c.rawValue].load(ordering: .relaxed)
    }

    public func snapshot() -> StatisticsSnapshot {
        var s = StatisticsSnapshot()
        for i in 0..<StatCounter.slotsPerWorker { s.values[i] = base[i].load(ordering: .relaxed) }
        return s
    }

    /// Stores `v` (for the heartbeat, which is a time, not a count).
    public func set(_ c: StatCounter, _ v: UInt64) {
        guard (0..<StatCounter.slotsPerWorker).contains(c.rawValue) else { return }
        base[c.rawValue].store(v, ordering: .relaxed)
    }

    /// Zeroes every counter (shoalctl's reset).
    public func reset() {
        for i in 0..<StatCounter.slotsPerWorker { base[i].store(0, ordering: .relaxed) }
    }
}
