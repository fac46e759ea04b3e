// Child process for ShmCache's multi-process tests and benchmark (spawned by ShmCacheTests and
// shmcache-bench). Usage:
//
//   shm-stress <segment-name> <role> [seed=N] [ms=N] [keys=N] [hold=µs] [now=N] [ttl=N] [n=N]
//
// Roles: mixed (lookups, inserts, removes on overlapping keys, every read verified), writer,
// reader, populate (insert n keys then exit), reclaimer (reclaimStale in small steps, its clock
// `age` seconds ahead, so every claim looks old), bench-lookup, bench-insert.
// Prints one line: `reads=… hits=… torn=… foreign=… writes=… stored=… removes=… dropped=… ops=…`.
import DNSCore
import ShmCache
#if canImport(Glibc)
import Glibc
#endif

let args = CommandLine.arguments
guard args.count >= 3 else {
    print("usage: shm-stress <segment> <role> [key=value...]")
    exit(2)
}
var opts: [String: UInt64] = [:]
for a in args.dropFirst(3) {
    let parts = a.split(separator: "=", maxSplits: 1)
    if parts.count == 2, let v = UInt64(parts[1]) { opts[String(parts[0])] = v }
}
let segName = args[1], role = args[2]
let seed = opts["seed"] ?? UInt64(getpid())
let durationMs = opts["ms"] ?? 1000
let keys = Int(opts["keys"] ?? 2000)

let segment: SharedSegment
var segOptions = SegmentOptions()
segOptions.testingWriteHoldMicros = UInt32(opts["hold"] ?? 0)
segOptions.testingClockOffset = UInt32(truncatingIfNeeded: opts["age"] ?? 0)
do { segment = try SharedSegment.attach(name: segName, options: segOptions) } catch {
    print("error=\(error)")
    exit(1)
}


var rng = SplitMix64(seed: seed)
var c = StressCounts()
let deadline = monotonicMillis() + durationMs

switch role {
case "populate":
    let now = UInt32(opts["now"] ?? UInt64(shmNow()))
    let ttl = UInt32(opts["ttl"] ?? 3600)
    for i in 0..<Int(opts["n"] ?? UInt64(keys)) {
        let r = StressData.insert(segment, key: i, salt: UInt32(i * 5 + 1), now: now, ttl: ttl)
        c.writes += 1
        if r.stored { c.stored += 1 }
    }
case "reclaimer":
    while monotonicMillis() < deadline {
        c.reclaimed += segment.reclaimStale(budget: 2048)
        usleep(100)
    }
case "verify":
    let now = UInt32(opts["now"] ?? UInt64(shmNow()))
    for i in 0..<Int(opts["n"] ?? UInt64(keys)) { StressData.verify(segment, key: i, now: now, &c) }
case "bench-lookup", "bench-miss":
    let now = shmNow()
    let names = (0..<keys).map { StressData.name(role == "bench-miss" ? $0 + 10_000_000 : $0) }
    var i = 0
    while true {
        for _ in 0..<4096 {
            if segment.records.lookup(name: names[i], type: .a, now: now) != nil { c.hits += 1 }
            i += 1
            if i == names.count { i = 0 }
        }
        c.reads += 4096
        if monotonicMillis() >= deadline { break }
    }
case "bench-insert":
    let now = shmNow()
    let names = (0..<keys).map { StressData.name($0 + Int(seed % 1000) * 1_000_000) }
    let rd: [[UInt8]] = [[192, 0, 2, 1]]
    var i = 0
    while true {
        for _ in 0..<1024 {
            if segment.records.insert(name: names[i], type: .a, ttl: 3600, rdata: rd, rank: .authoritativeAnswer,
                                      now: now).stored { c.stored += 1 }
            i += 1
            if i == names.count { i = 0 }
        }
        c.writes += 1024
        if monotonicMillis() >= deadline { break }
    }
default:
    // mixed, writer, reader
    let doReads = role != "writer", doWrites = role != "reader"
    while monotonicMillis() < deadline {
        for _ in 0..<64 {
            let k = Int(rng.next() % UInt64(keys))
            let op = rng.next() % 100
            let now = shmNow()
            if doReads && (!doWrites || op < 55) {
                if op % 10 == 0 {
                    StressData.verifyPacket(segment, key: k, now: now, &c)
                } else {
                    StressData.verify(segment, key: k, now: now, &c)
                }
            } else if doWrites && (!doReads || op < 90) {
                let r: InsertResult
                if op % 10 == 1 {
                    r = StressData.insertPacket(segment, key: k, salt: UInt32(truncatingIfNeeded: rng.next()), now: now)
                } else {
                    r = StressData.insert(segment, key: k, salt: UInt32(truncatingIfNeeded: rng.next()), now: now, ttl: 30 + UInt32(k % 60))
                }
                c.writes += 1
                if r.stored { c.stored += 1 } else if r == .droppedBusy { c.dropped += 1 }
                if op % 7 == 0 {
                    let a = ServerAddress(IPv4Address(UInt32(10 << 24) | UInt32(k % 256)))
                    segment.nsSpeed.recordRTT(a, microseconds: UInt32(1000 + k), now: now)
                }
            } else if doWrites {
                if segment.records.remove(name: StressData.name(k), type: StressData.type(k)) { c.removes += 1 }
            }
        }
    }
}
print(c.line)
exit(0)

// MARK: Helpers

struct StressCounts {
    var reads = 0, hits = 0, torn = 0, foreign = 0, writes = 0, stored = 0, removes = 0, dropped = 0, reclaimed = 0
    var line: String {
        "reads=\(reads) hits=\(hits) torn=\(torn) foreign=\(foreign) writes=\(writes) stored=\(stored) removes=\(removes) dropped=\(dropped) reclaimed=\(reclaimed) ops=\(reads + writes)"
    }
}

func monotonicMillis() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
}

/// Test data that carries a checksum of its own key: a read can tell a torn value (checksum
/// wrong) from a foreign one (checksum right, but another key's).
enum StressData {
    static func name(_ k: Int) -> DNSName { try! DNSName("k\(k).Stress.Test.") }
    static func type(_ k: Int) -> RRType { RRType(UInt16(65280 + k % 4)) }

    static func fnv(_ bytes: [UInt8], _ h0: UInt64 = 0xCBF2_9CE4_8422_2325) -> UInt64 {
        var h = h0
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return h
    }
    static func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> UInt64(8 * $0)) } }
    static func read64(_ b: [UInt8], _ at: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in (0..<8).reversed() { v = v << 8 | UInt64(b[at + i]) }
        return v
    }

    /// The key's identity: its lower-cased name and type.
    static func keyTag(_ k: Int) -> UInt64 {
        let t = type(k).rawValue
        return fnv(name(k).lowercased.wire + [UInt8(t >> 8), UInt8(t & 0xFF)])
    }

    /// 1–3 RDATA items of 8–400 bytes each (so every way size gets used), the first starting
    /// with the key tag; one "signature" with the checksum of all items and the key tag.
    static func value(_ k: Int, salt: UInt32) -> ([[UInt8]], [UInt8]) {
        var r = SplitMix64(seed: UInt64(k) << 32 | UInt64(salt))
        let n = 1 + Int(r.next() % 3)
        var items: [[UInt8]] = []
        for i in 0..<n {
            let len = 8 + Int(r.next() % (salt % 5 == 0 ? 400 : 60))
            var d = [UInt8](repeating: 0, count: len)
            for j in 0..<len { d[j] = UInt8(truncatingIfNeeded: r.next()) }
            if i == 0 { d.replaceSubrange(0..<8, with: le64(keyTag(k))) }
            items.append(d)
        }
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for d in items { h = fnv([UInt8(d.count & 0xFF), UInt8(d.count >> 8)] + d, h) }
        return (items, le64(h) + le64(keyTag(k)))
    }

    static func insert(_ s: SharedSegment, key k: Int, salt: UInt32, now: UInt32, ttl: UInt32) -> InsertResult {
        let (items, sig) = value(k, salt: salt)
        return s.records.insert(name: name(k), type: type(k), ttl: ttl, rdata: items, signatures: [sig],
                                validation: ValidationState(rawValue: UInt8(k % 4)), rank: .nonAuthoritativeAnswer,
                                now: now)
    }

    static func verify(_ s: SharedSegment, key k: Int, now: UInt32, _ c: inout StressCounts) {
        c.reads += 1
        guard let e = s.records.lookup(name: name(k), type: type(k), now: now) else { return }
        c.hits += 1
        let items = e.rdata, sigs = e.signatures
        guard sigs.count == 1, sigs[0].count == 16, !items.isEmpty, items.count <= 3 else { c.torn += 1; return }
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for d in items { h = fnv([UInt8(d.count & 0xFF), UInt8(d.count >> 8)] + d, h) }
        guard read64(sigs[0], 0) == h, items[0].count >= 8 else { c.torn += 1; return }
        let tag = keyTag(k)
        if read64(sigs[0], 8) != tag || read64(items[0], 0) != tag
            || e.validation.rawValue != UInt8(k % 4) || e.rank != .nonAuthoritativeAnswer {
            c.foreign += 1
        }
    }

    static func packetKey(_ k: Int) -> PacketKey { PacketKey(name: name(k), type: type(k), dnssecOK: k % 2 == 0) }

    static func insertPacket(_ s: SharedSegment, key k: Int, salt: UInt32, now: UInt32) -> InsertResult {
        var r = SplitMix64(seed: UInt64(salt))
        var body = le64(keyTag(k) ^ 0x5A5A)
        for _ in 0..<(16 + Int(r.next() % 900)) { body.append(UInt8(truncatingIfNeeded: r.next())) }
        body += le64(fnv(body))
        return s.packets.insert(packetKey(k), response: body, ttl: 60, now: now)
    }

    static func verifyPacket(_ s: SharedSegment, key k: Int, now: UInt32, _ c: inout StressCounts) {
        c.reads += 1
        guard let p = s.packets.lookup(packetKey(k), now: now) else { return }
        c.hits += 1
        let b = p.response
        guard b.count >= 16, read64(b, b.count - 8) == fnv(Array(b[0..<(b.count - 8)])) else { c.torn += 1; return }
        if read64(b, 0) != keyTag(k) ^ 0x5A5A { c.foreign += 1 }
    }
}
