import DNSCore
import Foundation
import Synchronization
import ShmCache
import Testing
import Worker

/// Authoritative servers that misbehave the ways real ones do (issue #9), each scripted on a
/// ``LyingServer``: the answer and the queries the worker sent upstream are both checked.
extension HostileUpstreamTests {
    // MARK: Security

    /// A server of example.com. answers a question for a name of its zone without AA, with an
    /// NS set of example.com. naming that very name and its address (a lie about the zone's own
    /// delegation). The answer is the answer; the delegation learned from the parent stays, so
    /// mail.example.com. is asked of the real server and the liar's address is never queried.
    @Test func anAnswersAuthorityDoesNotReplaceTheDelegation() throws {
        let net = LieNet(20)
        let evil = net.ip(9)
        let root = try FakeAuthority([net.rootZone([
            "example.com. NS ns.example.com.", "ns.example.com. A \(net.ip(2))",
        ])])
        let zone = try FakeAuthority([FakeZone("example.com.", [
            "@ NS ns", "ns A \(net.ip(2))", "www A 192.0.2.1", "mail A 192.0.2.2",
        ])])
        let server = try LyingServer(addresses: [net.root, net.ip(2), evil]) { q, address in
            switch address {
            case net.root: return [.message(root.answer(q))]
            case evil: return [.message(LieNet.poisonAnswer(q))]
            default:
                guard let name = q.question?.name, name.labels.first?.starts(with: "bad".utf8) == true else {
                    return [.message(zone.answer(q))]
                }
                var m = Message.reply(to: q)
                m.answers = [ResourceRecord(name: name, type: .a, ttl: 86400, rdata: .a(try! IPv4Address(presentation: evil)))]
                m.authority = [ResourceRecord(name: try! DNSName("example.com."), type: .ns, ttl: 86400, rdata: .ns(name))]
                m.additional = m.answers
                return [.message(m)]
            }
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-ns-auth", server: server)
        defer { worker.stop() }

        #expect(try worker.ask("www.example.com.", .a).answerAddresses == ["192.0.2.1"], "\(worker.logTail)")
        _ = try worker.ask("bad123.example.com.", .a)
        server.resetCounts()
        let mail = try worker.ask("mail.example.com.", .a)
        #expect(mail.rcode == .noError, "\(mail.presentation)\n\(worker.logTail)")
        #expect(mail.answerAddresses == ["192.0.2.2"], "\(mail.presentation)\n\(server.log)")
        #expect(server.queries(at: evil) == 0, "\(server.log)")
        #expect(server.queries(at: net.ip(2)) == 1, "\(server.log)")
    }

    /// By default no query goes to a loopback address: with root hints on 127.57.21.1 the
    /// worker answers SERVFAIL without sending anything.
    @Test func loopbackServersAreNotAskedByDefault() throws {
        let net = LieNet(21)
        let root = try FakeAuthority([net.rootZone(["example.com. NS ns.example.com.",
                                                    "ns.example.com. A \(net.ip(2))"])])
        let server = try LyingServer(addresses: [net.root, net.ip(2)]) { q, _ in [.message(root.answer(q))] }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-loopback", server: server, queriesLoopback: false)
        defer { worker.stop() }

        let r = try worker.ask("www.example.com.", .a)
        #expect(r.rcode == .servFail, "\(r.presentation)\n\(worker.logTail)")
        #expect(r.answers.isEmpty)
        #expect(server.total == 0, "\(server.log)")
    }

    /// With loopback allowed (the lab), the blocks of `do-not-query` are still never asked: of
    /// example.com.'s two servers the faster-looking one is in such a block, and the answer
    /// comes from the other without a query to it.
    @Test func doNotQueryBlocksAreNotAsked() throws {
        let net = LieNet(22)
        let banned = net.ip(3)
        let root = try FakeAuthority([net.rootZone([
            "example.com. NS ns1.example.com.", "example.com. NS ns2.example.com.",
            "ns1.example.com. A \(banned)", "ns2.example.com. A \(net.ip(2))",
        ])])
        let zone = try FakeAuthority([FakeZone("example.com.", [
            "@ NS ns1", "@ NS ns2", "ns1 A \(banned)", "ns2 A \(net.ip(2))", "www A 192.0.2.1",
        ])])
        let server = try LyingServer(addresses: [net.root, net.ip(2), banned]) { q, address in
            [.message(address == net.root ? root.answer(q) : zone.answer(q))]
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-dnq", server: server, extra: ["--do-not-query", "\(banned)/32"])
        defer { worker.stop() }
        let segment = try SharedSegment.attach(name: SegmentName.forInstance(worker.segment))
        segment.nsSpeed.recordRTT(ServerAddress(try IPv4Address(presentation: banned)), microseconds: 100, now: shmNow())

        for name in ["www.example.com.", "ns1.example.com.", "nothing.example.com."] {
            let r = try worker.ask(name, .a)
            #expect(r.rcode == (name.hasPrefix("nothing") ? .nxDomain : .noError), "\(r.presentation)\n\(worker.logTail)")
        }
        #expect(server.queries(at: banned) == 0, "\(server.log)")
        #expect(server.queries(at: net.ip(2)) >= 3, "\(server.log)")
    }

    /// Of com.'s two servers, the one that looks faster says, without AA, that names under
    /// example.com. do not exist and that names under example.net. have no data, each time with
    /// the SOA of the second-level zone it does not serve. Neither is believed or cached: the
    /// other server is asked and the answers come, twice (the second time from the cache).
    @Test func negativeAnswersWithoutAuthorityAreNotBelieved() throws {
        let net = LieNet(23)
        let liar = net.ip(2), honest = net.ip(3)
        let root = try FakeAuthority([net.rootZone([
            "com. NS a.gtld.lie.", "com. NS b.gtld.lie.", "net. NS a.gtld.lie.", "net. NS b.gtld.lie.",
            "a.gtld.lie. A \(liar)", "b.gtld.lie. A \(honest)",
        ])])
        let tlds = try FakeAuthority([
            FakeZone("com.", ["@ NS a.gtld.lie.", "@ NS b.gtld.lie.",
                              "example NS ns.example", "ns.example A \(net.ip(4))"]),
            FakeZone("net.", ["@ NS a.gtld.lie.", "@ NS b.gtld.lie.",
                              "example NS ns.example", "ns.example A \(net.ip(4))"]),
        ])
        let seconds = try FakeAuthority([
            FakeZone("example.com.", ["@ NS ns", "ns A \(net.ip(4))", "www A 192.0.2.1"]),
            FakeZone("example.net.", ["@ NS ns", "ns A \(net.ip(4))", "www A 192.0.2.2"]),
        ])
        let server = try LyingServer(addresses: [net.root, liar, honest, net.ip(4)]) { q, address in
            switch address {
            case net.root: return [.message(root.answer(q))]
            case honest: return [.message(tlds.answer(q))]
            case liar:
                guard let name = q.question?.name, name.labelCount >= 2 else { return [.message(tlds.answer(q))] }
                let apex = name.suffix(labels: 2)
                var m = Message.reply(to: q)
                m.rcode = apex.labels.last!.elementsEqual("com".utf8) ? .nxDomain : .noError
                m.authority = [try! ResourceRecord(presentation: "\(apex.presentation) 3600 SOA ns.\(apex.presentation) h. 1 3600 600 86400 3600")]
                return [.message(m)]
            default: return [.message(seconds.answer(q))]
            }
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-negative", server: server)
        defer { worker.stop() }
        let segment = try SharedSegment.attach(name: SegmentName.forInstance(worker.segment))
        segment.nsSpeed.recordRTT(ServerAddress(try IPv4Address(presentation: liar)), microseconds: 100, now: shmNow())
        segment.nsSpeed.recordRTT(ServerAddress(try IPv4Address(presentation: honest)), microseconds: 20_000, now: shmNow())

        for (name, address) in [("www.example.com.", "192.0.2.1"), ("www.example.net.", "192.0.2.2")] {
            for dnssecOK in [false, true] {   // the second misses the packet cache
                let r = try worker.ask(name, .a, dnssecOK: dnssecOK)
                #expect(r.rcode == .noError, "\(name)\n\(r.presentation)\n\(server.log)")
                #expect(r.answerAddresses == [address], "\(name)\n\(r.presentation)")
            }
        }
        #expect(server.queries(at: honest) >= 2, "\(server.log)")
        #expect(server.queries(at: net.ip(4)) >= 2, "\(server.log)")
    }

    // MARK: Answers that must not be SERVFAIL

    /// NODATA in the forms some servers give it, with AA: an empty answer with only the zone's
    /// NS set in authority (no SOA), and an answer to AAAA holding only the name's A record.
    /// Both are NOERROR with no answer, after one query each; the name's A is still answered.
    @Test func nodataWithoutSOAOrWithRecordsOfAnotherType() throws {
        let net = LieNet(24)
        let root = try FakeAuthority([net.rootZone(["nodata.test. NS ns.nodata.test.",
                                                    "ns.nodata.test. A \(net.ip(2))"])])
        let zone = try FakeZone("nodata.test.", ["@ NS ns", "ns A \(net.ip(2))", "www A 192.0.2.1", "mail A 192.0.2.3"])
        let honest = FakeAuthority([zone])
        let server = try LyingServer(addresses: [net.root, net.ip(2)]) { q, address in
            guard address == net.ip(2), let question = q.question, question.type == .aaaa else {
                return [.message((address == net.root ? root : honest).answer(q))]
            }
            var m = Message.reply(to: q)
            m.header.authoritative = true
            if question.name.labels.first!.elementsEqual("www".utf8) {
                m.authority = zone.records.filter { $0.type == .ns && $0.name == zone.apex }
            } else {
                m.answers = zone.records.filter { $0.type == .a && $0.name == question.name }
            }
            return [.message(m)]
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-nodata", server: server)
        defer { worker.stop() }

        for name in ["www.nodata.test.", "mail.nodata.test."] {
            server.resetCounts()
            let r = try worker.ask(name, .aaaa)
            #expect(r.rcode == .noError, "\(name)\n\(r.presentation)\n\(worker.logTail)")
            #expect(r.answers.isEmpty, "\(name)\n\(r.presentation)")
            #expect(server.queries(for: name, .aaaa) == 1, "\(server.log)")
        }
        #expect(try worker.ask("mail.nodata.test.", .a).answerAddresses == ["192.0.2.3"])
    }

    /// The child zone's own address for its server (learnt from an authoritative answer, so it
    /// replaced the parent's glue in the cache) is dead. The resolution goes back to the parent
    /// for the delegation and asks the glue's address, which answers.
    @Test func parentGlueWhenTheChildsAddressFails() throws {
        let net = LieNet(28)
        let root = try FakeAuthority([net.rootZone(["pg.test. NS ns.pg.test.", "ns.pg.test. A \(net.ip(2))"])])
        let zone = try FakeAuthority([FakeZone("pg.test.", ["@ NS ns", "ns A \(net.ip(3))", "www A 192.0.2.1"])])
        let server = try LyingServer(addresses: [net.root, net.ip(2), net.ip(3)]) { q, address in
            switch address {
            case net.root: return [.message(root.answer(q))]
            case net.ip(2): return [.message(zone.answer(q))]
            default: return [.noAnswer]
            }
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-parent-glue", server: server)
        defer { worker.stop() }

        // The child's word for its server's address: the dead one.
        #expect(try worker.ask("ns.pg.test.", .a).answerAddresses == [net.ip(3)], "\(worker.logTail)")
        server.resetCounts()
        let r = try worker.ask("www.pg.test.", .a)
        #expect(r.rcode == .noError && r.answerAddresses == ["192.0.2.1"], "\(r.presentation)\n\(worker.logTail)")
        #expect(server.queries(at: net.ip(3)) >= 1, "\(server.log)")
        #expect(server.queries(at: net.root) >= 1, "\(server.log)")
        #expect(server.queries(for: "www.pg.test.", .a) >= 2, "\(server.log)")
    }

    /// QNAME minimisation as RFC 9156 says. qm.test.'s server is wrong about empty
    /// non-terminals: NXDOMAIN for those under nx, SERVFAIL for those under sf. Each minimised
    /// failure falls back to the full name, which is answered; the zone is then remembered and
    /// the next names (mail.y.nx, under the cached NXDOMAIN; mail.x.sf) go out whole at once. In deep.test. (honest), a name 16
    /// labels below the zone takes at most 10 queries there (MAX_MINIMISE_COUNT), not 16.
    @Test func qnameMinimisationFallsBackToTheFullName() throws {
        let net = LieNet(29)
        let root = try FakeAuthority([net.rootZone([
            "qm.test. NS ns.qm.test.", "ns.qm.test. A \(net.ip(2))",
            "deep.test. NS ns.deep.test.", "ns.deep.test. A \(net.ip(3))",
        ])])
        let qm = try FakeZone("qm.test.", ["@ NS ns", "ns A \(net.ip(2))", "www.y.nx A 192.0.2.2", "mail.y.nx A 192.0.2.5",
                                           "www.x.sf A 192.0.2.1", "mail.x.sf A 192.0.2.3"])
        let long = (1...16).map { "l\($0)" }.joined(separator: ".")
        let deep = try FakeAuthority([FakeZone("deep.test.", ["@ NS ns", "ns A \(net.ip(3))", "\(long) A 192.0.2.4"])])
        let server = try LyingServer(addresses: [net.root, net.ip(2), net.ip(3)]) { q, address in
            switch address {
            case net.root: return [.message(root.answer(q))]
            case net.ip(3): return [.message(deep.answer(q))]
            default:
                var m = FakeAuthority([qm]).answer(q)
                let name = q.question!.name
                let isENT = m.answers.isEmpty && m.rcode == .noError && name != qm.apex
                    && !qm.records.contains { $0.name == name }
                if isENT, name.isSubdomain(of: try! DNSName("nx.qm.test.")) { m.rcode = .nxDomain }
                if isENT, name.isSubdomain(of: try! DNSName("sf.qm.test.")) {
                    m = Message.reply(to: q)
                    m.rcode = .servFail
                }
                return [.message(m)]
            }
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-qmin", server: server)
        defer { worker.stop() }

        for (name, address) in [("www.y.nx.qm.test.", "192.0.2.2"), ("mail.y.nx.qm.test.", "192.0.2.5"),
                                ("www.x.sf.qm.test.", "192.0.2.1")] {
            let r = try worker.ask(name, .a)
            #expect(r.rcode == .noError && r.answerAddresses == [address], "\(name)\n\(r.presentation)\n\(worker.logTail)")
            #expect(server.queries(for: name, .a) == 1, "\(server.log)")
        }
        server.resetCounts()
        let mail = try worker.ask("mail.x.sf.qm.test.", .a)
        #expect(mail.answerAddresses == ["192.0.2.3"], "\(mail.presentation)\n\(worker.logTail)")
        #expect(server.total == 1, "\(server.log)")

        let r = try worker.ask("\(long).deep.test.", .a)
        #expect(r.answerAddresses == ["192.0.2.4"], "\(r.presentation)\n\(worker.logTail)")
        #expect(server.queries(at: net.ip(3)) <= 10, "\(server.log.joined(separator: "\n"))")
    }

    // MARK: Answers that must be clean

    /// DNAME answers, with the target in the same zone, in a delegated child and in another
    /// zone, asked twice (the second time from the cache): every RRset appears once.
    @Test func aDNAMEAnswerListsEachSetOnce() throws {
        let net = LieNet(25)
        let root = try FakeAuthority([net.rootZone([
            "dn.test. NS ns.dn.test.", "ns.dn.test. A \(net.ip(2))",
            "other.test. NS ns.other.test.", "ns.other.test. A \(net.ip(3))",
        ])])
        let dn = try FakeAuthority([FakeZone("dn.test.", [
            "@ NS ns", "ns A \(net.ip(2))", "same DNAME real.dn.test.", "www.real A 192.0.2.1",
            "far DNAME real.other.test.", "child DNAME real.sub.dn.test.",
            "sub NS ns.sub", "ns.sub A \(net.ip(3))",
        ])])
        let other = try FakeAuthority([
            FakeZone("other.test.", ["@ NS ns", "ns A \(net.ip(3))", "www.real A 192.0.2.2",
                                     "loop.real CNAME back.far.dn.test.", "back.real A 192.0.2.4"]),
            FakeZone("sub.dn.test.", ["@ NS ns", "ns A \(net.ip(3))", "www.real A 192.0.2.3"]),
        ])
        let server = try LyingServer(addresses: [net.root, net.ip(2), net.ip(3)]) { q, address in
            var m = (address == net.root ? root : address == net.ip(2) ? dn : other).answer(q)
            // As a real server does: the DNAME, then the CNAME synthesized from it.
            if address == net.ip(2), let question = q.question, m.answers.isEmpty, m.rcode == .nxDomain || m.authority.contains(where: { $0.type == .soa }),
               let d = dn.zones[0].records.first(where: { $0.type == .dname && question.name.isStrictSubdomain(of: $0.name) }),
               case let .dname(target) = d.rdata {
                let prefix = question.name.labelCount - d.name.labelCount
                let rewritten = try! DNSName(labels: question.name.labels.prefix(prefix).map(Array.init)).appending(target)
                m = Message.reply(to: q)
                m.header.authoritative = true
                let sig = try! ResourceRecord(presentation: "\(d.name.presentation) 300 RRSIG DNAME 8 3 300 20300101000000 20200101000000 12345 dn.test. AAAA")
                m.answers = [d, sig, ResourceRecord(name: question.name, type: .cname, ttl: d.ttl, rdata: .cname(rewritten))]
                if let a = dn.zones[0].records.first(where: { $0.name == rewritten && $0.type == question.type }) {
                    m.answers.append(a)
                }
            }
            return [.message(m)]
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-dname-dup", server: server)
        defer { worker.stop() }

        for (name, address) in [("www.same.dn.test.", "192.0.2.1"), ("www.far.dn.test.", "192.0.2.2"),
                                ("www.child.dn.test.", "192.0.2.3")] {
            for dnssecOK in [false, true] {
                let r = try worker.ask(name, .a, dnssecOK: dnssecOK)
                #expect(r.rcode == .noError && r.answerAddresses == [address], "\(name)\n\(r.presentation)\n\(worker.logTail)")
                #expect(Set(r.answers.map(\.comparable)).count == r.answers.count, "\(name)\n\(r.presentation)")
                #expect(r.answers.count == (dnssecOK ? 4 : 3), "\(name)\n\(r.presentation)")
            }
        }
        // The chain passes the same DNAME twice: it is listed once, each CNAME it implies too.
        for dnssecOK in [false, true] {
            let r = try worker.ask("loop.far.dn.test.", .a, dnssecOK: dnssecOK)
            #expect(r.rcode == .noError && r.answerAddresses == ["192.0.2.4"], "\(r.presentation)\n\(worker.logTail)")
            #expect(Set(r.answers.map(\.comparable)).count == r.answers.count, "\(r.presentation)")
            #expect(r.answers.filter { $0.type == .dname }.count == 1, "\(r.presentation)")
        }
    }

    /// A DNAME learnt with a TTL of one second expires. Then the zone's server answers with a
    /// DNAME that loops: the answer is SERVFAIL without records and without "Stale Answer"
    /// (the server did answer; its error is the news), naming invalid data, and the expired
    /// DNAME's target is not asked. When the server later answers nothing at all, the stale
    /// chain is served (RFC 8767) with EDE 3.
    @Test func staleDataOnlyWhenNoServerAnswers() throws {
        let net = LieNet(26)
        let mode = Atomic<Int>(0)   // 0 honest, 1 a looping DNAME, 2 silent
        let root = try FakeAuthority([net.rootZone(["dl.test. NS ns.dl.test.", "ns.dl.test. A \(net.ip(2))"])])
        let zone = try FakeZone("dl.test.", ["@ NS ns", "ns A \(net.ip(2))", "a 1 DNAME b.dl.test.", "www.b 1 A 192.0.2.1"])
        let server = try LyingServer(addresses: [net.root, net.ip(2)]) { q, address in
            guard address == net.ip(2) else { return [.message(root.answer(q))] }
            let loops = try! DNSName("a.dl.test.")
            switch mode.load(ordering: .relaxed) {
            case 2: return [.noAnswer]
            case 1 where q.question!.name.isStrictSubdomain(of: loops):
                var m = Message.reply(to: q)
                m.header.authoritative = true
                m.answers = [ResourceRecord(name: loops, type: .dname, ttl: 300, rdata: .dname(try! DNSName("x.a.dl.test.")))]
                return [.message(m)]
            default: return [.message(dnameAnswer(q, in: zone) ?? FakeAuthority([zone]).answer(q))]
            }
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-stale", server: server)
        defer { worker.stop() }

        let fresh = try worker.ask("www.a.dl.test.", .a)
        #expect(fresh.answerAddresses == ["192.0.2.1"], "\(fresh.presentation)\n\(worker.logTail)")
        usleep(1_600_000)
        mode.store(1, ordering: .relaxed)
        server.resetCounts()
        let loop = try worker.ask("www.a.dl.test.", .a, dnssecOK: true)
        #expect(loop.rcode == .servFail, "\(loop.presentation)\n\(worker.logTail)")
        #expect(loop.answers.isEmpty && loop.authority.isEmpty, "\(loop.presentation)")
        let codes = loop.edns?.extendedErrors.map(\.code) ?? []
        #expect(!codes.contains(.staleAnswer) && !codes.contains(.noReachableAuthority), "\(loop.presentation)")
        #expect(codes.contains(.invalidData), "\(loop.presentation)")
        #expect(server.queries(for: "www.a.dl.test.", .a) >= 1, "\(server.log)")
        #expect(server.queries(for: "www.b.dl.test.", .a) == 0, "\(server.log)")

        mode.store(2, ordering: .relaxed)
        let stale = try worker.ask("www.a.dl.test.", .a)
        #expect(stale.rcode == .noError && stale.answerAddresses == ["192.0.2.1"], "\(stale.presentation)\n\(worker.logTail)")
        #expect(stale.edns?.extendedErrors.map(\.code) == [.staleAnswer], "\(stale.presentation)")
    }

    /// Each Extended DNS Error names what happened: servers that answer SERVFAIL are not "No
    /// Reachable Authority" (the text names their RCODE), servers that answer nothing are, and
    /// a server that refuses the connection (ICMP port unreachable) is a "Network Error".
    @Test func extendedErrorsNameWhatHappened() throws {
        let net = LieNet(27)
        let root = try FakeAuthority([net.rootZone([
            "sf.test. NS ns.sf.test.", "ns.sf.test. A \(net.ip(2))",
            "to.test. NS ns.to.test.", "ns.to.test. A \(net.ip(3))",
            "nw.test. NS ns.nw.test.", "ns.nw.test. A \(net.ip(4))",   // nothing listens there
        ])])
        let server = try LyingServer(addresses: [net.root, net.ip(2), net.ip(3)]) { q, address in
            switch address {
            case net.root: return [.message(root.answer(q))]
            case net.ip(2):
                var m = Message.reply(to: q)
                m.rcode = .servFail
                return [.message(m)]
            default: return [.noAnswer]
            }
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "lie-ede", server: server)
        defer { worker.stop() }

        for (name, code) in [("www.sf.test.", EDECode.other), ("www.to.test.", .noReachableAuthority),
                             ("www.nw.test.", .networkError)] {
            let r = try worker.ask(name, .a)
            #expect(r.rcode == .servFail, "\(name)\n\(r.presentation)")
            #expect(r.edns?.extendedErrors.map(\.code) == [code], "\(name)\n\(r.presentation)")
            if code == .other {
                #expect(r.edns?.extendedErrors.first.map { String(decoding: $0.extraText, as: UTF8.self) }?
                    .contains("SERVFAIL") == true, "\(r.presentation)")
            }
        }
    }
}

/// `query` answered as a server of `zone` does under a DNAME of the zone: the DNAME, then the
/// CNAME synthesized from it, then the target's data when it lies in the zone. Nil when no
/// DNAME lies above the name.
func dnameAnswer(_ query: Message, in zone: FakeZone) -> Message? {
    guard let question = query.question,
          let d = zone.records.first(where: { $0.type == .dname && question.name.isStrictSubdomain(of: $0.name) }),
          case let .dname(target) = d.rdata,
          let rewritten = try? DNSName(labels: question.name.labels.prefix(question.name.labelCount - d.name.labelCount)
              .map(Array.init)).appending(target) else { return nil }
    var m = Message.reply(to: query)
    m.header.authoritative = true
    m.answers = [d, ResourceRecord(name: question.name, type: .cname, ttl: d.ttl, rdata: .cname(rewritten))]
    m.answers += zone.records.filter { $0.name == rewritten && $0.type == question.type }
    return m
}
