import DNSCore
import ShmCache
import ShoalSystem
import ShoalTestSupport
import Testing
@testable import MeshBridge
#if canImport(Glibc)
import Glibc
#endif

/// Collects what a publisher sends (the publisher's own logic, without a server in between).
final class CollectingSink: BatchSink {
    var batches: [[UInt8]] = []
    func publish(subject: String, _ bytes: [UInt8]) throws(NATSError) { batches.append(bytes) }

    func names(as node: MeshIdentifier = me, cluster c: MeshIdentifier = cluster) throws -> [DNSName] {
        let d = BatchDecoder(cluster: c, node: node, maxPayload: 1 << 20)
        return try batches.flatMap { b in
            try d.decode(b, nowMillis: nowMillis()).entries.compactMap { e -> DNSName? in
                switch e {
                case let .rrset(s): s.name
                case let .negative(n): n.name
                case .server: nil
                }
            }
        }
    }
}

func localSettings(node: String, cluster c: String = "lab", maxTTL: Int = 86_400, extra: String = "") throws -> BridgeSettings {
    try BridgeSettings.load(yaml: "max-ttl: \(maxTTL)\nbridge:\n  servers: [nats://127.0.0.1:1]\n  cluster: \(c)\n  node-id: \(node)\n\(extra)",
                            file: "t.yaml")
}

/// Node B's applier over `seg`, counting into `counters` (no connection: batches are handed to it).
func nodeBApplier(_ seg: TestSegment, _ counters: BridgeCounters, maxTTL: Int = 86_400) throws -> Applier {
    Applier(segment: seg.segment, settings: try localSettings(node: "node-b", maxTTL: maxTTL),
            maxPayload: MeshFormat.minPayload, counters: counters, logger: testLogger)
}

@Suite struct PublisherApplierTests {
    @Test(arguments: [("trust", ValidationState.secure), ("revalidate", .indeterminate), ("insecure-only", nil)])
    func peersDNSSECStateFollowsThePolicy(_ policy: String, _ stored: ValidationState?) throws {
        let seg = try TestSegment("policy")
        defer { seg.close() }
        let counters = BridgeCounters()
        let settings = try localSettings(node: "node-b", extra: "  dnssec-from-peers: \(policy)\n")
        let applier = Applier(segment: seg.segment, settings: settings, maxPayload: MeshFormat.minPayload,
                              counters: counters, logger: testLogger)
        let insecure = MeshRRSet(name: dn("plain.example."), type: .a, ttl: 300, rank: .authoritativeAnswer,
                                 validation: .insecure, rdata: [aRecord(1)])
        let batch = try #require(BatchEncoder.batch([.rrset(sampleRRSet()), .rrset(insecure)], cluster: cluster,
                                                    origin: peer, sentAtMillis: nowMillis()))
        _ = applier.apply(batch, nowMillis: nowMillis())
        let got = seg.segment.records.lookup(name: dn("www.example."), type: .a, now: shmNow())
        #expect(got?.validation == stored)
        if stored != nil { #expect(got?.signatures == [rrsig(covering: .a)]) }
        #expect(counters.snapshot().policySkipped == (stored == nil ? 1 : 0))
        // Insecure data is taken under every policy.
        #expect(seg.segment.records.lookup(name: dn("plain.example."), type: .a, now: shmNow())?.validation == .insecure)
    }

    @Test func journalOverrunIsFollowedByAResyncOfLocalEntriesOnly() throws {
        let seg = try TestSegment("overrun", journal: 64)
        defer { seg.close() }
        let counters = BridgeCounters()
        let pub = Publisher(segment: seg.segment, settings: try localSettings(node: "node-a"), maxPayload: MeshFormat.minPayload,
                            counters: counters, logger: testLogger, resyncAtStart: false)
        let now = shmNow()
        for i in 0..<200 {
            seg.segment.records.insert(name: dn("h\(i).example."), type: .a, ttl: 300, rdata: [aRecord(UInt32(i))],
                                       rank: .authoritativeAnswer, now: now)
        }
        // From a peer, and bogus: never published, not even by a resync.
        seg.segment.records.insert(name: dn("mesh.example."), type: .a, ttl: 300, rdata: [aRecord(1)],
                                   rank: .authoritativeAnswer, origin: .mesh, now: now)
        seg.segment.records.insert(name: dn("bogus.example."), type: .a, ttl: 300, rdata: [aRecord(1)],
                                   validation: .bogus, rank: .authoritativeAnswer, now: now)
        let sink = CollectingSink()
        pub.pump(to: sink)
        let c = counters.snapshot()
        #expect(c.journalOverruns > 0)
        #expect(c.resyncs == 1)
        let names = Set(try sink.names())
        // Every local entry still cached (a full bucket may have evicted a few of the 200).
        var cached: [DNSName] = []
        seg.segment.records.forEach(now: now) { c in
            if c.origin == .local && c.validation != .bogus { cached.append(c.name) }
            return true
        }
        #expect(cached.count > 150)
        for n in cached { #expect(names.contains(n), "\(n) missing after the resync") }
        #expect(!names.contains(dn("mesh.example.")))
        #expect(!names.contains(dn("bogus.example.")))

        // Caught up: the next local insert goes out alone, from the journal.
        sink.batches = []
        seg.segment.records.insert(name: dn("late.example."), type: .a, ttl: 300, rdata: [aRecord(9)],
                                   rank: .authoritativeAnswer, now: now)
        pub.pump(to: sink)
        #expect(try sink.names() == [dn("late.example.")])
        #expect(counters.snapshot().resyncs == 1)
    }

    /// Gaps in a peer's update sequence are counted as lost batches; a restarted peer (its
    /// numbers start again) is not a gap.
    @Test func lostBatchesAreCounted() throws {
        let seg = try TestSegment("gaps")
        defer { seg.close() }
        let counters = BridgeCounters()
        let applier = try nodeBApplier(seg, counters)
        let subject = MeshSubjects.updates(cluster: cluster, node: peer)
        for seq: UInt64 in [1, 2, 5, 6, 1, 2, 4] {
            let b = try #require(BatchEncoder.batch([.rrset(sampleRRSet("s\(seq).example."))], cluster: cluster, origin: peer,
                                                    sentAtMillis: nowMillis(), sequence: seq))
            _ = try applier.apply(b, subject: subject, nowMillis: nowMillis()).get()
        }
        #expect(counters.snapshot().lostBatches == 3)   // 3 and 4, then 3 again
        let since = try #require(applier.takeMissedSince())
        #expect(since <= Clock.wallSeconds() && since + 60 > Clock.wallSeconds())
        #expect(applier.takeMissedSince() == nil)
    }

    /// A snapshot and an update carrying the same entries: the second copy writes nothing.
    @Test func sameEntriesTwiceAreWrittenOnce() throws {
        let seg = try TestSegment("dup")
        defer { seg.close() }
        let counters = BridgeCounters()
        let applier = try nodeBApplier(seg, counters)
        let sent = nowMillis()
        let batch = try #require(BatchEncoder.batch([.rrset(sampleRRSet()), .negative(sampleNegative())], cluster: cluster,
                                                    origin: peer, sentAtMillis: sent))
        #expect(try applier.apply(batch, nowMillis: sent).get() == 2)
        let version = seg.segment.records.peek(name: dn("www.example."), type: .a, now: shmNow())?.version
        #expect(try applier.apply(batch, nowMillis: sent).get() == 0)
        #expect(counters.snapshot().duplicates == 2)
        #expect(seg.segment.records.peek(name: dn("www.example."), type: .a, now: shmNow())?.version == version)
    }

    /// A peer's NXDOMAIN for a name this node holds data of (another type than the one it was
    /// asked for) is not taken: the name exists here. One for a name with no local data is.
    @Test func aPeersNXDomainNeverHidesLocalData() throws {
        let seg = try TestSegment("nx-local")
        defer { seg.close() }
        let counters = BridgeCounters()
        let applier = try nodeBApplier(seg, counters)
        let now = shmNow()
        seg.segment.records.insert(name: dn("b.example."), type: .aaaa, ttl: 600, rdata: [[UInt8](repeating: 1, count: 16)],
                                   rank: .authoritativeAnswer, now: now)
        var other = sampleNegative()
        other.name = dn("bb.example.")
        let sent = nowMillis()
        let batch = try #require(BatchEncoder.batch([.negative(sampleNegative()), .negative(other)], cluster: cluster,
                                                    origin: peer, sentAtMillis: sent))
        #expect(try applier.apply(batch, nowMillis: sent).get() == 1)
        #expect(counters.snapshot().keptLocal == 1)
        #expect(seg.segment.negative.lookup(name: dn("b.example."), type: .a, now: now) == nil)
        #expect(seg.segment.negative.lookup(name: dn("bb.example."), type: .a, now: now)?.origin == .mesh)
    }

    @Test func applierCapsTTLsAndKeepsBetterLocalEntries() throws {
        let seg = try TestSegment("apply")
        defer { seg.close() }
        let counters = BridgeCounters()
        let applier = try nodeBApplier(seg, counters, maxTTL: 600)
        let now = shmNow()
        let records = seg.segment.records
        // Local, higher rank: kept.
        records.insert(name: dn("ranked.example."), type: .a, ttl: 60, rdata: [aRecord(1)], rank: .authoritativeAnswer, now: now)
        // Local, same rank, lives longer: kept.
        records.insert(name: dn("fresh.example."), type: .a, ttl: 3000, rdata: [aRecord(1)], rank: .nonAuthoritativeAnswer, now: now)
        // Local, same rank, about to expire: replaced.
        records.insert(name: dn("stale.example."), type: .a, ttl: 5, rdata: [aRecord(1)], rank: .nonAuthoritativeAnswer, now: now)
        func set(_ n: String, ttl: UInt32) -> MeshEntry {
            .rrset(MeshRRSet(name: dn(n), type: .a, ttl: ttl, rank: .nonAuthoritativeAnswer, validation: .insecure,
                             rdata: [aRecord(2)]))
        }
        let sent = nowMillis() - 10_000   // ten seconds in transit
        let batch = try #require(BatchEncoder.batch([set("ranked.example.", ttl: 300), set("fresh.example.", ttl: 300),
                                                     set("stale.example.", ttl: 300), set("long.example.", ttl: 604_800),
                                                     set("short.example.", ttl: 100), set("gone.example.", ttl: 5)],
                                                    cluster: cluster, origin: peer, sentAtMillis: sent))
        let hitsBefore = try #require(records.peek(name: dn("ranked.example."), type: .a, now: now)).hits
        let written = try applier.apply(batch, nowMillis: nowMillis()).get()
        // Looking before writing is not a use: hits (which order snapshots) are unchanged.
        #expect(records.peek(name: dn("ranked.example."), type: .a, now: now)?.hits == hitsBefore)
        #expect(written == 3)
        let c = counters.snapshot()
        #expect(c.keptLocal == 2)
        #expect(c.expiredInTransit == 1)
        #expect(records.lookup(name: dn("ranked.example."), type: .a, now: now)?.rdata == [aRecord(1)])
        #expect(records.lookup(name: dn("ranked.example."), type: .a, now: now)?.origin == .local)
        #expect(records.lookup(name: dn("fresh.example."), type: .a, now: now)?.rdata == [aRecord(1)])
        let replaced = try #require(records.lookup(name: dn("stale.example."), type: .a, now: now))
        #expect(replaced.rdata == [aRecord(2)])
        #expect(replaced.origin == .mesh)
        // Capped by max-ttl 600, and by ten seconds (or eleven) in transit.
        let long = try #require(records.lookup(name: dn("long.example."), type: .a, now: now))
        #expect(long.originalTTL == 600)
        let short = try #require(records.lookup(name: dn("short.example."), type: .a, now: now))
        #expect(short.originalTTL <= 90 && short.originalTTL >= 89)
        #expect(records.lookup(name: dn("gone.example."), type: .a, now: now) == nil)
        // Nothing the applier wrote is journaled: the publisher has nothing to send.
        #expect(seg.segment.journal.head == 3)
    }
}

/// Against real nats-server processes on 127.0.0.1.
@Suite(.serialized) struct NATSBridgeTests {
    /// An RRset and a negative entry stored in A's cache appear in B's as mesh entries, and B
    /// publishes only what B itself stores.
    @Test func twoSegmentsSyncThroughNATS() throws {
        let server = try NATSServer()
        defer { server.stop() }
        let a = try TestSegment("a"), b = try TestSegment("b")
        defer { a.close(); b.close() }
        let meshName = "t\(UInt32.random(in: 0...UInt32.max))"
        let settingsA = try bridgeSettings(server: server, cluster: meshName, node: "node-a", segment: a)
        let settingsB = try bridgeSettings(server: server, cluster: meshName, node: "node-b", segment: b)
        #expect(settingsA.segment == a.instance)

        // A third client watches what B publishes.
        let watcher = try NATSConnection.connect(settingsA, logger: testLogger, shouldStop: { false })
        let fromB = try watcher.subscribe(MeshSubjects.updates(cluster: settingsB.cluster, node: settingsB.nodeID))
        try watcher.flush(timeoutMillis: 2000)

        let bridgeA = try RunningBridge(settingsA, segment: a)
        defer { bridgeA.stop() }
        let bridgeB = try RunningBridge(settingsB, segment: b)
        defer { bridgeB.stop() }

        let now = shmNow()
        a.segment.records.insert(name: dn("www.example."), type: .a, ttl: 300, rdata: [aRecord(0x0A00_0001)],
                                 signatures: [rrsig(covering: .a)], validation: .secure, rank: .authoritativeAnswer, now: now)
        a.segment.negative.insertNXDomain(name: dn("nope.example."), ttl: 120, soa: soaRecord("example."), now: now)
        var got: CachedRRSet? = nil
        #expect(poll { got = b.segment.records.lookup(name: dn("www.example."), type: .a, now: shmNow()); return got != nil })
        let entry = try #require(got)
        #expect(entry.origin == .mesh)
        #expect(entry.rdata == [aRecord(0x0A00_0001)])
        #expect(entry.signatures == [rrsig(covering: .a)])
        #expect(entry.validation == .secure)
        #expect(entry.rank == .authoritativeAnswer)
        #expect(entry.originalTTL <= 300)
        var neg: CachedNegative? = nil
        #expect(poll { neg = b.segment.negative.lookup(name: dn("nope.example."), type: .a, now: shmNow()); return neg != nil })
        #expect(neg?.origin == .mesh)
        #expect(neg?.kind == .nxDomain)

        // B stores something itself: that, and only that, goes out from B (and reaches A).
        b.segment.records.insert(name: dn("only-b.example."), type: .aaaa, ttl: 300,
                                 rdata: [[UInt8](repeating: 0x20, count: 16)], rank: .authoritativeAnswer, now: shmNow())
        #expect(poll { a.segment.records.lookup(name: dn("only-b.example."), type: .aaaa, now: shmNow()) != nil })
        var names: [DNSName] = []
        let d = BatchDecoder(cluster: settingsA.cluster, node: settingsA.nodeID, maxPayload: 1 << 20)
        while let m = try fromB.next(timeoutMillis: 300) {
            for e in try d.decode(m.data, nowMillis: nowMillis()).entries {
                if case let .rrset(s) = e { names.append(s.name) }
                if case let .negative(n) = e { names.append(n.name) }
            }
        }
        #expect(names == [dn("only-b.example.")])
        let cb = bridgeB.counters
        #expect(cb.published == 1)
        #expect(cb.applied == 2)
        #expect(cb.totalRejected == 0)
        #expect(bridgeA.counters.published == 2)
        #expect(bridgeA.counters.applied == 1)
        // A never took back its own entries as mesh entries.
        #expect(a.segment.records.lookup(name: dn("www.example."), type: .a, now: shmNow())?.origin == .local)
    }

    /// A publisher with valid credentials sends garbage: each message is refused, counted by
    /// reason, and B's cache is unchanged; then a valid batch from it still applies.
    @Test func hostilePublisherIsRejectedAndCounted() throws {
        let server = try NATSServer()
        defer { server.stop() }
        let b = try TestSegment("hostile")
        defer { b.close() }
        let meshName = "t\(UInt32.random(in: 0...UInt32.max))"
        let settingsB = try bridgeSettings(server: server, cluster: meshName, node: "node-b", segment: b)
        let bridgeB = try RunningBridge(settingsB, segment: b)
        defer { bridgeB.stop() }
        let evilID = MeshIdentifier("evil")!
        let evil = try NATSConnection.connect(
            try bridgeSettings(server: server, cluster: meshName, node: "evil", segment: b), logger: testLogger,
            shouldStop: { false })
        let subject = MeshSubjects.updates(cluster: settingsB.cluster, node: evilID)
        let lab = settingsB.cluster
        func entry(_ raw: [UInt8]) -> [UInt8] { rawBatch([raw], cluster: lab, origin: evilID) }
        let evilName = dn("evil.example.").wire
        let longName: [UInt8] = Array(repeating: [UInt8(63)] + [UInt8](repeating: UInt8(ascii: "x"), count: 63), count: 5).flatMap { $0 } + [0]
        let good = entry(rawRRSetEntry(nameWire: evilName))
        let messages: [([UInt8], RejectionReason)] = [
            (Array(good.dropLast(3)), .truncated),
            (good + [UInt8](repeating: 0, count: MeshFormat.defaultPayload), .oversized),
            ({ var x = good; x[2] = 9; return x }(), .wrongVersion),
            (rawBatch([rawRRSetEntry(nameWire: evilName)], cluster: MeshIdentifier("other")!, origin: evilID), .wrongCluster),
            (rawBatch([rawRRSetEntry(nameWire: evilName)], cluster: lab, origin: settingsB.nodeID), .ownEcho),
            (entry(rawRRSetEntry(nameWire: evilName, ttl: 0xFFFF_FFFF)), .absurdTTL),
            (entry(rawRRSetEntry(nameWire: longName)), .badName),
            (entry(rawRRSetEntry(nameWire: evilName, type: 0)), .badType),
            (entry(rawRRSetEntry(nameWire: evilName, type: 250)), .badType),
            (entry(rawRRSetEntry(nameWire: evilName, validation: ValidationState.bogus.rawValue)), .bogusMarked),
            (rawBatch([rawRRSetEntry(nameWire: evilName)], cluster: lab, origin: MeshIdentifier("node-a")!), .originMismatch),
        ]
        for (m, _) in messages { try evil.publish(subject: subject, m) }
        try evil.flush(timeoutMillis: 2000)
        #expect(poll { bridgeB.counters.receivedBatches >= UInt64(messages.count) })
        let c = bridgeB.counters
        var expected: [RejectionReason: UInt64] = [:]
        for (_, r) in messages { expected[r, default: 0] += 1 }
        for r in RejectionReason.allCases {
            #expect((c.rejected[r] ?? 0) == (expected[r] ?? 0), "\(r.rawValue)")
        }
        #expect(c.applied == 0)
        #expect(b.segment.records.count(now: shmNow()).entries == 0)
        #expect(bridgeB.bridge.currentState == .running)

        // The path itself works: a valid batch from the same publisher is applied.
        try evil.publish(subject: subject, good)
        try evil.flush(timeoutMillis: 2000)
        #expect(poll { b.segment.records.lookup(name: dn("evil.example."), type: .a, now: shmNow()) != nil })
        #expect(bridgeB.counters.applied == 1)
    }

    /// A bridge with a wrong password says why and keeps retrying; with the right one it runs.
    @Test func wrongCredentialsAreRetriedWithAClearError() throws {
        let server = try NATSServer(config: "authorization { user: shoal, password: \"s3cret-pw\" }")
        defer { server.stop() }
        let seg = try TestSegment("auth")
        defer { seg.close() }
        let pwFile = server.dir + "/password"
        try writeFile(pwFile, "wrong-pw\n")
        let extra = "  user: shoal\n  password-file: \(pwFile)"
        let settings = try bridgeSettings(server: server, cluster: "lab", node: "node-a", segment: seg, extra: extra)
        let bridge = try RunningBridge(settings, segment: seg, waitUntilRunning: false)
        #expect(poll { bridge.counters.connectFailures >= 3 })
        let c = bridge.counters
        #expect(c.lastConnectError.contains("Authorization Violation"), "\(c.lastConnectError)")
        #expect(!c.lastConnectError.contains("wrong-pw"))
        #expect(bridge.bridge.currentState == .connecting)
        bridge.stop()
        #expect(bridge.bridge.currentState == .stopped)

        try writeFile(pwFile, "s3cret-pw\n")
        let good = try RunningBridge(try bridgeSettings(server: server, cluster: "lab", node: "node-a", segment: seg,
                                                        extra: extra), segment: seg)
        #expect(good.bridge.currentState == .running)
        good.stop()
    }

    /// The bridge follows a nats-server restart: what A stores while the server is down reaches
    /// B once both reconnected.
    @Test func serverRestartIsSurvived() throws {
        var server = try NATSServer()
        defer { server.stop() }
        let a = try TestSegment("ra"), b = try TestSegment("rb")
        defer { a.close(); b.close() }
        let meshName = "t\(UInt32.random(in: 0...UInt32.max))"
        let bridgeA = try RunningBridge(try bridgeSettings(server: server, cluster: meshName, node: "node-a", segment: a), segment: a)
        defer { bridgeA.stop() }
        let bridgeB = try RunningBridge(try bridgeSettings(server: server, cluster: meshName, node: "node-b", segment: b), segment: b)
        defer { bridgeB.stop() }
        a.segment.records.insert(name: dn("before.example."), type: .a, ttl: 300, rdata: [aRecord(1)],
                                 rank: .authoritativeAnswer, now: shmNow())
        #expect(poll { b.segment.records.lookup(name: dn("before.example."), type: .a, now: shmNow()) != nil })

        server.stop(keepFiles: true)
        #expect(poll { bridgeA.counters.disconnects >= 1 && bridgeB.counters.disconnects >= 1 })
        a.segment.records.insert(name: dn("during.example."), type: .a, ttl: 300, rdata: [aRecord(2)],
                                 rank: .authoritativeAnswer, now: shmNow())
        #expect(bridgeA.bridge.currentState == .running)
        server = try NATSServer(port: server.port, dir: server.dir)
        #expect(poll { bridgeA.counters.reconnects >= 1 && bridgeB.counters.reconnects >= 1 })
        // Published while disconnected: held by libnats, or resent by a resync.
        #expect(poll { b.segment.records.lookup(name: dn("during.example."), type: .a, now: shmNow()) != nil },
                "A: \(bridgeA.counters)\nB: \(bridgeB.counters)")
        #expect(poll { bridgeB.counters.catchUps >= 1 })
        a.segment.records.insert(name: dn("after.example."), type: .a, ttl: 300, rdata: [aRecord(3)],
                                 rank: .authoritativeAnswer, now: shmNow())
        #expect(poll { b.segment.records.lookup(name: dn("after.example."), type: .a, now: shmNow()) != nil })
    }

    /// TLS with a CA made by the test, and a client certificate the server requires.
    @Test func tlsWithClientCertificates() throws {
        let dir = "/tmp/meshtest-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try TLSFiles.make(in: dir)
        defer {
            for f in TLSFiles.names { unlink(dir + "/" + f) }
            rmdir(dir)
        }
        let server = try NATSServer(config: """
            tls {
              cert_file: "\(dir)/server.pem"
              key_file: "\(dir)/server.key"
              ca_file: "\(dir)/ca.pem"
              verify: true
            }
            """)
        defer { server.stop() }
        let a = try TestSegment("ta"), b = try TestSegment("tb")
        defer { a.close(); b.close() }
        let tlsKeys = "  tls-ca: \(dir)/ca.pem\n  tls-cert: \(dir)/client.pem\n  tls-key: \(dir)/client.key"
        let settingsA = try bridgeSettings(server: server, cluster: "tls", node: "node-a", segment: a, extra: tlsKeys)
        #expect(settingsA.tls == BridgeSettings.TLS(caFile: dir + "/ca.pem", certFile: dir + "/client.pem",
                                                     keyFile: dir + "/client.key"))
        let bridgeA = try RunningBridge(settingsA, segment: a)
        defer { bridgeA.stop() }
        let bridgeB = try RunningBridge(try bridgeSettings(server: server, cluster: "tls", node: "node-b", segment: b,
                                                           extra: tlsKeys), segment: b)
        defer { bridgeB.stop() }
        a.segment.records.insert(name: dn("secure.example."), type: .a, ttl: 300, rdata: [aRecord(1)],
                                 rank: .authoritativeAnswer, now: shmNow())
        #expect(poll { b.segment.records.lookup(name: dn("secure.example."), type: .a, now: shmNow()) != nil })

        // Without a client certificate the server refuses the handshake: retried, not fatal.
        let noCert = try bridgeSettings(server: server, cluster: "tls", node: "node-c", segment: b,
                                        extra: "  tls-ca: \(dir)/ca.pem")
        let refused = try RunningBridge(noCert, segment: b, waitUntilRunning: false)
        #expect(poll { refused.counters.connectFailures >= 2 })
        #expect(refused.bridge.currentState == .connecting)
        refused.stop()
    }

    /// The executable: a spawned shoal-bridge applies A's entries to B and prints its counters
    /// when stopped with SIGTERM.
    @Test func executableBridgesAndReportsCounters() throws {
        let exe = try builtExecutable("shoal-bridge")
        let server = try NATSServer()
        defer { server.stop() }
        let a = try TestSegment("xa"), b = try TestSegment("xb")
        defer { a.close(); b.close() }
        let meshName = "t\(UInt32.random(in: 0...UInt32.max))"
        let bridgeA = try RunningBridge(try bridgeSettings(server: server, cluster: meshName, node: "node-a", segment: a), segment: a)
        defer { bridgeA.stop() }
        let config = server.dir + "/bridge.yaml"
        try writeFile(config, """
            segment: not-this-one
            max-ttl: 120
            bridge:
              servers: [\(server.url)]
              cluster: \(meshName)
              node-id: node-b

            """)
        let child = try TestChild(exe, ["--config", config, "--segment", b.instance], output: server.dir + "/bridge.out")
        #expect(poll { child.output.contains("connected to NATS") })
        a.segment.records.insert(name: dn("spawned.example."), type: .a, ttl: 3600, rdata: [aRecord(7)],
                                 rank: .authoritativeAnswer, now: shmNow())
        var got: CachedRRSet? = nil
        #expect(poll { got = b.segment.records.lookup(name: dn("spawned.example."), type: .a, now: shmNow()); return got != nil })
        #expect(got?.origin == .mesh)
        #expect((got?.originalTTL ?? 0) <= 120)
        let status = child.stop(SIGTERM)
        #expect(status == 0, "\(child.output)")
        #expect(child.output.contains("shoal_mesh_applied_total 1"), "\(child.output)")
        #expect(child.output.contains("shoal_mesh_rejected_total{reason=\"bogus-marked\"} 0"))
    }

    @Test func executableExplainsItselfAndRefusesAMissingSegment() throws {
        let exe = try builtExecutable("shoal-bridge")
        let out = "/tmp/meshtest-help-\(getpid()).out"
        defer { unlink(out) }
        let help = try TestChild(exe, ["--help"], output: out)
        var st: Int32 = 0
        waitpid(help.pid, &st, 0)
        #expect(st == 0)
        #expect(help.output.contains("bridge:"))
        #expect(help.output.contains("password-file"))

        let config = "/tmp/meshtest-missing-\(getpid()).yaml"
        defer { unlink(config) }
        try writeFile(config, "bridge:\n  servers: [nats://127.0.0.1:1]\n")
        let run = try TestChild(exe, ["--config", config, "--segment", "meshtest-none-\(getpid())"], output: out)
        waitpid(run.pid, &st, 0)
        #expect(st != 0)
        #expect(run.output.contains("cannot attach the segment"), "\(run.output)")
    }
}
