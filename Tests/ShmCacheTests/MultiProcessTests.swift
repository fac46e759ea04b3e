import DNSCore
import ShoalTestSupport
import Testing
@testable import ShmCache
#if canImport(Glibc)
import Glibc
#endif

/// Real processes (the `shm-stress` child), not threads. Every test has a watchdog.
@Suite("Multi-process", .serialized)
struct MultiProcessTests {
    @Test("concurrency: processes hammer overlapping keys; not one torn or foreign read")
    func concurrency() throws {
        let exe = try stressExecutable()
        try withSegment("mp-conc") { seg, name in
            let children = try (0..<4).map { i in
                try TestChild(exe, [name, "mixed", "seed=\(1000 + i)", "ms=2500", "keys=600"])
            }
            // Meanwhile this process follows the journal like the bridge: every event it reads
            // must be complete and in order.
            var reader = seg.journal.makeReader(fromStart: true)
            var last: UInt64? = nil
            var events = 0, badEvents = 0
            let deadline = monotonicSeconds() + 30
            while !children.allSatisfy({ $0.poll() }) && monotonicSeconds() < deadline {
                while let e = reader.next() {
                    events += 1
                    if let l = last, e.sequence <= l { badEvents += 1 }
                    if e.table != .records || e.slot >= seg.records.capacity { badEvents += 1 }
                    last = e.sequence
                }
                usleep(1000)
            }
            #expect(waitAll(children, watchdogSeconds: 30))
            var total: [String: Int] = [:]
            for c in children {
                #expect(c.exitedCleanly, "child \(c.pid): \(c.output)")
                for (k, v) in c.counts { total[k, default: 0] += v }
            }
            #expect(total["torn"] == 0)
            #expect(total["foreign"] == 0)
            #expect((total["reads"] ?? 0) > 10_000)
            #expect((total["hits"] ?? 0) > 1_000)
            #expect((total["stored"] ?? 0) > 1_000)
            #expect((total["removes"] ?? 0) > 0)
            #expect(events > 0 && badEvents == 0)
            // Nothing left half-written by processes that exited normally.
            #expect(seg.records.occupancy().busy == 0)
            #expect(seg.packets.table.occupancy().busy == 0)
            #expect(seg.nsSpeed.count() > 0)
        }
    }

    @Test("live writers holding slots under a reclaimer that sees every claim as a day old: nothing reclaimed, nothing torn")
    func liveWritersAgedReclaimer() throws {
        let exe = try stressExecutable()
        try withSegment("mp-live") { seg, name in
            let writers = try (0..<3).map { i in
                try TestChild(exe, [name, "writer", "seed=\(300 + i)", "ms=2500", "keys=300", "hold=300"])
            }
            let reader = try TestChild(exe, [name, "reader", "seed=9", "ms=2500", "keys=300"])
            let reclaimer = try TestChild(exe, [name, "reclaimer", "ms=2500", "age=86400"])
            let all = writers + [reader, reclaimer]
            #expect(waitAll(all, watchdogSeconds: 30))
            for c in all { #expect(c.exitedCleanly, "child \(c.pid): \(c.output)") }
            #expect(reclaimer.counts["reclaimed"] == 0, "\(reclaimer.output)")
            #expect(seg.reclaimedSlots == 0)
            #expect(reader.counts["torn"] == 0 && reader.counts["foreign"] == 0, "\(reader.output)")
            #expect((reader.counts["hits"] ?? 0) > 0)
            #expect(writers.allSatisfy { ($0.counts["stored"] ?? 0) > 100 })
            #expect(seg.records.occupancy().busy == 0)
        }
    }

    @Test("kill storm: writers SIGKILLed mid-write again and again; readers never see a torn entry; sweep makes every slot usable")
    func killStorm() throws {
        let exe = try stressExecutable()
        try withSegment("mp-kill") { seg, name in
            let capacity = seg.records.capacity
            // Readers (and unhindered mixed workers) run for the whole storm.
            let survivors = try [
                TestChild(exe, [name, "reader", "seed=1", "ms=4500", "keys=400"]),
                TestChild(exe, [name, "mixed", "seed=2", "ms=4500", "keys=400"]),
            ]
            // A reclaimer whose clock runs a day ahead: every claim looks stale to it, so only
            // owner liveness stands between it and the live writers' slots; it reclaims the
            // dead writers' slots as it comes across them.
            let reclaimer = try TestChild(exe, [name, "reclaimer", "ms=4500", "age=86400"])
            // Writers hold every slot odd for 200 µs, so kills land mid-write.
            func writer(_ i: Int) throws -> TestChild {
                try TestChild(exe, [name, "writer", "seed=\(100 + i)", "ms=20000", "keys=400", "hold=200"])
            }
            var writers = try (0..<3).map(writer)
            var dead: [pid_t] = []
            var spawned = 3
            let stormEnd = monotonicSeconds() + 3.5
            var rng = SystemRandomNumberGenerator()
            while monotonicSeconds() < stormEnd {
                usleep(UInt32.random(in: 30_000...90_000, using: &rng))
                let i = Int.random(in: 0..<writers.count, using: &rng)
                writers[i].kill9()
                writers[i].reap()
                dead.append(writers[i].pid)
                writers[i] = try writer(spawned)
                spawned += 1
            }
            for w in writers { w.kill9(); w.reap(); dead.append(w.pid) }
            #expect(waitAll(survivors + [reclaimer], watchdogSeconds: 30))
            #expect(reclaimer.exitedCleanly, "\(reclaimer.output)")
            let reclaimedLive = reclaimer.counts["reclaimed"] ?? 0
            for c in survivors {
                #expect(c.exitedCleanly, "survivor \(c.pid): \(c.output)")
                let n = c.counts
                #expect(n["torn"] == 0, "\(c.output)")
                #expect(n["foreign"] == 0, "\(c.output)")
                #expect((n["reads"] ?? 0) > 1_000)
                #expect((n["hits"] ?? 0) > 0)
            }
            #expect(dead.count > 20)
            // The segment is usable as it is: lookups and inserts work while slots are still odd.
            func busySlots() -> Int {
                seg.records.occupancy().busy + seg.packets.table.occupancy().busy
                    + seg.nsSpeed.table.occupancy().busy + seg.negative.table.occupancy().busy
            }
            #expect(busySlots() + reclaimedLive > 0, "no kill landed mid-write (hold too short?)")
            #expect(seg.reclaimedSlots >= UInt64(reclaimedLive))
            #expect(seg.records.insert(name: dn("after.storm."), type: .a, ttl: 100, rdata: [[1, 2, 3, 4]],
                                       rank: .glue, now: shmNow()).stored)
            // Counted after that insert: it may itself reclaim, by age, an abandoned slot of its
            // bucket whose writer died more than `staleSeconds` ago.
            let abandoned = busySlots()
            // The supervisor's sweep for each dead pid reclaims every abandoned slot.
            var reclaimed = 0
            for p in dead { reclaimed += seg.sweep(deadPID: p) }
            #expect(reclaimed == abandoned)
            #expect(seg.records.occupancy().busy == 0)
            #expect(seg.packets.table.occupancy().busy == 0)
            // Every slot is usable: fill the table completely with small entries (at a time when
            // every storm entry has expired, so they are the ones evicted).
            let now = shmNow() + 200
            for i in 0..<(capacity * 12) {
                seg.records.insert(name: dn("fill\(i).example."), type: .a, ttl: 1000, rdata: [[9, 9, 9, 9]],
                                   rank: .authoritativeAnswer, now: now)
            }
            let occ = seg.records.occupancy()
            #expect(occ.occupied == capacity && occ.busy == 0)
            var fresh = 0
            seg.records.forEach(now: now) { e in
                if e.name.presentation.hasPrefix("fill") && e.rdata == [[9, 9, 9, 9]] { fresh += 1 }
                return true
            }
            #expect(fresh == capacity)
        }
    }

    @Test("persistence: entries survive every process exiting, with the right remaining TTL")
    func persistence() throws {
        let exe = try stressExecutable()
        let name = uniqueSegmentName("mp-persist")
        defer { try? SharedSegment.unlink(name: name) }
        let geometry = smallGeometry(recordBuckets: 256)
        do {
            let (_, outcome) = try SharedSegment.openOrCreate(name: name, geometry: geometry)
            #expect(outcome == .created)
        }   // this process's mapping is gone: nobody has the segment mapped now
        let t0: UInt32 = 1_800_000_000
        let pop = try TestChild(exe, [name, "populate", "n=100", "now=\(t0)", "ttl=1000"])
        #expect(waitAll([pop], watchdogSeconds: 30))
        #expect(pop.exitedCleanly, "\(pop.output)")
        #expect(pop.counts["stored"] == 100)

        let (seg, outcome) = try SharedSegment.openOrCreate(name: name, geometry: geometry)
        #expect(outcome == .attached)
        var present = 0
        for i in 0..<100 {
            let e = seg.records.lookup(name: dn("k\(i).stress.test."), type: RRType(UInt16(65280 + i % 4)), now: t0 + 100)
            if let e {
                present += 1
                #expect(e.ttl == 900 && e.originalTTL == 1000 && e.expiry == t0 + 1000)
            }
        }
        #expect(present == 100)
        // Another process verifies the contents against their key checksums.
        let check = try TestChild(exe, [name, "verify", "n=100", "now=\(t0 + 999)"])
        #expect(waitAll([check], watchdogSeconds: 30))
        #expect(check.counts["hits"] == 100 && check.counts["torn"] == 0 && check.counts["foreign"] == 0, "\(check.output)")
        let late = try TestChild(exe, [name, "verify", "n=100", "now=\(t0 + 1000)"])
        #expect(waitAll([late], watchdogSeconds: 30))
        #expect(late.counts["hits"] == 0, "expired entries are misses: \(late.output)")
    }
}
