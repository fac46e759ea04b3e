import ShoalSystem
import Synchronization

/// One change: the entry in `slot` of `table` was written, and now has `version`.
public struct JournalEvent: Hashable, Sendable {
    /// Position in the journal, from 0, gap-free over all producers.
    public var sequence: UInt64
    public var table: TableID
    public var slot: Int
    public var version: UInt32
}

/// The change journal: a multi-producer ring of events written on every local insert, read by
/// the bridge with its own cursor.
///
/// Producers claim a sequence number with one fetch-add on the shared head, then store the
/// record as one 16-byte atomic (stamp = sequence + 1, payload), so a reader sees a record
/// either complete or not at all. A producer killed between the two leaves a hole that readers
/// skip after a short time. A full ring overwrites the oldest records: readers count what they
/// missed, and producers count overwrites of records the registered reader has not read yet.
public final class Journal: @unchecked Sendable {
    static let headerBytes = 128
    static let recordBytes = 16

    let region: MappedRegion
    /// The journal inside the shared mapping: every producer and the bridge see it. Head and
    /// counters are atomics (relaxed counters; the head's fetch-add orders nothing by itself),
    /// records are 16-byte atomics published with release and read with acquire.
    let base: UnsafeMutableRawPointer
    public let capacity: Int
    let mask: UInt64

    init(region: MappedRegion, offset: Int, capacity: Int) {
        self.region = region
        self.base = region.base + offset
        self.capacity = capacity
        self.mask = UInt64(capacity - 1)
    }

    // Header words.
    var headWord: UnsafeMutablePointer<Atomic<UInt64>> { base.assumingMemoryBound(to: Atomic<UInt64>.self) }
    /// Reader cursor + 1 (0: no reader registered); on its own cache line.
    var readerWord: UnsafeMutablePointer<Atomic<UInt64>> { (base + 64).assumingMemoryBound(to: Atomic<UInt64>.self) }
    var overflowWord: UnsafeMutablePointer<Atomic<UInt64>> { (base + 72).assumingMemoryBound(to: Atomic<UInt64>.self) }
    var overrunWord: UnsafeMutablePointer<Atomic<UInt64>> { (base + 80).assumingMemoryBound(to: Atomic<UInt64>.self) }
    var holeWord: UnsafeMutablePointer<Atomic<UInt64>> { (base + 88).assumingMemoryBound(to: Atomic<UInt64>.self) }

    @inline(__always) func record(_ seq: UInt64) -> UnsafeMutablePointer<Atomic<WordPair>> {
        (base + Journal.headerBytes + Int(seq & mask) * Journal.recordBytes).assumingMemoryBound(to: Atomic<WordPair>.self)
    }

    /// The next sequence number to be claimed.
    public var head: UInt64 { headWord.pointee.load(ordering: .acquiring) }
    /// Records producers overwrote before the registered reader had read them.
    public var overflows: UInt64 { overflowWord.pointee.load(ordering: .relaxed) }
    /// Records readers found overwritten before they got to them.
    public var overruns: UInt64 { overrunWord.pointee.load(ordering: .relaxed) }
    /// Claimed records never completed (their producer died) that readers skipped.
    public var holes: UInt64 { holeWord.pointee.load(ordering: .relaxed) }

    /// Appends one event. Never waits; overflow is counted, not fatal.
    @discardableResult
    public func append(table: TableID, slot: Int, version: UInt32) -> UInt64 {
        let seq = headWord.pointee.wrappingAdd(1, ordering: .relaxed).oldValue
        let reader = readerWord.pointee.load(ordering: .relaxed)
        if reader != 0 && seq >= (reader - 1) + UInt64(capacity) {
            overflowWord.pointee.wrappingAdd(1, ordering: .relaxed)
        }
        let payload = UInt64(table.rawValue) << 56 | UInt64(UInt32(truncatingIfNeeded: slot) & 0xFF_FFFF) << 32
            | UInt64(version)
        record(seq).pointee.store(WordPair(first: UInt(seq + 1), second: UInt(payload)), ordering: .releasing)
        return seq
    }

    /// A reader positioned at the oldest record still in the ring (`fromStart`) or at the head.
    public func makeReader(fromStart: Bool = false) -> JournalReader {
        let h = head
        let start = fromStart ? (h > UInt64(capacity) ? h - UInt64(capacity) : 0) : h
        return JournalReader(journal: self, cursor: start)
    }
}

/// A consumer's position in the journal (the bridge has one). Not shared: each reader has its
/// own cursor; `register` publishes it so producers can count overflows.
public struct JournalReader: Sendable {
    let journal: Journal
    /// Next sequence number to read.
    public private(set) var cursor: UInt64
    /// Events this reader lost to overwriting, and holes it skipped.
    public private(set) var overruns: UInt64 = 0
    public private(set) var holesSkipped: UInt64 = 0
    /// A hole older than this (a producer that claimed a number and died) is skipped.
    public var holeTimeoutNanos: UInt64 = 50_000_000
    private var holeAt: UInt64 = .max
    private var holeSince: UInt64 = 0
    private var registered = false

    init(journal: Journal, cursor: UInt64) {
        self.journal = journal
        self.cursor = cursor
    }

    /// Publishes this reader's cursor in the segment (one registered reader: the bridge).
    public mutating func register() {
        registered = true
        journal.readerWord.pointee.store(cursor + 1, ordering: .relaxed)
    }

    /// The next event, or nil when caught up (or waiting for a record still being written).
    public mutating func next() -> JournalEvent? {
        defer { if registered { journal.readerWord.pointee.store(cursor + 1, ordering: .relaxed) } }
        while true {
            let head = journal.head
            guard cursor < head else { return nil }
            let cap = UInt64(journal.capacity)
            if head - cursor > cap {
                let lost = head - cap - cursor
                overruns += lost
                journal.overrunWord.pointee.wrappingAdd(lost, ordering: .relaxed)
                cursor = head - cap
            }
            let r = journal.record(cursor).pointee.load(ordering: .acquiring)
            let stamp = UInt64(r.first)
            if stamp == cursor + 1 {
                let p = UInt64(r.second)
                let e = JournalEvent(sequence: cursor, table: TableID(rawValue: UInt8(p >> 56)),
                                     slot: Int((p >> 32) & 0xFF_FFFF), version: UInt32(truncatingIfNeeded: p))
                cursor += 1
                return e
            }
            if stamp > cursor + 1 {
                // Overwritten by a producer one or more laps ahead.
                overruns += 1
                journal.overrunWord.pointee.wrappingAdd(1, ordering: .relaxed)
                cursor += 1
                continue
            }
            // Claimed but not written yet: in progress, or its producer died.
            let t = monotonicNanos()
            if holeAt != cursor { holeAt = cursor; holeSince = t; return nil }
            if t - holeSince < holeTimeoutNanos && head - cursor < cap / 2 { return nil }
            holesSkipped += 1
            journal.holeWord.pointee.wrappingAdd(1, ordering: .relaxed)
            cursor += 1
        }
    }
}

func monotonicNanos() -> UInt64 { Clock.monotonicNanos() }
