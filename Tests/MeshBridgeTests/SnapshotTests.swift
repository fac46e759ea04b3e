import DNSCore
import ShmCache
import ShoalSystem
import ShoalTestSupport
import Testing
@testable import MeshBridge
#if canImport(Glibc)
import Glibc
#endif

func request(chunk: UInt32, session: UInt64 = 7, since: UInt32 = 0, maxBytes: Int = MeshFormat.minPayload) -> [UInt8] {
    SnapshotWire.encode(SnapshotWire.Request(requester: me, session: session, chunk: chunk, since: since,
                                             maxBytes: UInt32(maxBytes)))
}

func names(in reply: SnapshotWire.Reply) throws -> [DNSName] {
    let d = BatchDecoder(cluster: cluster, node: me, maxPayload: 1 << 20)
    return try d.decode(reply.batch, nowMillis: nowMillis()).entries.compactMap { e -> DNSName? in
        switch e {
        case let .rrset(s): s.name
        case let .negative(n): n.name
        case .server: nil
        }
    }
}

@Suite struct SnapshotDonorTests {
    /// Hottest first: entries hit in more distinct seconds come before the others; every live,
    /// non-bogus entry is in the snapshot, mesh ones included, and negatives after RRsets.
    @Test func chunksAreHottestFirstAndComplete() throws {
        let seg = try TestSegment("donor", recordBuckets: 1024)
        defer { seg.close() }
        let now = shmNow()
        let records = seg.segment.records
        for i in 0..<300 {
            records.insert(name: dn("h\(i).example."), type: .txt, ttl: 3600,
                           rdata: [[200] + [UInt8](repeating: UInt8(i & 0xFF), count: 200)], rank: .authoritativeAnswer,
                           origin: i % 3 == 0 ? .mesh : .local, now: now)
        }
        records.insert(name: dn("bogus.example."), type: .a, ttl: 3600, rdata: [aRecord(1)], validation: .bogus,
                       rank: .authoritativeAnswer, now: now)
        seg.segment.negative.insertNoData(name: dn("h1.example."), type: .aaaa, ttl: 60, soa: soaRecord("example."), now: now)
        // h10 hit in 5 distinct seconds, h20 in 3, h30 in 1.
        for (n, seconds) in [(10, 5), (20, 3), (30, 1)] {
            for s in 1...seconds { _ = records.lookup(name: dn("h\(n).example."), type: .txt, now: now + UInt32(s)) }
        }
        var live: Set<DNSName> = []
        records.forEach(now: now) { c in
            if c.validation != .bogus { live.insert(c.name) }
            return true
        }
        let donor = SnapshotDonor(segment: seg.segment, settings: try localSettings(node: "node-a"),
                                  maxPayload: MeshFormat.minPayload)
        var all: [DNSName] = []
        var chunk: UInt32 = 0
        while true {
            let reply = try SnapshotWire.decodeReply(try donor.answer(request(chunk: chunk)).get())
            #expect(!reply.busy && !reply.unknownSession)
            #expect(reply.donor.description == "node-a")
            let n = try names(in: reply)
            if chunk == 0 { #expect(Array(n.prefix(3)) == [dn("h10.example."), dn("h20.example."), dn("h30.example.")]) }
            // A repeated request (a lost reply) gets the same chunk again.
            #expect(try donor.answer(request(chunk: chunk)).get() == SnapshotWire.encode(reply))
            all += n
            if reply.last { break }
            chunk += 1
        }
        #expect(chunk >= 1)
        #expect(Set(all.dropLast()) == live)
        #expect(all.last == dn("h1.example."))   // the NODATA entry, after every RRset
        #expect(!all.contains(dn("bogus.example.")))
        // The session is gone after its last chunk.
        let after = try SnapshotWire.decodeReply(try donor.answer(request(chunk: chunk + 1)).get())
        #expect(after.unknownSession)
    }

    @Test func donorIsRateLimitedAndRefusesGarbage() throws {
        let seg = try TestSegment("rate", recordBuckets: 1024)
        defer { seg.close() }
        for i in 0..<600 {
            seg.segment.records.insert(name: dn("r\(i).example."), type: .txt, ttl: 3600,
                                       rdata: [[250] + [UInt8](repeating: 1, count: 250)], rank: .authoritativeAnswer,
                                       now: shmNow())
        }
        var settings = try localSettings(node: "node-a")
        settings.donorChunksPerSecond = 1
        let donor = SnapshotDonor(segment: seg.segment, settings: settings, maxPayload: MeshFormat.minPayload)
        let first = try SnapshotWire.decodeReply(try donor.answer(request(chunk: 0)).get())
        #expect(!first.busy && !first.last)
        let second = try SnapshotWire.decodeReply(try donor.answer(request(chunk: 1)).get())
        #expect(second.busy)
        #expect(second.retryAfterMillis > 0)
        #expect(second.batch.isEmpty)

        // Starting a session scans the segment: two starts within half a second, the second waits.
        let quick = SnapshotDonor(segment: seg.segment, settings: try localSettings(node: "node-a"),
                                  maxPayload: MeshFormat.minPayload)
        #expect(try !SnapshotWire.decodeReply(try quick.answer(request(chunk: 0, session: 1)).get()).busy)
        let next = try SnapshotWire.decodeReply(try quick.answer(request(chunk: 0, session: 2)).get())
        #expect(next.busy)
        #expect(next.retryAfterMillis == 500)

        #expect(throws: MeshRejection.self) { try donor.answer([0x53, 0x52, 1]).get() }
        // A requester that takes less than the smallest batch: refused before any scan.
        let tiny = SnapshotDonor(segment: seg.segment, settings: try localSettings(node: "node-a"),
                                 maxPayload: MeshFormat.minPayload)
        #expect(throws: MeshRejection.self) { try tiny.answer(request(chunk: 0, maxBytes: 1000)).get() }
        #expect(tiny.lastSessionStart == 0)
        #expect(throws: MeshRejection.self) { try donor.answer(request(chunk: 0) + [0]).get() }
        // Our own request (a loop) is refused.
        let own = SnapshotDonor(segment: seg.segment, settings: try localSettings(node: "node-b"),
                                maxPayload: MeshFormat.minPayload)
        #expect(throws: MeshRejection.self) { try own.answer(request(chunk: 0)).get() }
    }
}

extension NATSBridgeTests {
    /// A node whose segment is empty fills it from a running peer before it runs; a node with
    /// no peer starts cold at once.
    @Test func emptyNodeWarmsUpFromAPeer() throws {
        let server = try NATSServer()
        defer { server.stop() }
        let a = try TestSegment("wa", recordBuckets: 4096), b = try TestSegment("wb", recordBuckets: 4096)
        defer { a.close(); b.close() }
        let meshName = "t\(UInt32.random(in: 0...UInt32.max))"
        let now = shmNow()
        for i in 0..<4000 {
            a.segment.records.insert(name: dn("w\(i).example."), type: .a, ttl: 3600, rdata: [aRecord(UInt32(i))],
                                     rank: .authoritativeAnswer, now: now)
        }
        a.segment.negative.insertNXDomain(name: dn("none.example."), ttl: 300, soa: soaRecord("example."), now: now)
        let held = a.segment.records.count(now: now).entries
        let small = "  max-payload: \(MeshFormat.minPayload)"
        // A: not empty, so no warm-up; it is the donor.
        let bridgeA = try RunningBridge(try bridgeSettings(server: server, cluster: meshName, node: "node-a", segment: a,
                                                           extra: small), segment: a)
        defer { bridgeA.stop() }
        #expect(bridgeA.counters.warmUpState == .notNeeded)
        let bridgeB = try RunningBridge(try bridgeSettings(server: server, cluster: meshName, node: "node-b", segment: b,
                                                           extra: small), segment: b)
        defer { bridgeB.stop() }
        let c = bridgeB.counters
        #expect(c.warmUpState == .complete)
        #expect(c.warmUpChunks >= 3)
        #expect(c.warmUpEntries == UInt64(held + 1))
        #expect(c.warmUpTotal == UInt64(held + 1))
        #expect(bridgeA.counters.chunksServed == c.warmUpChunks)
        #expect(b.segment.records.count(now: shmNow()).entries == held)
        let sample = try #require(b.segment.records.lookup(name: dn("w1234.example."), type: .a, now: shmNow()))
        #expect(sample.origin == .mesh)
        #expect(b.segment.negative.lookup(name: dn("none.example."), type: .a, now: shmNow())?.origin == .mesh)
        // Warm-up writes are mesh entries: B publishes none of them.
        usleep(100_000)
        #expect(bridgeB.counters.published == 0)

        // A third node with warm-up off, and a lone node in another cluster: cold at once.
        let lone = try TestSegment("wl")
        defer { lone.close() }
        let bridgeL = try RunningBridge(try bridgeSettings(server: server, cluster: meshName + "x", node: "node-l",
                                                           segment: lone), segment: lone)
        defer { bridgeL.stop() }
        #expect(bridgeL.counters.warmUpState == .cold)
        #expect(bridgeL.counters.warmUpEntries == 0)
    }
}

extension NATSBridgeTests {
    /// A 3-server NATS cluster (routes on loopback): the server the warming node is connected to
    /// is killed mid-warm-up; the node reconnects to another (learnt from the cluster) and the
    /// warm-up completes.
    @Test func warmUpSurvivesTheLossOfItsServer() throws {
        let routes = try (0..<3).map { _ in try freePort() }
        func cluster(_ i: Int) -> String {
            """
            cluster {
              name: meshtest
              listen: 127.0.0.1:\(routes[i])
              routes: [\(routes.indices.filter { $0 != i }.map { "nats-route://127.0.0.1:\(routes[$0])" }.joined(separator: ", "))]
            }
            """
        }
        let servers = try (0..<3).map { try NATSServer(config: cluster($0)) }
        var alive = [true, true, true]
        defer { for (i, s) in servers.enumerated() where alive[i] { s.stop() } }
        let a = try TestSegment("ca", recordBuckets: 4096), b = try TestSegment("cb", recordBuckets: 4096)
        defer { a.close(); b.close() }
        let meshName = "t\(UInt32.random(in: 0...UInt32.max))"
        let now = shmNow()
        for i in 0..<6000 {
            a.segment.records.insert(name: dn("c\(i).example."), type: .a, ttl: 3600, rdata: [aRecord(UInt32(i))],
                                     rank: .authoritativeAnswer, now: now)
        }
        let held = a.segment.records.count(now: now).entries
        let tuning = "  max-payload: \(MeshFormat.minPayload)\n  donor-chunks-per-second: 2\n  warm-up-timeout-ms: 1000"
        let bridgeA = try RunningBridge(try bridgeSettings(server: servers[0], cluster: meshName, node: "node-a",
                                                           segment: a, extra: tuning), segment: a)
        defer { bridgeA.stop() }

        // The cluster is formed and A's donor subscription is known on server 3.
        let probeSettings = try bridgeSettings(server: servers[2], cluster: meshName, node: "probe", segment: b)
        let probe = try NATSConnection.connect(probeSettings, logger: testLogger, shouldStop: { false })
        let probeRequest = SnapshotWire.encode(SnapshotWire.Request(requester: MeshIdentifier("probe")!, session: 1,
                                                                    chunk: 0, since: UInt32.max, maxBytes: 1 << 20))
        #expect(poll { (try? probe.request(subject: MeshSubjects.snapshot(cluster: probeSettings.cluster), probeRequest,
                                           timeoutMillis: 200)) != nil })

        // B knows only server 3; the cluster tells it of the others.
        let bridgeB = try RunningBridge(try bridgeSettings(server: servers[2], cluster: meshName, node: "node-b",
                                                           segment: b, extra: tuning), segment: b, waitUntilRunning: false)
        defer { bridgeB.stop() }
        #expect(poll { bridgeB.counters.warmUpChunks >= 1 })
        #expect(bridgeB.counters.warmUpState == .pulling)
        servers[2].stop()
        alive[2] = false
        #expect(poll(tries: 3000) { bridgeB.bridge.currentState == .running })
        let c = bridgeB.counters
        #expect(c.disconnects >= 1)
        #expect(c.warmUpState == .complete)
        #expect(c.warmUpEntries == UInt64(held))
        #expect(b.segment.records.count(now: shmNow()).entries == held)
    }
}

extension NATSBridgeTests {
    /// shoal-bridge SIGKILLed mid-warm-up: the segment stays usable, and the restarted bridge
    /// (its segment no longer empty) pulls again and completes. SIGUSR1 prints the counters.
    @Test func bridgeKilledMidWarmUpResumesWhenRestarted() throws {
        let exe = try builtExecutable("shoal-bridge")
        let server = try NATSServer()
        defer { server.stop() }
        let a = try TestSegment("ka", recordBuckets: 4096), b = try TestSegment("kb", recordBuckets: 4096)
        defer { a.close(); b.close() }
        let meshName = "t\(UInt32.random(in: 0...UInt32.max))"
        let now = shmNow()
        for i in 0..<6000 {
            a.segment.records.insert(name: dn("k\(i).example."), type: .a, ttl: 3600, rdata: [aRecord(UInt32(i))],
                                     rank: .authoritativeAnswer, now: now)
        }
        let held = a.segment.records.count(now: now).entries
        let bridgeA = try RunningBridge(try bridgeSettings(server: server, cluster: meshName, node: "node-a", segment: a,
                                                           extra: "  max-payload: \(MeshFormat.minPayload)\n  donor-chunks-per-second: 2"),
                                        segment: a)
        defer { bridgeA.stop() }
        let config = server.dir + "/bridge.yaml"
        try writeFile(config, """
            segment: \(b.instance)
            bridge:
              servers: [\(server.url)]
              cluster: \(meshName)
              node-id: node-b
              max-payload: \(MeshFormat.minPayload)

            """)
        let out = server.dir + "/bridge.out"
        let first = try TestChild(exe, ["--config", config], output: out)
        #expect(poll { b.segment.records.count(now: shmNow()).entries > 0 })
        first.stop(SIGKILL)
        let partial = b.segment.records.count(now: shmNow()).entries
        #expect(partial > 0 && partial < held)
        #expect(!first.output.contains("warm-up: \(held)"))
        // Intact: attachable, entries whole.
        let again = try SharedSegment.attach(name: SegmentName.forInstance(b.instance))
        var sample: CachedRRSet? = nil
        again.records.forEach(now: shmNow()) { c in sample = c; return false }
        #expect(sample?.origin == .mesh)
        #expect(sample?.rdata.first?.count == 4)
        // A writer killed mid-write leaves its one slot claimed until someone reclaims it, which
        // the workers' maintenance does every second; do it here, as they would.
        _ = again.reclaimStale()
        let marker = "\(SegmentName.forInstance(b.instance)).warmup.\(b.segment.generation)"
        #expect((try? SharedMemory.open(marker, readOnly: true)) != nil)

        let second = try TestChild(exe, ["--config", config], output: out)
        #expect(poll(tries: 3000) { second.output.contains(" entries from node-a in ") }, "\(second.output)")
        #expect(second.output.contains("interrupted; pulling again"))
        #expect(b.segment.records.count(now: shmNow()).entries == held)
        #expect((try? SharedMemory.open(marker, readOnly: true)) == nil)
        kill(second.pid, SIGUSR1)
        #expect(poll { second.output.contains("shoal_mesh_warmup_state{state=\"complete\"} 1") })
        #expect(second.stop(SIGTERM) == 0)
    }
}
