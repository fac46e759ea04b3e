import ShoalSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Layout constants that change whenever the bytes of the segment change meaning.
public enum ShmLayout {
    /// "SHOALSHM" in little-endian order.
    public static let magic: UInt64 = 0x4D48_534C_414F_4853
    /// Bump on any change to the header, a slot, a value format or a table's position. The
    /// owner table's offset and entry format (`Owners.swift`) never change.
    ///
    /// 2: claims carry the owner-table index, generation and boot-clock time in the sequence
    /// word; owner table; boot id, retired flag and reclaim counter in the header;
    /// 256-byte statistics slots (answers by RCODE, latency buckets, heartbeat, ready pid);
    /// the pending-query table after the statistics.
    public static let version: UInt32 = 2
}

/// The POSIX shared-memory name of an instance's segment.
public enum SegmentName {
    /// `/shoal.<instance>.v<layout version>`: each layout version has an object of its own, so a
    /// build with a new layout never meets, let alone replaces, the segment that running
    /// workers of the previous build use (the upgrade path: README, "Upgrading").
    public static func forInstance(_ instance: String) -> String { "/shoal.\(instance).v\(ShmLayout.version)" }
}

/// Why `openOrCreate` made a new segment instead of attaching the existing one.
public enum RecreateReason: Hashable, Sendable, CustomStringConvertible {
    /// The creator died before it finished initializing the header (nobody can have attached).
    case incomplete

    public var description: String {
        switch self {
        case .incomplete: "its creator died before initialization completed"
        }
    }
}

/// How `openOrCreate` got its segment.
public enum OpenOutcome: Hashable, Sendable {
    /// Attached an existing segment with the configured geometry: its contents are kept.
    case attached
    /// Attached an existing segment whose geometry differs from the configuration: its
    /// contents are kept and its own geometry is used (`shoalctl segment recreate` changes it).
    case attachedOtherGeometry(found: SegmentGeometry, configured: SegmentGeometry)
    /// No segment existed: created empty.
    case created
    /// A half-created segment was replaced by an empty one.
    case recreated(RecreateReason)
}

/// Byte offsets in the header page.
enum HeaderLayout {
    static let magic = 0          // Atomic<UInt64>, stored last (release) when created
    static let version = 8        // UInt32
    static let headerBytes = 12   // UInt32
    static let totalSize = 16     // UInt64
    static let createdAt = 24     // UInt64
    static let generation = 32    // UInt64
    static let hashSeed = 40      // UInt64
    static let creatorPID = 48    // UInt32
    static let geometry = 64      // [UInt32], see `encode`
    static let geometryWords = 4 * 18 + 2
    // Layout 2:
    static let bootHigh = 384     // UInt64: boot id of the boot the segment was last attached in
    static let bootLow = 392      // UInt64
    static let retired = 400      // Atomic<UInt64>: non-zero once `recreate` replaced the segment
    static let reclaimedSlots = 408   // Atomic<UInt64>: abandoned slots reclaimed, by anyone
    static let creatorStart = 416 // UInt64: creator's start time (creatorPID is at 48)
    static let creatorNS = 424    // UInt64: creator's pid namespace
    // 504..<4048: the run-time negative trust anchors (`NegativeTrustAnchorTable`), in bytes
    // layout 2 left zero, so an existing segment reads as an empty table.

    static func encode(_ g: SegmentGeometry) -> [UInt32] {
        var out: [UInt32] = []
        for t in [g.records, g.negative, g.packets, g.nsSpeed] {
            out.append(UInt32(t.buckets)); out.append(UInt32(t.ways))
            for i in 0..<16 { out.append(i < t.ways ? UInt32(t.waySizes[i]) : 0) }
        }
        out.append(UInt32(g.journalCapacity)); out.append(UInt32(g.workerSlots))
        return out
    }

    static func decode(_ w: [UInt32]) -> SegmentGeometry? {
        guard w.count == geometryWords else { return nil }
        var tables: [TableGeometry] = []
        for t in 0..<4 {
            let at = t * 18
            let ways = Int(w[at + 1])
            guard ways <= 16 else { return nil }
            tables.append(TableGeometry(buckets: Int(w[at]), waySizes: (0..<ways).map { Int(w[at + 2 + $0]) }))
        }
        return SegmentGeometry(records: tables[0], negative: tables[1], packets: tables[2], nsSpeed: tables[3],
                               journalCapacity: Int(w[72]), workerSlots: Int(w[73]))
    }
}

/// What a segment's header page says, read without trusting it.
struct HeaderInfo {
    var size: Int
    var inode: UInt64
    /// Wall-clock second of the object's last change (its creation, for a new one).
    var modified: Int
    var magic: UInt64
    var version: UInt32
    var generation: UInt64
    var geometry: SegmentGeometry?
    var creator: ProcessIdentity
    var boot: BootID

    /// Reads the header of the object open as `fd` (maps one page, unmaps it).
    static func read(_ fd: borrowing OwnedDescriptor, name: String) throws(ShmError) -> HeaderInfo {
        let st: SharedMemory.Status
        do { st = try SharedMemory.status(fd, name) } catch { throw error }
        var h = HeaderInfo(size: st.size, inode: st.inode, modified: st.modified, magic: 0, version: 0, generation: 0,
                           geometry: nil, creator: ProcessIdentity(pid: 0, startTime: 0, pidNamespace: 0,
                                                                  bootID: BootID(high: 0, low: 0)),
                           boot: BootID(high: 0, low: 0))
        guard h.size >= SegmentLayout.headerBytes else { return h }
        let page: MappedMemory
        do { page = try MappedMemory(fd, size: SegmentLayout.headerBytes, writable: false, detail: name) } catch {
            throw error
        }
        let p = page.base
        // The creator publishes the magic last (release): everything below is complete when
        // it is seen.
        h.magic = p.assumingMemoryBound(to: Atomic<UInt64>.self).pointee.load(ordering: .acquiring)
        h.version = p.loadUnaligned(fromByteOffset: HeaderLayout.version, as: UInt32.self)
        h.generation = p.loadUnaligned(fromByteOffset: HeaderLayout.generation, as: UInt64.self)
        h.boot = BootID(high: p.loadUnaligned(fromByteOffset: HeaderLayout.bootHigh, as: UInt64.self),
                        low: p.loadUnaligned(fromByteOffset: HeaderLayout.bootLow, as: UInt64.self))
        h.creator = ProcessIdentity(pid: p.loadUnaligned(fromByteOffset: HeaderLayout.creatorPID, as: UInt32.self),
                                    startTime: p.loadUnaligned(fromByteOffset: HeaderLayout.creatorStart, as: UInt64.self),
                                    pidNamespace: p.loadUnaligned(fromByteOffset: HeaderLayout.creatorNS, as: UInt64.self),
                                    bootID: h.boot)
        let words = (0..<HeaderLayout.geometryWords).map {
            p.loadUnaligned(fromByteOffset: HeaderLayout.geometry + 4 * $0, as: UInt32.self)
        }
        if let g = HeaderLayout.decode(words), (try? g.validate()) != nil { h.geometry = g }
        return h
    }

    var isComplete: Bool { magic == ShmLayout.magic }
}

/// The shared segment: one POSIX shared-memory object mapped `MAP_SHARED`, holding the record,
/// negative and packet caches, the NS speed table, the change journal, per-worker statistics
/// and the owner table of attached processes.
///
/// Every worker, the bridge and the supervisor map the same object; it outlives them all (until
/// `unlink`). Nothing in it is protected by a lock: see `Slots.swift` for the slot protocol and
/// `Owners.swift` for how a dead writer's slot is told from a live one's. Nothing here ever
/// unlinks a complete segment except `recreate` and `remove`, which refuse while live processes
/// are attached unless forced. The instance unmaps on deinit; table values keep the mapping
/// alive while they exist.
public final class SharedSegment: Sendable {
    let region: MappedRegion
    /// The header page of the mapping: written once by the creator before the magic is
    /// published (release); afterwards only the atomics (`retired`, `reclaimedSlots`), the
    /// negative trust anchor table (its own sequence words) and the boot id (rewritten,
    /// informational, by the first attach after a reboot) change.
    var header: UnsafeMutableRawPointer { region.base }
    public let name: String
    public let geometry: SegmentGeometry
    let layout: SegmentLayout
    /// Inode of the object this process mapped (to notice the name now refers to another).
    let inode: UInt64
    /// Seed of the key hash, random per segment.
    public let hashSeed: UInt64
    /// What the NUMA hook did when this process created the segment (`.notRequested` on attach).
    public let numaOutcome: NUMAOutcome
    /// Owner entries of an earlier boot this attach cleared (the segment outlived a reboot,
    /// e.g. a restored /dev/shm copy): every writer of that boot is gone.
    public let earlierBootOwnersCleared: Int

    public let records: RecordCache
    public let negative: NegativeCache
    public let packets: PacketCache
    public let nsSpeed: NSSpeedTable
    public let journal: Journal
    /// Queries being resolved, per worker slot, for adoption after a worker's death.
    public let pending: PendingTable
    /// Where the bounded `reclaimStale` walk resumes (process-local).
    private let reclaimCursor = Atomic<Int>(0)

    private init(name: String, region: MappedRegion, geometry: SegmentGeometry, inode: UInt64, numa: NUMAOutcome) {
        self.name = name
        self.region = region
        self.geometry = geometry
        self.layout = SegmentLayout(geometry)
        self.inode = inode
        self.numaOutcome = numa
        let seed = region.base.loadUnaligned(fromByteOffset: HeaderLayout.hashSeed, as: UInt64.self)
        self.hashSeed = seed
        let j = Journal(region: region, offset: layout.journal, capacity: geometry.journalCapacity)
        self.journal = j
        pending = PendingTable(region: region, offset: layout.pending, workerSlots: geometry.workerSlots)
        records = RecordCache(table: SlotTable(region: region, offset: layout.records, geometry: geometry.records, seed: seed),
                              journal: j)
        negative = NegativeCache(table: SlotTable(region: region, offset: layout.negative, geometry: geometry.negative,
                                                  seed: seed ^ 0x6E65_6761), journal: j)
        packets = PacketCache(table: SlotTable(region: region, offset: layout.packets, geometry: geometry.packets,
                                               seed: seed ^ 0x7061_636B))
        nsSpeed = NSSpeedTable(table: SlotTable(region: region, offset: layout.nsSpeed, geometry: geometry.nsSpeed,
                                                seed: seed ^ 0x6E73))
        let header = region.base
        let boot = BootID(high: header.loadUnaligned(fromByteOffset: HeaderLayout.bootHigh, as: UInt64.self),
                          low: header.loadUnaligned(fromByteOffset: HeaderLayout.bootLow, as: UInt64.self))
        if boot == region.identity.bootID {
            earlierBootOwnersCleared = 0
        } else {
            // Every owner of another boot is dead: free their entries and reclaim their claims
            // now rather than slot by slot. Safe while others attach concurrently: entries are
            // judged one by one by their own boot id, never by this header field.
            let me = region.identity.bootID
            earlierBootOwnersCleared = SharedSegment.clearDeadOwners(
                region, [records.table, negative.table, packets.table, nsSpeed.table]) { $0.bootID != me }
            header.storeBytes(of: region.identity.bootID.high, toByteOffset: HeaderLayout.bootHigh, as: UInt64.self)
            header.storeBytes(of: region.identity.bootID.low, toByteOffset: HeaderLayout.bootLow, as: UInt64.self)
        }
    }

    var tables: [SlotTable] { [records.table, negative.table, packets.table, nsSpeed.table] }

    // MARK: Header

    public var totalSize: Int { region.size }
    public var layoutVersion: UInt32 { header.loadUnaligned(fromByteOffset: HeaderLayout.version, as: UInt32.self) }
    /// Wall-clock second the segment was created.
    public var createdAt: UInt64 { header.loadUnaligned(fromByteOffset: HeaderLayout.createdAt, as: UInt64.self) }
    /// One more than the generation of the segment this one replaced (1 for a first creation).
    public var generation: UInt64 { header.loadUnaligned(fromByteOffset: HeaderLayout.generation, as: UInt64.self) }
    /// Abandoned slots reclaimed so far, by any process.
    public var reclaimedSlots: UInt64 {
        region.reclaimedCounter.pointee.load(ordering: .relaxed)
    }
    /// Whether `recreate` or `remove` retired this segment: attached processes should let go of
    /// it (a worker exits so its supervisor restarts it on the new one).
    public var isRetired: Bool {
        (header + HeaderLayout.retired).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.load(ordering: .acquiring) != 0
    }

    /// Occupied slots of a table, from the sequence words alone (no entry is read): cheap
    /// enough for every metrics scrape.
    public func occupiedSlots(_ t: TableID) -> Int {
        switch t {
        case .records: records.table.occupancy().occupied
        case .negative: negative.table.occupancy().occupied
        case .packets: packets.table.occupancy().occupied
        case .nsSpeed: nsSpeed.table.occupancy().occupied
        default: 0
        }
    }

    /// The negative trust anchors added at run time (`shoalctl nta`), seen by every process.
    public var negativeTrustAnchors: NegativeTrustAnchorTable { NegativeTrustAnchorTable(region: region) }

    /// Statistics of one worker slot (0 ..< geometry.workerSlots).
    public func stats(workerSlot: Int) -> WorkerStatistics {
        precondition((0..<geometry.workerSlots).contains(workerSlot), "worker slot \(workerSlot) out of range")
        return WorkerStatistics(region: region, offset: layout.stats + workerSlot * WorkerStatistics.slotBytes)
    }

    /// Counters summed over every worker slot.
    public func totalStatistics() -> StatisticsSnapshot {
        var s = StatisticsSnapshot()
        for i in 0..<geometry.workerSlots { s += stats(workerSlot: i).snapshot() }
        return s
    }

    // MARK: Owners

    /// A process registered in the segment's owner table.
    public struct Owner: Hashable, Sendable, CustomStringConvertible {
        public var identity: ProcessIdentity
        /// Whether this process can tell it is alive (false: another pid namespace).
        public var knownAlive: Bool
        public var description: String { "pid \(identity.pid)\(knownAlive ? "" : " (other pid namespace)")" }
    }

    /// The processes attached to the segment other than this one (dead ones are left out).
    public func otherOwners() -> [Owner] {
        region.owners.active().compactMap { e in
            if e.index == region.ownerIndex { return nil }
            switch OwnerTable.judge(e.identity, from: region.identity) {
            case .dead: return nil
            case .alive: return Owner(identity: e.identity, knownAlive: true)
            case .unknown: return Owner(identity: e.identity, knownAlive: false)
            }
        }
    }

    /// This process's entry, as other processes see it.
    public var ownIdentity: ProcessIdentity { region.identity }

    // MARK: Kill-safety

    /// Frees the owner entries `isDead` picks (after judging them dead) and reclaims every slot
    /// they left claimed. Returns how many slots were reclaimed.
    private static func clearDeadOwners(_ region: MappedRegion, _ tables: [SlotTable],
                                        _ isDead: (ProcessIdentity) -> Bool) -> Int {
        var n = 0
        for e in region.owners.active() where e.index != region.ownerIndex && isDead(e.identity) {
            guard region.owners.free(e.index, generation: e.generation) else { continue }
            for t in tables { n += t.sweep(dead: (e.index, e.generation)) }
        }
        return n
    }

    /// Reclaims every slot the dead process `pid` (of this pid namespace) left being written,
    /// and frees its owner entry: the supervisor calls it after reaping a worker. A pid whose
    /// process still runs is left alone. Returns how many slots were reclaimed.
    @discardableResult
    public func sweep(deadPID pid: Int32) -> Int {
        let p = UInt32(truncatingIfNeeded: pid), me = region.identity
        return SharedSegment.clearDeadOwners(region, tables) { id in
            id.pid == p && id.pidNamespace == me.pidNamespace && OwnerTable.judge(id, from: me) == .dead
        }
    }

    /// Reclaims abandoned slots (see `SegmentOptions` for when a claim counts as abandoned)
    /// among the next `budget` slots of a walk over every table, resuming where the last call
    /// stopped: call it periodically; each call costs at most `budget` slot-word loads plus
    /// the reclaims. Returns how many were reclaimed.
    @discardableResult
    public func reclaimStale(budget: Int = .max) -> Int {
        let ts = tables
        let total = ts.reduce(0) { $0 + $1.geometry.slots }
        var at = reclaimCursor.load(ordering: .relaxed) % max(total, 1)
        var left = min(budget, total), n = 0
        while left > 0 {
            // Find the table holding global index `at`.
            var base = 0
            for t in ts {
                let slots = t.geometry.slots
                if at < base + slots {
                    let from = at - base, to = min(slots, from + left)
                    n += t.sweep(dead: nil, range: from..<to)
                    left -= to - from
                    at = (base + to) % total
                    break
                }
                base += slots
            }
        }
        reclaimCursor.store(at, ordering: .relaxed)
        return n
    }

    /// Why this mapping is no longer the segment its name refers to, or nil while it is:
    /// retired by `recreate`/`remove`, or the name removed or pointing at another object.
    public func replacedReason() -> String? {
        if isRetired { return "\(name) (generation \(generation)) was retired by `shoalctl segment`" }
        let fd: OwnedDescriptor
        do { fd = try SharedMemory.open(name, readOnly: true) } catch {
            return error.errno == .noSuchFileOrDirectory ? "\(name) was removed" : nil
        }
        guard let st = try? SharedMemory.status(fd, name) else { return nil }
        return st.inode == inode ? nil : "\(name) now names another segment (this one was generation \(generation))"
    }

    // MARK: Lifecycle

    /// Attaches the segment `name`, or creates it when there is none.
    ///
    /// An existing segment is never replaced: one with this layout version is attached as it is
    /// (with its own geometry when that differs from `geometry`: `.attachedOtherGeometry`);
    /// one of another layout version, or an object that is not a Shoal segment, is an error
    /// that names it and who is attached. Only a segment whose creator died before finishing
    /// it is replaced. `numa`, when given, interleaves a new segment's pages over the nodes of
    /// those CPUs; `mode` is the permission of a new object.
    public static func openOrCreate(name: String, geometry: SegmentGeometry, numa: NUMAPlacement? = nil,
                                    mode: mode_t = 0o600,
                                    options: SegmentOptions = SegmentOptions()) throws(ShmError) -> (SharedSegment, OpenOutcome) {
        do { try geometry.validate() } catch {
            throw ShmError(syscall: "geometry", errno: EINVAL, detail: "\(name): \(error.message)")
        }
        var replaced: RecreateReason? = nil
        var previousGeneration: UInt64 = 0
        let deadline = monotonicNow() + 30
        while true {
            if let fd = try openIfPresent(name) {
                let h = try HeaderInfo.read(fd, name: name)
                if h.isComplete {
                    let seg = try attachComplete(fd, header: h, name: name, options: options, prefault: true)
                    if let why = replaced { return (seg, .recreated(why)) }
                    return (seg, seg.geometry == geometry ? .attached
                                : .attachedOtherGeometry(found: seg.geometry, configured: geometry))
                }
                // Not initialized: being created right now (wait), or its creator died.
                if h.magic == 0 && creatorMayBeWorking(h) && monotonicNow() < deadline {
                    usleep(2000)
                    continue
                }
                guard h.magic == 0 else {
                    throw ShmError(syscall: "attach", errno: EINVAL,
                                   detail: "\(name) is not a Shoal segment (bad magic); remove it with `shoalctl segment remove` if it is stale")
                }
                previousGeneration = max(previousGeneration, h.generation)
                replaced = .incomplete
                // Unlink only the object we inspected (a racing process may have replaced it).
                try unlinkIfSame(name: name, inode: h.inode)
            }
            do {
                let seg = try create(name: name, geometry: geometry, numa: numa, mode: mode,
                                     generation: previousGeneration + 1, options: options)
                return (seg, replaced.map { .recreated($0) } ?? .created)
            } catch where error.errno == .fileExists {
                continue   // someone else created it between our open and create: attach theirs
            }
        }
    }

    /// Attaches an existing segment with whatever geometry its header records (bridge,
    /// shoalctl, test children). Never creates, recreates or waits.
    public static func attach(name: String, options: SegmentOptions = SegmentOptions()) throws(ShmError) -> SharedSegment {
        let fd: OwnedDescriptor
        do { fd = try SharedMemory.open(name) } catch { throw error }
        let h = try HeaderInfo.read(fd, name: name)
        guard h.size >= SegmentLayout.headerBytes else { throw .invalidSegment("\(name): \(h.size) bytes, no header") }
        guard h.isComplete else { throw .invalidSegment("\(name): bad magic or not initialized") }
        return try attachComplete(fd, header: h, name: name, options: options, prefault: false)
    }

    /// Removes the name; processes that have it mapped keep using their mapping.
    public static func unlink(name: String) throws(ShmError) {
        do { try SharedMemory.unlink(name) } catch { throw error }
    }

    /// Replaces the segment `name` by an empty one with `geometry` (its current geometry when
    /// nil) and the next generation: the explicit way to change a segment's size. Refuses while
    /// other live processes are attached unless `force`; attached processes see the old one
    /// retired (`isRetired`). Returns the new segment.
    public static func recreate(name: String, geometry: SegmentGeometry?, force: Bool,
                                options: SegmentOptions = SegmentOptions()) throws(ShmError) -> SharedSegment {
        let old = try retire(name: name, force: force, options: options)
        let g = geometry ?? old.geometry
        do { try g.validate() } catch {
            throw ShmError(syscall: "geometry", errno: EINVAL, detail: "\(name): \(error.message)")
        }
        return try create(name: name, geometry: g, numa: nil, mode: 0o600, generation: old.generation + 1, options: options)
    }

    /// Removes the segment `name` (a segment of an earlier layout after an upgrade, or one no
    /// longer used). Refuses while other live processes are attached unless `force`. Segments
    /// this build cannot read (another layout version, not initialized) are removed when no
    /// process can be attached to them by this build's knowledge: with `force` only.
    public static func remove(name: String, force: Bool) throws(ShmError) {
        let h: HeaderInfo
        do {
            let fd = try SharedMemory.open(name, readOnly: true)
            h = try HeaderInfo.read(fd, name: name)
        } catch let e as SystemCallError {
            throw e
        } catch {
            throw ShmError(syscall: "remove", errno: EIO, detail: "\(name): \(error)")
        }
        if h.isComplete && h.version == ShmLayout.version {
            _ = try retire(name: name, force: force, options: SegmentOptions())
        } else {
            guard force else {
                throw ShmError(syscall: "remove", errno: EBUSY,
                               detail: "\(name) has layout version \(h.version) (this build uses \(ShmLayout.version)): its attached processes cannot be checked; stop them and use --force")
            }
            try unlinkIfSame(name: name, inode: h.inode)
        }
    }

    /// Attaches, refuses when others are attached (unless `force`), marks retired, unlinks.
    private static func retire(name: String, force: Bool, options: SegmentOptions) throws(ShmError) -> SharedSegment {
        let old = try attach(name: name, options: options)
        let others = old.otherOwners()
        if !others.isEmpty && !force {
            throw ShmError(syscall: "recreate", errno: EBUSY,
                           detail: "\(name) is in use by \(others.map(\.description).joined(separator: ", ")); stop them first or force")
        }
        (old.header + HeaderLayout.retired).assumingMemoryBound(to: Atomic<UInt64>.self).pointee
            .store(1, ordering: .releasing)
        try unlinkIfSame(name: name, inode: old.inode)
        return old
    }

    // MARK: Private

    private static func monotonicNow() -> Int { Int(Clock.monotonicSeconds()) }

    /// Whether an uninitialized segment's creator may still be filling it in.
    private static func creatorMayBeWorking(_ h: HeaderInfo) -> Bool {
        if h.creator.pid == 0 {
            // Created but not yet stamped: give the creator a moment (by the object's age).
            return Int(time(nil)) - h.modified < 2
        }
        let me = ProcessIdentity.current
        let creator = ProcessIdentity(pid: h.creator.pid, startTime: h.creator.startTime,
                                      pidNamespace: h.creator.pidNamespace, bootID: me.bootID)
        return OwnerTable.judge(creator, from: me) != .dead
    }

    private static func unlinkIfSame(name: String, inode: UInt64) throws(ShmError) {
        // The object under the name may have been replaced since it was inspected: unlink only
        // the one we looked at (a narrow race remains between this check and the unlink).
        let same: Bool
        do {
            let fd = try SharedMemory.open(name, readOnly: true)
            same = try SharedMemory.status(fd, name).inode == inode
        } catch {
            return   // gone already, or unreadable: not ours to remove
        }
        guard same else { return }
        do { try SharedMemory.unlink(name) } catch where error.errno == .noSuchFileOrDirectory {
        } catch {
            throw error
        }
    }

    /// Maps a complete segment whose header was read as `h`, or throws a specific error.
    private static func attachComplete(_ fd: borrowing OwnedDescriptor, header h: HeaderInfo, name: String,
                                       options: SegmentOptions, prefault pre: Bool) throws(ShmError) -> SharedSegment {
        guard h.version == ShmLayout.version else {
            throw ShmError(syscall: "attach", errno: EPROTO,
                           detail: "\(name) has layout version \(h.version), this build uses \(ShmLayout.version); \(ownersDescription(fd, header: h, name: name)). Each layout version has its own segment name (\(SegmentName.forInstance("<instance>"))): see README, Upgrading")
        }
        guard let g = h.geometry else { throw .invalidSegment("\(name): header geometry is invalid") }
        let total = SegmentLayout(g).total
        guard total == h.size else { throw .invalidSegment("\(name): \(h.size) bytes, its geometry needs \(total)") }
        let memory: MappedMemory
        do { memory = try MappedMemory(fd, size: total, detail: name) } catch { throw error }
        if pre { prefault(memory) }
        return SharedSegment(name: name, region: try MappedRegion(memory: memory, name: name, options: options),
                             geometry: g, inode: h.inode, numa: .notRequested)
    }

    /// "attached: pid 1, pid 2" for a segment of another layout version, read from its owner
    /// table (same place and format in every version that has one).
    private static func ownersDescription(_ fd: borrowing OwnedDescriptor, header h: HeaderInfo, name: String) -> String {
        let bytes = SegmentLayout.ownersOffset + OwnerTable.bytes
        guard h.version >= 2, h.size >= bytes,
              let table = try? MappedMemory(fd, size: bytes, writable: false, detail: name) else {
            return "processes attached to it cannot be listed (layout \(h.version) has no owner table)"
        }
        let me = ProcessIdentity.current
        let live = OwnerTable(base: table.base + SegmentLayout.ownersOffset).active()
            .filter { OwnerTable.judge($0.identity, from: me) != .dead }
        return live.isEmpty ? "no live process is attached to it"
            : "attached: " + live.map { "pid \($0.identity.pid)" }.joined(separator: ", ")
    }

    private static func create(name: String, geometry: SegmentGeometry, numa: NUMAPlacement?, mode: mode_t,
                               generation: UInt64, options: SegmentOptions) throws(ShmError) -> SharedSegment {
        let total = SegmentLayout(geometry).total
        let fd: OwnedDescriptor
        do { fd = try SharedMemory.open(name, create: true, mode: mode) } catch { throw error }
        func failed(_ e: SystemCallError) -> ShmError {
            try? SharedMemory.unlink(name)
            return e
        }
        let inode: UInt64
        do {
            inode = try SharedMemory.status(fd, name).inode
            try SharedMemory.resize(fd, to: total, name)
        } catch { throw failed(error) }
        let memory: MappedMemory
        do { memory = try MappedMemory(fd, size: total, detail: name) } catch { throw failed(error) }
        let base = memory.base
        // Who is creating it, first: a process that finds the segment uninitialized waits while
        // this creator lives, and replaces the segment only once it is dead.
        let me = ProcessIdentity.current
        base.storeBytes(of: me.startTime, toByteOffset: HeaderLayout.creatorStart, as: UInt64.self)
        base.storeBytes(of: me.pidNamespace, toByteOffset: HeaderLayout.creatorNS, as: UInt64.self)
        base.storeBytes(of: me.bootID.high, toByteOffset: HeaderLayout.bootHigh, as: UInt64.self)
        base.storeBytes(of: me.bootID.low, toByteOffset: HeaderLayout.bootLow, as: UInt64.self)
        base.storeBytes(of: generation, toByteOffset: HeaderLayout.generation, as: UInt64.self)
        base.storeBytes(of: me.pid, toByteOffset: HeaderLayout.creatorPID, as: UInt32.self)
        // Placement before the pages exist, then reserve them all now: a full /dev/shm must fail
        // here, not as SIGBUS on some later write.
        let placed = numa.map { NUMA.interleave(base, total, $0) } ?? .notRequested
        // Huge pages cut TLB misses on random slot accesses; honoured only where shmem THP is set
        // to "advise" (or forced), otherwise a no-op. Failure is harmless.
        memory.advise(.hugePages)
        do { try SharedMemory.allocate(fd, size: total, name) } catch { throw failed(error) }
        prefault(memory)
        do throws(ShmError) {
            // The object is zero-filled: every slot empty, every counter zero, every owner
            // entry free. Fill the header, then publish the magic last so an attacher never
            // sees a half-written header as valid.
            base.storeBytes(of: ShmLayout.version, toByteOffset: HeaderLayout.version, as: UInt32.self)
            base.storeBytes(of: UInt32(SegmentLayout.headerBytes), toByteOffset: HeaderLayout.headerBytes, as: UInt32.self)
            base.storeBytes(of: UInt64(total), toByteOffset: HeaderLayout.totalSize, as: UInt64.self)
            base.storeBytes(of: UInt64(time(nil)), toByteOffset: HeaderLayout.createdAt, as: UInt64.self)
            var rng = SystemRandomNumberGenerator()
            base.storeBytes(of: rng.next() as UInt64, toByteOffset: HeaderLayout.hashSeed, as: UInt64.self)
            for (i, w) in HeaderLayout.encode(geometry).enumerated() {
                base.storeBytes(of: w, toByteOffset: HeaderLayout.geometry + 4 * i, as: UInt32.self)
            }
            base.assumingMemoryBound(to: Atomic<UInt64>.self).pointee.store(ShmLayout.magic, ordering: .releasing)
            return SharedSegment(name: name, region: try MappedRegion(memory: memory, name: name, options: options),
                                 geometry: geometry, inode: inode, numa: placed)
        } catch {
            try? SharedMemory.unlink(name)
            throw error
        }
    }

    /// Maps every page of `[base, base+size)` writable now (MADV_POPULATE_WRITE, Linux 5.14), so
    /// that the resolver's first write into each page is not a page fault — on a new segment, a
    /// fault that also clears the page, which was a fifth of a cold resolution's CPU time. The
    /// contents are not touched: safe while other processes use the segment. Where the kernel
    /// lacks the advice, pages fault in on first use as before.
    private static func prefault(_ memory: borrowing MappedMemory) {
        memory.advise(.populateWrite)
    }

    /// The object `name` opened read-write, or nil when there is none.
    private static func openIfPresent(_ name: String) throws(ShmError) -> OwnedDescriptor? {
        do { return try SharedMemory.open(name) } catch where error.errno == .noSuchFileOrDirectory {
            return nil
        } catch {
            throw error
        }
    }

    /// Testing only: overwrites the header's layout version (to prove a changed layout is
    /// refused rather than misread or replaced).
    func testingSetLayoutVersion(_ v: UInt32) {
        header.storeBytes(of: v, toByteOffset: HeaderLayout.version, as: UInt32.self)
    }
}
