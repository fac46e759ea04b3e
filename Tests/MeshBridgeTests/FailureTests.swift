import DNSCore
import ShmCache
import ShoalSystem
import ShoalTestSupport
import Testing
@testable import MeshBridge
#if canImport(Glibc)
import Glibc
#endif

extension NATSBridgeTests {
    /// NATS permissions keep injection out: a client without credentials cannot connect, and a
    /// user without publish permission on shoal.> cannot reach the bridges.
    @Test func clientsWithoutPublishPermissionCannotInject() throws {
        let server = try NATSServer(config: """
            authorization {
              users = [
                { user: shoal, password: "node-pw" }
                { user: reader, password: "reader-pw", permissions: { publish: { deny: ["shoal.>"] } } }
              ]
            }
            """)
        defer { server.stop() }
        let b = try TestSegment("perm")
        defer { b.close() }
        let pw = server.dir + "/password"
        try writeFile(pw, "node-pw\n")
        let meshName = "t\(UInt32.random(in: 0...UInt32.max))"
        let bridgeB = try RunningBridge(try bridgeSettings(server: server, cluster: meshName, node: "node-b", segment: b,
                                                           extra: "  user: shoal\n  password-file: \(pw)"), segment: b)
        defer { bridgeB.stop() }
        let evil = MeshIdentifier("evil")!
        let subject = MeshSubjects.updates(cluster: bridgeB.bridge.settings.cluster, node: evil)
        let batch = rawBatch([rawRRSetEntry(nameWire: dn("injected.example.").wire)], cluster: bridgeB.bridge.settings.cluster,
                             origin: evil)

        // No credentials: refused by the server.
        let anonymous = try bridgeSettings(server: server, cluster: meshName, node: "evil", segment: b)
        var attempts = 0
        #expect(throws: NATSError.self) {
            _ = try NATSConnection.connect(anonymous, logger: testLogger, attempted: { n, _ in attempts = n },
                                           shouldStop: { attempts >= 2 })
        }
        // A reader: connected, but its publishes on shoal.> are dropped by the server.
        try writeFile(pw, "reader-pw\n")
        let reader = try NATSConnection.connect(
            try bridgeSettings(server: server, cluster: meshName, node: "evil", segment: b,
                               extra: "  user: reader\n  password-file: \(pw)"),
            logger: testLogger, shouldStop: { false })
        for _ in 0..<10 { try? reader.publish(subject: subject, batch) }
        try? reader.flush(timeoutMillis: 2000)
        // A node with the right to publish: its message arrives, so the reader's would have too.
        try writeFile(pw, "node-pw\n")
        let node = try NATSConnection.connect(
            try bridgeSettings(server: server, cluster: meshName, node: "evil", segment: b,
                               extra: "  user: shoal\n  password-file: \(pw)"),
            logger: testLogger, shouldStop: { false })
        let marker = rawBatch([rawRRSetEntry(nameWire: dn("marker.example.").wire)], cluster: bridgeB.bridge.settings.cluster,
                              origin: evil)
        try node.publish(subject: subject, marker)
        try node.flush(timeoutMillis: 2000)
        #expect(poll { b.segment.records.peek(name: dn("marker.example."), type: .a, now: shmNow()) != nil })
        #expect(bridgeB.counters.receivedBatches == 1)
        #expect(b.segment.records.peek(name: dn("injected.example."), type: .a, now: shmNow()) == nil)
    }

    /// A flood of garbage from a publisher: every message refused or dropped (and counted), the
    /// bridge alive, the cache untouched; a valid batch afterwards still applies.
    @Test func floodIsCountedAndSurvived() throws {
        let server = try NATSServer()
        defer { server.stop() }
        let b = try TestSegment("flood")
        defer { b.close() }
        let meshName = "t\(UInt32.random(in: 0...UInt32.max))"
        let bridgeB = try RunningBridge(try bridgeSettings(server: server, cluster: meshName, node: "node-b", segment: b,
                                                           extra: "  pending-messages: 1000"), segment: b)
        defer { bridgeB.stop() }
        let evilID = MeshIdentifier("evil")!
        let evil = try NATSConnection.connect(try bridgeSettings(server: server, cluster: meshName, node: "evil", segment: b),
                                              logger: testLogger, shouldStop: { false })
        let subject = MeshSubjects.updates(cluster: bridgeB.bridge.settings.cluster, node: evilID)
        let bogus = rawBatch([rawRRSetEntry(nameWire: dn("flood.example.").wire, validation: 3)],
                             cluster: bridgeB.bridge.settings.cluster, origin: evilID)
        let flood = 30_000
        var rng = SplitMix64(seed: 5)
        for i in 0..<flood {
            let m = i % 2 == 0 ? bogus : (0..<Int.random(in: 1...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            try evil.publish(subject: subject, m)
        }
        try evil.flush(timeoutMillis: 5000)
        #expect(poll(tries: 3000) {
            let c = bridgeB.counters
            return c.receivedBatches + c.slowConsumerDrops >= UInt64(flood)
        })
        let c = bridgeB.counters
        #expect(c.receivedBatches == c.totalRejected)
        #expect((c.rejected[.bogusMarked] ?? 0) > 0)
        #expect(c.applied == 0)
        #expect(b.segment.records.count(now: shmNow()).entries == 0)
        #expect(bridgeB.bridge.currentState == .running)
        let good = rawBatch([rawRRSetEntry(nameWire: dn("after-flood.example.").wire)], cluster: bridgeB.bridge.settings.cluster,
                            origin: evilID)
        try evil.publish(subject: subject, good)
        try evil.flush(timeoutMillis: 2000)
        #expect(poll { b.segment.records.peek(name: dn("after-flood.example."), type: .a, now: shmNow()) != nil })
    }

    /// A stalled nats-server (SIGSTOP): the bridge keeps reading the journal and stops on
    /// request; nothing waits on the server beyond the write deadline.
    @Test func stalledServerBlocksNothing() throws {
        let server = try NATSServer()
        var stopped = false
        defer {
            if stopped { kill(server.pid, SIGCONT) }
            server.stop()
        }
        let a = try TestSegment("stall", journal: 4096, recordBuckets: 1024)
        defer { a.close() }
        let bridgeA = try RunningBridge(try bridgeSettings(server: server, cluster: "stall", node: "node-a", segment: a,
                                                           extra: "  write-deadline-ms: 200\n  connect-timeout-ms: 300"),
                                        segment: a)
        kill(server.pid, SIGSTOP)
        stopped = true
        let head = a.segment.journal.head
        for i in 0..<3000 {
            a.segment.records.insert(name: dn("s\(i).example."), type: .txt, ttl: 300,
                                     rdata: [[200] + [UInt8](repeating: UInt8(i & 0x7F), count: 200)],
                                     rank: .authoritativeAnswer, now: shmNow())
        }
        let inserted = a.segment.journal.head - head
        // The publisher handled every event (libnats holds the batches, or they failed and a
        // resync is due) although the server reads nothing.
        #expect(poll(tries: 1500) {
            let c = bridgeA.counters
            return c.published + c.superseded + c.notPublished >= inserted || c.publishFailures > 0
        })
        bridgeA.stop()
        #expect(bridgeA.bridge.currentState == .stopped)
    }
}

@Suite struct ServerSyncTests {
    let known = ServerAddress(IPv4Address(192, 0, 2, 1))
    let unknown = ServerAddress(IPv4Address(192, 0, 2, 2))

    /// A peer's measurement creates an entry for a server this node does not know; a server it
    /// knows keeps its RTT and learns only a status still unknown here; learnt entries are not
    /// published again, measured ones are.
    @Test func serversAreLearntNotOverwrittenAndNotEchoed() throws {
        let seg = try TestSegment("servers")
        defer { seg.close() }
        let now = shmNow()
        let table = seg.segment.nsSpeed
        table.recordRTT(known, microseconds: 2000, now: now)
        let counters = BridgeCounters()
        let settings = try localSettings(node: "node-b")
        let applier = Applier(segment: seg.segment, settings: settings, maxPayload: MeshFormat.minPayload,
                              counters: counters, logger: testLogger)
        let batch = try #require(BatchEncoder.batch([
            .server(MeshServer(address: known, srttMicros: 90_000, ageSeconds: 0, edns: .noEDNS, cookie: .supported)),
            .server(MeshServer(address: unknown, srttMicros: 30_000, ageSeconds: 0, edns: .ok, cookie: .unknown)),
        ], cluster: cluster, origin: peer, sentAtMillis: nowMillis()))
        #expect(try applier.apply(batch, nowMillis: nowMillis()).get() == 2)
        let k = try #require(table.lookup(known))
        #expect(k.srttMicros == 2000)
        #expect(k.edns == .noEDNS)        // was unknown here
        #expect(k.cookie == .supported)
        let u = try #require(table.lookup(unknown))
        #expect(u.srttMicros >= 29_000 && u.srttMicros <= 30_000)
        #expect(u.edns == .ok)

        let publisher = Publisher(segment: seg.segment, settings: settings, maxPayload: MeshFormat.minPayload,
                                  counters: counters, logger: testLogger, resyncAtStart: false)
        let sink = CollectingSink()
        publisher.publishServers(to: sink, learnt: applier.learntServers)
        let d = BatchDecoder(cluster: cluster, node: peer, maxPayload: 1 << 20)
        let sent = try sink.batches.flatMap { try d.decode($0, nowMillis: nowMillis()).entries }
        #expect(sent.count == 1)
        guard case let .server(s) = sent.first else { Issue.record("no server entry"); return }
        #expect(s.address == known)
        #expect(s.srttMicros == 2000)
    }
}

extension NATSBridgeTests {
    /// What A measured of a server reaches B; a warm-up carries it too.
    @Test func serverMeasurementsTravel() throws {
        let server = try NATSServer()
        defer { server.stop() }
        let a = try TestSegment("sa"), b = try TestSegment("sb"), c = try TestSegment("sc")
        defer { a.close(); b.close(); c.close() }
        let meshName = "t\(UInt32.random(in: 0...UInt32.max))"
        let fast = "  server-sync-seconds: 1"
        let bridgeA = try RunningBridge(try bridgeSettings(server: server, cluster: meshName, node: "node-a", segment: a,
                                                           extra: fast), segment: a)
        defer { bridgeA.stop() }
        let bridgeB = try RunningBridge(try bridgeSettings(server: server, cluster: meshName, node: "node-b", segment: b,
                                                           extra: fast), segment: b)
        defer { bridgeB.stop() }
        let ns = ServerAddress(IPv4Address(198, 51, 100, 7))
        a.segment.nsSpeed.recordRTT(ns, microseconds: 45_000, now: shmNow())
        a.segment.nsSpeed.setEDNSStatus(ns, .ok, now: shmNow())
        var got: NSSpeedEntry? = nil
        #expect(poll { got = b.segment.nsSpeed.lookup(ns); return got != nil })
        #expect(got?.edns == .ok)
        #expect((got?.srttMicros ?? 0) > 40_000 && (got?.srttMicros ?? 0) <= 45_000)

        // C starts empty: its warm-up brings the server too.
        let bridgeC = try RunningBridge(try bridgeSettings(server: server, cluster: meshName, node: "node-c", segment: c),
                                        segment: c)
        defer { bridgeC.stop() }
        #expect(bridgeC.counters.warmUpState == .complete)
        #expect(c.segment.nsSpeed.lookup(ns)?.edns == .ok)
    }
}

@Suite struct CatchUpScheduleTests {
    @Test func pullsAfterEachReconnectAndRetriesWhileNoPeerAnswers() {
        var s = CatchUpSchedule()
        let t: UInt64 = 1_000_000_000_000
        #expect(s.due(connected: true, reconnects: 0, now: t) == nil)
        let connectedAt = s.lastConnected
        #expect(s.due(connected: false, reconnects: 0, now: t + 1) == nil)
        // Reconnected: due 200 ms later, for what was stored since 5 s before the loss.
        #expect(s.due(connected: true, reconnects: 1, now: t + 2) == nil)
        #expect(s.pending)
        #expect(s.due(connected: true, reconnects: 1, now: t + 150_000_000) == nil)
        let since = s.due(connected: true, reconnects: 1, now: t + 300_000_000)
        #expect(since != nil && since! <= connectedAt - 5 + 1)
        #expect(!s.pending)
        // No peer yet: five more tries, with growing waits, then it gives up.
        var now = t + 300_000_000
        for attempt in 0..<5 {
            s.finished(.noPeer, now: now)
            #expect(s.pending)
            #expect(s.due(connected: true, reconnects: 1, now: now + UInt64(250 << attempt) * 1_000_000 - 1) == nil)
            now += UInt64(250 << attempt) * 1_000_000
            #expect(s.due(connected: true, reconnects: 1, now: now) == since)
        }
        s.finished(.noPeer, now: now)
        #expect(!s.pending)
        // A complete pull ends it at once.
        _ = s.due(connected: true, reconnects: 2, now: now)
        #expect(s.due(connected: true, reconnects: 2, now: now + 300_000_000) != nil)
        s.finished(.complete(entries: 3, donor: MeshIdentifier("a")!), now: now)
        #expect(!s.pending)
        // Lost batches ask for a pull too; two requests merge into the earlier `since`.
        s.request(since: 1000, now: now)
        s.request(since: 900, now: now)
        #expect(s.due(connected: true, reconnects: 2, now: now + 300_000_000) == 900)
        #expect(!s.pending)
    }
}

/// An NKey user (NATS' ed25519 keys): the key pair made with openssl, encoded as nkeys does
/// (prefix bytes, CRC-16/XMODEM little-endian, base32 without padding).
enum NKeyFiles {
    static func crc16(_ data: [UInt8]) -> UInt16 {
        var crc: UInt16 = 0
        for b in data {
            crc ^= UInt16(b) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }

    static func base32(_ data: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var out = "", buffer = 0, bits = 0
        for b in data {
            buffer = buffer << 8 | Int(b); bits += 8
            while bits >= 5 { out.append(alphabet[(buffer >> (bits - 5)) & 31]); bits -= 5 }
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return out
    }

    static func encode(_ prefix: [UInt8], _ key: [UInt8]) -> String {
        let raw = prefix + key
        let c = crc16(raw)
        return base32(raw + [UInt8(c & 0xFF), UInt8(c >> 8)])
    }

    /// (public key "U…", seed "SU…") of a new user key.
    static func make(in dir: String) throws -> (publicKey: String, seed: String) {
        let k = try pair(in: dir, name: "nkey", prefix: 20 << 3)
        unlink(k.pem)
        return (k.publicKey, k.seed)
    }

    /// A key pair of kind `prefix` (operator 14 << 3, account 0, user 20 << 3); its PEM stays
    /// in `dir` for signing.
    static func pair(in dir: String, name: String, prefix kind: UInt8) throws -> (publicKey: String, seed: String, pem: String) {
        let pem = dir + "/\(name).pem", priv = dir + "/\(name).der", pub = dir + "/\(name).pub.der"
        defer { for f in [priv, pub] { unlink(f) } }
        let script = "openssl genpkey -algorithm ed25519 -out \(pem) && openssl pkey -in \(pem) -outform DER -out \(priv)"
            + " && openssl pkey -in \(pem) -pubout -outform DER -out \(pub)"
        let pid = try Spawn.start("/bin/sh", arguments: ["-c", script + " >/dev/null 2>&1"], descriptors: [],
                                  environment: ["PATH=/usr/bin:/bin"])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        func bytes(_ path: String) throws -> [UInt8] {
            guard let f = fopen(path, "r") else { throw TestFailure("no \(path)") }
            defer { fclose(f) }
            var out: [UInt8] = [], buf = [UInt8](repeating: 0, count: 256)
            while true { let n = fread(&buf, 1, buf.count, f); if n <= 0 { break }; out += buf[0..<n] }
            return out
        }
        let seed = Array(try bytes(priv).suffix(32)), key = Array(try bytes(pub).suffix(32))
        guard status == 0, seed.count == 32, key.count == 32 else { throw TestFailure("openssl could not make an ed25519 key") }
        let seedPrefix: UInt8 = 18 << 3
        return (encode([kind], key), encode([seedPrefix | kind >> 5, (kind & 31) << 3], seed), pem)
    }

    /// An ed25519 signature of `message` with the key in `pem` (openssl pkeyutl).
    static func sign(_ message: String, pem: String, dir: String) throws -> [UInt8] {
        let m = dir + "/msg", sig = dir + "/sig"
        defer { unlink(m); unlink(sig) }
        try writeFile(m, message)
        let pid = try Spawn.start("/bin/sh", arguments: ["-c", "openssl pkeyutl -sign -inkey \(pem) -rawin -in \(m) -out \(sig) >/dev/null 2>&1"],
                                  descriptors: [], environment: ["PATH=/usr/bin:/bin"])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        guard status == 0, let f = fopen(sig, "r") else { throw TestFailure("openssl could not sign") }
        defer { fclose(f) }
        var buf = [UInt8](repeating: 0, count: 128)
        let n = fread(&buf, 1, buf.count, f)
        return Array(buf[0..<n])
    }

    static func base64url(_ data: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var out = "", buffer = 0, bits = 0
        for b in data {
            buffer = buffer << 8 | Int(b); bits += 8
            while bits >= 6 { out.append(alphabet[(buffer >> (bits - 6)) & 63]); bits -= 6 }
            buffer &= (1 << bits) - 1
        }
        if bits > 0 { out.append(alphabet[(buffer << (6 - bits)) & 63]) }
        return out
    }

    /// A NATS JWT (v2) for `subject`, with `nats` as its "nats" claim, signed by `issuer`.
    static func jwt(subject: String, name: String, nats: String,
                    issuer: (publicKey: String, seed: String, pem: String), dir: String) throws -> String {
        let header = base64url(Array(#"{"typ":"JWT","alg":"ed25519-nkey"}"#.utf8))
        let iat = Int(Clock.wallSeconds())
        let jti = String(base32(Array("\(subject)\(iat)".utf8)).prefix(52))
        let claims = #"{"jti":"\#(jti)","iat":\#(iat),"iss":"\#(issuer.publicKey)","name":"\#(name)","sub":"\#(subject)","nats":\#(nats)}"#
        let signingInput = header + "." + base64url(Array(claims.utf8))
        return signingInput + "." + base64url(try sign(signingInput, pem: issuer.pem, dir: dir))
    }
}

extension NATSBridgeTests {
    /// Token and NKey authentication, each against a nats-server that requires it.
    @Test func tokenAndNKeyAuthentication() throws {
        let dir = "/tmp/meshtest-keys-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(dir, 0o700)
        defer { for f in ["token", "seed"] { unlink(dir + "/" + f) }; rmdir(dir) }
        let seg = try TestSegment("keys")
        defer { seg.close() }

        let tokenServer = try NATSServer(config: "authorization { token: \"t0k3n-value\" }")
        defer { tokenServer.stop() }
        try writeFile(dir + "/token", "t0k3n-value\n")
        let withToken = try RunningBridge(try bridgeSettings(server: tokenServer, cluster: "keys", node: "node-t", segment: seg,
                                                             extra: "  token-file: \(dir)/token"), segment: seg)
        #expect(withToken.bridge.currentState == .running)
        withToken.stop()

        let (publicKey, seed) = try NKeyFiles.make(in: dir)
        #expect(publicKey.hasPrefix("U") && seed.hasPrefix("SU"))
        let nkeyServer = try NATSServer(config: "authorization { users = [ { nkey: \(publicKey) } ] }")
        defer { nkeyServer.stop() }
        try writeFile(dir + "/seed", seed + "\n")
        let settings = try bridgeSettings(server: nkeyServer, cluster: "keys", node: "node-n", segment: seg,
                                          extra: "  nkey: \(publicKey)\n  nkey-seed-file: \(dir)/seed")
        #expect(settings.auth == .nkey(publicKey: publicKey, seedFile: dir + "/seed"))
        let withNKey = try RunningBridge(settings, segment: seg)
        #expect(withNKey.bridge.currentState == .running)
        withNKey.stop()
        // Without the key, the same server refuses: the NKey really was what let it in.
        let anonymous = try RunningBridge(try bridgeSettings(server: nkeyServer, cluster: "keys", node: "node-x", segment: seg),
                                          segment: seg, waitUntilRunning: false)
        #expect(poll { anonymous.counters.connectFailures >= 2 })
        anonymous.stop()
    }
}

extension NATSBridgeTests {
    /// A segment replaced under the bridge (`shoalctl segment recreate`, a layout change): the
    /// bridge ends, saying why, so that its supervisor restarts it on the current segment.
    @Test func bridgeEndsWhenItsSegmentIsReplaced() throws {
        let server = try NATSServer()
        defer { server.stop() }
        let seg = try TestSegment("replaced")
        defer { seg.close() }
        let running = try RunningBridge(try bridgeSettings(server: server, cluster: "rep", node: "node-a", segment: seg),
                                        segment: seg)
        _ = try SharedSegment.recreate(name: SegmentName.forInstance(seg.instance), geometry: nil, force: true)
        #expect(poll { running.bridge.currentState == .stopped })
        guard case let .segmentReplaced(why)? = running.bridge.end else {
            Issue.record("ended with \(String(describing: running.bridge.end))"); return
        }
        #expect(why.contains(seg.instance))
    }
}

extension NATSBridgeTests {
    /// A `.creds` file (user JWT and seed) against a nats-server in operator mode (operator,
    /// account and user keys and JWTs made by the test).
    @Test func credentialsFileAuthentication() throws {
        let dir = "/tmp/meshtest-creds-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(dir, 0o700)
        defer {
            for f in ["operator.pem", "account.pem", "user.pem", "user.creds"] { unlink(dir + "/" + f) }
            rmdir(dir)
        }
        let op = try NKeyFiles.pair(in: dir, name: "operator", prefix: 14 << 3)
        let account = try NKeyFiles.pair(in: dir, name: "account", prefix: 0)
        let user = try NKeyFiles.pair(in: dir, name: "user", prefix: 20 << 3)
        let opJWT = try NKeyFiles.jwt(subject: op.publicKey, name: "test-operator",
                                      nats: #"{"type":"operator","version":2}"#, issuer: op, dir: dir)
        let limits = #""limits":{"subs":-1,"data":-1,"payload":-1,"imports":-1,"exports":-1,"wildcards":true,"conn":-1,"leaf":-1}"#
        let accountJWT = try NKeyFiles.jwt(subject: account.publicKey, name: "shoal",
                                           nats: #"{\#(limits),"type":"account","version":2}"#, issuer: op, dir: dir)
        let userJWT = try NKeyFiles.jwt(subject: user.publicKey, name: "bridge",
                                        nats: #"{"pub":{},"sub":{},"subs":-1,"data":-1,"payload":-1,"type":"user","version":2}"#,
                                        issuer: account, dir: dir)
        try writeFile(dir + "/user.creds", """
            -----BEGIN NATS USER JWT-----
            \(userJWT)
            ------END NATS USER JWT------

            -----BEGIN USER NKEY SEED-----
            \(user.seed)
            ------END USER NKEY SEED------

            """)
        let server = try NATSServer(config: """
            operator: "\(opJWT)"
            resolver: MEMORY
            resolver_preload: { \(account.publicKey): "\(accountJWT)" }
            """)
        defer { server.stop() }
        let seg = try TestSegment("creds")
        defer { seg.close() }
        let settings = try bridgeSettings(server: server, cluster: "creds", node: "node-c", segment: seg,
                                          extra: "  creds-file: \(dir)/user.creds")
        #expect(settings.auth == .credentials(file: dir + "/user.creds"))
        let bridge = try RunningBridge(settings, segment: seg, waitUntilRunning: false)
        #expect(poll { bridge.bridge.currentState == .running }, "\(bridge.counters.lastConnectError)")
        bridge.stop()
        // Without the credentials the server refuses.
        let anonymous = try RunningBridge(try bridgeSettings(server: server, cluster: "creds", node: "node-x", segment: seg),
                                          segment: seg, waitUntilRunning: false)
        #expect(poll { anonymous.counters.connectFailures >= 2 })
        anonymous.stop()
    }
}

extension NATSBridgeTests {
    /// A bridge that falls behind (its process stopped while a peer publishes batch after
    /// batch, with a small pending limit): updates are dropped or the server cuts it off, and it
    /// still ends up with every entry, pulled after it noticed the loss.
    @Test func bridgeThatFellBehindCatchesUp() throws {
        let exe = try builtExecutable("shoal-bridge")
        let server = try NATSServer()
        defer { server.stop() }
        let a = try TestSegment("fa", recordBuckets: 1024), b = try TestSegment("fb", recordBuckets: 1024)
        defer { a.close(); b.close() }
        let meshName = "t\(UInt32.random(in: 0...UInt32.max))"
        let bridgeA = try RunningBridge(try bridgeSettings(server: server, cluster: meshName, node: "node-a", segment: a),
                                        segment: a)
        defer { bridgeA.stop() }
        let config = server.dir + "/bridge.yaml"
        try writeFile(config, """
            segment: \(b.instance)
            bridge:
              servers: [\(server.url)]
              cluster: \(meshName)
              node-id: node-b
              pending-messages: 16

            """)
        let child = try TestChild(exe, ["--config", config], output: server.dir + "/bridge.out")
        defer { child.stop(SIGKILL) }
        #expect(poll { child.output.contains("warm-up: ") })
        kill(child.pid, SIGSTOP)
        var names: [DNSName] = []
        for burst in 0..<60 {
            for i in 0..<5 {
                let n = dn("behind\(burst)-\(i).example.")
                names.append(n)
                a.segment.records.insert(name: n, type: .a, ttl: 600, rdata: [aRecord(UInt32(burst * 5 + i))],
                                         rank: .authoritativeAnswer, now: shmNow())
            }
            usleep(5_000)   // one batch per burst
        }
        #expect(poll { bridgeA.counters.publishedBatches >= 40 })
        kill(child.pid, SIGCONT)
        #expect(poll(tries: 2000) { names.allSatisfy { b.segment.records.peek(name: $0, type: .a, now: shmNow()) != nil } },
                "\(child.output)")
        // It fell behind, and said so, and how it caught up.
        #expect(child.output.contains("dropped") || child.output.contains("reconnected"), "\(child.output)")
        #expect(child.output.contains("catch-up: "), "\(child.output)")
    }
}
