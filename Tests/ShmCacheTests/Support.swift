import DNSCore
import Testing
@testable import ShmCache
#if canImport(Glibc)
import Glibc
#endif

/// A unique segment name per test (pid + random), unlinked by `withSegment`.
func uniqueSegmentName(_ tag: String) -> String {
    "/shoal-test.\(tag).\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
}

/// A small geometry: every table a few buckets, so eviction and fills happen quickly.
func smallGeometry(recordBuckets: Int = 16, journal: Int = 64) -> SegmentGeometry {
    SegmentGeometry(
        records: TableGeometry(buckets: recordBuckets,
                               waySizes: [128, 128, 128, 128, 128, 128, 256, 256, 256, 512, 512, 1024, 2048]),
        negative: TableGeometry(buckets: 8, waySizes: [256, 256, 512, 1024]),
        packets: TableGeometry(buckets: 16, waySizes: [256, 256, 512, 512, 1024, 1024]),
        nsSpeed: TableGeometry(buckets: 8, waySizes: [64, 64, 64, 64, 64, 64, 64, 64]),
        journalCapacity: journal, workerSlots: 8)
}

/// Creates a fresh segment, runs `body`, unlinks it.
func withSegment<R>(_ tag: String, geometry: SegmentGeometry = smallGeometry(),
                    _ body: (SharedSegment, String) throws -> R) throws -> R {
    let name = uniqueSegmentName(tag)
    defer { try? SharedSegment.unlink(name: name) }
    let (seg, outcome) = try SharedSegment.openOrCreate(name: name, geometry: geometry)
    #expect(outcome == .created)
    return try body(seg, name)
}

func dn(_ s: String) -> DNSName { try! DNSName(s) }

// MARK: Child processes

/// Path of the `shm-stress` executable, built next to the test binary.
func stressExecutable() throws -> String {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    try #require(n > 0)
    let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var dir = exe
    while let slash = dir.lastIndex(of: "/") {
        dir = String(dir[..<slash])
        let candidate = dir + "/shm-stress"
        if access(candidate, X_OK) == 0 { return candidate }
        if dir.hasSuffix("/debug") || dir.hasSuffix("/release") || dir.isEmpty { break }
    }
    Issue.record("shm-stress not found near \(exe): build with `swift build --build-tests`")
    throw CancellationError()
}

/// A spawned child whose stdout and stderr go to a temporary file.
final class Child {
    let pid: pid_t
    let outPath: String
    var status: Int32? = nil

    init(_ exe: String, _ args: [String]) throws {
        outPath = "/tmp/shm-stress.\(getpid()).\(UInt32.random(in: 0...UInt32.max)).out"
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_addopen(&fa, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&fa, 1, 2)
        let argv = ([exe] + args).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var p: pid_t = 0
        let r = posix_spawn(&p, exe, &fa, nil, argv, environ)
        try #require(r == 0, "posix_spawn: \(r)")
        pid = p
    }

    /// Non-blocking reap; true once exited.
    func poll() -> Bool {
        if status != nil { return true }
        var st: Int32 = 0
        let r = waitpid(pid, &st, WNOHANG)
        if r == pid { status = st; return true }
        return false
    }

    func kill9() {
        if status == nil { kill(pid, SIGKILL) }
    }

    /// Blocks until it exited (after a SIGKILL).
    func reap() {
        guard status == nil else { return }
        var st: Int32 = 0
        while waitpid(pid, &st, 0) == -1 && errno == EINTR {}
        status = st
    }

    var output: String {
        guard let f = fopen(outPath, "r") else { return "" }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            bytes += buf[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The `key=value` counts of the child's report line.
    var counts: [String: Int] {
        var out: [String: Int] = [:]
        for part in output.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let kv = part.split(separator: "=", maxSplits: 1)
            if kv.count == 2, let v = Int(kv[1]) { out[String(kv[0])] = v }
        }
        return out
    }

    var exitedCleanly: Bool {
        guard let s = status else { return false }
        return s & 0x7F == 0 && (s >> 8) & 0xFF == 0
    }

    deinit { unlink(outPath) }
}

/// Waits for every child to exit; kills them all and records an issue after `seconds` (the
/// watchdog: no test may hang on a child).
func waitAll(_ children: [Child], watchdogSeconds: Double) -> Bool {
    let deadline = monotonicSeconds() + watchdogSeconds
    while monotonicSeconds() < deadline {
        if children.allSatisfy({ $0.poll() }) { return true }
        usleep(5000)
    }
    for c in children { c.kill9(); c.reap() }
    Issue.record("watchdog: children still running after \(watchdogSeconds) s; killed")
    return false
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
