import DNSCore
import Foundation
import Synchronization
import ShoalTestSupport
import Testing
@testable import ShmCache

/// A pause point for one handle's writers: the writer thread stops at the first `ClaimPoint`
/// that `matches`, until the test releases it.
final class ClaimGate: Sendable {
    let paused = Atomic<Bool>(false)
    let released = Atomic<Bool>(false)
    let armed = Atomic<Bool>(true)
    let matches: @Sendable (ClaimPoint) -> Bool

    init(_ matches: @escaping @Sendable (ClaimPoint) -> Bool) { self.matches = matches }

    var options: SegmentOptions {
        var o = SegmentOptions()
        o.testingClaimHook = { [self] p in
            guard matches(p), armed.exchange(false, ordering: .relaxed) else { return }
            paused.store(true, ordering: .releasing)
            while !released.load(ordering: .acquiring) { usleep(200) }
        }
        return o
    }

    func waitPaused() -> Bool {
        for _ in 0..<25_000 where !paused.load(ordering: .acquiring) { usleep(200) }
        return paused.load(ordering: .acquiring)
    }

    func release() { released.store(true, ordering: .releasing) }
}

/// Runs `body` on a thread of its own and returns a way to wait for its result.
func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) -> () -> T? {
    let box = Mutex<T?>(nil)
    let done = Atomic<Bool>(false)
    let t = Thread {
        let v = body()
        box.withLock { $0 = v }
        done.store(true, ordering: .releasing)
    }
    t.start()
    return {
        for _ in 0..<25_000 where !done.load(ordering: .acquiring) { usleep(200) }
        return box.withLock { $0 }
    }
}

/// One bucket of two ways: every write of the test competes for the same two slots.
func twoSlotGeometry() -> SegmentGeometry {
    var g = smallGeometry()
    g.records = TableGeometry(buckets: 1, waySizes: [128, 128])
    return g
}

func identity(startTime: UInt64? = nil, pidNamespace: UInt64? = nil, boot: BootID? = nil) -> ProcessIdentity {
    let me = ProcessIdentity.current
    return ProcessIdentity(pid: me.pid, startTime: startTime ?? me.startTime,
                           pidNamespace: pidNamespace ?? me.pidNamespace, bootID: boot ?? me.bootID)
}

@Suite("Slot claims and reclaim", .serialized)
struct ClaimTests {
    let now: UInt32 = 1_000_000

    @Test("this process's identity: start time and pid namespace from /proc, boot id parsed")
    func currentIdentity() throws {
        let me = ProcessIdentity.current
        #expect(me.pid == UInt32(getpid()))
        #expect(me.startTime > 0 && me.pidNamespace > 0)
        #expect(me.bootID != BootID(high: 0, low: 0))
        let text = try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
        #expect(me.bootID.description == text.filter(\.isHexDigit))
        #expect(OwnerTable.judge(me, from: me) == .alive)
        // pid 1 is alive with its own start time, "dead" with any other (a reused pid).
        let one = try #require(ProcFS.startTime(of: 1))
        #expect(OwnerTable.judge(ProcessIdentity(pid: 1, startTime: one.startTime, pidNamespace: me.pidNamespace,
                                                 bootID: me.bootID), from: me) == .alive)
        #expect(OwnerTable.judge(ProcessIdentity(pid: 1, startTime: one.startTime + 1, pidNamespace: me.pidNamespace,
                                                 bootID: me.bootID), from: me) == .dead)
    }

    @Test("writer A stopped right after its claim CAS, aged far past every bound: B never reclaims or writes the slot; A finishes")
    func pausedClaimIsNeverTaken() throws {
        try withSegment("claim-pause", geometry: twoSlotGeometry()) { seg, name in
            #expect(seg.records.insert(name: dn("x.example."), type: .a, ttl: 100, rdata: [[1, 1, 1, 1]], rank: .glue, now: now) == .inserted)
            let gate = ClaimGate { if case .claimed = $0 { true } else { false } }
            let a = try SharedSegment.attach(name: name, options: gate.options)
            let finish = onThread { a.records.insert(name: dn("a.example."), type: .a, ttl: 100, rdata: [[7, 7, 7, 7]],
                                                     rank: .glue, now: 1_000_000) }
            #expect(gate.waitPaused())
            #expect(seg.records.occupancy().busy == 1)
            // B sees A's claim as 20 hours old (past the stale bound and the lease).
            var o = SegmentOptions()
            o.testingClockOffset = 72_000
            let bWrites = Atomic<Int>(0)
            o.testingClaimHook = { p in if case .claimed = p { bWrites.add(1, ordering: .relaxed) } }
            let b = try SharedSegment.attach(name: name, options: o)
            #expect(b.reclaimStale() == 0)
            #expect(b.sweep(deadPID: getpid()) == 0)
            // B's writes compete for the same bucket: they take the free or live way, never A's.
            for i in 0..<20 {
                b.records.insert(name: dn("b\(i).example."), type: .a, ttl: 100, rdata: [[2, 2, 2, 2]], rank: .glue, now: now)
            }
            #expect(b.records.occupancy().busy == 1)
            let busySlot = (0..<2).first { b.records.table.read(slot: $0) == nil }
            #expect(busySlot != nil)
            #expect(bWrites.load(ordering: .relaxed) > 0)
            gate.release()
            let result = finish()
            #expect(result?.stored == true)
            let e = try #require(seg.records.lookup(name: dn("a.example."), type: .a, now: now))
            #expect(e.rdata == [[7, 7, 7, 7]])
            #expect(seg.records.occupancy().busy == 0)
            #expect(seg.reclaimedSlots == 0)
        }
    }

    @Test("a claim whose owner entry names a reused pid (same pid, other start time) is reclaimed; with the right start time it is not")
    func reusedPID() throws {
        try withSegment("claim-reuse", geometry: twoSlotGeometry()) { seg, name in
            seg.records.insert(name: dn("x.example."), type: .a, ttl: 100, rdata: [[1, 1, 1, 1]], rank: .glue, now: now)
            var o = SegmentOptions()
            o.testingIdentity = identity(startTime: ProcessIdentity.current.startTime &+ 12345)
            let reused = try SharedSegment.attach(name: name, options: o)
            o.testingIdentity = identity()
            let same = try SharedSegment.attach(name: name, options: o)
            let t = seg.records.table
            #expect(t.simulateAbandonedWrite(slot: 0, owner: same.region.ownerIndex, generation: same.region.ownerGeneration, age: 100))
            #expect(t.simulateAbandonedWrite(slot: 1, owner: reused.region.ownerIndex, generation: reused.region.ownerGeneration, age: 100))
            #expect(seg.reclaimStale() == 1)
            #expect(t.read(slot: 1) == nil && t.occupancy().busy == 1 && t.occupancy().empty == 1)
        }
    }

    @Test("across pid namespaces the lease decides: a young claim stays, one older than the lease is reclaimed")
    func otherNamespaceLease() throws {
        try withSegment("claim-ns", geometry: twoSlotGeometry()) { seg, name in
            var o = SegmentOptions()
            o.testingIdentity = identity(pidNamespace: ProcessIdentity.current.pidNamespace &+ 1)
            let foreign = try SharedSegment.attach(name: name, options: o)
            #expect(seg.otherOwners().contains { !$0.knownAlive })
            let t = seg.records.table
            #expect(t.simulateAbandonedWrite(slot: 0, owner: foreign.region.ownerIndex, generation: foreign.region.ownerGeneration, age: 10))
            #expect(t.simulateAbandonedWrite(slot: 1, owner: foreign.region.ownerIndex, generation: foreign.region.ownerGeneration, age: 400))
            #expect(seg.reclaimStale() == 1)
            #expect(t.occupancy().busy == 1)
            // A sweep for "our" pid never touches another namespace's owner.
            #expect(seg.sweep(deadPID: getpid()) == 0)
        }
    }

    @Test("a claim from an earlier boot is reclaimed at once; a segment kept across a reboot clears that boot's owners on attach")
    func earlierBoot() throws {
        try withSegment("claim-boot", geometry: twoSlotGeometry()) { seg, name in
            var o = SegmentOptions()
            o.testingIdentity = identity(boot: BootID(high: 1, low: 2))
            let old = try SharedSegment.attach(name: name, options: o)
            let t = seg.records.table
            #expect(t.simulateAbandonedWrite(slot: 0, owner: old.region.ownerIndex, generation: old.region.ownerGeneration, age: 3))
            #expect(seg.reclaimStale() == 1)
            // The header says the segment was last used in boot 1-2: the next attach clears it.
            #expect(t.simulateAbandonedWrite(slot: 1, owner: old.region.ownerIndex, generation: old.region.ownerGeneration, age: 0))
            seg.header.storeBytes(of: UInt64(1), toByteOffset: HeaderLayout.bootHigh, as: UInt64.self)
            let fresh = try SharedSegment.attach(name: name)
            #expect(fresh.earlierBootOwnersCleared == 1)
            #expect(t.occupancy().busy == 0)
            #expect(!fresh.otherOwners().contains { $0.identity.bootID == BootID(high: 1, low: 2) })
            #expect(try SharedSegment.attach(name: name).earlierBootOwnersCleared == 0)
        }
    }

    @Test("a reclaimer stopped between its decision and its takeover cannot wipe the slot of a writer that came after")
    func staleReclaimDecision() throws {
        try withSegment("claim-race", geometry: twoSlotGeometry()) { seg, name in
            var o = SegmentOptions()
            o.testingIdentity = identity(startTime: 1)   // a dead owner (reused pid)
            let ghost = try SharedSegment.attach(name: name, options: o)
            seg.records.insert(name: dn("x.example."), type: .a, ttl: 100, rdata: [[1, 1, 1, 1]], rank: .glue, now: now)
            let xslot = try #require(seg.records.lookup(name: dn("x.example."), type: .a, now: now)).slot
            let free = 1 - xslot
            #expect(seg.records.table.simulateAbandonedWrite(slot: free, owner: ghost.region.ownerIndex,
                                                             generation: ghost.region.ownerGeneration, age: 10))
            // R1 decides to reclaim and stops before its takeover CAS.
            let gate = ClaimGate { $0 == .reclaiming(slot: free) }
            let r1 = try SharedSegment.attach(name: name, options: gate.options)
            let r1Done = onThread { r1.reclaimStale() }
            #expect(gate.waitPaused())
            // R2 reclaims it and a writer stores a new entry there (its tag set).
            let r2 = try SharedSegment.attach(name: name)
            #expect(r2.reclaimStale() == 1)
            #expect(seg.records.insert(name: dn("y.example."), type: .a, ttl: 100, rdata: [[9, 9, 9, 9]],
                                       rank: .glue, now: now).stored)
            gate.release()
            #expect(r1Done() == 0)
            // The new entry is intact and findable (its tag was not cleared).
            #expect(seg.records.lookup(name: dn("y.example."), type: .a, now: now)?.rdata == [[9, 9, 9, 9]])
            #expect(seg.records.lookup(name: dn("x.example."), type: .a, now: now) != nil)
        }
    }

    @Test("owner entries: registered at attach, freed at detach, reused with a new generation")
    func ownerEntries() throws {
        try withSegment("owners") { seg, name in
            #expect(seg.otherOwners().isEmpty)
            var index = -1, gen: UInt32 = 0
            do {
                let other = try SharedSegment.attach(name: name)
                index = other.region.ownerIndex; gen = other.region.ownerGeneration
                #expect(seg.otherOwners().map(\.identity) == [ProcessIdentity.current])
            }
            #expect(seg.otherOwners().isEmpty)
            let again = try SharedSegment.attach(name: name)
            #expect(again.region.ownerIndex == index && again.region.ownerGeneration == gen &+ 1)
        }
    }

    @Test("real processes: a live child holding a slot mid-write is never reclaimed; SIGKILLed, it is, by age or by the sweep for its pid")
    func liveChildThenKilled() throws {
        let exe = try stressExecutable()
        for bySweep in [false, true] {
            var g = twoSlotGeometry()
            g.records = TableGeometry(buckets: 1, waySizes: [1024, 1024])   // room for shm-stress's entries
            try withSegment("claim-child", geometry: g) { seg, name in
                // The child inserts one entry and holds its slot odd for a minute.
                let child = try TestChild(exe, [name, "populate", "n=1", "hold=60000000"])
                defer { child.kill9(); child.reap() }
                var held = false
                for _ in 0..<1000 where !held { held = seg.records.occupancy().busy == 1; usleep(5000) }
                try #require(held, "child \(child.pid) never held a slot: \(child.output)")
                var o = SegmentOptions()
                o.testingClockOffset = 10_000
                let aged = try SharedSegment.attach(name: name, options: o)
                #expect(aged.reclaimStale() == 0)
                #expect(aged.sweep(deadPID: Int32(child.pid)) == 0)
                #expect(seg.records.occupancy().busy == 1)
                child.kill9()
                if bySweep {
                    child.reap()
                    #expect(seg.sweep(deadPID: Int32(child.pid)) == 1)
                } else {
                    // Not even reaped: a zombie writes nothing any more.
                    usleep(50_000)
                    #expect(aged.reclaimStale() == 1)
                }
                #expect(seg.records.occupancy().busy == 0)
                #expect(seg.records.insert(name: dn("after.example."), type: .a, ttl: 100, rdata: [[1, 1, 1, 1]],
                                           rank: .glue, now: now).stored)
            }
        }
    }

    @Test("reclaimStale walks the tables in bounded steps and covers all of them")
    func boundedWalk() throws {
        try withSegment("claim-walk") { seg, name in
            var o = SegmentOptions()
            o.testingIdentity = identity(startTime: 1)
            let ghost = try SharedSegment.attach(name: name, options: o)
            let tables = seg.tables
            for t in tables {
                #expect(t.simulateAbandonedWrite(slot: t.geometry.slots - 1, owner: ghost.region.ownerIndex,
                                                 generation: ghost.region.ownerGeneration, age: 10))
            }
            let total = tables.reduce(0) { $0 + $1.geometry.slots }
            var found = 0, calls = 0
            while calls * 100 < total + 100 { found += seg.reclaimStale(budget: 100); calls += 1 }
            #expect(found == tables.count)
            #expect(tables.allSatisfy { $0.occupancy().busy == 0 })
        }
    }
}

@Suite("Pending-query table")
struct PendingTableTests {
    @Test("record, clear, and adoption only of a dead owner's young entries")
    func adoption() throws {
        try withSegment("pending") { seg, name in
            let addr: [UInt8] = [2, 0, 0, 53, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
            let q: [UInt8] = Array(repeating: 7, count: 40)
            func record(_ s: SharedSegment) -> Int? {
                addr.withUnsafeBytes { a in q.withUnsafeBytes { s.pending.record(slot: 1, listener: 2, address: a, query: $0) } }
            }
            // A live owner's entries are never adopted.
            let mine = try #require(record(seg))
            #expect(seg.pending.inUse(slot: 1) == 1 && seg.pending.inUse(slot: 0) == 0)
            let other = try SharedSegment.attach(name: name)
            #expect(other.pending.adopt(slot: 1, maxAgeMillis: 10_000).orphans.isEmpty)
            // Another process's clear of our index does nothing.
            other.pending.clear(slot: 1, entry: mine)
            #expect(seg.pending.inUse(slot: 1) == 1)
            seg.pending.clear(slot: 1, entry: mine)
            #expect(seg.pending.inUse(slot: 1) == 0)
            // A dead owner (a reused pid): adopted with its bytes, once.
            var o = SegmentOptions()
            o.testingIdentity = identity(startTime: 1)
            let ghost = try SharedSegment.attach(name: name, options: o)
            _ = try #require(record(ghost))
            _ = try #require(record(ghost))
            let (orphans, dropped) = other.pending.adopt(slot: 1, maxAgeMillis: 10_000)
            #expect(orphans.count == 2 && dropped == 0)
            #expect(orphans.allSatisfy { $0.address == addr && $0.query == q && $0.listener == 2 })
            #expect(seg.pending.adopt(slot: 1, maxAgeMillis: 10_000).orphans.isEmpty)   // now the adopter's
            for orphan in orphans { other.pending.clear(slot: 1, entry: orphan.entry) }
            #expect(seg.pending.inUse(slot: 1) == 0)
            // Too old: dropped, not answered.
            _ = try #require(record(ghost))
            usleep(20_000)
            let late = other.pending.adopt(slot: 1, maxAgeMillis: 5)
            #expect(late.orphans.isEmpty && late.dropped == 1 && seg.pending.inUse(slot: 1) == 0)
            // Full table: nil, and too long a query: nil.
            for _ in 0..<PendingTable.entriesPerSlot { _ = record(seg) }
            #expect(record(seg) == nil)
            let long = [UInt8](repeating: 1, count: PendingTable.maxQueryBytes + 1)
            #expect(addr.withUnsafeBytes { a in long.withUnsafeBytes { seg.pending.record(slot: 0, listener: 0, address: a, query: $0) } } == nil)
        }
    }
}
