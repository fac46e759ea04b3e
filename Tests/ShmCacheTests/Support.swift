import DNSCore
import ShoalTestSupport
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
func stressExecutable() throws -> String { try builtExecutable("shm-stress") }

extension TestChild {
    /// The `key=value` counts of the child's report line.
    var counts: [String: Int] {
        var out: [String: Int] = [:]
        for part in output.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let kv = part.split(separator: "=", maxSplits: 1)
            if kv.count == 2, let v = Int(kv[1]) { out[String(kv[0])] = v }
        }
        return out
    }
}

/// Waits for every child to exit; kills them all and records an issue after `seconds` (the
/// watchdog: no test may hang on a child).
func waitAll(_ children: [TestChild], watchdogSeconds: Double) -> Bool {
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
