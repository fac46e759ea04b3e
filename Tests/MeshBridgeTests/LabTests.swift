import DNSCore
import ShmCache
import ShoalLab
import ShoalSystem
import ShoalTestSupport
import Testing
@testable import MeshBridge
#if canImport(Glibc)
import Glibc
#endif

/// A real `shoal-worker` on a lab address with a segment of its own, validating (the default)
/// with the lab's trust anchor.
final class LabWorker {
    let child: TestChild
    let address: String
    let instance: String

    init(address: String, rootHints: String, trustAnchor: String, tag: String) throws {
        instance = "meshtest-\(tag)-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        self.address = address
        let exe = try builtExecutable("shoal-worker")
        child = try TestChild(exe, ["--listen", "\(address):53", "--root-hints", rootHints, "--segment", instance,
                                "--segment-size", "16", "--do-not-query-localhost", "false", "--trust-anchor", trustAnchor],
                          output: "/tmp/\(instance).log")
        let probe = try Message.query(id: 1, name: .root, type: .soa, qclass: .ch, recursionDesired: false, edns: nil)
            .serialize()
        guard poll(tries: 500, { (try? DNSProbe.exchange(probe, server: address, timeoutMilliseconds: 100)) != nil }) else {
            Issue.record("worker on \(address) did not come up: \(child.output)")
            stop()
            throw TestFailure("worker not ready")
        }
    }

    func ask(_ name: String, _ type: RRType) throws -> Message {
        let q = Message.query(id: UInt16.random(in: 0...UInt16.max), name: try DNSName(name), type: type,
                              recursionDesired: true, edns: EDNS(udpPayloadSize: 1232, dnssecOK: false))
        return try Message(wire: DNSProbe.exchange(try q.serialize(), server: address, timeoutMilliseconds: 10_000))
    }

    func stop() {
        child.stop()
        unlink(child.outPath)
        try? SharedSegment.unlink(name: SegmentName.forInstance(instance))
    }
}

extension NATSBridgeTests {
    /// Nodes on the lab hierarchy, each a worker with its own segment and a bridge: what node A
    /// resolves, node B (whose only root server is a black hole, so it can answer only from its
    /// cache) answers the same, without a single upstream query; node C, started later with an
    /// empty segment, is warmed from a peer and does the same.
    @Test func nodeBAnswersWhatNodeAResolved() async throws {
        try await withSharedLab(.testing) { lab in
            let server = try NATSServer()
            defer { server.stop() }
            let base = lab.hierarchy.plan.prefix
            let hole = try #require(lab.hierarchy.plan.blackholeAddresses.first)
            let hints = "/tmp/meshtest-blackhole-\(getpid()).hints"
            try writeFile(hints, ".                3600000 NS a.root.lab.\na.root.lab.      3600000 A  \(hole)\n")
            defer { unlink(hints) }
            let workerA = try LabWorker(address: lab.listenAddress(base + ".209.1"), rootHints: lab.paths.rootHints,
                                        trustAnchor: lab.paths.trustAnchor, tag: "na")
            defer { workerA.stop() }
            let workerB = try LabWorker(address: lab.listenAddress(base + ".209.2"), rootHints: hints, trustAnchor: lab.paths.trustAnchor, tag: "nb")
            defer { workerB.stop() }
            let segA = try SharedSegment.attach(name: SegmentName.forInstance(workerA.instance))
            let segB = try SharedSegment.attach(name: SegmentName.forInstance(workerB.instance))
            let meshName = "t\(UInt32.random(in: 0...UInt32.max))"
            func settings(_ node: String, _ instance: String) throws -> BridgeSettings {
                try BridgeSettings.load(yaml: """
                    segment: \(instance)
                    bridge:
                      servers: [\(server.url)]
                      cluster: \(meshName)
                      node-id: \(node)
                    """, file: "lab.yaml")
            }
            let bridgeA = try RunningBridge(try settings("node-a", workerA.instance), segment: segA)
            defer { bridgeA.stop() }
            let bridgeB = try RunningBridge(try settings("node-b", workerB.instance), segment: segB)
            defer { bridgeB.stop() }

            // Data answers (the bogus zones' are SERVFAIL, with nothing to carry).
            let cases = Array(lab.hierarchy.expectedAnswers.filter {
                $0.kind == .answer && $0.validatingRcode == "NOERROR"
            }.prefix(20))
            try #require(cases.count >= 5)
            var answers: [Message] = []
            for e in cases { answers.append(try workerA.ask(e.qname, try #require(RRType(mnemonic: e.qtype)))) }
            // Everything A learnt reaches B's segment (bounded poll), as mesh entries.
            for (e, a) in zip(cases, answers) {
                let t = try #require(RRType(mnemonic: e.qtype))
                #expect(a.rcode == .noError, "\(e.qname) \(e.qtype) on A")
                var got: CachedRRSet? = nil
                #expect(poll { got = segB.records.peek(name: try! DNSName(e.qname), type: t, now: shmNow()); return got != nil },
                        "\(e.qname) \(e.qtype) never reached B")
                #expect(got?.origin == .mesh)
            }
            for (e, a) in zip(cases, answers) {
                let b = try workerB.ask(e.qname, try #require(RRType(mnemonic: e.qtype)))
                #expect(b.rcode == a.rcode, "\(e.qname) \(e.qtype)")
                #expect(Set(b.answers.map { "\($0.name.lowercased) \($0.type) \($0.rdata)" })
                        == Set(a.answers.map { "\($0.name.lowercased) \($0.type) \($0.rdata)" }), "\(e.qname) \(e.qtype)")
            }
            #expect(segB.totalStatistics()[.upstreamQueries] == 0)
            #expect(segA.totalStatistics()[.upstreamQueries] > 0)
            #expect(bridgeB.counters.published == 0)

            // Node C joins later with an empty segment (blind upstream too): its bridge warms it
            // from a peer before it runs, and C answers the same with no upstream query.
            let workerC = try LabWorker(address: lab.listenAddress(base + ".209.3"), rootHints: hints, trustAnchor: lab.paths.trustAnchor, tag: "nc")
            defer { workerC.stop() }
            let segC = try SharedSegment.attach(name: SegmentName.forInstance(workerC.instance))
            let bridgeC = try RunningBridge(try settings("node-c", workerC.instance), segment: segC)
            defer { bridgeC.stop() }
            #expect(bridgeC.counters.warmUpState == .complete)
            #expect(bridgeC.counters.warmUpEntries > 0)
            for (e, a) in zip(cases, answers) {
                let c = try workerC.ask(e.qname, try #require(RRType(mnemonic: e.qtype)))
                #expect(c.rcode == a.rcode, "\(e.qname) \(e.qtype) on C")
                #expect(Set(c.answers.map { "\($0.name.lowercased) \($0.type) \($0.rdata)" })
                        == Set(a.answers.map { "\($0.name.lowercased) \($0.type) \($0.rdata)" }), "\(e.qname) \(e.qtype) on C")
            }
            #expect(segC.totalStatistics()[.upstreamQueries] == 0)
        }
    }
}

extension NATSBridgeTests {
    /// A stalled nats-server (SIGSTOP) stalls nothing the workers do: while it is stopped, a
    /// worker whose bridge publishes to it answers every query, those from its cache and those it
    /// must resolve (whose stores go to the journal the bridge publishes from), each within the
    /// usual timeout, and the bridge is still running when the server comes back.
    @Test func workersAnswerWhileTheServerIsStalled() async throws {
        try await withSharedLab(.testing) { lab in
            let server = try NATSServer()
            var stopped = false
            defer {
                if stopped { kill(server.pid, SIGCONT) }
                server.stop()
            }
            let worker = try LabWorker(address: lab.listenAddress(lab.hierarchy.plan.prefix + ".209.4"),
                                       rootHints: lab.paths.rootHints, trustAnchor: lab.paths.trustAnchor, tag: "stall")
            defer { worker.stop() }
            let seg = try SharedSegment.attach(name: SegmentName.forInstance(worker.instance))
            let settings = try BridgeSettings.load(yaml: """
                segment: \(worker.instance)
                bridge:
                  servers: [\(server.url)]
                  cluster: stall\(UInt32.random(in: 0...UInt32.max))
                  node-id: stalled
                  write-deadline-ms: 200
                """, file: "lab.yaml")
            let bridge = try RunningBridge(settings, segment: seg)
            defer { bridge.stop() }
            let names = lab.hierarchy.expectedAnswers.filter { !$0.features.contains("lame-ns") }
            let warm = Array(names.prefix(40)), cold = Array(names.dropFirst(40).prefix(40))
            for e in warm { _ = try worker.ask(e.qname, try #require(RRType(mnemonic: e.qtype))) }

            kill(server.pid, SIGSTOP)
            stopped = true
            let asked = seg.stats(workerSlot: 0).value(.queries)
            // Cache hits, then resolutions: every one answered, as the lab says.
            for e in warm + cold + warm {
                let r = try worker.ask(e.qname, try #require(RRType(mnemonic: e.qtype)))
                #expect(r.rcode.description == e.validatingRcode, "\(e.qname) \(e.qtype) while NATS is stopped")
            }
            #expect(seg.stats(workerSlot: 0).value(.queries) - asked == UInt64(warm.count * 2 + cold.count))
            kill(server.pid, SIGCONT)
            stopped = false
            #expect(bridge.bridge.currentState != .stopped)
        }
    }
}
