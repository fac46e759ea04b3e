import DNSCore
import Foundation
import Synchronization
import Testing
import Worker

/// Issue #9, item 7: the root NS set primed (RFC 8109) at start and when it expires; a server's
/// "rejects EDNS" verdict re-probed after a while instead of kept forever.
extension HostileUpstreamTests {
    /// The root's NS set lives 2 s here: primed as the worker starts (before any client query),
    /// and again by the first resolution after it expired.
    @Test func rootIsPrimedAtStartAndWhenItsNSSetExpires() throws {
        let net = LieNet(30)
        let root = try FakeAuthority([FakeZone(".", ["@ 2 NS a.root-servers.lie.", "a.root-servers.lie. 2 A \(net.root)",
                                                     "example.com. NS ns.example.com.", "ns.example.com. A \(net.ip(2))"])])
        let zone = try FakeAuthority([FakeZone("example.com.", ["@ NS ns", "ns A \(net.ip(2))", "www A 192.0.2.1",
                                                                "mail A 192.0.2.2"])])
        let server = try LyingServer(addresses: [net.root, net.ip(2)]) { q, address in
            [.message(address == net.root ? root.answer(q) : zone.answer(q))]
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-priming", server: server)
        defer { worker.stop() }

        for _ in 0..<100 where server.queries(for: ".", .ns) == 0 { usleep(20_000) }
        #expect(server.queries(for: ".", .ns) == 1, "primed at start: \(server.log)")
        #expect(try worker.ask("www.example.com.", .a).answerAddresses == ["192.0.2.1"], "\(worker.logTail)")
        #expect(server.queries(for: ".", .ns) == 1, "\(server.log)")
        usleep(2_600_000)   // the root NS set (TTL 2) expires
        #expect(try worker.ask("mail.example.com.", .a).answerAddresses == ["192.0.2.2"], "\(worker.logTail)")
        #expect(server.queries(for: ".", .ns) == 2, "primed again after expiry: \(server.log)")
    }

    /// example.com.'s server answers FORMERR without OPT to every query with EDNS until told
    /// otherwise. The worker retries without EDNS and remembers; after edns-reprobe-seconds (1
    /// here) it tries EDNS again, and once the server takes it, sends EDNS from then on.
    @Test func anEDNSVerdictIsReprobedAfterAWhile() throws {
        let net = LieNet(31)
        let root = try FakeAuthority([net.rootZone(["example.com. NS ns.example.com.", "ns.example.com. A \(net.ip(2))"])])
        let zone = try FakeAuthority([FakeZone("example.com.", ["@ NS ns", "ns A \(net.ip(2))", "a A 192.0.2.1",
                                                                "b A 192.0.2.2", "c A 192.0.2.3", "d A 192.0.2.4"])])
        let rejecting = Atomic<Bool>(true)
        let withEDNS = Atomic<Int>(0), without = Atomic<Int>(0)
        let server = try LyingServer(addresses: [net.root, net.ip(2)]) { q, address in
            guard address == net.ip(2) else { return [.message(root.answer(q))] }
            if q.edns != nil { withEDNS.add(1, ordering: .relaxed) } else { without.add(1, ordering: .relaxed) }
            if q.edns != nil && rejecting.load(ordering: .relaxed) {
                var m = Message.reply(to: q)
                m.edns = nil   // what an EDNS-ignorant server sends: FORMERR, no OPT
                m.rcode = .formErr
                return [.message(m)]
            }
            return [.message(zone.answer(q))]
        }
        defer { server.stop() }
        let config = try reprobeConfig()
        defer { try? FileManager.default.removeItem(atPath: config) }
        let worker = try net.worker(tag: "lie-edns-reprobe", server: server, extra: ["--config", config])
        defer { worker.stop() }

        #expect(try worker.ask("a.example.com.", .a).answerAddresses == ["192.0.2.1"], "\(worker.logTail)")
        #expect(withEDNS.load(ordering: .relaxed) == 1 && without.load(ordering: .relaxed) == 1, "\(server.log)")
        // Remembered: the next query goes without EDNS at once.
        #expect(try worker.ask("b.example.com.", .a).answerAddresses == ["192.0.2.2"])
        #expect(withEDNS.load(ordering: .relaxed) == 1 && without.load(ordering: .relaxed) == 2, "\(server.log)")
        // The server is fixed; after the re-probe time the worker tries EDNS again, and keeps it.
        rejecting.store(false, ordering: .relaxed)
        usleep(2_100_000)
        #expect(try worker.ask("c.example.com.", .a).answerAddresses == ["192.0.2.3"])
        #expect(withEDNS.load(ordering: .relaxed) == 2, "re-probed with EDNS: \(server.log)")
        #expect(try worker.ask("d.example.com.", .a).answerAddresses == ["192.0.2.4"])
        #expect(withEDNS.load(ordering: .relaxed) == 3 && without.load(ordering: .relaxed) == 2, "\(server.log)")
    }

    private func reprobeConfig() throws -> String {
        let path = NSTemporaryDirectory() + "/shoal-reprobe-\(getpid()).yaml"
        try "edns-reprobe-seconds: 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

extension HostileUpstreamTests {
    /// Issue #9, item 4, the other way round: example.com.'s server is ns.other.net., and the
    /// root's (sibling) glue for that name is an address where nothing answers. The name
    /// resolved in its own zone gives the address that works, and the answer comes from there
    /// instead of SERVFAIL. (Already so before the issue, through the glueless path; kept as
    /// the test of that half of the item.)
    @Test func theServersOwnAddressesWhenTheGlueFails() throws {
        let net = LieNet(32)
        let dead = net.ip(9)
        let root = try FakeAuthority([net.rootZone([
            "example.com. NS ns.other.net.", "ns.other.net. A \(dead)",
            "other.net. NS ns1.other.net.", "ns1.other.net. A \(net.ip(3))",
        ])])
        let other = try FakeAuthority([FakeZone("other.net.", ["@ NS ns1", "ns1 A \(net.ip(3))", "ns A \(net.ip(2))"])])
        let example = try FakeAuthority([FakeZone("example.com.", ["@ NS ns.other.net.", "www A 192.0.2.1"])])
        let server = try LyingServer(addresses: [net.root, net.ip(2), net.ip(3)]) { q, address in
            switch address {
            case net.root: return [.message(root.answer(q))]
            case net.ip(3): return [.message(other.answer(q))]
            default: return [.message(example.answer(q))]
            }
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-own-addresses", server: server)
        defer { worker.stop() }

        let r = try worker.ask("www.example.com.", .a)
        #expect(r.rcode == .noError && r.answerAddresses == ["192.0.2.1"], "\(r.presentation)\n\(server.log)\n\(worker.logTail)")
        #expect(server.queries(for: "ns.other.net.", .a) >= 1, "the name's own zone was asked: \(server.log)")
        #expect(server.queries(at: net.ip(2)) >= 1)
    }
}

extension HostileUpstreamTests {
    /// Issue #9, item 4: no address for example.com.'s in-zone server is known (the referral
    /// on the way came without glue, as from a parent that truncates its additional section),
    /// so no server can be asked; the parent, asked for the delegation itself, gives the glue,
    /// and the answer comes from there instead of SERVFAIL.
    @Test func theParentsGlueWhenNoServerAddressIsKnown() throws {
        let net = LieNet(33)
        let root = try FakeAuthority([net.rootZone(["example.com. NS ns.example.com.", "ns.example.com. A \(net.ip(2))"])])
        let zone = try FakeAuthority([FakeZone("example.com.", ["@ NS ns", "ns A \(net.ip(2))", "www A 192.0.2.1"])])
        let server = try LyingServer(addresses: [net.root, net.ip(2)]) { q, address in
            guard address == net.root else { return [.message(zone.answer(q))] }
            var m = root.answer(q)
            // Glue only when the delegation itself is asked for.
            if q.question?.type != .ns || q.question?.name != (try! DNSName("example.com.")) { m.additional = [] }
            return [.message(m)]
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-no-glue", server: server, extra: ["--no-qname-minimisation"])
        defer { worker.stop() }

        let r = try worker.ask("www.example.com.", .a)
        #expect(r.rcode == .noError && r.answerAddresses == ["192.0.2.1"], "\(r.presentation)\n\(server.log)\n\(worker.logTail)")
        #expect(server.queries(for: "example.com.", .ns) == 1, "\(server.log)")
    }
}
