import DNSCore
import Logging
import MeshBridge
import ShmCache
import ShoalSystem
import ShoalTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

func dn(_ s: String) -> DNSName { try! DNSName(s) }

let testLogger: Logger = {
    var l = Logger(label: "mesh-test")
    l.logLevel = .warning
    return l
}()

/// A small segment of its own (unique instance name), unlinked by `close()`.
final class TestSegment {
    let instance: String
    let segment: SharedSegment

    /// `recordBuckets`: enough that no bucket overflows (and evicts) for the entries a test stores.
    init(_ tag: String, journal: Int = 1024, recordBuckets: Int = 64) throws {
        instance = "meshtest-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let g = SegmentGeometry(
            records: TableGeometry(buckets: recordBuckets, waySizes: [128, 128, 128, 128, 256, 256, 512, 1024, 2048]),
            negative: TableGeometry(buckets: 16, waySizes: [256, 256, 512, 1024]),
            packets: TableGeometry(buckets: 8, waySizes: [256, 512, 1024]),
            nsSpeed: TableGeometry(buckets: 8, waySizes: [64, 64, 64, 64]),
            journalCapacity: journal, workerSlots: 4)
        (segment, _) = try SharedSegment.openOrCreate(name: SegmentName.forInstance(instance), geometry: g)
    }

    func close() {
        let name = SegmentName.forInstance(instance)
        try? SharedMemory.unlink("\(name).warmup.\(segment.generation)")   // left by an interrupted warm-up
        try? SharedSegment.unlink(name: name)
    }
}

/// A free TCP port on 127.0.0.1 (bound, read back, released).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    try #require(fd >= 0)
    defer { Glibc.close(fd) }
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    a.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &a) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp in
            bind(fd, sp, len) == 0 && getsockname(fd, sp, &len) == 0
        }
    }
    try #require(ok)
    return Int(UInt16(bigEndian: a.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func accepts(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { Glibc.close(fd) }
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    a.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &a) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

func writeFile(_ path: String, _ text: String) throws {
    guard let f = fopen(path, "w") else { throw TestFailure("cannot write \(path)") }
    fputs(text, f)
    fclose(f)
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A real nats-server on 127.0.0.1 and a free port, stopped (SIGTERM, then reaped) by `stop()`.
final class NATSServer {
    let port: Int
    let pid: pid_t
    let dir: String
    var url: String { "nats://127.0.0.1:\(port)" }

    /// `config`: extra nats-server configuration text (e.g. an authorization block); `port`:
    /// a port to reuse (a restart), else a free one.
    init(config: String = "", port reuse: Int? = nil, dir reuseDir: String? = nil) throws {
        let executable = ["/usr/sbin/nats-server", "/usr/bin/nats-server"].first { (p: String) in access(p, X_OK) == 0 }
        guard let executable else {
            Issue.record("nats-server is not installed: apt-get install -y nats-server (scripts/packages.txt)")
            throw TestFailure("no nats-server")
        }
        port = try reuse ?? freePort()
        dir = reuseDir ?? "/tmp/meshtest-nats-\(getpid())-\(port)"
        mkdir(dir, 0o700)
        let conf = dir + "/nats.conf"
        try writeFile(conf, "listen: 127.0.0.1:\(port)\nmax_payload: 1048576\n\(config)\n")
        pid = try Spawn.start(executable, arguments: ["-c", conf, "-l", dir + "/nats.log"], descriptors: [],
                              environment: [])
        for _ in 0..<500 {
            if accepts(port: port) { return }
            usleep(10_000)
        }
        stop()
        throw TestFailure("nats-server did not listen on \(port) (see \(dir)/nats.log)")
    }

    /// Stops the server; `keepFiles` for a restart in the same directory.
    func stop(keepFiles: Bool = false) {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        guard !keepFiles else { return }
        for f in ["nats.conf", "nats.log", "password", "bridge.yaml", "bridge.out"] + TLSFiles.names { unlink(dir + "/" + f) }
        rmdir(dir)
    }
}

/// Settings for a bridge of `node` on `server`.
func bridgeSettings(server: NATSServer, cluster: String, node: String, segment: TestSegment,
                    extra: String = "") throws -> BridgeSettings {
    let yaml = """
        segment: \(segment.instance)
        bridge:
          servers: [\(server.url)]
          cluster: \(cluster)
          node-id: \(node)
          reconnect-wait-min-ms: 20
          reconnect-wait-max-ms: 200
        \(extra)
        """
    return try BridgeSettings.load(yaml: yaml, file: "test.yaml")
}

/// A bridge running on its own thread until `stop()`.
final class RunningBridge {
    let bridge: Bridge

    convenience init(_ settings: BridgeSettings, segment: TestSegment, waitUntilRunning: Bool = true) throws {
        try self.init(settings, segment: segment.segment, waitUntilRunning: waitUntilRunning)
    }

    init(_ settings: BridgeSettings, segment: SharedSegment, waitUntilRunning: Bool = true) throws {
        bridge = Bridge(settings: settings, segment: segment, logger: testLogger)
        let b = bridge
        try startDetachedThread(name: "test-bridge") { _ = try? b.run() }
        if waitUntilRunning {
            try #require(poll { b.currentState == .running || b.currentState == .stopped })
            try #require(b.currentState == .running)
        }
    }

    var counters: BridgeCounters.Snapshot { bridge.counters.snapshot() }

    func stop() {
        bridge.stop()
        _ = poll { bridge.currentState == .stopped }
    }
}

/// Polls `condition` every 10 ms, at most `tries` times; whether it became true.
@discardableResult
func poll(tries: Int = 1000, _ condition: () -> Bool) -> Bool {
    for _ in 0..<tries {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

func aRecord(_ a: UInt32) -> [UInt8] { [UInt8(a >> 24), UInt8((a >> 16) & 0xFF), UInt8((a >> 8) & 0xFF), UInt8(a & 0xFF)] }

func soaRecord(_ zone: String, ttl: UInt32 = 300) -> ResourceRecord {
    ResourceRecord(name: dn(zone), type: .soa, ttl: ttl,
                   rdata: .soa(SOA(mname: dn("ns1.\(zone)"), rname: dn("hostmaster.\(zone)"), serial: 1,
                                   refresh: 3600, retry: 600, expire: 86400, minimum: 300)))
}

func nowMillis() -> UInt64 { UInt64(Clock.wallSeconds()) * 1000 }

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
enum TLSFiles {
    static let names = ["ca.key", "ca.pem", "server.key", "server.csr", "server.pem", "client.key", "client.csr",
                        "client.pem", "san.ext", "ca.srl"]

    static func make(in dir: String) throws {
        mkdir(dir, 0o700)
        let script = """
            set -e
            cd '\(dir)'
            openssl ecparam -name prime256v1 -genkey -noout -out ca.key
            openssl req -x509 -new -key ca.key -subj /CN=shoal-test-ca -days 2 -out ca.pem
            printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext
            for who in server client; do
              openssl ecparam -name prime256v1 -genkey -noout -out $who.key
              openssl req -new -key $who.key -subj /CN=$who -out $who.csr
              openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out $who.pem
            done
            """
        let pid = try Spawn.start("/bin/sh", arguments: ["-c", script + " >/dev/null 2>&1"], descriptors: [],
                                  environment: ["PATH=/usr/bin:/bin"])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        guard status == 0 else { throw TestFailure("openssl failed making test certificates in \(dir)") }
    }
}

