import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Layout constants that change whenever the bytes of the segment change meaning.
public enum ShmLayout {
    /// "SHOALSHM" in little-endian order.
    public static let magic: UInt64 = 0x4D48_534C_414F_4853
    /// Bump on any change to the header, a slot, a value format or a table's position.
    public static let version: UInt32 = 1
}

/// The POSIX shared-memory name of an instance's segment.
public enum SegmentName {
    /// `/shoal.<instance>`.
    public static func forInstance(_ instance: String) -> String { "/shoal.\(instance)" }
}

/// Why `openOrCreate` made a new segment instead of attaching the existing one.
public enum RecreateReason: Hashable, Sendable, CustomStringConvertible {
    case badMagic
    case layoutVersion(found: UInt32, expected: UInt32)
    case geometryChanged
    case sizeMismatch(found: Int, expected: Int)
    /// The creator died before it finished initializing the header.
    case incomplete

    public var description: String {
        switch self {
        case .badMagic: "bad magic"
        case let .layoutVersion(f, e): "layout version \(f), this build uses \(e)"
        case .geometryChanged: "table geometry differs from the configuration"
        case let .sizeMismatch(f, e): "size \(f) bytes, expected \(e)"
        case .incomplete: "initialization never completed"
        }
    }
}

/// How `openOrCreate` got its segment.
public enum OpenOutcome: Hashable, Sendable {
    /// Attached an existing segment with the same layout: its contents are kept.
    case attached
    /// No segment existed: created empty.
    case created
    /// A segment existed with another layout (or a broken header): replaced by an empty one.
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

/// The shared segment: one POSIX shared-memory object mapped `MAP_SHARED`, holding the record,
/// negative and packet caches, the NS speed table, the change journal and per-worker statistics.
///
/// Every worker, the bridge and the supervisor map the same object; it outlives them all (until
/// `unlink`). Nothing in it is protected by a lock: see `Slots.swift` for the slot protocol.
/// The instance unmaps on deinit; table values keep the mapping alive while they exist.
public final class SharedSegment: @unchecked Sendable {
    let region: MappedRegion
    /// The header page of the mapping: written once by the creator before the magic is
    /// published (release); read-only afterwards except `generation`.
    let header: UnsafeMutableRawPointer
    public let name: String
    public let geometry: SegmentGeometry
    let layout: SegmentLayout
    /// Seed of the key hash, random per segment.
    public let hashSeed: UInt64
    /// What the NUMA hook did when this process created the segment (`.notRequested` on attach).
    public let numaOutcome: NUMAOutcome

    public let records: RecordCache
    public let negative: NegativeCache
    public let packets: PacketCache
    public let nsSpeed: NSSpeedTable
    public let journal: Journal

    private init(name: String, region: MappedRegion, geometry: SegmentGeometry, numa: NUMAOutcome) {
        self.name = name
        self.region = region
        self.header = region.base
        self.geometry = geometry
        self.layout = SegmentLayout(geometry)
        self.numaOutcome = numa
        let seed = region.base.loadUnaligned(fromByteOffset: HeaderLayout.hashSeed, as: UInt64.self)
        self.hashSeed = seed
        let j = Journal(region: region, offset: layout.journal, capacity: geometry.journalCapacity)
        self.journal = j
        records = RecordCache(table: SlotTable(region: region, offset: layout.records, geometry: geometry.records, seed: seed),
                              journal: j)
        negative = NegativeCache(table: SlotTable(region: region, offset: layout.negative, geometry: geometry.negative,
                                                  seed: seed ^ 0x6E65_6761), journal: j)
        packets = PacketCache(table: SlotTable(region: region, offset: layout.packets, geometry: geometry.packets,
                                               seed: seed ^ 0x7061_636B))
        nsSpeed = NSSpeedTable(table: SlotTable(region: region, offset: layout.nsSpeed, geometry: geometry.nsSpeed,
                                                seed: seed ^ 0x6E73))
    }

    // MARK: Header

    public var totalSize: Int { region.size }
    public var layoutVersion: UInt32 { header.loadUnaligned(fromByteOffset: HeaderLayout.version, as: UInt32.self) }
    /// Wall-clock second the segment was created.
    public var createdAt: UInt64 { header.loadUnaligned(fromByteOffset: HeaderLayout.createdAt, as: UInt64.self) }
    /// One more than the generation of the segment this one replaced (1 for a first creation):
    /// the bridge and workers notice a recreated segment by it.
    public var generation: UInt64 { header.loadUnaligned(fromByteOffset: HeaderLayout.generation, as: UInt64.self) }

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

    // MARK: Kill-safety

    /// Reclaims every slot a dead process left being written: call it after reaping `pid`.
    /// Returns how many slots were reclaimed.
    @discardableResult
    public func sweep(deadPID pid: Int32) -> Int {
        let p = UInt32(truncatingIfNeeded: pid)
        return records.table.sweep(deadPID: p) + negative.table.sweep(deadPID: p)
            + packets.table.sweep(deadPID: p) + nsSpeed.table.sweep(deadPID: p)
    }

    /// Reclaims slots odd for longer than the stale bound whose writer is gone (or for longer
    /// than the hard bound, whoever holds them). Writers also do this on the fly.
    @discardableResult
    public func reclaimStale() -> Int {
        records.table.sweep(deadPID: nil) + negative.table.sweep(deadPID: nil)
            + packets.table.sweep(deadPID: nil) + nsSpeed.table.sweep(deadPID: nil)
    }

    /// Seconds a slot may stay odd before a writer checks its owner's liveness (default 2).
    public var staleWriteSeconds: UInt32 {
        get { region.staleSeconds }
        set { region.staleSeconds = newValue }
    }

    /// Testing only: make every write in this process hold its slot odd for this long.
    public var testingWriteHoldMicros: UInt32 {
        get { region.writeHoldMicros }
        set { region.writeHoldMicros = newValue }
    }

    // MARK: Lifecycle

    /// Attaches the segment `name` when its header matches `geometry` and this build's layout;
    /// otherwise (absent, other version, other geometry, broken) creates a fresh one and says why.
    ///
    /// `numa`, when given, interleaves a newly created segment's pages over the nodes of those
    /// CPUs. `mode` is the permission of a new object.
    public static func openOrCreate(name: String, geometry: SegmentGeometry, numa: NUMAPlacement? = nil,
                                    mode: mode_t = 0o600) throws(ShmError) -> (SharedSegment, OpenOutcome) {
        do { try geometry.validate() } catch {
            throw ShmError(syscall: "geometry", errno: EINVAL, detail: "\(name): \(error.message)")
        }
        let expected = SegmentLayout(geometry).total
        var reason: RecreateReason? = nil
        var previousGeneration: UInt64 = 0
        for attempt in 0..<200 {
            let fd = shm_open(name, O_RDWR, 0)
            if fd >= 0 {
                let r = inspect(fd: fd, name: name, geometry: geometry, expected: expected)
                switch r {
                case let .ok(seg):
                    close(fd)
                    return (seg, reason.map { .recreated($0) } ?? .attached)
                case let .mismatch(why, gen, young):
                    close(fd)
                    if young && attempt < 150 {
                        // Another process is creating it right now: give it a moment.
                        usleep(2000)
                        continue
                    }
                    reason = why
                    previousGeneration = max(previousGeneration, gen)
                    if shm_unlink(name) != 0 && errno != ENOENT {
                        throw ShmError(syscall: "shm_unlink", errno: errno, detail: name)
                    }
                case let .failed(e):
                    close(fd)
                    throw e
                }
            } else if errno != ENOENT {
                throw ShmError(syscall: "shm_open", errno: errno, detail: name)
            }
            do {
                let seg = try create(name: name, geometry: geometry, numa: numa, mode: mode,
                                     generation: previousGeneration + 1)
                return (seg, reason.map { .recreated($0) } ?? .created)
            } catch where error.errno == EEXIST {
                continue   // someone else created it between our open and create: attach theirs
            }
        }
        throw ShmError(syscall: "shm_open", errno: EAGAIN, detail: "\(name): segment kept changing while attaching")
    }

    /// Attaches an existing segment with whatever geometry its header records (bridge,
    /// shoalctl, test children). Never creates or recreates.
    public static func attach(name: String) throws(ShmError) -> SharedSegment {
        let fd = try sysCall("shm_open", name) { shm_open(name, O_RDWR, 0) }
        defer { close(fd) }
        let size = try fileSize(fd, name)
        guard size >= SegmentLayout.headerBytes else { throw .invalidSegment("\(name): \(size) bytes, no header") }
        let (p, _) = try map(fd: fd, size: SegmentLayout.headerBytes, name: name)
        let magic = p.assumingMemoryBound(to: Atomic<UInt64>.self).pointee.load(ordering: .acquiring)
        let version = p.loadUnaligned(fromByteOffset: HeaderLayout.version, as: UInt32.self)
        let words = (0..<HeaderLayout.geometryWords).map {
            p.loadUnaligned(fromByteOffset: HeaderLayout.geometry + 4 * $0, as: UInt32.self)
        }
        munmap(p, SegmentLayout.headerBytes)
        guard magic == ShmLayout.magic else { throw .invalidSegment("\(name): bad magic or not initialized") }
        guard version == ShmLayout.version else {
            throw .invalidSegment("\(name): layout version \(version), this build uses \(ShmLayout.version)")
        }
        guard let g = HeaderLayout.decode(words), (try? g.validate()) != nil else {
            throw .invalidSegment("\(name): header geometry is invalid")
        }
        let total = SegmentLayout(g).total
        guard total == size else { throw .invalidSegment("\(name): \(size) bytes, geometry needs \(total)") }
        let (base, _) = try map(fd: fd, size: total, name: name)
        return SharedSegment(name: name, region: MappedRegion(base: base, size: total), geometry: g, numa: .notRequested)
    }

    /// Removes the name; processes that have it mapped keep using their mapping.
    public static func unlink(name: String) throws(ShmError) {
        _ = try sysCall("shm_unlink", name) { shm_unlink(name) }
    }

    // MARK: Private

    private enum Inspection {
        case ok(SharedSegment)
        case mismatch(RecreateReason, generation: UInt64, young: Bool)
        case failed(ShmError)
    }

    private static func inspect(fd: Int32, name: String, geometry: SegmentGeometry, expected: Int) -> Inspection {
        let size: Int
        do { size = try fileSize(fd, name) } catch { return .failed(error) }
        var st = stat()
        fstat(fd, &st)
        let young = Int(time(nil)) - Int(st.st_mtim.tv_sec) < 2
        guard size >= SegmentLayout.headerBytes else {
            return .mismatch(.sizeMismatch(found: size, expected: expected), generation: 0, young: young)
        }
        let base: UnsafeMutableRawPointer
        do { (base, _) = try map(fd: fd, size: size, name: name) } catch { return .failed(error) }
        let magic = base.assumingMemoryBound(to: Atomic<UInt64>.self).pointee.load(ordering: .acquiring)
        let version = base.loadUnaligned(fromByteOffset: HeaderLayout.version, as: UInt32.self)
        let gen = base.loadUnaligned(fromByteOffset: HeaderLayout.generation, as: UInt64.self)
        let words = (0..<HeaderLayout.geometryWords).map {
            base.loadUnaligned(fromByteOffset: HeaderLayout.geometry + 4 * $0, as: UInt32.self)
        }
        let why: RecreateReason?
        if magic == 0 && version == 0 {
            why = .incomplete
        } else if magic != ShmLayout.magic {
            why = .badMagic
        } else if version != ShmLayout.version {
            why = .layoutVersion(found: version, expected: ShmLayout.version)
        } else if words != HeaderLayout.encode(geometry) {
            why = .geometryChanged
        } else if size != expected {
            why = .sizeMismatch(found: size, expected: expected)
        } else {
            why = nil
        }
        if let why {
            munmap(base, size)
            let knownGen = magic == ShmLayout.magic ? gen : 0
            return .mismatch(why, generation: knownGen, young: young && why == .incomplete)
        }
        prefault(base, size)
        return .ok(SharedSegment(name: name, region: MappedRegion(base: base, size: size), geometry: geometry,
                                 numa: .notRequested))
    }

    private static func create(name: String, geometry: SegmentGeometry, numa: NUMAPlacement?, mode: mode_t,
                               generation: UInt64) throws(ShmError) -> SharedSegment {
        let fd = try sysCall("shm_open", name) { shm_open(name, O_RDWR | O_CREAT | O_EXCL, mode) }
        defer { close(fd) }
        let total = SegmentLayout(geometry).total
        do throws(ShmError) {
            _ = try sysCall("ftruncate", "\(name) to \(total) bytes") { ftruncate(fd, off_t(total)) }
            let (base, _) = try map(fd: fd, size: total, name: name)
            // Placement before the pages exist, then reserve them all now: a full /dev/shm
            // must fail here, not as SIGBUS on some later write.
            let placed = numa.map { NUMA.interleave(base, total, $0) } ?? .notRequested
            // Huge pages cut TLB misses on random slot accesses; honoured only where shmem THP
            // is set to "advise" (or forced), otherwise a no-op. Failure is harmless.
            _ = madvise(base, total, 14 /* MADV_HUGEPAGE */)
            var r: Int32
            repeat { r = posix_fallocate(fd, 0, off_t(total)) } while r == EINTR
            if r != 0 {
                munmap(base, total)
                throw ShmError(syscall: "posix_fallocate", errno: r, detail: "\(name), \(total) bytes")
            }
            prefault(base, total)
            // The object is zero-filled: every slot empty, every counter zero. Fill the header,
            // then publish the magic last so an attacher never sees a half-written header as valid.
            base.storeBytes(of: ShmLayout.version, toByteOffset: HeaderLayout.version, as: UInt32.self)
            base.storeBytes(of: UInt32(SegmentLayout.headerBytes), toByteOffset: HeaderLayout.headerBytes, as: UInt32.self)
            base.storeBytes(of: UInt64(total), toByteOffset: HeaderLayout.totalSize, as: UInt64.self)
            base.storeBytes(of: UInt64(time(nil)), toByteOffset: HeaderLayout.createdAt, as: UInt64.self)
            base.storeBytes(of: generation, toByteOffset: HeaderLayout.generation, as: UInt64.self)
            var rng = SystemRandomNumberGenerator()
            base.storeBytes(of: rng.next() as UInt64, toByteOffset: HeaderLayout.hashSeed, as: UInt64.self)
            base.storeBytes(of: UInt32(truncatingIfNeeded: getpid()), toByteOffset: HeaderLayout.creatorPID, as: UInt32.self)
            for (i, w) in HeaderLayout.encode(geometry).enumerated() {
                base.storeBytes(of: w, toByteOffset: HeaderLayout.geometry + 4 * i, as: UInt32.self)
            }
            base.assumingMemoryBound(to: Atomic<UInt64>.self).pointee.store(ShmLayout.magic, ordering: .releasing)
            return SharedSegment(name: name, region: MappedRegion(base: base, size: total), geometry: geometry,
                                 numa: placed)
        } catch {
            shm_unlink(name)
            throw error
        }
    }

    /// Maps every page of `[base, base+size)` writable now (MADV_POPULATE_WRITE, Linux 5.14), so
    /// that the resolver's first write into each page is not a page fault — on a new segment, a
    /// fault that also clears the page, which was a fifth of a cold resolution's CPU time. The
    /// contents are not touched: safe while other processes use the segment. Where the kernel
    /// lacks the advice, pages fault in on first use as before.
    private static func prefault(_ base: UnsafeMutableRawPointer, _ size: Int) {
        _ = madvise(base, size, 23 /* MADV_POPULATE_WRITE */)
    }

    private static func fileSize(_ fd: Int32, _ name: String) throws(ShmError) -> Int {
        var st = stat()
        _ = try sysCall("fstat", name) { fstat(fd, &st) }
        return Int(st.st_size)
    }

    private static func map(fd: Int32, size: Int, name: String) throws(ShmError) -> (UnsafeMutableRawPointer, Int) {
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw ShmError(syscall: "mmap", errno: errno, detail: "\(name), \(size) bytes")
        }
        return (p, size)
    }

    /// Testing only: overwrites the header's layout version (to prove a changed layout is
    /// recreated rather than misread).
    func testingSetLayoutVersion(_ v: UInt32) {
        header.storeBytes(of: v, toByteOffset: HeaderLayout.version, as: UInt32.self)
    }
}
