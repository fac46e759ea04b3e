import DNSCore
import Testing
@testable import ShmCache
#if canImport(Glibc)
import Glibc
#endif

@Suite("Segment lifecycle")
struct SegmentTests {
    @Test("create, header fields, attach sees the same entries")
    func createAndAttach() throws {
        try withSegment("lifecycle") { seg, name in
            #expect(seg.layoutVersion == ShmLayout.version)
            #expect(seg.generation == 1)
            #expect(seg.totalSize == SegmentLayout(smallGeometry()).total)
            #expect(abs(Int(seg.createdAt) - Int(time(nil))) < 5)
            let now: UInt32 = 1_000_000
            #expect(seg.records.insert(name: dn("www.example.com."), type: .a, ttl: 300, rdata: [[192, 0, 2, 1]],
                                       rank: .authoritativeAnswer, now: now) == .inserted)
            // A second mapping (as another process would have) sees it.
            let other = try SharedSegment.attach(name: name)
            #expect(other.geometry == seg.geometry)
            #expect(other.hashSeed == seg.hashSeed)
            let e = try #require(other.records.lookup(name: dn("WWW.Example.COM."), type: .a, now: now + 10))
            #expect(e.ttl == 290)
            #expect(e.rdata == [[192, 0, 2, 1]])
            // openOrCreate with the same geometry attaches.
            let (again, outcome) = try SharedSegment.openOrCreate(name: name, geometry: smallGeometry())
            #expect(outcome == .attached)
            #expect(again.records.lookup(name: dn("www.example.com."), type: .a, now: now) != nil)
        }
    }

    @Test("openOrCreate maps every page up front, created or attached: no page fault on the resolver's first writes")
    func prefaulted() throws {
        try withSegment("prefault") { seg, name in
            #expect(residentKiB(of: seg.region) == seg.region.size / 1024)
            // A plain attach (bridge, shoalctl) maps lazily; openOrCreate's attach does not.
            let lazy = try SharedSegment.attach(name: name)
            #expect(residentKiB(of: lazy.region) ?? 0 < lazy.region.size / 1024)
            let (again, outcome) = try SharedSegment.openOrCreate(name: name, geometry: smallGeometry())
            #expect(outcome == .attached)
            #expect(residentKiB(of: again.region) == again.region.size / 1024)
        }
    }

    /// The resident size of this process's mapping of `region`, from /proc/self/smaps.
    private func residentKiB(of region: MappedRegion) -> Int? {
        guard let f = fopen("/proc/self/smaps", "r") else { return nil }
        defer { fclose(f) }
        let start = String(UInt(bitPattern: region.base), radix: 16)
        var inside = false
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), f) != nil {
            let text = String(cString: line)
            if let dash = text.firstIndex(of: "-"), !text.hasPrefix(" "), text[..<dash].allSatisfy(\.isHexDigit) {
                inside = text[..<dash] == start
            } else if inside, text.hasPrefix("Rss:") {
                return text.dropFirst(4).split(separator: " ").first.flatMap { Int($0) }
            }
        }
        return nil
    }

    @Test("a changed layout version is recreated, not misread")
    func layoutVersionRecreates() throws {
        try withSegment("version") { seg, name in
            seg.records.insert(name: dn("a.example."), type: .a, ttl: 300, rdata: [[1, 2, 3, 4]], rank: .glue, now: 100)
            seg.testingSetLayoutVersion(ShmLayout.version + 7)
            #expect(throws: ShmError.self) { _ = try SharedSegment.attach(name: name) }
            let (fresh, outcome) = try SharedSegment.openOrCreate(name: name, geometry: smallGeometry())
            #expect(outcome == .recreated(.layoutVersion(found: ShmLayout.version + 7, expected: ShmLayout.version)))
            #expect(fresh.generation == 2)
            #expect(fresh.layoutVersion == ShmLayout.version)
            #expect(fresh.records.lookup(name: dn("a.example."), type: .a, now: 100) == nil)
            #expect(fresh.records.count(now: 100).entries == 0)
            // The old mapping still works on the orphaned object; nobody misreads the new one.
            #expect(seg.records.lookup(name: dn("a.example."), type: .a, now: 100) != nil)
        }
    }

    @Test("a changed geometry is recreated and says so")
    func geometryRecreates() throws {
        try withSegment("geometry") { _, name in
            let (_, outcome) = try SharedSegment.openOrCreate(name: name, geometry: smallGeometry(recordBuckets: 32))
            #expect(outcome == .recreated(.geometryChanged))
            let (_, again) = try SharedSegment.openOrCreate(name: name, geometry: smallGeometry(recordBuckets: 32))
            #expect(again == .attached)
        }
    }

    @Test("a garbage object under the name is recreated")
    func garbageRecreated() throws {
        let name = uniqueSegmentName("garbage")
        defer { try? SharedSegment.unlink(name: name) }
        let fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0o600)
        try #require(fd >= 0)
        ftruncate(fd, 8192)
        var junk = [UInt8](repeating: 0xAB, count: 64)
        _ = write(fd, &junk, junk.count)
        close(fd)
        let (seg, outcome) = try SharedSegment.openOrCreate(name: name, geometry: smallGeometry())
        #expect(outcome == .recreated(.badMagic))
        #expect(seg.records.count(now: 0).entries == 0)
    }

    @Test("attach of a missing segment throws a typed error naming the syscall")
    func attachMissing() {
        do {
            _ = try SharedSegment.attach(name: uniqueSegmentName("missing"))
            Issue.record("attach succeeded")
        } catch {
            #expect(error.syscall == "shm_open")
            #expect(error.errno == ENOENT)
        }
    }

    @Test("invalid geometry is refused")
    func invalidGeometry() {
        var g = smallGeometry()
        g.records.buckets = 12
        #expect(throws: ShmError.self) { _ = try SharedSegment.openOrCreate(name: uniqueSegmentName("bad"), geometry: g) }
    }

    @Test("NUMA hook interleaves over the configured CPUs' nodes (one node here)")
    func numaHook() throws {
        let name = uniqueSegmentName("numa")
        defer { try? SharedSegment.unlink(name: name) }
        let (seg, _) = try SharedSegment.openOrCreate(name: name, geometry: smallGeometry(), numa: NUMAPlacement(cpus: [0]))
        switch seg.numaOutcome {
        case .singleNode(let n): #expect(n == 0)
        case .interleaved(let nodes): #expect(nodes.contains(0))
        case .unavailable: break   // a kernel without NUMA support: the hook ran and said so
        case .notRequested: Issue.record("the NUMA hook did not run")
        }
        #expect(NUMA.nodes(ofCPUs: [0]).count <= 1)
    }

    @Test("default geometry sizes")
    func defaultGeometry() throws {
        let g = SegmentGeometry.default
        try g.validate()
        let total = SegmentLayout(g).total
        #expect(total > 32 << 20 && total < 80 << 20)
        #expect(g.records.slots > 100_000)
    }

    @Test("hash seeds differ between segments")
    func seeds() throws {
        try withSegment("seed1") { a, _ in
            try withSegment("seed2") { b, _ in #expect(a.hashSeed != b.hashSeed) }
        }
    }

    @Test("statistics per worker slot, summed")
    func statistics() throws {
        try withSegment("stats") { seg, name in
            seg.stats(workerSlot: 0).add(.queries, 5)
            seg.stats(workerSlot: 3).add(.queries, 7)
            seg.stats(workerSlot: 3).add(.recordHits)
            let other = try SharedSegment.attach(name: name)
            let t = other.totalStatistics()
            #expect(t[.queries] == 12)
            #expect(t[.recordHits] == 1)
            #expect(t[.misses] == 0)
            #expect(WorkerStatistics.slotBytes % 64 == 0)
            #expect(seg.summary().contains("queries=12"))
        }
    }
}
