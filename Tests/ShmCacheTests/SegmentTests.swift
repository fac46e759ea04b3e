import DNSCore
import ShoalTestSupport
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

    @Test("another layout version is refused with a message naming it, both versions and who is attached; never unlinked")
    func layoutVersionRefused() throws {
        try withSegment("version") { seg, name in
            seg.records.insert(name: dn("a.example."), type: .a, ttl: 300, rdata: [[1, 2, 3, 4]], rank: .glue, now: 100)
            seg.testingSetLayoutVersion(ShmLayout.version + 7)
            for open in [{ _ = try SharedSegment.attach(name: name) },
                         { _ = try SharedSegment.openOrCreate(name: name, geometry: smallGeometry()) }] {
                do {
                    try open()
                    Issue.record("attached a segment of another layout version")
                } catch let e as ShmError {
                    let text = e.description
                    #expect(text.contains(name) && text.contains("layout version \(ShmLayout.version + 7)")
                            && text.contains("uses \(ShmLayout.version)"), "\(text)")
                    // This process is attached (its owner entry is in the table).
                    #expect(text.contains("pid \(getpid())"), "\(text)")
                }
            }
            // Still the same object under the name, contents intact.
            seg.testingSetLayoutVersion(ShmLayout.version)
            let again = try SharedSegment.attach(name: name)
            #expect(again.generation == 1)
            #expect(again.records.lookup(name: dn("a.example."), type: .a, now: 100) != nil)
        }
    }

    @Test("another geometry attaches the existing segment as it is, and says both; never a second segment")
    func geometryAttachesExisting() throws {
        try withSegment("geometry") { seg, name in
            seg.records.insert(name: dn("a.example."), type: .a, ttl: 300, rdata: [[1, 2, 3, 4]], rank: .glue, now: 100)
            let (other, outcome) = try SharedSegment.openOrCreate(name: name, geometry: smallGeometry(recordBuckets: 32))
            #expect(outcome == .attachedOtherGeometry(found: smallGeometry(), configured: smallGeometry(recordBuckets: 32)))
            #expect(other.geometry == seg.geometry && other.generation == seg.generation)
            // Both handles serve from one segment: what one writes, the other reads.
            #expect(other.records.lookup(name: dn("a.example."), type: .a, now: 100) != nil)
            other.records.insert(name: dn("b.example."), type: .a, ttl: 300, rdata: [[1, 2, 3, 4]], rank: .glue, now: 100)
            #expect(seg.records.lookup(name: dn("b.example."), type: .a, now: 100) != nil)
        }
    }

    @Test("an object under the name that is not a Shoal segment is refused, not replaced")
    func garbageRefused() throws {
        let name = uniqueSegmentName("garbage")
        defer { try? SharedSegment.unlink(name: name) }
        let fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0o600)
        try #require(fd >= 0)
        ftruncate(fd, 8192)
        var junk = [UInt8](repeating: 0xAB, count: 64)
        _ = write(fd, &junk, junk.count)
        close(fd)
        #expect { _ = try SharedSegment.openOrCreate(name: name, geometry: smallGeometry()) } throws: { e in
            (e as? ShmError)?.description.contains("not a Shoal segment") == true
        }
        // remove refuses what it cannot check, unless forced.
        #expect(throws: ShmError.self) { try SharedSegment.remove(name: name, force: false) }
        try SharedSegment.remove(name: name, force: true)
        let (seg, outcome) = try SharedSegment.openOrCreate(name: name, geometry: smallGeometry())
        #expect(outcome == .created)
        #expect(seg.records.count(now: 0).entries == 0)
    }

    @Test("a segment whose creator died before finishing it is replaced, with the next generation")
    func incompleteReplaced() throws {
        let name = uniqueSegmentName("incomplete")
        defer { try? SharedSegment.unlink(name: name) }
        let fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0o600)
        try #require(fd >= 0)
        ftruncate(fd, 8192)
        // A creator that stamped itself (a reaped child: certainly dead) and generation 4.
        var header = [UInt8](repeating: 0, count: 512)
        let dead = try deadPID()
        header.withUnsafeMutableBytes { p in
            p.storeBytes(of: UInt64(4), toByteOffset: HeaderLayout.generation, as: UInt64.self)
            p.storeBytes(of: dead, toByteOffset: HeaderLayout.creatorPID, as: UInt32.self)
            p.storeBytes(of: UInt64(1), toByteOffset: HeaderLayout.creatorStart, as: UInt64.self)
            p.storeBytes(of: ProcessIdentity.current.pidNamespace, toByteOffset: HeaderLayout.creatorNS, as: UInt64.self)
        }
        _ = pwrite(fd, &header, header.count, 0)
        close(fd)
        let (seg, outcome) = try SharedSegment.openOrCreate(name: name, geometry: smallGeometry())
        #expect(outcome == .recreated(.incomplete))
        #expect(seg.generation == 5)
    }

    @Test("recreate refuses while another process is attached, unless forced; attached processes see it retired")
    func recreateRefusesLive() throws {
        let exe = try stressExecutable()
        try withSegment("recreate") { seg, name in
            seg.records.insert(name: dn("a.example."), type: .a, ttl: 300, rdata: [[1, 2, 3, 4]], rank: .glue, now: 100)
            // Only this process: allowed from here with force only because this handle counts
            // as another owner than the recreating call's own handle.
            let child = try TestChild(exe, [name, "reader", "ms=20000", "keys=10"])
            defer { child.kill9(); child.reap() }
            var seen = false
            for _ in 0..<500 where !seen {
                seen = seg.otherOwners().contains { $0.identity.pid == UInt32(child.pid) }
                usleep(10_000)
            }
            #expect(seen, "the child registered as an owner")
            #expect { _ = try SharedSegment.recreate(name: name, geometry: nil, force: false) } throws: { e in
                let t = (e as? ShmError)?.description ?? ""
                return t.contains("in use by") && t.contains("pid \(child.pid)")
            }
            #expect(!seg.isRetired && seg.replacedReason() == nil)
            let fresh = try SharedSegment.recreate(name: name, geometry: smallGeometry(recordBuckets: 32), force: true)
            #expect(fresh.generation == 2 && fresh.geometry == smallGeometry(recordBuckets: 32))
            #expect(fresh.records.lookup(name: dn("a.example."), type: .a, now: 100) == nil)
            #expect(seg.isRetired)
            #expect(seg.replacedReason()?.contains("retired") == true)
            #expect(fresh.replacedReason() == nil)
        }
    }

    @Test("attach of a missing segment throws a typed error naming the syscall")
    func attachMissing() {
        do {
            _ = try SharedSegment.attach(name: uniqueSegmentName("missing"))
            Issue.record("attach succeeded")
        } catch {
            #expect(error.call == "shm_open")
            #expect(error.errno == .noSuchFileOrDirectory)
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
