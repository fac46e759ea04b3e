import DNSCore
import Foundation
import ShmCache
import Testing
import Worker

/// Workers and the segment they share: never two segments under one name, and a replaced
/// segment makes its workers exit for a restart (real `shoal-worker` processes).
@Suite("Segment lifecycle with workers", .serialized)
struct SegmentLifecycleTests {
    /// Root hints pointing at an address nothing listens on: these workers resolve nothing.
    func deadHints() throws -> String {
        let path = NSTemporaryDirectory() + "/shoal-dead-root-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).hints"
        try ".  3600000 NS a.root.dead.\na.root.dead. 3600000 A 127.61.0.250\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("a second worker with another segment-size attaches the live segment (warning names both); recreate --force makes both exit 75")
    func sizeMismatchThenRecreate() throws {
        let segment = uniqueSegment("mismatch")
        defer { unlinkSegment(segment) }
        let hints = try deadHints()
        defer { try? FileManager.default.removeItem(atPath: hints) }
        let first = try WorkerProcess(address: "127.61.0.1", segment: segment, rootHints: hints, validation: .off)
        let seg = try SharedSegment.attach(name: SegmentName.forInstance(segment))
        let now = shmNow()
        seg.records.insert(name: try DNSName("kept.example."), type: .a, ttl: 3600, rdata: [[192, 0, 2, 7]],
                           rank: .authoritativeAnswer, now: now)
        // WorkerProcess passes --segment-size 16; the later option wins.
        let second = try WorkerProcess(address: "127.61.0.2", segment: segment, rootHints: hints, validation: .off,
                                       extra: ["--segment-size", "32"])
        #expect(second.log.contains("exists with another geometry") && second.log.contains("segment-size 32"),
                "\(second.log)")
        // One segment: both workers are attached to it, and the entry written before is kept.
        let pids = Set(seg.otherOwners().map(\.identity.pid))
        #expect(pids.isSuperset(of: [UInt32(first.process.processIdentifier), UInt32(second.process.processIdentifier)]))
        #expect(seg.records.lookup(name: try DNSName("kept.example."), type: .a, now: now) != nil)
        let answer = try second.ask("kept.example.", .a)
        #expect(answer.answers.first?.rdata == .a(IPv4Address(192, 0, 2, 7)), "\(answer)")

        // Replacing it refuses while they are attached; forced, both notice and exit 75.
        #expect(throws: ShmError.self) { _ = try SharedSegment.recreate(name: SegmentName.forInstance(segment), geometry: nil, force: false) }
        let fresh = try SharedSegment.recreate(name: SegmentName.forInstance(segment), geometry: .sized(megabytes: 8), force: true)
        #expect(fresh.generation == seg.generation + 1)
        for w in [first, second] {
            for _ in 0..<100 where w.process.isRunning { usleep(50_000) }
            #expect(!w.process.isRunning)
            if !w.process.isRunning {
                #expect(w.process.terminationStatus == SegmentMaintenance.exitCode, "\(w.log)")
                #expect(w.log.contains("retired"), "\(w.log)")
            }
        }
    }
}
