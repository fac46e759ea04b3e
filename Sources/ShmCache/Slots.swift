import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// The slot engine: every table of the segment (records, negative answers, packets, NS speed) is
// a set-associative array of fixed-size slots, each guarded by a 64-bit sequence word. This is
// one of the few files with raw pointers into the shared mapping; the tables above it only see
// keys, value bytes and snapshots.
//
// Who sees this memory: every process that has the segment mapped (workers, the bridge,
// shoalctl, the supervisor). Nothing here ever waits for another process:
//  - a writer takes a slot by compare-and-swap of its sequence word from an even value to an
//    odd one (owner pid in the high half) and gives it back with a second CAS to the next even
//    value; when the CAS fails it picks another way or drops the write;
//  - a reader loads the word (acquire), copies, fences (acquire), loads it again, and keeps the
//    copy only when both loads are equal and even; a busy slot is a miss, never a wait;
//  - a slot left odd by a dead writer is reclaimed: by the supervisor's sweep for that pid, or
//    by a writer that finds it odd for longer than `staleSeconds` with its owner gone.

/// Byte offsets inside a slot.
enum SlotLayout {
    static let headerBytes = 32
    /// Atomic<UInt64>: the sequence word.
    static let seq = 0
    /// Atomic<UInt32>: wall-clock second when the current (or last) write started; relaxed.
    static let lockedAt = 8
    /// Atomic<UInt32>: last second the entry was written or hit; relaxed, outside the seqlock.
    static let lastUsed = 12
    /// Atomic<UInt32>: seconds with at least one hit (lossy); relaxed, outside the seqlock.
    static let hits = 16
    // Below: plain bytes protected by the sequence word.
    static let keyLen = 20      // UInt16
    static let valueLen = 22    // UInt16
    static let expiry = 24      // UInt32, absolute wall-clock seconds
    static let storedAt = 28    // UInt32, absolute wall-clock seconds
}

/// The sequence word: low 32 bits a counter (odd while written); high 32 bits the writer's pid
/// while odd, and 1 (occupied) or 0 (empty) while even.
enum SeqWord {
    @inline(__always) static func isBusy(_ s: UInt64) -> Bool { s & 1 != 0 }
    @inline(__always) static func isOccupied(_ s: UInt64) -> Bool { s & 1 == 0 && s >> 32 == 1 }
    @inline(__always) static func owner(_ s: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: s >> 32) }
    @inline(__always) static func counter(_ s: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: s) }
    @inline(__always) static func busy(_ counter: UInt32, owner: UInt32) -> UInt64 {
        UInt64(owner) << 32 | UInt64(counter)
    }
    @inline(__always) static func idle(_ counter: UInt32, occupied: Bool) -> UInt64 {
        (occupied ? 1 << 32 : 0) | UInt64(counter)
    }
}

/// The process-local handle on the mapping: unmaps it when the last table value referring to it
/// goes away. Tables hold it strongly, so no table outlives the memory it points into.
final class MappedRegion: @unchecked Sendable {
    /// Start of the MAP_SHARED mapping. Every attached process sees the same bytes; all
    /// cross-process access goes through the atomics and seqlock protocol of this file.
    let base: UnsafeMutableRawPointer
    let size: Int
    /// This process's id, stamped into the sequence word of a slot while it writes it.
    let ownerID: UInt32
    /// Testing only: microseconds a writer sleeps while it holds a slot odd, so a SIGKILL in a
    /// kill-storm test lands mid-write. Zero in production.
    var writeHoldMicros: UInt32 = 0
    /// Odd-slot age after which a writer checks whether the owner is alive and reclaims.
    var staleSeconds: UInt32 = 2
    /// Odd-slot age after which a slot is reclaimed even when its owner's pid is alive (a reused
    /// pid, or a writer stopped for minutes in a copy of a few hundred bytes).
    var hardStaleSeconds: UInt32 = 300

    init(base: UnsafeMutableRawPointer, size: Int) {
        self.base = base
        self.size = size
        self.ownerID = UInt32(truncatingIfNeeded: getpid())
    }

    deinit { munmap(base, size) }
}

/// How a write ended.
enum WriteOutcome: Equatable {
    /// Written into a free slot or over an entry of another key (`evicted` says which).
    case inserted(slot: Int, version: UInt32, evicted: Eviction)
    /// Written over the entry with the same key.
    case replaced(slot: Int, version: UInt32)
    /// The admission check refused it (a lower rank over a higher one).
    case rejected
    /// Every usable way was being written by someone else: dropped (a cache write is best effort).
    case droppedBusy
    /// Larger than the largest way.
    case tooLarge
}

/// What a write displaced.
public enum Eviction: Sendable, Equatable {
    case none, expired, live
}

/// A consistent copy of one slot.
struct SlotSnapshot {
    var slot: Int
    var version: UInt32
    var expiry: UInt32
    var storedAt: UInt32
    var lastUsed: UInt32
    var hits: UInt32
    var key: [UInt8]
    var value: [UInt8]
}

/// One set-associative table inside the mapping. A final class so the tables and the hot paths
/// hold one reference, not a struct of references to retain on every call.
final class SlotTable: @unchecked Sendable {
    let region: MappedRegion
    /// First bucket's ways inside the shared mapping (see the file comment for who else sees
    /// it).
    let base: UnsafeMutableRawPointer
    let geometry: TableGeometry
    /// Way offsets inside a bucket's ways, then way sizes: 2 × `ways` integers, owned here.
    let wayInfo: UnsafeMutablePointer<Int>
    let bucketMask: Int
    /// Bytes of one bucket's ways (its tag line lives in the separate tag array).
    let bucketBytes: Int
    /// The tag array: one 64-byte line per bucket, contiguous, before every bucket's ways, so
    /// a lookup's first access stays in a small, TLB- and cache-friendly region.
    let tagBase: UnsafeMutableRawPointer
    let ways: Int
    let maxWay: Int
    let seed: UInt64

    init(region: MappedRegion, offset: Int, geometry: TableGeometry, seed: UInt64) {
        self.region = region
        self.tagBase = region.base + offset
        self.base = region.base + offset + geometry.buckets * 64
        self.geometry = geometry
        let info = UnsafeMutablePointer<Int>.allocate(capacity: 2 * max(1, geometry.ways))
        var at = 0
        for (i, s) in geometry.waySizes.enumerated() {
            info[i] = at
            info[geometry.ways + i] = s
            at += s
        }
        self.wayInfo = info
        self.bucketMask = geometry.buckets - 1
        self.bucketBytes = at
        self.ways = geometry.ways
        self.maxWay = geometry.waySizes.max() ?? 0
        self.seed = seed
    }

    deinit { wayInfo.deallocate() }

    @inline(__always) func size(ofWay w: Int) -> Int { wayInfo[ways + w] }

    // MARK: Addressing

    @inline(__always) func hash(_ key: UnsafeRawBufferPointer) -> UInt64 { shmHash(key, seed: seed) }
    @inline(__always) func bucket(of hash: UInt64) -> Int { Int(truncatingIfNeeded: hash) & bucketMask }
    /// Never zero: zero marks a way without an entry.
    @inline(__always) func tag(of hash: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: hash >> 32) | 1 }

    /// The bucket's tag line: hints only (relaxed); a reader always checks the full key under the
    /// sequence word, so a stale tag costs a miss, never a wrong answer.
    @inline(__always) func tags(_ b: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (tagBase + b * 64).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    @inline(__always) func slot(_ b: Int, _ w: Int) -> UnsafeMutableRawPointer {
        base + b * bucketBytes + wayInfo[w]
    }

    @inline(__always) func seq(_ p: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (p + SlotLayout.seq).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    @inline(__always) func word32(_ p: UnsafeMutableRawPointer, _ off: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (p + off).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    func location(ofSlot index: Int) -> (bucket: Int, way: Int)? {
        guard index >= 0, index < geometry.slots else { return nil }
        return (index / ways, index % ways)
    }

    // MARK: Reading

    /// Finds the entry stored under `key` and copies it, or nil (absent, or being written).
    func find(key: UnsafeRawBufferPointer, hash h: UInt64) -> SlotSnapshot? {
        let b = bucket(of: h), t = tag(of: h), tg = tags(b)
        for w in 0..<ways where tg[w].load(ordering: .relaxed) == t {
            if let s = read(b, w, matching: key) { return s }
        }
        return nil
    }

    /// Seqlock read of one slot; with `key`, only when the stored key equals it. Retries a
    /// changed slot a bounded number of times; a busy slot is a miss at once.
    func read(_ b: Int, _ w: Int, matching key: UnsafeRawBufferPointer?) -> SlotSnapshot? {
        let p = slot(b, w), size = size(ofWay: w)
        let sq = seq(p)
        for _ in 0..<3 {
            let s1 = sq.pointee.load(ordering: .acquiring)
            guard SeqWord.isOccupied(s1) else { return nil }
            // Lengths are read racily: clamp before use; the re-check below discards a torn copy.
            let kl = Int(p.loadUnaligned(fromByteOffset: SlotLayout.keyLen, as: UInt16.self))
            let vl = Int(p.loadUnaligned(fromByteOffset: SlotLayout.valueLen, as: UInt16.self))
            let fits = SlotLayout.headerBytes + kl + vl <= size
            var matched = fits
            if fits, let key {
                matched = kl == key.count
                    && memcmp(p + SlotLayout.headerBytes, key.baseAddress!, kl) == 0
            }
            var snap: SlotSnapshot? = nil
            if matched {
                let kStart = p + SlotLayout.headerBytes
                let keyCopy = key == nil
                    ? [UInt8](UnsafeRawBufferPointer(start: kStart, count: kl)) : []
                let value = [UInt8](unsafeUninitializedCapacity: vl) { buf, n in
                    if vl > 0 { memcpy(buf.baseAddress!, kStart + kl, vl) }
                    n = vl
                }
                snap = SlotSnapshot(
                    slot: b * ways + w, version: SeqWord.counter(s1),
                    expiry: p.loadUnaligned(fromByteOffset: SlotLayout.expiry, as: UInt32.self),
                    storedAt: p.loadUnaligned(fromByteOffset: SlotLayout.storedAt, as: UInt32.self),
                    lastUsed: 0, hits: 0, key: keyCopy, value: value)
            }
            // Orders the copy before the second load of the sequence word (pairs with the
            // writer's release fence after it made the word odd).
            atomicMemoryFence(ordering: .acquiring)
            let s2 = sq.pointee.load(ordering: .relaxed)
            if s2 == s1 {
                if snap != nil {
                    snap!.lastUsed = word32(p, SlotLayout.lastUsed).pointee.load(ordering: .relaxed)
                    snap!.hits = word32(p, SlotLayout.hits).pointee.load(ordering: .relaxed)
                }
                return snap
            }
        }
        return nil
    }

    /// Reads a slot by index (for journal consumers and scans): nil when empty or busy.
    func read(slot index: Int) -> SlotSnapshot? {
        guard let (b, w) = location(ofSlot: index) else { return nil }
        return read(b, w, matching: nil)
    }

    /// Notes a hit: last-use time and the lossy hit counter, stored only when the second changed
    /// so hot entries do not turn every read into a shared-line write.
    func touch(slot index: Int, now: UInt32) {
        guard let (b, w) = location(ofSlot: index) else { return }
        let p = slot(b, w)
        let lu = word32(p, SlotLayout.lastUsed), h = word32(p, SlotLayout.hits)
        if lu.pointee.load(ordering: .relaxed) != now || h.pointee.load(ordering: .relaxed) == 0 {
            lu.pointee.store(now, ordering: .relaxed)
            let v = h.pointee.load(ordering: .relaxed)
            if v != .max { h.pointee.store(v + 1, ordering: .relaxed) }
        }
    }

    // MARK: Writing

    /// Inserts or replaces the entry for `key`.
    ///
    /// - `admit` sees the current entry's value prefix (up to 16 bytes) and expiry when the key
    ///   is present, and returns false to refuse the write (rank rules).
    /// - `fill` writes exactly `valueLen` bytes at the pointer while the slot is held odd.
    func write(key: UnsafeRawBufferPointer, hash h: UInt64, valueLen: Int, expiry: UInt32, now: UInt32,
               admit: (UnsafeRawBufferPointer, UInt32) -> Bool,
               fill: (UnsafeMutableRawPointer) -> Void) -> WriteOutcome {
        let need = SlotLayout.headerBytes + key.count + valueLen
        guard need <= maxWay, key.count <= 0xFFFF, valueLen <= 0xFFFF else { return .tooLarge }
        let b = bucket(of: h), t = tag(of: h), tg = tags(b)

        // 1. The current entry for this key, if any (duplicates left by racing inserts go).
        var current = -1
        var currentSeq: UInt64 = 0
        for w in 0..<ways where tg[w].load(ordering: .relaxed) == t {
            guard let (s, prefix, exp) = peek(b, w, key: key) else { continue }
            if current < 0 {
                current = w; currentSeq = s
                let ok = prefix.withUnsafeBytes { admit($0, exp) }
                if !ok { return .rejected }
            } else {
                _ = invalidate(b, w, from: s)
            }
        }
        if current >= 0, size(ofWay: current) >= need {
            if let v = claimAndWrite(b, current, from: currentSeq, tag: t, key: key, valueLen: valueLen,
                                     expiry: expiry, now: now, fill: fill) {
                return .replaced(slot: b * ways + current, version: v)
            }
            return .droppedBusy
        }

        // 2. A victim: empty first, then expired, then least recently used; busy ways skipped
        //    (or reclaimed when abandoned).
        for _ in 0..<2 {
            var best = -1, bestSeq: UInt64 = 0
            var bestScore = (UInt8.max, UInt32.max, Int.max)
            var bestEviction = Eviction.none
            for w in 0..<ways where w != current && size(ofWay: w) >= need {
                let p = slot(b, w)
                var s = seq(p).pointee.load(ordering: .acquiring)
                if SeqWord.isBusy(s) {
                    guard let r = reclaim(b, w, seen: s, deadPID: nil) else { continue }
                    s = r
                }
                let score: (UInt8, UInt32, Int)
                let ev: Eviction
                if !SeqWord.isOccupied(s) {
                    score = (0, 0, size(ofWay: w)); ev = .none
                } else {
                    // Racy reads: only a heuristic; the CAS below is what must be right.
                    let exp = p.loadUnaligned(fromByteOffset: SlotLayout.expiry, as: UInt32.self)
                    if exp <= now {
                        score = (1, exp, size(ofWay: w)); ev = .expired
                    } else {
                        let lu = word32(p, SlotLayout.lastUsed).pointee.load(ordering: .relaxed)
                        score = (2, lu, size(ofWay: w)); ev = .live
                    }
                }
                if score < bestScore { bestScore = score; best = w; bestSeq = s; bestEviction = ev }
            }
            guard best >= 0 else { return .droppedBusy }
            if let v = claimAndWrite(b, best, from: bestSeq, tag: t, key: key, valueLen: valueLen,
                                     expiry: expiry, now: now, fill: fill) {
                if current >= 0 {
                    _ = invalidate(b, current, from: currentSeq)
                    return .replaced(slot: b * ways + best, version: v)
                }
                return .inserted(slot: b * ways + best, version: v, evicted: bestEviction)
            }
        }
        return .droppedBusy
    }

    /// Key check of one slot, returning its sequence word, the first 16 value bytes and the
    /// expiry when it holds `key` (consistent by the seqlock protocol).
    private func peek(_ b: Int, _ w: Int, key: UnsafeRawBufferPointer) -> (UInt64, [UInt8], UInt32)? {
        let p = slot(b, w), size = size(ofWay: w), sq = seq(p)
        for _ in 0..<3 {
            let s1 = sq.pointee.load(ordering: .acquiring)
            guard SeqWord.isOccupied(s1) else { return nil }
            let kl = Int(p.loadUnaligned(fromByteOffset: SlotLayout.keyLen, as: UInt16.self))
            let vl = Int(p.loadUnaligned(fromByteOffset: SlotLayout.valueLen, as: UInt16.self))
            let match = SlotLayout.headerBytes + kl + vl <= size && kl == key.count
                && memcmp(p + SlotLayout.headerBytes, key.baseAddress!, kl) == 0
            let n = min(vl, 16)
            let prefix = match ? [UInt8](UnsafeRawBufferPointer(start: p + SlotLayout.headerBytes + kl, count: n)) : []
            let exp = p.loadUnaligned(fromByteOffset: SlotLayout.expiry, as: UInt32.self)
            atomicMemoryFence(ordering: .acquiring)
            if sq.pointee.load(ordering: .relaxed) == s1 { return match ? (s1, prefix, exp) : nil }
        }
        return nil
    }

    /// Takes the slot from the even word `s`, writes it, and gives it back. Returns the new
    /// version, or nil when someone else took the slot first (or reclaimed it under us).
    private func claimAndWrite(_ b: Int, _ w: Int, from s: UInt64, tag t: UInt32, key: UnsafeRawBufferPointer,
                               valueLen: Int, expiry: UInt32, now: UInt32,
                               fill: (UnsafeMutableRawPointer) -> Void) -> UInt32? {
        let p = slot(b, w), sq = seq(p)
        shmInvariant(SlotLayout.headerBytes + key.count + valueLen <= size(ofWay: w), "entry larger than its way")
        shmInvariant(!SeqWord.isBusy(s), "claiming from an odd sequence word")
        let c = SeqWord.counter(s)
        let busyWord = SeqWord.busy(c &+ 1, owner: region.ownerID)
        guard sq.pointee.compareExchange(expected: s, desired: busyWord, ordering: .acquiring).exchanged else {
            return nil
        }
        word32(p, SlotLayout.lockedAt).pointee.store(shmNow(), ordering: .relaxed)
        tags(b)[w].store(t, ordering: .relaxed)
        // The odd word must be visible before any byte below (pairs with the reader's acquire
        // fence before its second load).
        atomicMemoryFence(ordering: .releasing)
        p.storeBytes(of: UInt16(key.count), toByteOffset: SlotLayout.keyLen, as: UInt16.self)
        p.storeBytes(of: UInt16(valueLen), toByteOffset: SlotLayout.valueLen, as: UInt16.self)
        p.storeBytes(of: expiry, toByteOffset: SlotLayout.expiry, as: UInt32.self)
        p.storeBytes(of: now, toByteOffset: SlotLayout.storedAt, as: UInt32.self)
        memcpy(p + SlotLayout.headerBytes, key.baseAddress!, key.count)
        fill(p + SlotLayout.headerBytes + key.count)
        word32(p, SlotLayout.hits).pointee.store(0, ordering: .relaxed)
        word32(p, SlotLayout.lastUsed).pointee.store(now, ordering: .relaxed)
        if region.writeHoldMicros > 0 { usleep(region.writeHoldMicros) }
        shmInvariant(sq.pointee.load(ordering: .relaxed) == busyWord || region.writeHoldMicros > 0,
                     "slot taken from its writer")
        let done = SeqWord.idle(c &+ 2, occupied: true)
        // Releasing: everything written above happens-before a reader's acquire of `done`.
        guard sq.pointee.compareExchange(expected: busyWord, desired: done, ordering: .releasing).exchanged else {
            return nil
        }
        return c &+ 2
    }

    /// Empties an occupied slot last seen as `s` (no odd phase: nothing is written, and any
    /// reader that saw `s` sees the word change and retries).
    @discardableResult
    func invalidate(_ b: Int, _ w: Int, from s: UInt64) -> Bool {
        let sq = seq(slot(b, w))
        let empty = SeqWord.idle(SeqWord.counter(s) &+ 2, occupied: false)
        guard sq.pointee.compareExchange(expected: s, desired: empty, ordering: .relaxed).exchanged else {
            return false
        }
        let tg = tags(b)
        let t = tg[w].load(ordering: .relaxed)
        _ = tg[w].compareExchange(expected: t, desired: 0, ordering: .relaxed)
        return true
    }

    /// Removes every entry stored under `key`. Returns how many went.
    func remove(key: UnsafeRawBufferPointer, hash h: UInt64) -> Int {
        let b = bucket(of: h), t = tag(of: h), tg = tags(b)
        var n = 0
        for w in 0..<ways where tg[w].load(ordering: .relaxed) == t {
            if let (s, _, _) = peek(b, w, key: key), invalidate(b, w, from: s) { n += 1 }
        }
        return n
    }

    // MARK: Abandoned slots

    /// Reclaims a slot left odd by a dead writer. With `deadPID`, only slots of that pid (the
    /// supervisor's sweep after it reaped the process); without, only slots odd for longer than
    /// `staleSeconds` whose owner is gone, or longer than `hardStaleSeconds`. Returns the new
    /// (empty, even) word.
    func reclaim(_ b: Int, _ w: Int, seen s: UInt64, deadPID: UInt32?) -> UInt64? {
        guard SeqWord.isBusy(s) else { return nil }
        let p = slot(b, w)
        let owner = SeqWord.owner(s)
        if let deadPID {
            guard owner == deadPID else { return nil }
        } else {
            let age = Int64(shmNow()) - Int64(word32(p, SlotLayout.lockedAt).pointee.load(ordering: .relaxed))
            let stale = age >= Int64(region.staleSeconds) && owner != region.ownerID && !processIsAlive(owner)
            guard stale || age >= Int64(region.hardStaleSeconds) else { return nil }
        }
        let empty = SeqWord.idle(SeqWord.counter(s) &+ 1, occupied: false)
        guard seq(p).pointee.compareExchange(expected: s, desired: empty, ordering: .acquiringAndReleasing).exchanged else {
            return nil
        }
        tags(b)[w].store(0, ordering: .relaxed)
        return empty
    }

    /// Reclaims every abandoned slot of the table (see `reclaim`). Returns how many.
    func sweep(deadPID: UInt32?) -> Int {
        var n = 0
        for b in 0..<geometry.buckets {
            for w in 0..<ways {
                let s = seq(slot(b, w)).pointee.load(ordering: .acquiring)
                if SeqWord.isBusy(s), reclaim(b, w, seen: s, deadPID: deadPID) != nil { n += 1 }
            }
        }
        return n
    }

    // MARK: Scans

    /// What a scan callback wants done with the entry it saw.
    enum ScanAction { case keep, remove, stop }

    /// Visits every occupied slot with a consistent copy; `.remove` empties it if unchanged.
    func scan(_ body: (SlotSnapshot) -> ScanAction) {
        for b in 0..<geometry.buckets {
            for w in 0..<ways {
                guard let snap = read(b, w, matching: nil) else { continue }
                switch body(snap) {
                case .keep: break
                case .remove:
                    _ = invalidate(b, w, from: SeqWord.idle(snap.version, occupied: true))
                case .stop: return
                }
            }
        }
    }

    /// Slot states, for tests and `shoalctl`.
    struct Occupancy: Equatable, Sendable {
        var empty = 0, occupied = 0, busy = 0
    }

    func occupancy() -> Occupancy {
        var o = Occupancy()
        for b in 0..<geometry.buckets {
            for w in 0..<ways {
                let s = seq(slot(b, w)).pointee.load(ordering: .relaxed)
                if SeqWord.isBusy(s) { o.busy += 1 } else if SeqWord.isOccupied(s) { o.occupied += 1 } else { o.empty += 1 }
            }
        }
        return o
    }

    /// Testing only: leaves one slot odd as if its writer `pid` had been killed mid-write.
    func simulateAbandonedWrite(slot index: Int, pid: UInt32, lockedAt: UInt32) -> Bool {
        guard let (b, w) = location(ofSlot: index) else { return false }
        let p = slot(b, w), sq = seq(p)
        let s = sq.pointee.load(ordering: .acquiring)
        guard !SeqWord.isBusy(s) else { return false }
        guard sq.pointee.compareExchange(expected: s, desired: SeqWord.busy(SeqWord.counter(s) &+ 1, owner: pid),
                                         ordering: .acquiringAndReleasing).exchanged else { return false }
        word32(p, SlotLayout.lockedAt).pointee.store(lockedAt, ordering: .relaxed)
        return true
    }
}

extension SlotTable {
    /// Finds the slot holding `key` and returns a pointer to its value bytes with the sequence
    /// word seen; the caller reads atomics there and re-checks the word with `stillHolds`.
    func locate(key: UnsafeRawBufferPointer, hash h: UInt64) -> (value: UnsafeMutableRawPointer, seq: UInt64, slot: Int)? {
        let b = bucket(of: h), t = tag(of: h), tg = tags(b)
        for w in 0..<ways where tg[w].load(ordering: .relaxed) == t {
            let p = slot(b, w), sq = seq(p)
            let s1 = sq.pointee.load(ordering: .acquiring)
            guard SeqWord.isOccupied(s1) else { continue }
            let kl = Int(p.loadUnaligned(fromByteOffset: SlotLayout.keyLen, as: UInt16.self))
            let match = kl == key.count && SlotLayout.headerBytes + kl + 16 <= size(ofWay: w)
                && memcmp(p + SlotLayout.headerBytes, key.baseAddress!, kl) == 0
            atomicMemoryFence(ordering: .acquiring)
            if match && sq.pointee.load(ordering: .relaxed) == s1 {
                return (p + SlotLayout.headerBytes + kl, s1, b * ways + w)
            }
        }
        return nil
    }

    /// Whether the slot still holds what it held when its word was `s`.
    func stillHolds(slot index: Int, seq s: UInt64) -> Bool {
        guard let (b, w) = location(ofSlot: index) else { return false }
        atomicMemoryFence(ordering: .acquiring)
        return seq(slot(b, w)).pointee.load(ordering: .relaxed) == s
    }
}

/// Invariant checks, compiled in only with `-Xswiftc -DSHOAL_SHM_CHECKS` (tests and stress runs
/// can turn them on; production pays nothing).
@inline(__always)
func shmInvariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                  file: StaticString = #file, line: UInt = #line) {
    #if SHOAL_SHM_CHECKS
    precondition(condition(), message(), file: file, line: line)
    #endif
}
