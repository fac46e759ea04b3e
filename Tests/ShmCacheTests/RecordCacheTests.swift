import DNSCore
import ShoalTestSupport
import Testing
@testable import ShmCache
#if canImport(Glibc)
import Glibc
#endif

@Suite("Record cache")
struct RecordCacheTests {
    let now: UInt32 = 1_700_000_000

    @Test("insert, lookup (case-insensitive, full key), replace, remove")
    func basics() throws {
        try withSegment("rec-basics") { seg, _ in
            let r = seg.records
            #expect(r.insert(name: dn("www.example.com."), type: .a, ttl: 60, rdata: [[192, 0, 2, 1], [192, 0, 2, 2]],
                             signatures: [[9, 9]], validation: .secure, rank: .authoritativeAnswer, now: now) == .inserted)
            let e = try #require(r.lookup(name: dn("WWW.EXAMPLE.COM."), type: .a, now: now + 1))
            #expect(e.rdata == [[192, 0, 2, 1], [192, 0, 2, 2]])
            #expect(e.signatures == [[9, 9]])
            #expect(e.validation == .secure && e.rank == .authoritativeAnswer && e.origin == .local)
            #expect(e.ttl == 59 && e.originalTTL == 60 && !e.isStale)
            #expect(r.lookup(name: dn("www.example.com."), type: .aaaa, now: now) == nil)
            #expect(r.lookup(name: dn("www.example.com."), type: .a, class: .ch, now: now) == nil)
            #expect(r.lookup(name: dn("ww.example.com."), type: .a, now: now) == nil)
            #expect(r.insert(name: dn("www.example.com."), type: .a, ttl: 120, rdata: [[10, 0, 0, 1]],
                             rank: .authoritativeAnswer, now: now) == .replaced)
            #expect(r.lookup(name: dn("www.example.com."), type: .a, now: now)?.rdata == [[10, 0, 0, 1]])
            #expect(r.count(now: now).entries == 1)
            #expect(r.remove(name: dn("www.example.com."), type: .a))
            #expect(!r.remove(name: dn("www.example.com."), type: .a))
            #expect(r.lookup(name: dn("www.example.com."), type: .a, now: now) == nil)
        }
    }

    @Test("typed records round-trip")
    func typedRecords() throws {
        try withSegment("rec-typed") { seg, _ in
            let rrs = [ResourceRecord(name: dn("mail.example."), type: .mx, ttl: 300,
                                      rdata: .mx(MX(preference: 10, exchange: dn("mx1.example.")))),
                       ResourceRecord(name: dn("mail.example."), type: .mx, ttl: 200,
                                      rdata: .mx(MX(preference: 20, exchange: dn("mx2.example."))))]
            #expect(seg.records.insert(rrs, rank: .authoritativeAnswer, now: now).stored)
            let e = try #require(seg.records.lookup(name: dn("mail.example."), type: .mx, now: now + 50))
            #expect(e.ttl == 150)
            let (out, sigs) = try e.records()
            #expect(out.map(\.rdata) == rrs.map(\.rdata))
            #expect(out.allSatisfy { $0.ttl == 150 })
            #expect(sigs.isEmpty)
        }
    }

    @Test("TTL: expired is a miss; serve-stale within the maximum staleness")
    func ttlAndStale() throws {
        try withSegment("rec-ttl") { seg, _ in
            let r = seg.records
            r.insert(name: dn("a.example."), type: .a, ttl: 10, rdata: [[1, 1, 1, 1]], rank: .glue, now: now)
            #expect(r.lookup(name: dn("a.example."), type: .a, now: now + 9)?.ttl == 1)
            #expect(r.lookup(name: dn("a.example."), type: .a, now: now + 10) == nil)
            let stale = try #require(r.lookup(name: dn("a.example."), type: .a, now: now + 40, allowStaleFor: 30))
            #expect(stale.isStale && stale.ttl == 0)
            #expect(r.lookup(name: dn("a.example."), type: .a, now: now + 41, allowStaleFor: 30) == nil)
        }
    }

    @Test("rank rules: a lower rank never replaces a live higher rank")
    func ranks() throws {
        try withSegment("rec-rank") { seg, _ in
            let r = seg.records, n = dn("ns1.example.")
            #expect(r.insert(name: n, type: .a, ttl: 100, rdata: [[1, 1, 1, 1]], rank: .authoritativeAnswer, now: now) == .inserted)
            #expect(r.insert(name: n, type: .a, ttl: 100, rdata: [[6, 6, 6, 6]], rank: .glue, now: now) == .rejectedLowerRank)
            #expect(r.insert(name: n, type: .a, ttl: 100, rdata: [[6, 6, 6, 6]], rank: .additional, now: now) == .rejectedLowerRank)
            #expect(r.lookup(name: n, type: .a, now: now)?.rdata == [[1, 1, 1, 1]])
            // Equal rank replaces; higher replaces.
            #expect(r.insert(name: n, type: .a, ttl: 100, rdata: [[2, 2, 2, 2]], rank: .authoritativeAnswer, now: now) == .replaced)
            #expect(r.insert(name: n, type: .a, ttl: 100, rdata: [[3, 3, 3, 3]], rank: .configured, now: now) == .replaced)
            // Once the higher-ranked entry has expired, lower data may replace it.
            #expect(r.insert(name: n, type: .a, ttl: 100, rdata: [[4, 4, 4, 4]], rank: .glue, now: now + 100) == .replaced)
            #expect(r.lookup(name: n, type: .a, now: now + 100)?.rank == .glue)
            // Glue below the answer rank, upgraded by an authoritative answer.
            #expect(r.insert(name: n, type: .a, ttl: 100, rdata: [[5, 5, 5, 5]], rank: .authoritativeAnswer, now: now + 100) == .replaced)
        }
    }

    @Test("a value outgrowing its slot moves to a larger way; too large is refused")
    func sizes() throws {
        try withSegment("rec-size") { seg, _ in
            let r = seg.records, n = dn("big.example.")
            #expect(r.insert(name: n, type: .txt, ttl: 100, rdata: [[1]], rank: .glue, now: now) == .inserted)
            let big = [UInt8](repeating: 7, count: 900)
            #expect(r.insert(name: n, type: .txt, ttl: 100, rdata: [big], rank: .glue, now: now) == .replaced)
            #expect(r.lookup(name: n, type: .txt, now: now)?.rdata == [big])
            #expect(r.count(now: now).entries == 1)
            let huge = [UInt8](repeating: 7, count: 3000)
            #expect(r.insert(name: n, type: .txt, ttl: 100, rdata: [huge], rank: .glue, now: now) == .tooLarge)
        }
    }

    @Test("eviction: expired entries first, then the least recently used; capacity is a hard bound")
    func eviction() throws {
        // One bucket: every key lands in it.
        var g = smallGeometry()
        g.records = TableGeometry(buckets: 1, waySizes: [128, 128, 128, 128])
        try withSegment("rec-evict", geometry: g) { seg, _ in
            let r = seg.records
            for i in 0..<4 {
                #expect(r.insert(name: dn("k\(i).example."), type: .a, ttl: i == 2 ? 5 : 1000, rdata: [[1, 2, 3, UInt8(i)]],
                                 rank: .glue, now: now) == .inserted)
            }
            // k2 expired: it goes first even though k0 is older in use.
            _ = r.lookup(name: dn("k0.example."), type: .a, now: now + 1)
            #expect(r.insert(name: dn("k4.example."), type: .a, ttl: 1000, rdata: [[4, 4, 4, 4]], rank: .glue,
                             now: now + 10) == .evicted(expired: true))
            #expect(r.lookup(name: dn("k2.example."), type: .a, now: now + 10, allowStaleFor: 100) == nil)
            // Touch everything but k3, then insert: k3 (least recently used) is the victim.
            for k in [0, 1, 4] { _ = r.lookup(name: dn("k\(k).example."), type: .a, now: now + 20) }
            #expect(r.insert(name: dn("k5.example."), type: .a, ttl: 1000, rdata: [[5, 5, 5, 5]], rank: .glue,
                             now: now + 21) == .evicted(expired: false))
            #expect(r.lookup(name: dn("k3.example."), type: .a, now: now + 21) == nil)
            for k in [0, 1, 4, 5] { #expect(r.lookup(name: dn("k\(k).example."), type: .a, now: now + 21) != nil) }
            // Many more keys: never more entries than slots.
            for i in 100..<500 {
                r.insert(name: dn("k\(i).example."), type: .a, ttl: 1000, rdata: [[1, 1, 1, 1]], rank: .glue, now: now + 30)
            }
            #expect(r.count(now: now + 30).entries == 4)
            #expect(r.capacity == 4)
        }
    }

    @Test("removeSubtree removes the name and everything below it, nothing else")
    func subtree() throws {
        try withSegment("rec-subtree") { seg, _ in
            let r = seg.records
            for n in ["example.com.", "www.example.com.", "a.b.example.com.", "example.org.", "notexample.com.", "com."] {
                r.insert(name: dn(n), type: .a, ttl: 100, rdata: [[1, 1, 1, 1]], rank: .glue, now: now)
            }
            #expect(r.removeSubtree(at: dn("Example.COM.")) == 3)
            #expect(r.lookup(name: dn("www.example.com."), type: .a, now: now) == nil)
            #expect(r.lookup(name: dn("notexample.com."), type: .a, now: now) != nil)
            #expect(r.lookup(name: dn("com."), type: .a, now: now) != nil)
            #expect(r.count(now: now).entries == 3)
            #expect(r.removeSubtree(at: .root) == 3)
        }
    }

    @Test("forEach visits every entry with hit counts; dump lines are readable")
    func forEachAndDump() throws {
        try withSegment("rec-dump") { seg, _ in
            let r = seg.records
            r.insert(name: dn("www.example.com."), type: .a, ttl: 3600, rdata: [[192, 0, 2, 1]], validation: .secure,
                     rank: .authoritativeAnswer, now: now)
            r.insert(name: dn("example.com."), type: .ns, ttl: 3600, rdata: [dn("ns1.example.com.").wire],
                     rank: .authoritativeAuthority, now: now)
            for t in 0..<3 { _ = r.lookup(name: dn("www.example.com."), type: .a, now: now + UInt32(t)) }
            var seen: [String: UInt32] = [:]
            r.forEach(now: now + 20) { e in seen[e.name.presentation + " " + e.type.description] = e.hits; return true }
            #expect(seen == ["www.example.com. A": 3, "example.com. NS": 0])
            let text = seg.dump(table: .records, now: now + 20)
            #expect(text.contains("www.example.com. 3580 IN A 192.0.2.1 ; Secure rank=auth-answer origin=local hits=3"))
            #expect(text.contains("example.com. 3580 IN NS ns1.example.com."))
        }
    }

    @Test("mesh entries are not journaled; local ones are, with slot and version")
    func journaling() throws {
        try withSegment("rec-journal") { seg, _ in
            var reader = seg.journal.makeReader()
            seg.records.insert(name: dn("m.example."), type: .a, ttl: 100, rdata: [[1, 1, 1, 1]], rank: .glue,
                               origin: .mesh, now: now)
            #expect(reader.next() == nil)
            seg.records.insert(name: dn("l.example."), type: .a, ttl: 100, rdata: [[2, 2, 2, 2]], rank: .glue, now: now)
            let next = reader.next()
            let ev = try #require(next)
            #expect(ev.table == .records)
            let e = try #require(seg.records.entry(slot: ev.slot, version: ev.version, now: now))
            #expect(e.name == dn("l.example.") && e.rdata == [[2, 2, 2, 2]])
            // The mesh entry is there, marked.
            #expect(seg.records.lookup(name: dn("m.example."), type: .a, now: now)?.origin == .mesh)
        }
    }

    @Test("a peer's entry replaces live local data only when it lives longer and is validated as well, decided in the write")
    func meshWritesKeepLocalData() throws {
        try withSegment("rec-mesh-local") { seg, _ in
            let n = dn("l.example.")
            func mesh(_ ttl: UInt32, _ v: ValidationState = .secure, rank: Rank = .authoritativeAnswer) -> InsertResult {
                seg.records.insert(name: n, type: .a, ttl: ttl, rdata: [[9, 9, 9, 9]], validation: v, rank: rank,
                                   origin: .mesh, now: now)
            }
            seg.records.insert(name: n, type: .a, ttl: 100, rdata: [[1, 1, 1, 1]], validation: .secure,
                               rank: .authoritativeAnswer, now: now)
            #expect(mesh(100) == .rejectedLowerRank)                    // not fresher
            #expect(mesh(500, .indeterminate) == .rejectedLowerRank)    // loses the validation
            #expect(mesh(500, rank: .nonAuthoritativeAnswer) == .rejectedLowerRank)
            #expect(seg.records.lookup(name: n, type: .a, now: now)?.origin == .local)
            if case .replaced = mesh(500) {} else { Issue.record("a fresher, as well validated peer entry was refused") }
            #expect(seg.records.lookup(name: n, type: .a, now: now)?.origin == .mesh)
            // Over a peer's entry, or expired local data, a peer's entry is written as before.
            #expect(mesh(50, .indeterminate) != .rejectedLowerRank)

            let d = dn("nx.example.")
            let soa = ResourceRecord(name: dn("example."), type: .soa, ttl: 300,
                                     rdata: .soa(SOA(mname: dn("ns.example."), rname: dn("h.example."), serial: 1,
                                                     refresh: 1, retry: 1, expire: 1, minimum: 300)))
            seg.negative.insertNXDomain(name: d, ttl: 100, soa: soa, validation: .secure, now: now)
            #expect(seg.negative.insertNXDomain(name: d, ttl: 90, soa: soa, validation: .secure, origin: .mesh, now: now)
                    == .rejectedLowerRank)
            #expect(seg.negative.insertNXDomain(name: d, ttl: 900, soa: soa, validation: .insecure, origin: .mesh, now: now)
                    == .rejectedLowerRank)
            #expect(seg.negative.lookup(name: d, type: .a, now: now)?.origin == .local)
        }
    }

    @Test("an abandoned slot is never served, and is reclaimed by a sweep for its dead owner or by age")
    func abandonedSlots() throws {
        var g = smallGeometry()
        g.records = TableGeometry(buckets: 1, waySizes: [128, 128])
        try withSegment("rec-abandon", geometry: g) { seg, name in
            let r = seg.records
            #expect(r.insert(name: dn("a.example."), type: .a, ttl: 100, rdata: [[1, 1, 1, 1]], rank: .glue, now: now) == .inserted)
            let slot = try #require(r.lookup(name: dn("a.example."), type: .a, now: now)).slot
            // An owner that was a real process, now reaped: registered under its identity.
            let dead = try deadPID()
            var o = SegmentOptions()
            o.testingIdentity = ProcessIdentity(pid: dead, startTime: 1, pidNamespace: ProcessIdentity.current.pidNamespace,
                                                bootID: BootID.current)
            let ghost = try SharedSegment.attach(name: name, options: o)
            #expect(r.table.simulateAbandonedWrite(slot: slot, owner: ghost.region.ownerIndex,
                                                   generation: ghost.region.ownerGeneration, age: 0))
            #expect(r.lookup(name: dn("a.example."), type: .a, now: now) == nil)   // never served
            #expect(r.occupancy().busy == 1)
            // Fresh (younger than the stale bound): left alone; a sweep for another pid too.
            #expect(seg.reclaimStale() == 0)
            #expect(seg.sweep(deadPID: Int32(dead) &+ 1) == 0)
            // The supervisor's sweep after reaping that pid frees its entry and its slot.
            let before = seg.reclaimedSlots
            #expect(seg.sweep(deadPID: Int32(dead)) == 1)
            #expect(seg.reclaimedSlots == before + 1)
            #expect(r.occupancy() == (empty: 2, occupied: 0, busy: 0))
            #expect(!seg.otherOwners().contains { $0.identity.pid == dead })
            // By age: a claim of a freed owner entry older than the stale bound is reclaimed on
            // the fly by a writer that needs the slot.
            r.insert(name: dn("b.example."), type: .a, ttl: 100, rdata: [[1, 1, 1, 1]], rank: .glue, now: now)
            r.insert(name: dn("c.example."), type: .a, ttl: 100, rdata: [[1, 1, 1, 1]], rank: .glue, now: now)
            let bslot = try #require(r.lookup(name: dn("b.example."), type: .a, now: now)).slot
            #expect(r.table.simulateAbandonedWrite(slot: bslot, owner: ghost.region.ownerIndex,
                                                   generation: ghost.region.ownerGeneration, age: 10))
            #expect(r.insert(name: dn("d.example."), type: .a, ttl: 100, rdata: [[1, 1, 1, 1]], rank: .glue, now: now) == .inserted)
            #expect(r.occupancy() == (empty: 0, occupied: 2, busy: 0))
            // A live owner's odd slot is left alone however old (it may still be writing),
            // and a sweep for its (live) pid leaves it too.
            let cslot = try #require(r.lookup(name: dn("c.example."), type: .a, now: now)).slot
            #expect(r.table.simulateAbandonedWrite(slot: cslot, owner: seg.region.ownerIndex,
                                                   generation: seg.region.ownerGeneration, age: 60_000))
            let other = try SharedSegment.attach(name: name)
            #expect(other.reclaimStale() == 0)
            #expect(other.sweep(deadPID: getpid()) == 0)
            #expect(r.occupancy().busy == 1)
        }
    }
}

/// A pid that certainly names no live process: a child that exited and was reaped.
func deadPID() throws -> UInt32 {
    let c = try TestChild("/bin/true", [])
    c.reap()
    return UInt32(c.pid)
}
