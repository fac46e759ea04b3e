// Mesh benchmark (issue #12): propagation latency from a store in node A's segment to the
// entry being readable in node B's, and warm-up throughput (a snapshot of N RRsets pulled by an
// empty node). Two in-process bridges, two segments, one real nats-server on 127.0.0.1.
//
//   swift build -c release --scratch-path .build-release --product mesh-bench
//   .build-release/release/mesh-bench [propagation-count] [warm-up-RRsets]
//
// Figures: p50/p90/p99/max of the propagation delay for entries stored one every millisecond,
// and the warm-up's entries per second and total time.
import DNSCore
import Logging
import MeshBridge
import ShmCache
import ShoalSystem
#if canImport(Glibc)
import Glibc
#endif

let args = CommandLine.arguments
let propagationCount = args.count > 1 ? Int(args[1]) ?? 5000 : 5000
let warmCount = args.count > 2 ? Int(args[2]) ?? 100_000 : 100_000
let logger: Logger = {
    var l = Logger(label: "mesh-bench")
    l.logLevel = .error
    return l
}()

/// The nats-server to stop if the benchmark fails part way (set once, before anything can fail).
nonisolated(unsafe) var serverToStop: pid_t = 0
func fail(_ s: String) -> Never {
    print("mesh-bench: \(s)")
    if serverToStop > 0 { kill(serverToStop, SIGTERM) }
    exit(1)
}
func nanos() -> UInt64 { Clock.monotonicNanos() }

// MARK: nats-server

func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &a) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    return Int(UInt16(bigEndian: a.sin_port))
}

let port = freePort()
let dir = "/tmp/mesh-bench-\(getpid())"
mkdir(dir, 0o700)
let conf = dir + "/nats.conf"
if let f = fopen(conf, "w") { fputs("listen: 127.0.0.1:\(port)\nmax_payload: 1048576\n", f); fclose(f) }
let natsPID: pid_t
do {
    natsPID = try Spawn.start("/usr/sbin/nats-server", arguments: ["-c", conf, "-l", dir + "/nats.log"],
                              descriptors: [], environment: [])
} catch { fail("cannot start nats-server: \(error)") }
serverToStop = natsPID
func cleanup() {
    kill(natsPID, SIGTERM)
    var st: Int32 = 0
    waitpid(natsPID, &st, 0)
    unlink(conf); unlink(dir + "/nats.log"); rmdir(dir)
}
usleep(300_000)

// MARK: segments and bridges

func segment(_ tag: String, buckets: Int) -> (SharedSegment, String) {
    let instance = "meshbench-\(tag)-\(getpid())"
    let g = SegmentGeometry(
        records: TableGeometry(buckets: buckets, waySizes: [128, 128, 128, 128, 128, 128, 128, 128, 256]),
        negative: TableGeometry(buckets: 16, waySizes: [256, 256, 512, 1024]),
        packets: TableGeometry(buckets: 8, waySizes: [256, 512, 1024]),
        nsSpeed: TableGeometry(buckets: 8, waySizes: [64, 64, 64, 64]),
        journalCapacity: 65536, workerSlots: 4)
    do {
        return (try SharedSegment.openOrCreate(name: SegmentName.forInstance(instance), geometry: g).0, instance)
    } catch { fail("segment: \(error)") }
}

func settings(_ node: String, _ instance: String, cluster: String) -> BridgeSettings {
    do {
        return try BridgeSettings.load(yaml: """
            segment: \(instance)
            bridge:
              servers: [nats://127.0.0.1:\(port)]
              cluster: \(cluster)
              node-id: \(node)
              donor-chunks-per-second: 100000
            """, file: "bench.yaml")
    } catch { fail("\(error)") }
}

func start(_ s: BridgeSettings, _ seg: SharedSegment) -> Bridge {
    let b = Bridge(settings: s, segment: seg, logger: logger)
    do { try startDetachedThread(name: "bench-bridge") { _ = try? b.run() } } catch { fail("\(error)") }
    return b
}

func waitRunning(_ b: Bridge) {
    while b.currentState != .running {
        if b.currentState == .stopped { fail("bridge stopped") }
        usleep(1000)
    }
}

func percentile(_ sorted: [Double], _ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }

// MARK: propagation

let (segA, instA) = segment("a", buckets: 32768)
let (segB, instB) = segment("b", buckets: 32768)
let bridgeA = start(settings("node-a", instA, cluster: "bench"), segA)
waitRunning(bridgeA)
let bridgeB = start(settings("node-b", instB, cluster: "bench"), segB)
waitRunning(bridgeB)

let names = (0..<propagationCount).map { try! DNSName("p\($0).bench.example.") }
var storedAt = [UInt64](repeating: 0, count: propagationCount)
var seenAt = [UInt64](repeating: 0, count: propagationCount)
var next = 0, seen = 0
let began = nanos()
while seen < propagationCount {
    let t = nanos()
    // One store per millisecond.
    while next < propagationCount && t - began >= UInt64(next) * 1_000_000 {
        storedAt[next] = nanos()
        segA.records.insert(name: names[next], type: .a, ttl: 3600, rdata: [[10, 0, UInt8(next >> 8 & 0xFF), UInt8(next & 0xFF)]],
                            rank: .authoritativeAnswer, now: shmNow())
        next += 1
    }
    let now = shmNow()
    for i in 0..<next where seenAt[i] == 0 {
        if segB.records.peek(name: names[i], type: .a, now: now) != nil { seenAt[i] = nanos(); seen += 1 }
    }
    if nanos() - began > 120_000_000_000 { fail("propagation: only \(seen) of \(propagationCount) arrived in 120 s") }
    usleep(50)   // poll B about every 50-100 µs, leaving the cores to the bridges
}
let delays = zip(storedAt, seenAt).map { Double($1 - $0) / 1e6 }.sorted()
print(String(format: "propagation, %d entries stored one per ms: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms",
             propagationCount, percentile(delays, 0.5), percentile(delays, 0.9), percentile(delays, 0.99), delays.last!))
bridgeB.stop()

// MARK: warm-up

var warmBuckets = 1024
while warmBuckets * 9 < warmCount * 2 { warmBuckets *= 2 }
let (segW, instW) = segment("w", buckets: warmBuckets)
let wallNow = shmNow()
for i in 0..<warmCount {
    segA.records.insert(name: try! DNSName("w\(i).bench.example."), type: .a, ttl: 3600,
                        rdata: [[10, UInt8(i >> 16 & 0xFF), UInt8(i >> 8 & 0xFF), UInt8(i & 0xFF)]],
                        rank: .authoritativeAnswer, now: wallNow)
}
let heldA = segA.records.count(now: shmNow()).entries
usleep(500_000)   // A publishes those as updates first; let that settle
let warmStart = nanos()
let bridgeW = start(settings("node-w", instW, cluster: "bench"), segW)
waitRunning(bridgeW)
let warmSeconds = Double(nanos() - warmStart) / 1e9
let c = bridgeW.counters.snapshot()
print(String(format: "warm-up of an empty node: %d entries (donor held %d) in %d chunks, %.2f s including connect, %.0f entries/s; state %@",
             Int(c.warmUpEntries), heldA, Int(c.warmUpChunks), warmSeconds, Double(c.warmUpEntries) / warmSeconds,
             "\(c.warmUpState)"))
bridgeW.stop(); bridgeA.stop()
usleep(200_000)
for i in [instA, instB, instW] { try? SharedSegment.unlink(name: SegmentName.forInstance(i)) }
cleanup()
