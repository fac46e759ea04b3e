import Testing
@testable import DNSCore

/// RRSet.group, on small responses (a linear scan of keys) and large ones (a dictionary): the
/// same rules either way.
@Suite struct GroupingTests {
    func records(sets: Int) throws -> [ResourceRecord] {
        var out: [ResourceRecord] = []
        for i in 0..<sets {
            let name = try DNSName("host\(i).example.")
            let upper = try DNSName("HOST\(i).Example.")
            out.append(ResourceRecord(name: name, type: .a, ttl: 300, rdata: .a(IPv4Address(192, 0, 2, UInt8(i)))))
            // Same set in another case, a lower TTL and a duplicate of the first RDATA.
            out.append(ResourceRecord(name: upper, type: .a, ttl: 200, rdata: .a(IPv4Address(198, 51, 100, UInt8(i)))))
            out.append(ResourceRecord(name: upper, type: .a, ttl: 300, rdata: .a(IPv4Address(192, 0, 2, UInt8(i)))))
            let sig = RRSIG(typeCovered: .a, algorithm: DNSSECAlgorithm(rawValue: 13), labels: 2, originalTTL: 300,
                            expiration: 2, inception: 1, keyTag: UInt16(i), signerName: try DNSName("example."),
                            signature: [1, 2, 3])
            out.append(ResourceRecord(name: name, type: .rrsig, ttl: 300, rdata: .rrsig(sig)))
            // A signature over a type that is absent: an RRSIG set of its own.
            var orphan = sig
            orphan.typeCovered = .txt
            out.append(ResourceRecord(name: name, type: .rrsig, ttl: 300, rdata: .rrsig(orphan)))
        }
        return out
    }

    @Test(arguments: [3, 40])
    func setsAreGroupedByOwnerTypeAndClassInAnyCase(sets: Int) throws {
        let grouped = RRSet.group(try records(sets: sets))
        // Per owner: the A set, then the orphan RRSIG set, in order of first appearance.
        #expect(grouped.count == 2 * sets)
        for i in 0..<sets {
            let a = grouped[i], orphans = grouped[sets + i]
            #expect(a.name == (try DNSName("host\(i).example.")) && a.type == .a)
            #expect(a.rdatas == [.a(IPv4Address(192, 0, 2, UInt8(i))), .a(IPv4Address(198, 51, 100, UInt8(i)))])
            #expect(a.ttl == 200)
            #expect(a.signatures.map(\.keyTag) == [UInt16(i)])
            #expect(orphans.type == .rrsig && orphans.rdatas.count == 1 && orphans.name == a.name)
        }
    }
}
