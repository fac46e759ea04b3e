import DNSCore
import Foundation
import ShoalLab
import Testing
import Worker

/// Validation against servers that do not give what the chain of trust needs: the worker must
/// answer SERVFAIL with the right Extended DNS Error, within its query budget, and never wait
/// on itself (a DNSKEY set whose absence can only be proven with that very DNSKEY set).
@Suite(.serialized)
struct DNSSECHostileTests {
    /// An unsigned root where the IANA anchors (the worker's default) expect a signed one: the
    /// root's DNSKEY question is answered NODATA, and validating that NODATA needs the root's
    /// keys again. The fetch is not repeated inside itself: the answer is SERVFAIL, DNSKEY
    /// Missing, promptly and every time, and CD=1 still gets the data.
    @Test func anUnsignedRootUnderTheIANAAnchorsIsBogusWithoutLooping() throws {
        let net = LieNet(60)
        let root = try FakeAuthority([net.rootZone(["ok.test. NS ns.ok.test.", "ns.ok.test. A \(net.ip(2))"])])
        let ok = try FakeAuthority([FakeZone("ok.test.", ["@ NS ns", "ns A \(net.ip(2))", "www A 192.0.2.60"])])
        let server = try LyingServer(addresses: [net.root, net.ip(2)]) { q, address in
            [.message(address == net.root ? root.answer(q) : ok.answer(q))]
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "dnssec-unsigned-root", server: server, extra: ["--dnssec", "validate"])
        defer { worker.stop() }
        for _ in 0..<2 {
            server.resetCounts()
            let started = Date()
            let r = try worker.ask("www.ok.test.", .a, dnssecOK: true)
            #expect(r.rcode == .servFail, "\(r.presentation)\n\(worker.logTail)")
            #expect(r.edns?.extendedErrors.map(\.code) == [.dnskeyMissing], "\(r.presentation)")
            #expect(Date().timeIntervalSince(started) < 3, "\(worker.logTail)")
            #expect(server.total <= ResolverLimits().maxUpstreamQueries, "\(server.log.joined(separator: "\n"))")
        }
        var q = Message.query(id: 7, name: try DNSName("www.ok.test."), type: .a, edns: EDNS(udpPayloadSize: 1232, dnssecOK: true))
        q.header.checkingDisabled = true
        let cd = try Message(wire: DNSProbe.exchange(try q.serialize(), server: worker.address, port: worker.port,
                                                     timeoutMilliseconds: 5000))
        #expect(cd.rcode == .noError && cd.answerAddresses == ["192.0.2.60"], "\(cd.presentation)")
    }
}
