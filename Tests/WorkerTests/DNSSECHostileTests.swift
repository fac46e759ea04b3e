import DNSCore
import DNSSEC
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

    /// KeyTrap-style (CVE-2023-50387): a signed root whose `trap.` A set carries ten
    /// signatures, the nine first forged. The validator gives up at its cap (eight signatures
    /// per RRset): SERVFAIL, EDE 6 saying which limit, at once; the zone's honest names keep
    /// being answered, with AD.
    @Test func tooManySignaturesEndInServfailWithinTheCaps() throws {
        let net = LieNet(61)
        let signed = try DNSSECValidatorTests.sign(".", """
            . 86400 IN SOA a.root-servers.lie. host.root. 1 3600 600 86400 300
            . 86400 IN NS a.root-servers.lie.
            a.root-servers.lie. 86400 IN A \(net.root)
            ok. 3600 IN A 192.0.2.61
            trap. 3600 IN A 192.0.2.62

            """)
        let trap = try DNSName("trap.")
        let sets = signed.sets.map { set -> RRSet in
            guard set.name == trap, set.type == .a, let good = set.signatures.first else { return set }
            var s = set
            s.signatures = (0..<9).map { i in
                var forged = good
                forged.signature[i] ^= 0x5A
                return forged
            } + [good]
            return s
        }
        let soa = try #require(sets.first { $0.type == .soa })
        let server = try LyingServer(addresses: [net.root]) { q, _ in
            var r = Message.reply(to: q)
            r.header.authoritative = true
            guard let question = q.questions.first else { return [] }
            if let s = sets.first(where: { $0.name == question.name && $0.type == question.type }) {
                r.answers = s.records
            } else {
                r.rcode = .nxDomain
                r.authority = soa.records
            }
            return [.message(r)]
        }
        defer { server.stop() }
        let anchor = NSTemporaryDirectory() + "/keytrap-\(getpid()).ds"
        let d = signed.ds
        try ". IN DS \(d.keyTag) \(d.algorithm.rawValue) \(d.digestType.rawValue) \(Hex.encode(d.digest))\n"
            .write(toFile: anchor, atomically: true, encoding: .utf8)
        defer { unlink(anchor) }
        let worker = try net.worker(tag: "dnssec-keytrap", server: server,
                                    extra: ["--dnssec", "validate", "--trust-anchor", anchor])
        defer { worker.stop() }

        let fine = try worker.ask("ok.", .a, dnssecOK: true)
        #expect(fine.rcode == .noError && fine.header.authenticData, "\(fine.presentation)\n\(worker.logTail)")
        let started = Date()
        let r = try worker.ask("trap.", .a, dnssecOK: true)
        #expect(Date().timeIntervalSince(started) < 2)
        #expect(r.rcode == .servFail, "\(r.presentation)")
        let ede = try #require(r.edns?.extendedErrors.first)
        #expect(ede.code == .dnssecBogus)
        #expect(String(decoding: ede.extraText, as: UTF8.self).contains("signatures tried per RRset"), "\(r.presentation)")
        #expect(try worker.ask("ok.", .a, dnssecOK: true).header.authenticData)
    }
}
