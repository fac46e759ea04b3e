import DNSCore
import Foundation
import ShmCache
import ShoalLab
import Synchronization
import Testing
import Worker

/// Authoritative servers that lie: forged replies (wrong ID, wrong port, wrong question),
/// out-of-bailiwick data, referral and CNAME loops, NS floods, dead servers. Nothing may be
/// poisoned, the work per client query stays bounded, and SERVFAIL comes where it is due.
///
/// No nsd lab: each test's hierarchy is a ``LyingServer`` on 127.57.N.x (the root at .1, the
/// worker at .200), and its root hints point at that root.
@Suite(.serialized)
struct HostileUpstreamTests {
    let limits = ResolverLimits()

    // MARK: Forged replies

    @Test func replyWithWrongIDIsIgnored() throws {
        try forgedRepliesAreIgnored(net: LieNet(1), tag: "lie-id") { honest, lie in
            var lie = lie
            lie.header.id ^= 0x5A5A
            return [.message(lie), .delay(milliseconds: 30), .message(honest)]
        }
    }

    @Test func replyFromAnotherPortIsIgnored() throws {
        try forgedRepliesAreIgnored(net: LieNet(2), tag: "lie-port") { honest, lie in
            [.fromOtherPort(lie), .delay(milliseconds: 30), .message(honest)]
        }
    }

    @Test func replyToAnotherQuestionIsIgnored() throws {
        let planted = try DNSName("planted.victim.test.")
        try forgedRepliesAreIgnored(net: LieNet(3), tag: "lie-question") { honest, lie in
            var otherName = lie
            otherName.questions = [Question(name: planted, type: lie.questions[0].type)]
            otherName.answers = [ResourceRecord(name: planted, type: .a, ttl: 3600, rdata: .a(LieNet.poison))]
            var otherType = lie
            otherType.questions[0].type = lie.questions[0].type == .a ? .aaaa : .a
            var otherClass = lie
            otherClass.questions[0].qclass = .ch
            var noQuestion = lie
            noQuestion.questions = []
            // Not even a response: a header cut short, and the reply with QR clear.
            let bytes = (try? lie.serialize()) ?? []
            var notResponse = bytes
            if notResponse.count > 2 { notResponse[2] &= 0x7F }
            return [.message(otherName), .message(otherType), .message(otherClass), .message(noQuestion),
                    .raw(Array(bytes.prefix(11))), .raw(notResponse), .delay(milliseconds: 30), .message(honest)]
        } afterwards: { worker, server in
            // The record planted under another question was not cached: the zone's own
            // answer (no such name) comes back.
            let r = try worker.ask("planted.victim.test.", .a)
            #expect(r.rcode == .nxDomain, "\(r.presentation)")
            #expect(r.answers.isEmpty)
        }
    }

    /// With 0x20 on, names go out in random case, and a forged reply that got everything right
    /// but the spelling of the name (every letter's case inverted) is ignored.
    @Test func with0x20AReplyInAnotherCaseIsIgnored() throws {
        let config = NSTemporaryDirectory() + "/shoal-0x20-\(getpid()).yaml"
        try "use-0x20: true\n".write(toFile: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: config) }
        let spellings = Mutex<[String]>([])
        try forgedRepliesAreIgnored(net: LieNet(10), tag: "lie-0x20", extra: ["--config", config]) { honest, lie in
            var lie = lie
            if let q = lie.questions.first {
                spellings.withLock { $0.append(q.name.presentation) }
                lie.questions[0].name = q.name.invertingCase()
            }
            return [.message(lie), .delay(milliseconds: 30), .message(honest)]
        }
        let seen = spellings.withLock { $0 }
        #expect(!seen.isEmpty)
        // Random case: some names went out with upper-case letters, some letters lower-case.
        #expect(seen.contains { $0.contains { $0.isUppercase } } && seen.contains { $0.contains { $0.isLowercase } },
                "\(seen)")
    }

    /// Every server (root included) first sends a forged copy of its reply, made by `forge`
    /// from the honest reply and a poisoned one (A records and glue rewritten to the evil
    /// server); the worker must answer with the honest data, twice (the second time from its
    /// record cache), and never ask the evil server.
    private func forgedRepliesAreIgnored(
        net: LieNet, tag: String,
        extra: [String] = [],
        forge: @escaping @Sendable (_ honest: Message, _ poisoned: Message) -> [LyingServer.Reply],
        afterwards: (WorkerProcess, LyingServer) throws -> Void = { _, _ in }
    ) throws {
        let root = try FakeAuthority([net.rootZone([
            "victim.test. NS ns.victim.test.", "ns.victim.test. A \(net.ip(2))",
        ])])
        let victim = try FakeAuthority([FakeZone("victim.test.", [
            "@ NS ns", "ns A \(net.ip(2))", "www A 192.0.2.1",
        ])])
        let evil = net.ip(9)
        let server = try LyingServer(addresses: [net.root, net.ip(2), evil]) { q, address in
            if address == evil { return [.message(LieNet.poisonAnswer(q))] }
            let honest = (address == net.root ? root : victim).answer(q)
            return forge(honest, LieNet.poisoned(honest, evil: evil))
        }
        defer { server.stop() }
        let worker = try net.worker(tag: tag, server: server, extra: extra)
        defer { worker.stop() }

        let r = try worker.ask("www.victim.test.", .a)
        #expect(r.rcode == .noError, "\(r.presentation)\n\(worker.logTail)")
        #expect(r.answerAddresses == ["192.0.2.1"], "\(r.presentation)\n\(worker.logTail)")
        // Asked with DO, the query misses the packet cache and is answered from the record
        // cache, without asking anyone: what was cached is the honest data.
        let before = server.total
        let again = try worker.ask("www.victim.test.", .a, dnssecOK: true)
        #expect(again.answerAddresses == ["192.0.2.1"], "\(again.presentation)")
        #expect(server.total == before, "\(server.log.lines(from: before))")
        try afterwards(worker, server)
        #expect(server.queries(at: evil) == 0, "\(server.log)")
    }

    // MARK: Out-of-bailiwick data

    /// The server of victim.test. adds records about other. and the root to every reply (in
    /// front of its own, in the answer, authority and additional sections). None of it is
    /// believed: bank.other. is asked of other.'s real server, the evil server is never asked.
    @Test func outOfBailiwickRecordsAreNotCached() throws {
        let net = LieNet(4)
        let evil = net.ip(9)
        let root = try FakeAuthority([net.rootZone([
            "victim.test. NS ns.victim.test.", "ns.victim.test. A \(net.ip(2))",
            "other. NS ns.other.", "ns.other. A \(net.ip(3))",
        ])])
        let victim = try FakeAuthority([FakeZone("victim.test.", [
            "@ NS ns", "ns A \(net.ip(2))", "www A 192.0.2.1", "alias CNAME www.bank.other.",
            // Delegated to a server whose name is in other.: the only glue for it is a lie.
            "sub NS ns.other.",
        ])])
        // other.'s server also serves sub.victim.test.
        let other = try FakeAuthority([
            FakeZone("other.", ["@ NS ns", "ns A \(net.ip(3))", "www.bank A 192.0.2.20", "unrelated A 192.0.2.21"]),
            FakeZone("sub.victim.test.", ["@ NS ns.other.", "www A 192.0.2.30"]),
        ])
        let poison = LieNet.poison
        let injected = (
            answers: try [
                "www.bank.other. 86400 A \(poison.presentation)", "unrelated.other. 86400 A \(poison.presentation)",
            ].map { try ResourceRecord(presentation: $0) },
            authority: try [
                ". 86400 NS ns.evil.lie.", "other. 86400 NS ns.evil.lie.", "bank.other. 86400 NS ns.evil.lie.",
                ". 86400 SOA ns.evil.lie. hostmaster.evil.lie. 1 3600 600 86400 86400",
            ].map { try ResourceRecord(presentation: $0) },
            additional: try [
                "ns.evil.lie. 86400 A \(evil)", "ns.other. 86400 A \(evil)", "a.root-servers.lie. 86400 A \(evil)",
                "www.bank.other. 86400 A \(poison.presentation)",
            ].map { try ResourceRecord(presentation: $0) })
        let server = try LyingServer(addresses: [net.root, net.ip(2), net.ip(3), evil]) { q, address in
            switch address {
            case net.root: return [.message(root.answer(q))]
            case net.ip(3): return [.message(other.answer(q))]
            case evil: return [.message(LieNet.poisonAnswer(q))]
            default:
                var m = victim.answer(q)
                m.answers = injected.answers + m.answers
                m.authority = injected.authority + m.authority
                m.additional = injected.additional + m.additional
                return [.message(m)]
            }
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-bailiwick", server: server,
                                    trace: ["www.sub.victim.test.", "nothing.victim.test."])
        defer { worker.stop() }

        let www = try worker.ask("www.victim.test.", .a)
        #expect(www.rcode == .noError, "\(www.presentation)\n\(worker.logTail)")
        #expect(www.answers.count == 1 && www.answerAddresses == ["192.0.2.1"], "\(www.presentation)")

        // A CNAME out of the zone: its target's data in the same answer is not believed.
        let alias = try worker.ask("alias.victim.test.", .a)
        #expect(alias.rcode == .noError, "\(alias.presentation)\n\(worker.logTail)")
        #expect(alias.answerAddresses == ["192.0.2.20"], "\(alias.presentation)")
        #expect(alias.answers.first?.type == .cname)

        for (name, address) in [("www.bank.other.", "192.0.2.20"), ("unrelated.other.", "192.0.2.21"),
                                ("ns.other.", net.ip(3))] {
            let r = try worker.ask(name, .a, dnssecOK: true)
            #expect(r.rcode == .noError, "\(name)\n\(r.presentation)\n\(worker.logTail)")
            #expect(r.answerAddresses == [address], "\(name)\n\(r.presentation)")
        }

        // The delegation to ns.other. came with a lying glue address for it: the worker
        // resolves ns.other. itself and asks the real server.
        let sub = try worker.ask("www.sub.victim.test.", .a)
        #expect(sub.rcode == .noError, "\(sub.presentation)\n\(worker.logTail)")
        #expect(sub.answerAddresses == ["192.0.2.30"], "\(sub.presentation)")

        // A negative answer carries the zone's SOA, not the root's SOA put in front of it.
        let none = try worker.ask("nothing.victim.test.", .a)
        #expect(none.rcode == .nxDomain, "\(none.presentation)\n\(worker.logTail)")
        #expect(none.authority.filter { $0.type == .soa }.map(\.name) == [try DNSName("victim.test.")],
                "\(none.presentation)")

        // The root's NS set was not replaced either: a new TLD is still asked of the real root.
        let before = server.queries(at: net.root)
        _ = try worker.ask("nowhere.", .a)
        #expect(server.queries(at: net.root) > before, "\(server.log)")
        #expect(server.queries(at: evil) == 0, "\(server.log)")
    }

    // MARK: Loops

    /// Delegations that lead nowhere: a server that refers back up to the root, one that
    /// refers to its own zone, one that refers sideways, a child that refers back to its
    /// parent, and two glueless zones whose NS names each live in the other. Each ends in
    /// SERVFAIL within the query budget, and the worker still resolves afterwards.
    @Test func referralLoopsEndInServfailWithinBudget() throws {
        let net = LieNet(5)
        let root = try FakeAuthority([net.rootZone([
            "up.loop. NS ns.up.loop.", "ns.up.loop. A \(net.ip(2))",
            "self.loop. NS ns.self.loop.", "ns.self.loop. A \(net.ip(3))",
            "side.loop. NS ns.side.loop.", "ns.side.loop. A \(net.ip(4))",
            "ping.loop. NS ns.ping.loop.", "ns.ping.loop. A \(net.ip(5))",
            "a.loop. NS ns.b.loop2.", "b.loop2. NS ns.a.loop.",
            "ok.loop. NS ns.ok.loop.", "ns.ok.loop. A \(net.ip(7))",
        ])])
        let referrals: [String: Message] = try [
            net.ip(2): LieNet.referral(". NS a.root-servers.lie.", glue: "a.root-servers.lie. A \(net.root)"),
            net.ip(3): LieNet.referral("self.loop. NS ns.self.loop.", glue: "ns.self.loop. A \(net.ip(3))"),
            net.ip(4): LieNet.referral("elsewhere.side.loop. NS ns.side.loop.", glue: "ns.side.loop. A \(net.ip(4))"),
            net.ip(6): LieNet.referral("ping.loop. NS ns.ping.loop.", glue: "ns.ping.loop. A \(net.ip(5))"),
        ]
        // ping.loop. delegates down to pong (at .6), which refers back up to ping.
        let ping = try FakeAuthority([FakeZone("ping.loop.", [
            "@ NS ns", "ns A \(net.ip(5))", "pong NS ns.pong", "ns.pong A \(net.ip(6))",
        ])])
        let ok = try FakeAuthority([FakeZone("ok.loop.", ["@ NS ns", "ns A \(net.ip(7))", "www A 192.0.2.50"])])
        let server = try LyingServer(addresses: [net.root] + (2...7).map(net.ip)) { q, address in
            if let r = referrals[address] { return [.message(LieNet.answering(q, with: r))] }
            switch address {
            case net.ip(5): return [.message(ping.answer(q))]
            case net.ip(7): return [.message(ok.answer(q))]
            default: return [.message(root.answer(q))]
            }
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-referral", server: server)
        defer { worker.stop() }

        for name in ["www.up.loop.", "www.self.loop.", "www.side.loop.", "www.pong.ping.loop.", "www.a.loop."] {
            server.resetCounts()
            let r = try worker.ask(name, .a)
            #expect(r.rcode == .servFail, "\(name)\n\(r.presentation)\n\(worker.logTail)")
            #expect(r.answers.isEmpty)
            #expect(server.total <= limits.maxUpstreamQueries, "\(name)\n\(server.log.joined(separator: "\n"))")
        }
        let fine = try worker.ask("www.ok.loop.", .a)
        #expect(fine.answerAddresses == ["192.0.2.50"], "\(fine.presentation)\n\(worker.logTail)")
    }

    /// CNAME loops inside one zone (from a server that follows the chain and from one that
    /// gives one step at a time), across two zones, and a chain longer than the limit: SERVFAIL,
    /// within the query budget.
    @Test func cnameLoopsEndInServfailWithinBudget() throws {
        let net = LieNet(6)
        let root = try FakeAuthority([net.rootZone([
            "cl. NS ns.cl.", "ns.cl. A \(net.ip(2))",
            "onestep. NS ns.onestep.", "ns.onestep. A \(net.ip(3))",
            "cl1. NS ns.cl1.", "ns.cl1. A \(net.ip(4))",
            "cl2. NS ns.cl2.", "ns.cl2. A \(net.ip(5))",
        ])])
        let chainLength = limits.maxChainLength + 8
        let long1 = (0..<chainLength).filter { $0.isMultiple(of: 2) }.map { "c\($0) CNAME c\($0 + 1).cl2." }
        let long2 = (0..<chainLength).filter { !$0.isMultiple(of: 2) }.map { "c\($0) CNAME c\($0 + 1).cl1." }
        let authorities: [String: FakeAuthority] = try [
            net.root: root,
            net.ip(2): FakeAuthority([FakeZone("cl.", ["@ NS ns", "ns A \(net.ip(2))",
                                                       "x CNAME y", "y CNAME x"])]),
            net.ip(3): FakeAuthority([FakeZone("onestep.", ["@ NS ns", "ns A \(net.ip(3))",
                                                            "x CNAME y", "y CNAME z", "z CNAME x"])],
                                     chasesCNAMEs: false),
            net.ip(4): FakeAuthority([FakeZone("cl1.", ["@ NS ns", "ns A \(net.ip(4))", "x CNAME y.cl2."] + long1)]),
            net.ip(5): FakeAuthority([FakeZone("cl2.", ["@ NS ns", "ns A \(net.ip(5))", "y CNAME x.cl1."] + long2)]),
        ]
        let server = try LyingServer(addresses: [net.root] + (2...5).map(net.ip)) { q, address in
            authorities[address].map { [.message($0.answer(q))] } ?? []
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-cname", server: server)
        defer { worker.stop() }

        // y.cl2. comes after x.cl1.: its loop is found in the cache, without asking anyone.
        for name in ["x.cl.", "x.onestep.", "x.cl1.", "y.cl2.", "c0.cl1."] {
            server.resetCounts()
            let r = try worker.ask(name, .a)
            #expect(r.rcode == .servFail, "\(name)\n\(r.presentation)\n\(worker.logTail)")
            #expect(r.answerAddresses.isEmpty)
            #expect(server.total <= limits.maxUpstreamQueries, "\(name)\n\(server.log.joined(separator: "\n"))")
        }
    }

    // MARK: NXNSAttack

    /// A delegation to 100 NS names without glue (NXNSAttack, CVE-2020-12662). When every name
    /// is NXDOMAIN, the worker looks up at most `maxGluelessNamesPerDelegation` of them; when
    /// each is answered with yet another such delegation, the fan-out stops at the query budget.
    @Test func nsFloodWithoutGlueIsBounded() throws {
        let net = LieNet(7)
        let root = try FakeAuthority([net.rootZone([
            "attack. NS ns.attack.", "ns.attack. A \(net.ip(2))",
            "sink. NS ns.sink.", "ns.sink. A \(net.ip(3))",
            "deep. NS ns.deep.", "ns.deep. A \(net.ip(4))",
        ])])
        let sink = try FakeAuthority([FakeZone("sink.", ["@ NS ns", "ns A \(net.ip(3))"])])
        let fresh = FreshLabels()
        let server = try LyingServer(addresses: [net.root] + (2...4).map(net.ip)) { q, address in
            let name = q.questions[0].name
            switch address {
            case net.ip(2) where name.labelCount >= 2:
                // Every name under attack. is delegated to 100 names in sink. or deep.
                let cut = name.suffix(labels: 2)
                let target = cut.labels[0].elementsEqual("viadeep".utf8) ? "deep." : "sink."
                return [.message(LieNet.flood(q, cut: cut, names: (1...100).map { "n\($0).\(target)" }))]
            case net.ip(4) where name.labelCount >= 2:
                // Every name in deep. is delegated to 100 names never given before, each its own
                // zone in deep.: nothing learnt about one helps with the next.
                let names = fresh.take(100).map { "\($0).deep." }
                return [.message(LieNet.flood(q, cut: name.suffix(labels: 2), names: names))]
            case net.ip(3): return [.message(sink.answer(q))]
            default: return [.message(root.answer(q))]
            }
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-nxns", server: server)
        defer { worker.stop() }
        let glueless = limits.maxGluelessNamesPerDelegation

        // NXDOMAIN for each NS name: one query to sink. per name tried, plus the root and
        // attack. referrals on the way (three at most).
        server.resetCounts()
        let r = try worker.ask("www.nx.attack.", .a)
        #expect(r.rcode == .servFail, "\(r.presentation)\n\(worker.logTail)")
        let log = server.log.joined(separator: "\n")
        #expect(server.queries(at: net.ip(3)) <= glueless, "\(log)")
        #expect(server.total <= glueless + 3, "\(log)")
        #expect(server.queries(for: "n\(glueless + 1).sink.", .a) == 0, "\(log)")

        // Another delegation to the same names: they are known not to exist, sink. is not asked.
        server.resetCounts()
        let again = try worker.ask("www.nx2.attack.", .a)
        #expect(again.rcode == .servFail, "\(again.presentation)\n\(worker.logTail)")
        #expect(server.queries(at: net.ip(3)) == 0, "\(server.log.joined(separator: "\n"))")

        // Delegations all the way down: nesting and fan-out stop at the per-query budget.
        server.resetCounts()
        let deep = try worker.ask("www.viadeep.attack.", .a)
        #expect(deep.rcode == .servFail, "\(deep.presentation)\n\(worker.logTail)")
        #expect(server.total <= limits.maxUpstreamQueries, "\(server.log.joined(separator: "\n"))")
        #expect(worker.process.isRunning)
    }

    // MARK: Dead servers

    /// Of a zone's two servers, the one that looks faster never answers: the answer comes from
    /// the other, and once the dead one has timed out the next question goes to the live one
    /// first.
    @Test func deadServerIsPassedOver() throws {
        let net = LieNet(8)
        let root = try FakeAuthority([net.rootZone([
            "mixed. NS ns1.mixed.", "mixed. NS ns2.mixed.",
            "ns1.mixed. A \(net.ip(2))", "ns2.mixed. A \(net.ip(3))",
        ])])
        let mixed = try FakeAuthority([FakeZone("mixed.", [
            "@ NS ns1", "@ NS ns2", "ns1 A \(net.ip(2))", "ns2 A \(net.ip(3))",
            "www A 192.0.2.80", "mail A 192.0.2.81",
        ])])
        let dead = net.ip(2)
        let server = try LyingServer(addresses: [net.root, dead, net.ip(3)]) { q, address in
            switch address {
            case dead: return [.noAnswer]
            case net.root: return [.message(root.answer(q))]
            default: return [.message(mixed.answer(q))]
            }
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-dead", server: server)
        defer { worker.stop() }
        // The speed table says the dead one answered fast before (as after a server dies), so
        // it is chosen first.
        let segment = try SharedSegment.attach(name: SegmentName.forInstance(worker.segment))
        segment.nsSpeed.recordRTT(ServerAddress(try IPv4Address(presentation: dead)), microseconds: 200, now: shmNow())
        segment.nsSpeed.recordRTT(ServerAddress(try IPv4Address(presentation: net.ip(3))), microseconds: 20_000,
                                  now: shmNow())

        let r = try worker.ask("www.mixed.", .a)
        #expect(r.rcode == .noError, "\(r.presentation)\n\(worker.logTail)")
        #expect(r.answerAddresses == ["192.0.2.80"], "\(r.presentation)")
        // The dead one was tried first, and timed out.
        #expect(server.queries(at: dead) >= 1, "\(server.log)")

        let deadBefore = server.queries(at: dead)
        let mail = try worker.ask("mail.mixed.", .a)
        #expect(mail.answerAddresses == ["192.0.2.81"], "\(mail.presentation)\n\(worker.logTail)")
        #expect(server.queries(at: dead) == deadBefore, "\(server.log)")
    }

    /// A server that has answered fast is preferred to one never measured (which counts as
    /// `unknownServerRTTMicros`), so resolutions do not go exploring while a good one is known.
    @Test func aMeasuredServerIsPreferredToAnUnknownOne() throws {
        let net = LieNet(13)
        let root = try FakeAuthority([net.rootZone([
            "two. NS ns1.two.", "two. NS ns2.two.", "ns1.two. A \(net.ip(2))", "ns2.two. A \(net.ip(3))",
        ])])
        let zone = try FakeAuthority([FakeZone("two.", ["@ NS ns1", "@ NS ns2", "ns1 A \(net.ip(2))",
                                                        "ns2 A \(net.ip(3))"] + (0..<8).map { "n\($0) A 192.0.2.99" })])
        let server = try LyingServer(addresses: [net.root, net.ip(2), net.ip(3)]) { q, address in
            [.message(address == net.root ? root.answer(q) : zone.answer(q))]
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-known", server: server)
        defer { worker.stop() }
        let segment = try SharedSegment.attach(name: SegmentName.forInstance(worker.segment))
        segment.nsSpeed.recordRTT(ServerAddress(try IPv4Address(presentation: net.ip(3))), microseconds: 5_000,
                                  now: shmNow())
        for i in 0..<8 {
            #expect(try worker.ask("n\(i).two.", .a).answerAddresses == ["192.0.2.99"])
        }
        #expect(server.queries(at: net.ip(2)) == 0, "the unknown server was tried: \(server.log)")
        #expect(server.queries(at: net.ip(3)) >= 8)
    }
}

// MARK: - Helpers

/// The addresses of one test's lying hierarchy, 127.57.`net`.x: the root at .1, the worker at
/// .200, and the data every test shares (root hints, poison).
struct LieNet: Sendable {
    let net: Int
    init(_ net: Int) { self.net = net }

    func ip(_ host: Int) -> String { "127.57.\(net).\(host)" }
    var root: String { ip(1) }

    /// The address forged replies give for every name: it must never reach a client.
    static let poison = IPv4Address(198, 51, 100, 66)

    /// The root zone: its NS set pointing at the lying root, plus `lines`.
    func rootZone(_ lines: [String]) throws -> FakeZone {
        try FakeZone(".", ["@ 3600 NS a.root-servers.lie.", "a.root-servers.lie. 3600 A \(root)"] + lines)
    }

    /// A root hints file whose one server is this hierarchy's root. The caller removes it.
    func writeHints() throws -> String {
        let path = NSTemporaryDirectory()
            + "/shoal-lying-root-\(net)-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).hints"
        try ".                   3600000 NS a.root-servers.lie.\na.root-servers.lie. 3600000 A  \(root)\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A worker on .200 with a segment of its own, whose root hints point at this hierarchy's
    /// root and which asks `server`'s port for everything. Its segment and hints file go when
    /// the worker does.
    func worker(tag: String, server: LyingServer, trace: [String] = [], queriesLoopback: Bool = true,
                extra: [String] = []) throws -> WorkerProcess {
        let segment = uniqueSegment(tag)
        let hints = try writeHints()
        let worker = try WorkerProcess(address: ip(200), segment: segment, rootHints: hints, validation: .off,
                                       queriesLoopback: queriesLoopback,
                                       extra: ["--upstream-port", "\(server.port)"] + trace.flatMap { ["--trace", $0] } + extra)
        worker.onDeinit = {
            unlinkSegment(segment)
            try? FileManager.default.removeItem(atPath: hints)
        }
        // The worker primes the root as it starts (RFC 8109); asking the root's NS set waits
        // for that priming (or joins it) and sends nothing more, so the counts a test takes
        // after `resetCounts()` never include a priming query landing late.
        if queriesLoopback { _ = try? worker.ask(".", .ns) }
        return worker
    }

    /// `honest` with every address rewritten: answers to ``poison``, glue to `evil`.
    static func poisoned(_ honest: Message, evil: String) -> Message {
        var m = honest
        let evilAddress = try! IPv4Address(presentation: evil)
        m.answers = m.answers.map { rr in
            guard rr.type == .a else { return rr }
            var rr = rr
            rr.rdata = .a(poison)
            return rr
        }
        m.additional = m.additional.map { rr in
            guard rr.type == .a else { return rr }
            var rr = rr
            rr.rdata = .a(evilAddress)
            return rr
        }
        return m
    }

    /// What the evil server says to anything: the poison address, authoritatively.
    static func poisonAnswer(_ query: Message) -> Message {
        var m = Message.reply(to: query)
        m.header.authoritative = true
        if let q = query.question {
            m.answers = [ResourceRecord(name: q.name, type: .a, ttl: 86400, rdata: .a(poison))]
        }
        return m
    }

    /// A canned referral (authority `ns`, additional `glue`) to be sent to any question.
    static func referral(_ ns: String, glue: String) throws -> Message {
        Message(authority: [try ResourceRecord(presentation: ns, defaultTTL: 3600)],
                additional: [try ResourceRecord(presentation: glue, defaultTTL: 3600)])
    }

    /// `canned`'s sections as the reply to `query`.
    static func answering(_ query: Message, with canned: Message) -> Message {
        var m = Message.reply(to: query)
        m.header.authoritative = canned.header.authoritative
        m.answers = canned.answers
        m.authority = canned.authority
        m.additional = canned.additional
        return m
    }

    /// A referral of `cut` to `names`, without glue. With 100 short names it is about 1.8 KB:
    /// more than the 1232 bytes the worker offers (a liar does not care), less than it reads.
    static func flood(_ query: Message, cut: DNSName, names: [String]) -> Message {
        var m = Message.reply(to: query)
        m.authority = names.map { ResourceRecord(name: cut, type: .ns, ttl: 3600, rdata: .ns(try! DNSName($0))) }
        return m
    }
}

/// Three-character labels, each given once (base 36 from "100"): NS names no cache has seen.
final class FreshLabels: Sendable {
    private let next = Mutex(36 * 36)

    func take(_ count: Int) -> [String] {
        next.withLock { n in
            defer { n += count }
            return (n..<(n + count)).map { String($0, radix: 36) }
        }
    }
}

extension Message {
    /// The A addresses in the answer section, as text, sorted.
    var answerAddresses: [String] {
        answers.filter { $0.type == .a }.map { $0.rdata.presentation(type: .a) }.sorted()
    }
}

extension WorkerProcess {
    /// The end of the worker's log, for failure messages.
    var logTail: String { String(log.suffix(6000)) }
}

extension Array where Element == String {
    /// The entries from index `start` on, one per line.
    func lines(from start: Int) -> String { dropFirst(start).joined(separator: "\n") }
}

extension DNSName {
    /// Every ASCII letter's case flipped.
    func invertingCase() -> DNSName {
        let w = wire.map { b -> UInt8 in (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A ? b ^ 0x20 : b }
        return (try? DNSName(wire: w)) ?? self
    }
}
