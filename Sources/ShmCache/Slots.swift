import CShoalShims
import ShoalSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// The slot engine: every table of the segment (records, negative answers, packets, NS speed) is
// a set-associative array of fixed-size slots, each guarded by a 64-bit sequence word. This is
// one of the few files with raw pointers into the shared mapping; the tables above it only see
// keys, value bytes and snapshots. The seqlock protocol is written once here: `readSlot` for
// every read, `hold` for every change of a slot's bytes or state.
//
// Who sees this memory: every process that has the segment mapped (workers, the bridge,
// shoalctl, the supervisor). Nothing here ever waits for another process:
//  - a writer takes a slot by one compare-and-swap of its sequence word, from an even value to
//    an odd claim word that names the writer (owner-table index and generation) and the claim's
//    time: claim and owner identity become visible in that one atomic step. It gives the slot
//    back with a second CAS to the next even value; when the first CAS fails it picks another
//    way or drops the write;
//  - a reader loads the word (acquire), copies, fences (acquire), loads it again, and keeps the
//    copy only when both loads are equal and even; a busy slot is a miss, never a wait;
//  - a slot left odd by a dead writer is reclaimed by taking it over with the same kind of CAS
//    (so the reclaimer owns it while it clears the tag) and releasing it empty. A claim is
//    reclaimed only when its owner is proved gone (see `Owners.swift`): never while the writer
//    may still write, except across pid namespaces, where the claim's lease is the only clue.

/// Byte offsets inside a slot.
enum SlotLayout {
    static let headerBytes = 32
    /// Atomic<UInt64>: the sequence word.
    static let seq = 0
    // 8..<12: unused (the claim time lives in the sequence word).
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

/// The sequence word. Low 32 bits: a counter, odd while the slot is held. High 32 bits: 1
/// (occupied) or 0 (empty) while even; while odd, the claim: owner-table index (10 bits),
/// the low 6 bits of that entry's generation, and the claim time (boot-clock seconds, low 16
/// bits; ages are taken modulo 2^16).
enum SeqWord {
    static let generationMask: UInt32 = 0x3F
    @inline(__always) static func isBusy(_ s: UInt64) -> Bool { s & 1 != 0 }
    @inline(__always) static func isOccupied(_ s: UInt64) -> Bool { s & 1 == 0 && s >> 32 == 1 }
    @inline(__always) static func counter(_ s: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: s) }
    @inline(__always) static func ownerIndex(_ s: UInt64) -> Int { Int(s >> 54) }
    @inline(__always) static func ownerGeneration(_ s: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: s >> 48) & generationMask }
    @inline(__always) static func stamp(_ s: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: s >> 32) & 0xFFFF }
    /// The high half of a claim word for owner `index` with `generation`, without the stamp.
    @inline(__always) static func ownerBits(index: Int, generation: UInt32) -> UInt32 {
        UInt32(index) << 22 | (generation & generationMask) << 16
    }
    @inline(__always) static func busy(_ counter: UInt32, owner: UInt32, stamp: UInt32) -> UInt64 {
        UInt64(owner | stamp & 0xFFFF) << 32 | UInt64(counter)
    }
    @inline(__always) static func idle(_ counter: UInt32, occupied: Bool) -> UInt64 {
        (occupied ? 1 << 32 : 0) | UInt64(counter)
    }
}

/// Where a writer can be stopped by a test (`SegmentOptions.testingClaimHook`).
public enum ClaimPoint: Sendable, Equatable {
    /// The slot's word is this process's claim; nothing of the entry is written yet.
    case claimed(slot: Int)
    /// The entry is written; the slot is about to be given back.
    case filled(slot: Int)
    /// A reclaimer judged the slot abandoned and is about to take it over.
    case reclaiming(slot: Int)
}

/// How this process uses a segment: the reclaim policy, and test-only hooks. Fixed when the
/// segment is opened.
public struct SegmentOptions: Sendable {
    /// Seconds a slot may stay odd before a writer asks whether its owner is alive (a live
    /// writer holds a slot for microseconds).
    public var staleSeconds: UInt32 = 2
    /// Seconds after which a claim of a process in another pid namespace (whose pid this
    /// process cannot check) is taken for abandoned. Below 2^16.
    public var leaseSeconds: UInt32 = 300
    /// Testing only: microseconds a writer sleeps while it holds a slot odd, so a SIGKILL in a
    /// kill-storm test lands mid-write.
    public var testingWriteHoldMicros: UInt32 = 0
    /// Testing only: called at each `ClaimPoint` of this process's writers and reclaimers.
    public var testingClaimHook: (@Sendable (ClaimPoint) -> Void)? = nil
    /// Testing only: seconds added to this process's boot clock, to age claims.
    public var testingClockOffset: UInt32 = 0
    /// Testing only: the identity registered in the owner table instead of this process's.
    public var testingIdentity: ProcessIdentity? = nil

    public init(staleSeconds: UInt32 = 2, leaseSeconds: UInt32 = 300) {
        self.staleSeconds = staleSeconds
        self.leaseSeconds = min(leaseSeconds, 0xFFFF)
    }
}

/// The process-local handle on the mapping: unmaps it, and frees this process's owner entry,
/// when the last table value referring to it goes away. Tables hold it strongly, so no table
/// outlives the memory it points into. Every stored property is a constant.
final class MappedRegion: @unchecked Sendable {
    /// The MAP_SHARED mapping. Every attached process sees the same bytes; all cross-process
    /// access goes through the atomics and seqlock protocol of this file. Unmapped when this
    /// region goes (after this process's owner entry is freed).
    let memory: MappedMemory
    /// Start of the mapping (`memory.base`, kept for the hot paths).
    let base: UnsafeMutableRawPointer
    let size: Int
    let options: SegmentOptions
    /// The owner table (at a fixed offset in every layout).
    let owners: OwnerTable
    /// This process as registered there, and the claim bits that name it.
    let identity: ProcessIdentity
    let ownerIndex: Int
    let ownerGeneration: UInt32
    let ownerBits: UInt32

    /// Takes over `memory` and registers this process in the owner table.
    init(memory: consuming MappedMemory, name: String, options: SegmentOptions) throws(ShmError) {
        self.base = memory.base
        self.size = memory.size
        self.memory = memory
        self.options = options
        self.owners = OwnerTable(base: base + SegmentLayout.ownersOffset)
        let id = options.testingIdentity ?? ProcessIdentity.current
        self.identity = id
        guard let (i, g) = owners.register(id, now: bootSeconds() &+ options.testingClockOffset) else {
            throw ShmError(syscall: "attach", errno: EBUSY,
                           detail: "\(name): all \(OwnerTable.entries) owner entries hold live processes")
        }
        self.ownerIndex = i
        self.ownerGeneration = g
        self.ownerBits = SeqWord.ownerBits(index: i, generation: g)
    }

    deinit {
        owners.free(ownerIndex, generation: ownerGeneration)
    }

    /// This process's boot clock, as claims are stamped (low 16 bits used).
    @inline(__always) func clock() -> UInt32 { bootSeconds() &+ options.testingClockOffset }

    @inline(__always) func hook(_ p: ClaimPoint) {
        if let h = options.testingClaimHook { h(p) }
    }

    /// Header counter of slots reclaimed by any process (see `HeaderLayout.reclaimedSlots`).
    var reclaimedCounter: UnsafeMutablePointer<Atomic<UInt64>> {
        (base + HeaderLayout.reclaimedSlots).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// Whether a claim word `s` (odd) may be taken from its owner now.
    func mayReclaim(_ s: UInt64) -> Bool {
        let index = SeqWord.ownerIndex(s), gen = SeqWord.ownerGeneration(s)
        // Another thread of this process may be writing it right now.
        if index == ownerIndex && gen == ownerGeneration & SeqWord.generationMask { return false }
        let age = (clock() &- SeqWord.stamp(s)) & 0xFFFF
        guard age >= options.staleSeconds else { return false }
        switch owners.verdict(index: index, generationBits: gen, viewer: identity) {
        case .alive: return false
        case .dead: return true
        case .unknown: return age >= options.leaseSeconds
        }
    }
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

    // MARK: Reading (the seqlock read, written once)

    /// One slot's bytes as seen during a seqlock read: valid only inside the closure it is lent
    /// to, and possibly torn (the read is discarded then). Lengths are already clamped to the way.
    struct SlotView {
        let slot: UnsafeMutableRawPointer
        let key: UnsafeRawBufferPointer
        let value: UnsafeRawBufferPointer
        @inline(__always) var expiry: UInt32 { slot.loadUnaligned(fromByteOffset: SlotLayout.expiry, as: UInt32.self) }
        @inline(__always) var storedAt: UInt32 { slot.loadUnaligned(fromByteOffset: SlotLayout.storedAt, as: UInt32.self) }
    }

    /// Seqlock read of slot (b, w): lends the slot's bytes to `body` and keeps its result only
    /// when the sequence word was even, occupied and unchanged around the call. `body` must only
    /// copy or compare (it may see a torn entry, whose result is thrown away); returning nil
    /// means "not this entry". A changed slot is retried a bounded number of times; a busy slot
    /// is a miss at once. Returns the result with the sequence word it is valid for.
    @inline(__always)
    func readSlot<R>(_ b: Int, _ w: Int, _ body: (SlotView) -> R?) -> (R, UInt64)? {
        let p = slot(b, w), size = size(ofWay: w), sq = seq(p)
        for _ in 0..<3 {
            let s1 = sq.pointee.load(ordering: .acquiring)
            guard SeqWord.isOccupied(s1) else { return nil }
            // Lengths are read racily: clamp before use; the re-check below discards a torn copy.
            let kl = Int(p.loadUnaligned(fromByteOffset: SlotLayout.keyLen, as: UInt16.self))
            let vl = Int(p.loadUnaligned(fromByteOffset: SlotLayout.valueLen, as: UInt16.self))
            var r: R? = nil
            if SlotLayout.headerBytes + kl + vl <= size {
                let k = p + SlotLayout.headerBytes
                r = body(SlotView(slot: p, key: UnsafeRawBufferPointer(start: k, count: kl),
                                  value: UnsafeRawBufferPointer(start: k + kl, count: vl)))
            }
            // Orders the copy before the second load of the sequence word (pairs with the
            // writer's release fence after it made the word odd).
            atomicMemoryFence(ordering: .acquiring)
            if sq.pointee.load(ordering: .relaxed) == s1 { return r.map { ($0, s1) } }
        }
        return nil
    }

    @inline(__always)
    static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
    }

    /// Lends the value of the entry stored under `key` to `body` (see `readSlot` for what
    /// `body` may do), with its slot index, version and the expiry; nil when absent or busy.
    @inline(__always)
    func withValue<R>(key: UnsafeRawBufferPointer, hash h: UInt64,
                      _ body: (UnsafeRawBufferPointer, _ expiry: UInt32, _ storedAt: UInt32) -> R?) -> (R, slot: Int, version: UInt32)? {
        let b = bucket(of: h), t = tag(of: h), tg = tags(b)
        for w in 0..<ways where tg[w].load(ordering: .relaxed) == t {
            if let (r, s) = readSlot(b, w, { v in
                SlotTable.equal(v.key, key) ? body(v.value, v.expiry, v.storedAt) : nil
            }) {
                return (r, b * ways + w, SeqWord.counter(s))
            }
        }
        return nil
    }

    /// Prefetch hints for a batch of lookups (the packet cache's hit path): none changes what
    /// a lookup finds. `prefetchTags` asks for the bucket's tag line; `prefetchSlots`, once
    /// that line has had time to arrive, reads it and asks for the first two lines (sequence
    /// word, lengths, key, start of the value) of each way whose tag matches.
    @inline(__always) func prefetchTags(hash h: UInt64) {
        cshoal_prefetch(UnsafeRawPointer(tags(bucket(of: h))))
    }

    @inline(__always) func prefetchSlots(hash h: UInt64) {
        let b = bucket(of: h), t = tag(of: h), tg = tags(b)
        for w in 0..<ways where tg[w].load(ordering: .relaxed) == t {
            let p = UnsafeRawPointer(slot(b, w))
            cshoal_prefetch(p)
            cshoal_prefetch(p + 64)
        }
    }

    /// Finds the entry stored under `key` and copies it, or nil (absent, or being written).
    func find(key: UnsafeRawBufferPointer, hash h: UInt64) -> SlotSnapshot? {
        guard let (snap, slot, version) = withValue(key: key, hash: h, { value, expiry, storedAt in
            SlotSnapshot(slot: 0, version: 0, expiry: expiry, storedAt: storedAt, lastUsed: 0, hits: 0,
                         key: [], value: [UInt8](value))
        }) else { return nil }
        return withStats(snap, slot: slot, version: version)
    }

    /// Reads a slot by index (for journal consumers and scans): nil when empty or busy.
    func read(slot index: Int) -> SlotSnapshot? {
        guard let (b, w) = location(ofSlot: index) else { return nil }
        return read(b, w)
    }

    private func read(_ b: Int, _ w: Int) -> SlotSnapshot? {
        guard let (snap, s) = readSlot(b, w, { v in
            SlotSnapshot(slot: 0, version: 0, expiry: v.expiry, storedAt: v.storedAt, lastUsed: 0, hits: 0,
                         key: [UInt8](v.key), value: [UInt8](v.value))
        }) else { return nil }
        return withStats(snap, slot: b * ways + w, version: SeqWord.counter(s))
    }

    private func withStats(_ snap: SlotSnapshot, slot index: Int, version: UInt32) -> SlotSnapshot {
        var snap = snap
        let p = slot(index / ways, index % ways)
        snap.slot = index
        snap.version = version
        snap.lastUsed = word32(p, SlotLayout.lastUsed).pointee.load(ordering: .relaxed)
        snap.hits = word32(p, SlotLayout.hits).pointee.load(ordering: .relaxed)
        return snap
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

    // MARK: Holding a slot (every change of a slot goes through `hold`)

    /// Takes slot (b, w) from the word `s` by one CAS to this process's claim, runs `body` while
    /// the slot is held (its return value says whether the slot is occupied afterwards), and
    /// gives it back with the next even value. `s` is even for writes and invalidations, odd
    /// when taking over an abandoned claim. Returns the new even word, or nil when the slot
    /// changed before the CAS (or was taken from us, which only a lease expiry can do).
    @inline(__always)
    private func hold(_ b: Int, _ w: Int, from s: UInt64, _ body: (UnsafeMutableRawPointer) -> Bool) -> UInt64? {
        let p = slot(b, w), sq = seq(p)
        let c = SeqWord.counter(s) &+ (SeqWord.isBusy(s) ? 2 : 1)
        let claim = SeqWord.busy(c, owner: region.ownerBits, stamp: region.clock())
        guard sq.pointee.compareExchange(expected: s, desired: claim, ordering: .acquiring).exchanged else {
            return nil
        }
        region.hook(.claimed(slot: b * ways + w))
        // The odd word must be visible before any byte below (pairs with the reader's acquire
        // fence before its second load).
        atomicMemoryFence(ordering: .releasing)
        let occupied = body(p)
        if region.options.testingWriteHoldMicros > 0 { usleep(region.options.testingWriteHoldMicros) }
        region.hook(.filled(slot: b * ways + w))
        shmInvariant(sq.pointee.load(ordering: .relaxed) == claim || region.options.testingWriteHoldMicros > 0,
                     "slot taken from its writer")
        let done = SeqWord.idle(c &+ 1, occupied: occupied)
        // Releasing: everything written above happens-before a reader's acquire of `done`.
        guard sq.pointee.compareExchange(expected: claim, desired: done, ordering: .releasing).exchanged else {
            return nil
        }
        return done
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
            guard let (admitted, s) = readSlot(b, w, { v -> Bool? in
                guard SlotTable.equal(v.key, key) else { return nil }
                return admit(UnsafeRawBufferPointer(rebasing: v.value.prefix(16)), v.expiry)
            }) else { continue }
            if current < 0 {
                if !admitted { return .rejected }
                current = w; currentSeq = s
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
                    guard let r = reclaim(b, w, seen: s, dead: nil) else { continue }
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

    /// Takes the slot from the even word `s`, writes it, and gives it back. Returns the new
    /// version, or nil when someone else took the slot first.
    private func claimAndWrite(_ b: Int, _ w: Int, from s: UInt64, tag t: UInt32, key: UnsafeRawBufferPointer,
                               valueLen: Int, expiry: UInt32, now: UInt32,
                               fill: (UnsafeMutableRawPointer) -> Void) -> UInt32? {
        shmInvariant(SlotLayout.headerBytes + key.count + valueLen <= size(ofWay: w), "entry larger than its way")
        shmInvariant(!SeqWord.isBusy(s), "claiming from an odd sequence word")
        let done = hold(b, w, from: s) { p in
            // The tag is ours to set while we hold the slot.
            tags(b)[w].store(t, ordering: .relaxed)
            p.storeBytes(of: UInt16(key.count), toByteOffset: SlotLayout.keyLen, as: UInt16.self)
            p.storeBytes(of: UInt16(valueLen), toByteOffset: SlotLayout.valueLen, as: UInt16.self)
            p.storeBytes(of: expiry, toByteOffset: SlotLayout.expiry, as: UInt32.self)
            p.storeBytes(of: now, toByteOffset: SlotLayout.storedAt, as: UInt32.self)
            memcpy(p + SlotLayout.headerBytes, key.baseAddress!, key.count)
            fill(p + SlotLayout.headerBytes + key.count)
            word32(p, SlotLayout.hits).pointee.store(0, ordering: .relaxed)
            word32(p, SlotLayout.lastUsed).pointee.store(now, ordering: .relaxed)
            return true
        }
        return done.map(SeqWord.counter)
    }

    /// Empties an occupied slot last seen as `s`. The slot is held while its tag is cleared, so
    /// the clear can never wipe the tag of a writer that took the slot after us.
    @discardableResult
    func invalidate(_ b: Int, _ w: Int, from s: UInt64) -> Bool {
        hold(b, w, from: s) { _ in
            tags(b)[w].store(0, ordering: .relaxed)
            return false
        } != nil
    }

    /// Removes every entry stored under `key`. Returns how many went.
    func remove(key: UnsafeRawBufferPointer, hash h: UInt64) -> Int {
        let b = bucket(of: h), t = tag(of: h), tg = tags(b)
        var n = 0
        for w in 0..<ways where tg[w].load(ordering: .relaxed) == t {
            if let (_, s) = readSlot(b, w, { v in SlotTable.equal(v.key, key) ? () : nil }),
               invalidate(b, w, from: s) { n += 1 }
        }
        return n
    }

    // MARK: Abandoned slots

    /// Reclaims a slot left odd by a writer that is gone. With `dead` (an owner entry and
    /// generation proved dead, e.g. by the supervisor after reaping the process), only that
    /// owner's claims; without, any claim `MappedRegion.mayReclaim` allows. The slot is taken
    /// over by CAS (so a live writer's claim, which differs in counter or owner, can never be
    /// taken by a stale decision), its tag cleared, and released empty. Returns the new word.
    func reclaim(_ b: Int, _ w: Int, seen s: UInt64, dead: (index: Int, generation: UInt32)?) -> UInt64? {
        guard SeqWord.isBusy(s) else { return nil }
        if let dead {
            guard SeqWord.ownerIndex(s) == dead.index,
                  SeqWord.ownerGeneration(s) == dead.generation & SeqWord.generationMask else { return nil }
        } else {
            guard region.mayReclaim(s) else { return nil }
        }
        region.hook(.reclaiming(slot: b * ways + w))
        let r = hold(b, w, from: s) { _ in
            tags(b)[w].store(0, ordering: .relaxed)
            return false
        }
        if r != nil { region.reclaimedCounter.pointee.wrappingAdd(1, ordering: .relaxed) }
        return r
    }

    /// Reclaims abandoned slots among `range` of the table's slot indices (see `reclaim`).
    /// Returns how many.
    func sweep(dead: (index: Int, generation: UInt32)?, range: Range<Int>? = nil) -> Int {
        var n = 0
        let r = range.map { $0.clamped(to: 0..<geometry.slots) } ?? 0..<geometry.slots
        for i in r {
            let b = i / ways, w = i % ways
            let s = seq(slot(b, w)).pointee.load(ordering: .acquiring)
            if SeqWord.isBusy(s), reclaim(b, w, seen: s, dead: dead) != nil { n += 1 }
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
                guard let snap = read(b, w) else { continue }
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

    /// Testing only: leaves one slot odd as if the owner `index`/`generation` had been killed
    /// mid-write `age` seconds ago (by this process's clock).
    func simulateAbandonedWrite(slot index: Int, owner: Int, generation: UInt32, age: UInt32) -> Bool {
        guard let (b, w) = location(ofSlot: index) else { return false }
        let sq = seq(slot(b, w))
        let s = sq.pointee.load(ordering: .acquiring)
        guard !SeqWord.isBusy(s) else { return false }
        let claim = SeqWord.busy(SeqWord.counter(s) &+ 1, owner: SeqWord.ownerBits(index: owner, generation: generation),
                                 stamp: region.clock() &- age)
        return sq.pointee.compareExchange(expected: s, desired: claim, ordering: .acquiringAndReleasing).exchanged
    }
}

extension SlotTable {
    /// Finds the slot holding `key` and returns a pointer to its value bytes with the sequence
    /// word seen; the caller reads atomics there and re-checks the word with `stillHolds`.
    func locate(key: UnsafeRawBufferPointer, hash h: UInt64) -> (value: UnsafeMutableRawPointer, seq: UInt64, slot: Int)? {
        let b = bucket(of: h), t = tag(of: h), tg = tags(b)
        for w in 0..<ways where tg[w].load(ordering: .relaxed) == t {
            if let (v, s) = readSlot(b, w, { v in
                SlotTable.equal(v.key, key) && v.value.count >= 16 ? UnsafeMutableRawPointer(mutating: v.value.baseAddress!) : nil
            }) {
                return (v, s, b * ways + w)
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
