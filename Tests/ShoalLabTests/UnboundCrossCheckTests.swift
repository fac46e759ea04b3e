import DNSCore
import Foundation
import ShoalLab
import Testing

/// When unbound is installed (skip with `SHOAL_LAB_UNBOUND=0`; a few seconds): a real validating
/// resolver, unbound, resolves a sample of the expected answers from the lab's root hints and
/// trust anchor, and must agree with them on rcode, answer records and the AD bit. This is what
/// shows that the expected answers, computed from the generated data, are what the DNS says.
extension LiveLab {
    @Suite(.enabled(if: ProcessInfo.processInfo.environment["SHOAL_LAB_UNBOUND"] != "0"
                && UnboundPeer.installed))
    struct UnboundCrossCheck {
        @Test func unboundAgreesWithTheExpectedAnswers() throws {
            let lab = try TestLab.lab()
            let address = lab.listenAddress(lab.hierarchy.plan.prefix + ".200.1")
            let unbound = try UnboundPeer.start(lab, address: address)
            defer { unbound.terminate(); unbound.waitUntilExit() }

            // Lame zones are left out: how long a resolver spends on the black hole is its own
            // business, not a property of the data.
            let all = lab.hierarchy.expectedAnswers.filter { !$0.features.contains("lame-ns") }
            let sample = all.enumerated().filter { i, e in
                i % 4 == 0 || e.kind != .answer || e.dnssec != .secure
            }.map(\.element)
            for e in sample {
                let query = Message.query(id: UInt16.random(in: 0...UInt16.max), name: try DNSName(e.qname),
                                          type: try #require(RRType(mnemonic: e.qtype)),
                                          edns: EDNS(udpPayloadSize: 1232, dnssecOK: true))
                var response = try Message(wire: DNSProbe.exchange(try query.serialize(), server: address,
                                                                   timeoutMilliseconds: 15_000))
                if response.header.truncated {
                    response = try Message(wire: DNSProbe.exchange(try query.serialize(), server: address, transport: .tcp,
                                                                   timeoutMilliseconds: 15_000))
                }
                let what = "\(e.qname) \(e.qtype) (\(e.dnssec))"
                #expect(response.rcode.description == e.validatingRcode, "\(what)\n\(response.presentation)")
                guard e.dnssec != .bogus else { continue }
                #expect(response.header.authenticData == (e.dnssec == .secure), "AD for \(what)")
                let expected = try e.answer.map { try ResourceRecord(presentation: $0) }
                let got = response.answers.filter { $0.type != .rrsig }
                // TTLs count down in a cache; compare the data.
                #expect(Set(got.map(\.withoutTTL)) == Set(expected.map(\.withoutTTL)), "\(what)\n\(response.presentation)")
            }
        }
    }
}

extension ResourceRecord {
    /// The record with TTL 0, for comparing data that went through a cache.
    var withoutTTL: ResourceRecord {
        var r = self
        r.ttl = 0
        return r
    }
}
