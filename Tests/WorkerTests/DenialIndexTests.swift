import DNSCore
import Testing
@testable import Worker

/// The aggressive-NSEC index kept at a zone's apex: what it stores survives the round trip
/// through an RRset, the newest span of an owner replaces the older one, and it stays within
/// the record cache's largest way by dropping the oldest spans.
@Suite struct DenialIndexTests {
    static let zone = try! DNSName("example.test.")
    static func span(_ owner: String, _ next: String, _ type: RRType = .nsec) -> DenialIndex.Span {
        DenialIndex.Span(type: type, owner: try! DNSName(owner, origin: zone), next: try! DNSName(next, origin: zone))
    }

    @Test func spansRoundTripThroughTheCachedSet() {
        var index = DenialIndex()
        index.add(Self.span("a", "m"))
        index.add(Self.span("m", "example.test."))
        index.add(DenialIndex.Span(type: .nsec3, owner: try! DNSName("0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", origin: Self.zone),
                                   next: .root))
        let set = index.rrset(zone: Self.zone, ttl: 300)
        #expect(set.type == .denialIndex && set.rdatas.count == 3)
        #expect(DenialIndex(set) == index)
        #expect(index.spans.first?.type == .nsec3)
    }

    @Test func anOwnerHasOneSpanTheNewest() {
        var index = DenialIndex()
        let first = index.add(Self.span("a", "m"))
        index.add(Self.span("b", "c"))
        let replaced = index.add(Self.span("a", "z"))
        #expect(first && replaced)
        #expect(index.spans == [Self.span("a", "z"), Self.span("b", "c")])
        // A span it has already changes nothing (the index is not rewritten for it).
        let again = index.add(Self.span("b", "c"))
        #expect(!again)
        #expect(index.spans == [Self.span("a", "z"), Self.span("b", "c")])
    }

    @Test func theOldestSpansGoBeyondTheSizeCap() {
        var index = DenialIndex()
        for i in 0..<200 { index.add(Self.span("host-\(i)", "host-\(i)a")) }
        let bytes = index.spans.reduce(0) { $0 + $1.owner.wire.count + $1.next.wire.count + 4 }
        #expect(bytes <= DenialIndex.maxBytes && index.spans.count > 20)
        #expect(index.spans.first == Self.span("host-199", "host-199a"))
    }

    @Test func undecodableSpansAreDropped() {
        let good = Self.span("a", "b")
        var set = DenialIndex(spans: [good]).rrset(zone: Self.zone, ttl: 60)
        set.rdatas += [.unknown([0, 47, 3, 0x61]), .unknown([0, 1] + good.owner.wire + good.next.wire), .unknown([])]
        #expect(DenialIndex(set).spans == [good])
    }
}
