import ShoalSystem
import Synchronization

/// Queries being resolved, per worker slot, so that a worker's death does not lose them: the
/// next worker of the slot (or any later one) adopts the entries whose writer is dead, resolves
/// them and answers the clients from the same socket.
///
/// Each entry is owned through its state word, as slots are (see `Slots.swift`): a worker takes
/// a free entry by one CAS that writes its owner bits (owner-table index and generation), fills
/// it, then publishes it as pending (release); it frees it with a CAS back to 0 once the answer
/// is sent. An adopter takes a pending entry over by CAS only when its owner is proved dead
/// (`OwnerTable` verdict), so two live workers of one slot (during a hot replace) never take
/// each other's queries.
///
/// Who sees this memory: every worker of the slot (and shoalctl). The state word is the only
/// atomic; the other bytes are written by the owner before it publishes `pending`, and read by
/// an adopter after its CAS (acquiring) took the entry over.
public final class PendingTable: @unchecked Sendable {   // constants and an atomic; the raw memory is shared by design (see above)
    public static let entriesPerSlot = 128
    static let entryBytes = 512
    /// Queries longer than this are not recorded (they are rare: EDNS options, long names).
    public static let maxQueryBytes = entryBytes - Field.query
    public static let maxAddressBytes = 32

    enum Field {
        static let state = 0        // Atomic<UInt64>: owner bits << 32 | phase (0 free, 1 writing, 2 pending)
        static let arrival = 8      // UInt64: boot-clock milliseconds
        static let listener = 16    // UInt16
        static let addressLen = 18  // UInt16
        static let queryLen = 20    // UInt16
        static let address = 24     // up to 32 bytes (sockaddr_in or sockaddr_in6)
        static let query = 56
    }

    let region: MappedRegion
    let base: UnsafeMutableRawPointer
    let slots: Int
    /// Where this process's next search for a free entry starts (process-local).
    private let cursor = Atomic<Int>(0)

    init(region: MappedRegion, offset: Int, workerSlots: Int) {
        self.region = region
        self.base = region.base + offset
        self.slots = workerSlots
    }

    static func bytes(workerSlots: Int) -> Int { workerSlots * entriesPerSlot * entryBytes }

    @inline(__always) func entry(_ slot: Int, _ i: Int) -> UnsafeMutableRawPointer {
        base + (slot * Self.entriesPerSlot + i) * Self.entryBytes
    }
    @inline(__always) func state(_ p: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt64>> {
        p.assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    var ownerWord: UInt64 { UInt64(region.ownerBits) << 32 }

    /// Records a query this process is resolving; returns the entry to ``clear(slot:entry:)``
    /// once answered, or nil (the table is full, or the query or address too long: the query is
    /// served all the same, only not adoptable).
    public func record(slot: Int, listener: Int, address: UnsafeRawBufferPointer, query: UnsafeRawBufferPointer) -> Int? {
        guard (0..<slots).contains(slot), query.count <= Self.maxQueryBytes, address.count <= Self.maxAddressBytes,
              listener <= 0xFFFF else { return nil }
        let writing = ownerWord | 1, pending = ownerWord | 2
        // Each search starts one further than the last: entries are freed in about the order
        // they were taken, so the next free one is usually close.
        let start = cursor.wrappingAdd(1, ordering: .relaxed).oldValue
        for k in 0..<Self.entriesPerSlot {
            let i = (start &+ k) & (Self.entriesPerSlot - 1)
            let p = entry(slot, i)
            guard state(p).pointee.compareExchange(expected: 0, desired: writing, ordering: .acquiring).exchanged else { continue }
            p.storeBytes(of: Clock.bootMillis(), toByteOffset: Field.arrival, as: UInt64.self)
            p.storeBytes(of: UInt16(listener), toByteOffset: Field.listener, as: UInt16.self)
            p.storeBytes(of: UInt16(address.count), toByteOffset: Field.addressLen, as: UInt16.self)
            p.storeBytes(of: UInt16(query.count), toByteOffset: Field.queryLen, as: UInt16.self)
            if address.count > 0 { (p + Field.address).copyMemory(from: address.baseAddress!, byteCount: address.count) }
            if query.count > 0 { (p + Field.query).copyMemory(from: query.baseAddress!, byteCount: query.count) }
            // Releasing: the bytes above happen-before an adopter's acquiring CAS of `pending`.
            state(p).pointee.store(pending, ordering: .releasing)
            return i
        }
        return nil
    }

    /// Frees an entry this process recorded (its answer went out), or adopted.
    public func clear(slot: Int, entry i: Int) {
        guard (0..<slots).contains(slot), (0..<Self.entriesPerSlot).contains(i) else { return }
        let s = state(entry(slot, i))
        let v = s.pointee.load(ordering: .relaxed)
        // Only our own entry: a stale index must not free someone else's.
        guard v >> 32 == UInt64(region.ownerBits) else { return }
        _ = s.pointee.compareExchange(expected: v, desired: 0, ordering: .releasing)
    }

    /// A query adopted from a dead worker.
    public struct Orphan: Sendable {
        public var entry: Int
        public var listener: Int
        public var address: [UInt8]
        public var query: [UInt8]
        public var ageMillis: UInt64
    }

    /// Takes over every entry of `slot` whose writer is dead: pending ones no older than
    /// `maxAgeMillis` are returned (answer them, then ``clear(slot:entry:)``); older ones and
    /// half-written ones are freed. Returns the orphans and how many entries were dropped.
    public func adopt(slot: Int, maxAgeMillis: UInt64) -> (orphans: [Orphan], dropped: Int) {
        guard (0..<slots).contains(slot) else { return ([], 0) }
        var out: [Orphan] = [], dropped = 0
        let now = Clock.bootMillis()
        for i in 0..<Self.entriesPerSlot {
            let p = entry(slot, i), s = state(p)
            let v = s.pointee.load(ordering: .acquiring)
            guard v != 0, v >> 32 != UInt64(region.ownerBits) else { continue }
            let owner = UInt32(truncatingIfNeeded: v >> 32)
            let index = Int(owner >> 22), gen = (owner >> 16) & SeqWord.generationMask
            guard region.owners.verdict(index: index, generationBits: gen, viewer: region.identity) == .dead else { continue }
            let mine = ownerWord | 1
            guard s.pointee.compareExchange(expected: v, desired: mine, ordering: .acquiring).exchanged else { continue }
            let arrival = p.loadUnaligned(fromByteOffset: Field.arrival, as: UInt64.self)
            let age = now > arrival ? now - arrival : 0
            if v & 3 != 2 || age > maxAgeMillis {
                s.pointee.store(0, ordering: .releasing)
                dropped += 1
                continue
            }
            let al = min(Int(p.loadUnaligned(fromByteOffset: Field.addressLen, as: UInt16.self)), Self.maxAddressBytes)
            let ql = min(Int(p.loadUnaligned(fromByteOffset: Field.queryLen, as: UInt16.self)), Self.maxQueryBytes)
            out.append(Orphan(entry: i, listener: Int(p.loadUnaligned(fromByteOffset: Field.listener, as: UInt16.self)),
                              address: [UInt8](UnsafeRawBufferPointer(start: p + Field.address, count: al)),
                              query: [UInt8](UnsafeRawBufferPointer(start: p + Field.query, count: ql)),
                              ageMillis: age))
            // Published as ours and pending: if this process dies too, the next one adopts it.
            s.pointee.store(ownerWord | 2, ordering: .releasing)
        }
        return (out, dropped)
    }

    /// Entries in use in `slot` (any owner), for tests and status.
    public func inUse(slot: Int) -> Int {
        guard (0..<slots).contains(slot) else { return 0 }
        return (0..<Self.entriesPerSlot).filter { state(entry(slot, $0)).pointee.load(ordering: .relaxed) != 0 }.count
    }
}
