import DNSCore
import Foundation
import ShmCache
import ShoalLab
import ShoalSystem
import Testing

/// A real shoald with real workers on a loopback address of its own; everything it made goes
/// when the test ends.
final class ShoaldProcess: @unchecked Sendable {
    let process = Process()
    let directory: String
    let address: String
    let segment: String
    let logPath: String

    /// Starts shoald with `yaml` (listen, segment and root hints are added) and waits until
    /// every worker answers.
    init(tag: String, address: String, workers: Int, yaml: String = "", extra: [String] = []) throws {
        directory = NSTemporaryDirectory() + "shoald-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        self.address = address
        segment = "test-shoald-\(tag)-\(getpid())"
        // The root is a black hole: these workers answer from the segment or not at all.
        try ".  3600000 NS a.root.dead.\na.root.dead. 3600000 A 127.58.0.250\n"
            .write(toFile: directory + "/hints", atomically: true, encoding: .utf8)
        let config = """
            listen: ["\(address):53"]
            segment: \(segment)
            segment-size: 16
            root-hints: \(directory)/hints
            workers: \(workers)
            restart-backoff-min-ms: 50
            \(yaml)
            """
        try config.write(toFile: directory + "/shoal.yaml", atomically: true, encoding: .utf8)
        for f in ["/hints", "/shoal.yaml"] { chmod(directory + f, 0o644) }
        logPath = directory + "/log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: try #require(BuildProducts.executable("shoald")))
        process.arguments = ["--config", directory + "/shoal.yaml"] + extra
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = log
        process.standardError = log
        try process.run()
        for _ in 0..<200 where workerPIDs().count < workers || !answers() {
            guard process.isRunning else { break }
            usleep(50_000)
        }
        guard workerPIDs().count == workers, answers() else {
            Issue.record("shoald did not come up; log:\n\(self.log)")
            throw CancellationError()
        }
    }

    var pid: Int32 { process.processIdentifier }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Live children of shoald (its workers).
    func workerPIDs() -> [Int32] {
        let text = KernelFiles.read("/proc/\(pid)/task/\(pid)/children") ?? ""
        return text.split(separator: " ").compactMap { Int32($0) }.filter { p in
            // Not a zombie.
            !(KernelFiles.read("/proc/\(p)/stat") ?? "Z").contains(") Z ")
        }
    }

    /// Whether something answers on the address (REFUSED for a CH query is an answer).
    func answers() -> Bool {
        (try? ask("version.bind.", .txt, qclass: .ch, timeout: 300)) != nil
    }

    func ask(_ name: String, _ type: RRType, qclass: RRClass = .in, timeout: Int = 3000) throws -> Message {
        let q = Message.query(id: UInt16.random(in: 0...UInt16.max), name: try DNSName(name), type: type, qclass: qclass,
                              recursionDesired: true, edns: nil)
        return try Message(wire: DNSProbe.exchange(try q.serialize(), server: address, timeoutMilliseconds: timeout))
    }

    func stop() {
        if process.isRunning { process.terminate() }
        for _ in 0..<200 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    deinit {
        stop()
        try? SharedSegment.unlink(name: SegmentName.forInstance(segment))
        try? FileManager.default.removeItem(atPath: directory)
    }
}

func status(_ pid: Int32, _ tid: Int32? = nil) throws -> PrivilegeStatus {
    try #require(PrivilegeStatus.read(pid: pid, tid: tid))
}

func threads(_ pid: Int32) -> [Int32] { KernelFiles.list("/proc/\(pid)/task").compactMap { Int32($0) } }

/// Socket inodes among a process's descriptors, by descriptor number.
func socketInodes(_ pid: Int32) -> [Int32: String] {
    var out: [Int32: String] = [:]
    for fd in KernelFiles.list("/proc/\(pid)/fd") {
        var buf = [CChar](repeating: 0, count: 256)
        let n = readlink("/proc/\(pid)/fd/\(fd)", &buf, buf.count - 1)
        guard n > 0, let num = Int32(fd) else { continue }
        let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if target.hasPrefix("socket:") { out[num] = target }
    }
    return out
}

@Suite("shoald with real workers", .serialized)
struct ShoaldTests {
    @Test("check-config: the plan is printed; mistakes name the file, line and key, and shoald exits non-zero")
    func checkConfig() throws {
        let exe = try #require(BuildProducts.executable("shoald"))
        let dir = NSTemporaryDirectory() + "shoald-check-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func run(_ yaml: String) throws -> (Int32, String) {
            try yaml.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = ["--config", dir + "/s.yaml", "--check-config"]
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = pipe
            try p.run()
            let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, out)
        }
        let (ok, plan) = try run("workers: 3\ncpus: 0-1\nlisten: 127.59.1.1\n")
        #expect(ok == 0, "\(plan)")
        #expect(plan.contains("slot 2: cpu 0") && plan.contains("workers share CPUs"), "\(plan)")
        for (yaml, message) in [
            ("listen: 127.59.1.1\nworkers: 0\n", "s.yaml:2: 'workers' must be an integer in 1...4096"),
            ("numa: both\n", "s.yaml:1: 'numa' must be spread or off"),
            ("\n\ncpus: 3-1\n", "s.yaml:3: 'cpus'"),
            ("segment: x\nwrkers: 2\n", "s.yaml:2: unknown key 'wrkers'"),
            ("user: no-such-user-here\n", "user \"no-such-user-here\" does not exist"),
            ("tcp-idle-timeout: yes\n", "s.yaml:1: 'tcp-idle-timeout' must be an integer"),
        ] {
            let (code, out) = try run(yaml)
            #expect(code != 0, "accepted: \(yaml)")
            #expect(out.contains(message), "\(yaml): \(out)")
        }
    }

    @Test("as root with user nobody: shoald keeps only CAP_NET_BIND_SERVICE, every worker thread none; each worker pinned to its CPU with only its slot's sockets")
    func privilegesPlacementDescriptors() throws {
        let d = try ShoaldProcess(tag: "priv", address: "127.59.2.1", workers: 2, yaml: "user: nobody\ncpus: 0-1")
        let nobody = try Account.lookup(user: "nobody")
        // shoald, every thread (it has one).
        for t in threads(d.pid) {
            let s = try status(d.pid, t)
            #expect(s.uids.allSatisfy { $0 == nobody.uid } && s.gids.allSatisfy { $0 == nobody.gid }, "\(s)")
            #expect(s.effective == 1 << 10 && s.permitted == 1 << 10 && s.bounding == 1 << 10, "\(s)")
            #expect(s.ambient == 0 && s.inheritable == 0 && s.noNewPrivs, "\(s)")
        }
        let shoaldSockets = Set(socketInodes(d.pid).values)
        let workers = d.workerPIDs()
        #expect(workers.count == 2)
        var cpusSeen: Set<String> = []
        var inherited: [Set<String>] = []
        for w in workers {
            let ts = threads(w)
            #expect(ts.count >= 2)   // the I/O reactor and NIO's loop at least
            for t in ts {
                let s = try status(w, t)
                #expect(s.uids.allSatisfy { $0 == nobody.uid } && s.gids.allSatisfy { $0 == nobody.gid }, "\(s)")
                #expect(s.effective == 0 && s.permitted == 0 && s.ambient == 0 && s.inheritable == 0, "\(s)")
                #expect(s.noNewPrivs, "\(s)")
            }
            // Every thread on the worker's one CPU.
            let allowed = Set(ts.compactMap { ProcessPlacement.allowedCPUs(pid: w, tid: $0) })
            #expect(allowed.count == 1, "\(allowed)")
            cpusSeen.formUnion(allowed)
            // Its sockets: fds 3 and 4, both shoald's; no other of shoald's sockets.
            let socks = socketInodes(w)
            let mine = Set(socks.values.filter { shoaldSockets.contains($0) })
            #expect(socks[3] != nil && socks[4] != nil && mine == Set([socks[3]!, socks[4]!]), "\(socks)")
            inherited.append(mine)
        }
        #expect(cpusSeen == ["0", "1"])
        #expect(inherited.count == 2 && inherited[0].isDisjoint(with: inherited[1]))
    }

    @Test("a worker SIGKILLed is restarted on its slot and answers from the shared cache; SIGTERM stops all and keeps the segment")
    func restartAndStop() throws {
        let d = try ShoaldProcess(tag: "restart", address: "127.59.3.1", workers: 2)
        let seg = try SharedSegment.attach(name: SegmentName.forInstance(d.segment))
        seg.records.insert(name: try DNSName("kept.example."), type: .a, ttl: 3600, rdata: [[192, 0, 2, 9]],
                           rank: .authoritativeAnswer, now: shmNow())
        let before = d.workerPIDs()
        let victim = try #require(before.first)
        kill(victim, SIGKILL)
        var after: [Int32] = []
        for _ in 0..<100 {
            after = d.workerPIDs()
            if after.count == 2 && !after.contains(victim) { break }
            usleep(50_000)
        }
        #expect(after.count == 2 && !after.contains(victim), "\(before) → \(after)\n\(d.log)")
        #expect(d.log.contains("pid \(victim) ended") && d.log.contains("signal 9"), "\(d.log)")
        // Both slots answer the cached name (several queries land on both sockets).
        for _ in 0..<10 {
            let r = try d.ask("kept.example.", .a)
            #expect(r.rcode == .noError && r.answers.first?.rdata == .a(IPv4Address(192, 0, 2, 9)), "\(r)")
        }
        d.process.terminate()
        d.process.waitUntilExit()
        #expect(d.process.terminationStatus == 0, "\(d.log)")
        #expect(d.workerPIDs().isEmpty)
        for w in after { #expect(kill(w, 0) != 0) }
        let kept = try SharedSegment.attach(name: SegmentName.forInstance(d.segment))
        #expect(kept.records.lookup(name: try DNSName("kept.example."), type: .a, now: shmNow()) != nil)
    }

    @Test("a wedged worker (SIGSTOPped: alive, no heartbeat) is killed and replaced")
    func wedgedWorker() throws {
        let d = try ShoaldProcess(tag: "wedged", address: "127.59.5.1", workers: 1, yaml: "heartbeat-timeout: 2")
        let victim = try #require(d.workerPIDs().first)
        kill(victim, SIGSTOP)
        var replaced = false
        for _ in 0..<150 where !replaced {
            usleep(50_000)
            replaced = d.workerPIDs().contains { $0 != victim }
        }
        #expect(replaced, "\(d.log)")
        #expect(d.log.contains("pid \(victim) sent no heartbeat"), "\(d.log)")
        #expect(d.answers())
    }

    @Test("shoald SIGKILLed: its workers exit too (parent-death signal); a new shoald adopts the segment intact")
    func supervisorKilled() throws {
        var workers: [Int32] = []
        var segment = ""
        do {
            let d = try ShoaldProcess(tag: "orphan", address: "127.59.4.1", workers: 2)
            segment = d.segment
            let seg = try SharedSegment.attach(name: SegmentName.forInstance(segment))
            seg.records.insert(name: try DNSName("kept.example."), type: .a, ttl: 3600, rdata: [[192, 0, 2, 10]],
                               rank: .authoritativeAnswer, now: shmNow())
            workers = d.workerPIDs()
            kill(d.pid, SIGKILL)
            d.process.waitUntilExit()
            var alive = workers
            for _ in 0..<100 where !alive.isEmpty {
                usleep(50_000)
                alive = alive.filter { kill($0, 0) == 0 && !(KernelFiles.read("/proc/\($0)/stat") ?? "").contains(") Z ") }
            }
            #expect(alive.isEmpty, "workers \(alive) outlived shoald")
            // Next shoald on the same segment (the old one's directory goes with `d`).
            let again = try ShoaldProcess(tag: "orphan", address: "127.59.4.1", workers: 1)
            #expect(again.log.contains("segment \(SegmentName.forInstance(segment)): attached"), "\(again.log)")
            let r = try again.ask("kept.example.", .a)
            #expect(r.answers.first?.rdata == .a(IPv4Address(192, 0, 2, 10)), "\(r)")
        }
    }
}
