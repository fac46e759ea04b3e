// ShmCache benchmark: lookups and inserts per second from one process and from two, hit-heavy
// and miss-heavy; bytes of segment per typical cached RRset; a Swift Dictionary in one process
// as the baseline, measured in the same run.
//
//   swift run -c release --scratch-path .build-shm shmcache-bench [seconds-per-figure]
//
// The two-process figures spawn this executable twice (`--child …`) on the same segment.
import DNSCore
import ShmCache
#if canImport(Glibc)
import Glibc
#endif

func nowSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func names(_ n: Int, offset: Int = 0) -> [DNSName] {
    (0..<n).map { try! DNSName("host\($0 + offset).example.com.") }
}

let args = CommandLine.arguments
/// Distinct keys looked up: a hot set that fits the TLB and caches, or a wide one spread over
/// the whole table (second argument, e.g. `1000,100000`, the default).
var keyCount = 100_000
let typicalRData: [[UInt8]] = [[192, 0, 2, 1]]

/// Runs `body` over the names in a loop for `seconds`; returns operations per second.
@inline(never)
func timed(_ seconds: Double, _ names: [DNSName], _ body: (DNSName) -> Bool) -> (rate: Double, hits: Int) {
    var ops = 0, hits = 0, i = 0
    let start = nowSeconds()
    var end = start
    while true {
        for _ in 0..<8192 {
            if body(names[i]) { hits += 1 }
            i += 1
            if i == names.count { i = 0 }
        }
        ops += 8192
        end = nowSeconds()
        if end - start >= seconds { break }
    }
    return (Double(ops) / (end - start), hits)
}

// MARK: Child mode (two-process figures)

if args.count >= 6 && args[1] == "--child" {
    let mode = args[2], seg = try! SharedSegment.attach(name: args[3]), seconds = Double(args[4])!
    keyCount = Int(args[5])!
    let now = shmNow()
    let r: (rate: Double, hits: Int)
    switch mode {
    case "hit":
        r = timed(seconds, names(keyCount)) { seg.records.lookup(name: $0, type: .a, now: now) != nil }
    case "miss":
        r = timed(seconds, names(keyCount, offset: 10_000_000)) { seg.records.lookup(name: $0, type: .a, now: now) != nil }
    default:
        let salt = Int(getpid()) * 1_000_000
        r = timed(seconds, names(keyCount, offset: salt)) {
            seg.records.insert(name: $0, type: .a, ttl: 3600, rdata: typicalRData, rank: .authoritativeAnswer, now: now).stored
        }
    }
    print("\(r.rate) \(r.hits)")
    exit(0)
}

let seconds = args.count > 1 ? Double(args[1]) ?? 1.5 : 1.5
let keySets = args.count > 2 ? args[2].split(separator: ",").map { Int($0)! } : [1_000, 100_000]

func spawnSelf(_ a: [String]) -> (pid_t, String) {
    let out = "/tmp/shmcache-bench.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
    var fa = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&fa)
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, 4095)
    let exe = String(decoding: buf[0..<max(0, n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let argv = ([exe] + a).map { strdup($0) } + [nil]
    var pid: pid_t = 0
    let r = posix_spawn(&pid, exe, &fa, nil, argv, environ)
    precondition(r == 0, "posix_spawn \(r)")
    posix_spawn_file_actions_destroy(&fa)
    for p in argv { free(p) }
    return (pid, out)
}

func twoProcesses(_ mode: String, _ seg: String, keys: Int) -> Double {
    let kids = (0..<2).map { _ in spawnSelf(["--child", mode, seg, String(seconds), String(keys)]) }
    var total = 0.0
    for (pid, out) in kids {
        var st: Int32 = 0
        waitpid(pid, &st, 0)
        if let f = fopen(out, "r") {
            var line = [CChar](repeating: 0, count: 256)
            if fgets(&line, 256, f) != nil {
                let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                total += Double(s.split(separator: " ").first ?? "0") ?? 0
            }
            fclose(f)
        }
        unlink(out)
    }
    return total
}

func fmt(_ r: Double) -> String {
    r >= 1e6 ? String(Double(Int(r / 1e4)) / 100) + " M/s" : String(Double(Int(r / 10)) / 100) + " k/s"
}

let geometry = SegmentGeometry.sized(megabytes: 64)
let now = shmNow()
func row(_ what: String, _ one: Double, _ two: Double?, _ dict: Double?) {
    print("  \(what): 1 process \(fmt(one)), 2 processes \(two.map(fmt) ?? "-"), Dictionary \(dict.map(fmt) ?? "-")")
}
struct DictKey: Hashable { var name: DNSName; var type: RRType; var rrclass: RRClass }
struct DictValue { var rdata: [[UInt8]]; var expiry: UInt32; var rank: Rank }

for kc in keySets {
    keyCount = kc
    let segName = "/shoal-bench.\(getpid()).\(keyCount)"
    let (segment, _) = try SharedSegment.openOrCreate(name: segName, geometry: geometry)
    let hitNames = names(keyCount), missNames = names(keyCount, offset: 10_000_000)
    for n in hitNames {
        segment.records.insert(name: n, type: .a, ttl: 3600, rdata: typicalRData, rank: .authoritativeAnswer, now: now)
    }
    let present = hitNames.filter { segment.records.lookup(name: $0, type: .a, now: now) != nil }.count

    print("ShmCache benchmark: \(seconds) s per figure; segment \(segment.totalSize >> 20) MiB; record table \(geometry.records) = \(segment.records.capacity) slots; \(keyCount) keys (\(present) cached)")


    // Baseline: a Dictionary in one process holding the same RRsets.
    var dict: [DictKey: DictValue] = [:]
    for n in hitNames { dict[DictKey(name: n, type: .a, rrclass: .in)] = DictValue(rdata: typicalRData, expiry: now + 3600, rank: .authoritativeAnswer) }

    let hit1 = timed(seconds, hitNames) { segment.records.lookup(name: $0, type: .a, now: now) != nil }.rate
    let hit2 = twoProcesses("hit", segName, keys: keyCount)
    let hitD = timed(seconds, hitNames) { n in
        guard let v = dict[DictKey(name: n, type: .a, rrclass: .in)], v.expiry > now else { return false }
        return !v.rdata.isEmpty
    }.rate
    row("lookup, hit-heavy", hit1, hit2, hitD)

    let miss1 = timed(seconds, missNames) { segment.records.lookup(name: $0, type: .a, now: now) != nil }.rate
    let miss2 = twoProcesses("miss", segName, keys: keyCount)
    let missD = timed(seconds, missNames) { dict[DictKey(name: $0, type: .a, rrclass: .in)] != nil }.rate
    row("lookup, miss-heavy", miss1, miss2, missD)

    let ins1 = timed(seconds, hitNames) {
        segment.records.insert(name: $0, type: .a, ttl: 3600, rdata: typicalRData, rank: .authoritativeAnswer, now: now).stored
    }.rate
    let ins2 = twoProcesses("insert", segName, keys: keyCount)
    let insD = timed(seconds, hitNames) { n in
        dict[DictKey(name: n, type: .a, rrclass: .in)] = DictValue(rdata: typicalRData, expiry: now + 3600, rank: .authoritativeAnswer)
        return true
    }.rate
    row("insert/replace", ins1, ins2, insD)
    try? SharedSegment.unlink(name: segName)
}

// Bytes per typical RRset: a full table of typical A RRsets (one address, owner name of 21
// bytes), segment bytes of the record table divided by the RRsets it holds.
let typical = "host12345.example.com."
let slotNeed = 32 + 4 + (try! DNSName(typical)).wire.count + 12 + 2 + 4
let fillSeg = "/shoal-bench-fill.\(getpid())"
let (fill, _) = try SharedSegment.openOrCreate(name: fillSeg, geometry: geometry)
defer { try? SharedSegment.unlink(name: fillSeg) }
for i in 0..<(fill.records.capacity * 3) {
    fill.records.insert(name: try! DNSName("host\(i).example.com."), type: .a, ttl: 3600, rdata: typicalRData,
                        rank: .authoritativeAnswer, now: now)
}
let held = fill.records.count(now: now).entries
let tableBytes = geometry.records.bytes
print("  bytes per typical RRset: entry needs \(slotNeed) B -> 128 B slot + 4 B tag share = 132 B; full table: \(tableBytes) B / \(held) RRsets = \(tableBytes / max(1, held)) B (every way, big ones included)")
