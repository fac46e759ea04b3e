import DNSCore
import Testing
@testable import ShmCache
#if canImport(Glibc)
import Glibc
#endif

@Suite("Negative, packet, NS speed, journal")
struct TablesTests {
    let now: UInt32 = 1_700_000_000

    var soa: ResourceRecord {
        ResourceRecord(name: dn("example.com."), type: .soa, ttl: 3600,
                       rdata: .soa(SOA(mname: dn("ns1.example.com."), rname: dn("hostmaster.example.com."),
                                       serial: 2024010101, refresh: 7200, retry: 900, expire: 1209600, minimum: 300)))
    }

    @Test("negative cache: NXDOMAIN per name wins over NODATA per (name, type); proofs round-trip")
    func negative() throws {
        try withSegment("neg") { seg, _ in
            let n = seg.negative
            let nsec = ResourceRecord(name: dn("a.example.com."), type: .nsec, ttl: 300,
                                      rdata: .nsec(NSEC(nextName: dn("z.example.com."), types: TypeBitmap([.a, .rrsig, .nsec]))))
            #expect(n.insertNoData(name: dn("www.example.com."), type: .aaaa, ttl: 300, soa: soa, proofs: [nsec],
                                   validation: .secure, now: now) == .inserted)
            let nd = try #require(n.lookup(name: dn("WWW.example.com."), type: .aaaa, now: now + 100))
            #expect(nd.kind == .noData && nd.ttl == 200 && nd.validation == .secure)
            let rrs = try nd.records()
            #expect(rrs.count == 2 && rrs[0].type == .soa && rrs[1].type == .nsec)
            #expect(rrs[0].ttl == 200)
            #expect(n.lookup(name: dn("www.example.com."), type: .a, now: now) == nil)
            n.insertNXDomain(name: dn("nope.example.com."), ttl: 60, soa: soa, validation: .insecure, now: now)
            #expect(n.lookup(name: dn("nope.example.com."), type: .mx, now: now)?.kind == .nxDomain)
            #expect(n.lookup(name: dn("nope.example.com."), type: .mx, now: now + 60) == nil)
            #expect(n.lookup(name: dn("nope.example.com."), type: .mx, now: now + 70, allowStaleFor: 30)?.isStale == true)
            let text = seg.dump(table: .negative, now: now)
            #expect(text.contains("nope.example.com. 60 IN NXDOMAIN ; SOA example.com. ns1.example.com."))
            #expect(text.contains("www.example.com. 300 IN NODATA AAAA"))
            #expect(n.removeSubtree(at: dn("example.com.")) == 2)
            #expect(n.count(now: now).entries == 0)
        }
    }

    @Test("packet cache: keyed on DO/CD; a hit patches the ID and ages TTLs")
    func packets() throws {
        try withSegment("pkt") { seg, _ in
            var resp = Message(header: Header(id: 0x1111, flags: 0x8180),
                               questions: [Question(name: dn("www.example.com."), type: .a)],
                               answers: [ResourceRecord(name: dn("www.example.com."), type: .a, ttl: 300,
                                                        rdata: .a(IPv4Address(192, 0, 2, 1)))],
                               edns: EDNS(udpPayloadSize: 1232))
            resp.header.id = 0x1111
            let wire = try resp.serialize()
            let key = PacketKey(name: dn("WWW.example.com."), type: .a, dnssecOK: true)
            #expect(seg.packets.insert(key, response: wire, ttl: 300, now: now) == .inserted)
            #expect(seg.packets.lookup(PacketKey(name: dn("www.example.com."), type: .a), now: now) == nil)
            let hit = try #require(seg.packets.lookup(PacketKey(name: dn("www.EXAMPLE.com."), type: .a, dnssecOK: true), now: now + 100))
            #expect(hit.ttl == 200)
            let out = try #require(hit.response(id: 0xBEEF, now: now + 100))
            let m = try Message(wire: out)
            #expect(m.header.id == 0xBEEF)
            #expect(m.answers[0].ttl == 200)
            #expect(m.edns?.udpPayloadSize == 1232)
            #expect(seg.packets.lookup(key, now: now + 300) == nil)
            #expect(seg.dump(table: .packets, now: now).contains("www.example.com. 300 IN A ; do=1 cd=0"))
        }
    }

    @Test("NS speed: smoothing, decay over time, timeouts and throttling")
    func nsSpeed() throws {
        try withSegment("ns") { seg, name in
            let ns = seg.nsSpeed, a = ServerAddress(IPv4Address(192, 0, 2, 53))
            #expect(ns.estimate(a, now: now) == nil)
            ns.recordRTT(a, microseconds: 10_000, now: now)
            #expect(ns.lookup(a)?.srttMicros == 10_000)
            ns.recordRTT(a, microseconds: 20_000, now: now)
            #expect(ns.lookup(a)?.srttMicros == 13_000)           // 0.7 × 10000 + 0.3 × 20000
            // Unused for one half-life (60 s): the estimate halves; for two, quarters.
            #expect(ns.estimate(a, now: now + 60) == 6_500)
            #expect(ns.estimate(a, now: now + 120) == 3_250)
            // A sample after a minute mixes with the decayed value.
            ns.recordRTT(a, microseconds: 1_000, now: now + 60)
            #expect(ns.lookup(a)?.srttMicros == 4_850)             // 0.7 × 6500 + 0.3 × 1000
            // Timeouts: at least 1 s, doubling; throttled after three, back-off doubling.
            ns.recordTimeout(a, now: now + 60)
            #expect(ns.lookup(a)?.srttMicros == 1_000_000)
            ns.recordTimeout(a, now: now + 60)
            #expect(ns.lookup(a)?.srttMicros == 2_000_000)
            #expect(ns.lookup(a)?.isThrottled(now: now + 60) == false)
            ns.recordTimeout(a, now: now + 60)
            let e = try #require(ns.lookup(a))
            #expect(e.consecutiveTimeouts == 3 && e.throttledUntil == now + 70)
            ns.recordTimeout(a, now: now + 70)
            #expect(ns.lookup(a)?.throttledUntil == now + 90)
            // Decayed over 10 s from 4 s, then doubled.
            #expect(ns.lookup(a)?.srttMicros == ns.policy.decayed(4_000_000, elapsed: 10) * 2)
            // A response clears timeouts and throttling.
            ns.recordRTT(a, microseconds: 5_000, now: now + 71)
            let f = try #require(ns.lookup(a))
            #expect(f.consecutiveTimeouts == 0 && !f.isThrottled(now: now + 71))
            ns.setEDNSStatus(a, .noEDNS, now: now)
            ns.setCookieStatus(a, .supported, now: now)
            // Another process's view.
            let other = try SharedSegment.attach(name: name)
            let g = try #require(other.nsSpeed.lookup(a))
            #expect(g.edns == .noEDNS && g.cookie == .supported && g.srttMicros == f.srttMicros)
            let v6 = ServerAddress(IPv6Address(high: 0x2001_0db8_0000_0000, low: 0x35))
            ns.recordRTT(v6, microseconds: 777, now: now)
            #expect(ns.count() == 2)
            let text = seg.dump(table: .nsSpeed, now: now + 71)
            #expect(text.contains("192.0.2.53 srtt=") && text.contains("edns=no-edns cookie=supported"))
            #expect(text.contains("2001:db8:0:0:0:0:0:35 srtt=777us"))
        }
    }

    @Test("NS speed decay arithmetic")
    func decayArithmetic() {
        let p = NSSpeedPolicy()
        #expect(p.decayed(1000, elapsed: 0) == 1000)
        #expect(p.decayed(1000, elapsed: 60) == 500)
        #expect(p.decayed(1000, elapsed: 30) == 707)
        #expect(p.decayed(1_000_000, elapsed: 600) == 977)
        #expect(p.decayed(0, elapsed: 100) == 0)
    }

    @Test("journal: order across tables, wrap-around, overflow counted, holes skipped")
    func journal() throws {
        try withSegment("journal", geometry: smallGeometry(journal: 16)) { seg, _ in
            let j = seg.journal
            var r = j.makeReader()
            r.register()
            for i in 0..<10 { j.append(table: i % 2 == 0 ? .records : .negative, slot: i, version: UInt32(i * 2)) }
            for i in 0..<10 {
                let next = r.next()
                let e = try #require(next)
                #expect(e.sequence == UInt64(i) && e.slot == i && e.version == UInt32(i * 2))
                #expect(e.table == (i % 2 == 0 ? .records : .negative))
            }
            #expect(r.next() == nil)
            // Wrap: 12 more (ring of 16) read in order across the wrap.
            for i in 10..<22 { j.append(table: .records, slot: i, version: 1) }
            for i in 10..<22 { #expect(r.next()?.slot == i) }
            #expect(j.overflows == 0)
            // Overflow: 40 appends while the reader sleeps; it loses the oldest 24, counted.
            for i in 22..<62 { j.append(table: .records, slot: i, version: 1) }
            #expect(j.overflows == 24)
            var got: [Int] = []
            while let e = r.next() { got.append(e.slot) }
            #expect(got == Array(46..<62))
            #expect(r.overruns == 24)
            #expect(j.overruns == 24)
            // A hole (a producer that claimed a number and died) is skipped after a timeout.
            _ = j.headWord.pointee.wrappingAdd(1, ordering: .relaxed)
            j.append(table: .records, slot: 99, version: 1)
            r.holeTimeoutNanos = 1_000_000
            #expect(r.next() == nil)
            usleep(2000)
            #expect(r.next()?.slot == 99)
            #expect(r.holesSkipped == 1)
        }
    }

    @Test("journal reader from the start sees what is still in the ring")
    func journalFromStart() throws {
        try withSegment("journal2", geometry: smallGeometry(journal: 16)) { seg, _ in
            for i in 0..<20 { seg.journal.append(table: .records, slot: i, version: 0) }
            var r = seg.journal.makeReader(fromStart: true)
            var got: [Int] = []
            while let e = r.next() { got.append(e.slot) }
            #expect(got == Array(4..<20))
        }
    }
}
