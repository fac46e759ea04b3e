import DNSCore
import Foundation
import ShmCache
import ShoalLab
import ShoalSystem
import Supervisor
import Synchronization
import Testing

/// A real shoald with real workers on a loopback address of its own; everything it made goes
/// when the test ends.
final class ShoaldProcess: @unchecked Sendable {
    let pid: pid_t
    let directory: String
    let address: String
    let segment: String
    let logPath: String
    /// Exit code once reaped (128 + signal for a signal).
    private(set) var exitCode: Int32?

    /// Starts shoald with `yaml` (listen, segment, root hints and `dnssec`, off by default for the
    /// unsigned black-hole root, are added; `rootHints` replaces that root by a hints file's)
    /// and waits until
    /// every worker answers. `environment` is added to the test's; `descriptors` are handed
    /// over as systemd does (3, 4, … with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID).
    init(tag: String, address: String, workers: Int, yaml: String = "", dnssec: String = "off", extra: [String] = [],
         rootServer: String = "127.61.0.250", rootHints: String? = nil, listen: [String]? = nil, launcher: [String] = [],
         directoryOwner: Account? = nil, environment: [String: String] = [:],
         descriptors: [(fd: Int32, name: String)] = [], directory reuse: String? = nil, waitUntilAnswering: Bool = true) throws {
        directory = reuse ?? NSTemporaryDirectory() + "shoald-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        self.address = address
        segment = "test-shoald-\(tag)-\(getpid())"
        // The root is a black hole (unless `rootHints`): these workers answer from the segment or not at all.
        try (rootHints.flatMap { KernelFiles.read($0) } ?? ".  3600000 NS a.root.dead.\na.root.dead. 3600000 A \(rootServer)\n")
            .write(toFile: directory + "/hints", atomically: true, encoding: .utf8)
        let config = """
            listen: [\((listen ?? ["\(address):53"]).map { "\"\($0)\"" }.joined(separator: ", "))]
            segment: \(segment)
            segment-size: 16
            root-hints: \(directory)/hints
            workers: \(workers)
            restart-backoff-min-ms: 50
            control-socket: \(directory)/control
            do-not-query-localhost: false
            dnssec: \(dnssec)
            \(yaml)
            """
        try config.write(toFile: directory + "/shoal.yaml", atomically: true, encoding: .utf8)
        for f in ["/hints", "/shoal.yaml"] { chmod(directory + f, 0o644) }
        // A shoald started as another user makes its control socket here.
        if let o = directoryOwner { chown(directory, o.uid, o.gid) }
        logPath = directory + "/log"
        if reuse == nil { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let shoald = try #require(BuildProducts.executable("shoald"))
        // Through sh: the log, LISTEN_PID (the pid shoald will have: exec keeps it), a launcher.
        var env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        env["SHOALD_TEST_LOG"] = logPath
        if !descriptors.isEmpty {
            env["LISTEN_FDS"] = "\(descriptors.count)"
            env["LISTEN_FDNAMES"] = descriptors.map(\.name).joined(separator: ":")
        }
        let setPID = descriptors.isEmpty ? "" : "export LISTEN_PID=$$; "
        pid = try Spawn.start("/bin/sh", arguments: ["-c", setPID + "exec \"$@\" >>\"$SHOALD_TEST_LOG\" 2>&1", "sh"]
                                  + launcher + [shoald, "--config", directory + "/shoal.yaml"] + extra,
                              descriptors: descriptors.map(\.fd), environment: env.map { "\($0.key)=\($0.value)" })
        if waitUntilAnswering { try awaitAnswering(workers: workers) }
    }

    /// Waits until `workers` workers run and one answers.
    func awaitAnswering(workers: Int) throws {
        for _ in 0..<200 where workerPIDs().count < workers || !answers() {
            guard isRunning else { break }
            usleep(50_000)
        }
        guard workerPIDs().count == workers, answers() else {
            Issue.record("shoald did not come up; log:\n\(self.log)")
            throw CancellationError()
        }
    }

    /// Not exited (reaps it when it has).
    var isRunning: Bool {
        guard exitCode == nil else { return false }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return true }
        exitCode = ExitStatus(waitStatus: status).code
        return false
    }

    func terminate() { if isRunning { kill(pid, SIGTERM) } }

    /// Waits for the exit; its code.
    @discardableResult
    func waitForExit() -> Int32 {
        if let exitCode { return exitCode }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        exitCode = ExitStatus(waitStatus: status).code
        return exitCode!
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Live children of shoald (its workers).
    func workerPIDs() -> [Int32] { children(running: "shoal-worker") }

    /// Live children of shoald whose command line has `executable` (not zombies).
    func children(running executable: String) -> [Int32] {
        let text = KernelFiles.read("/proc/\(pid)/task/\(pid)/children") ?? ""
        return text.split(separator: " ").compactMap { Int32($0) }.filter { p in
            !(KernelFiles.read("/proc/\(p)/stat") ?? "Z").contains(") Z ")
                && (KernelFiles.read("/proc/\(p)/cmdline") ?? "").contains(executable)
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

    var controlSocket: String { directory + "/control" }

    /// Puts `kept.example. A 192.0.2.<address>` in shoald's segment (as a worker would have
    /// after resolving it): the workers answer it from the cache, their black-hole root unasked.
    @discardableResult
    func cacheKept(address: UInt8) throws -> SharedSegment {
        let seg = try SharedSegment.attach(name: SegmentName.forInstance(segment))
        seg.records.insert(name: try DNSName("kept.example."), type: .a, ttl: 3600, rdata: [[192, 0, 2, address]],
                           rank: .authoritativeAnswer, now: shmNow())
        return seg
    }

    /// A request on the control socket: the body of an `ok` reply, or the error.
    func control(_ r: ControlRequest) throws(ControlError) -> String {
        try ControlClient.send(r, to: controlSocket, timeoutSeconds: 30)
    }

    func stop() {
        terminate()
        for _ in 0..<200 where isRunning { usleep(50_000) }
        if isRunning { kill(pid, SIGKILL) }
        waitForExit()
    }

    deinit {
        stop()
        try? SharedSegment.unlink(name: SegmentName.forInstance(segment))
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// An IPv4 socket address, and a call of `body` with it as a `sockaddr` (for connect, bind, sendto).
func ipv4(_ address: String, _ port: UInt16 = 53) -> sockaddr_in {
    var sin = sockaddr_in()
    sin.sin_family = sa_family_t(AF_INET)
    sin.sin_port = port.bigEndian
    inet_pton(AF_INET, address, &sin.sin_addr)
    return sin
}

func withSockaddr<R>(_ sin: sockaddr_in, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    var s = sin
    return withUnsafePointer(to: &s) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

func status(_ pid: Int32, _ tid: Int32? = nil) throws -> PrivilegeStatus {
    try #require(PrivilegeStatus.read(pid: pid, tid: tid))
}

/// Runs `exe` with `args` to its end: its status and everything it printed (stdout and stderr).
func runToEnd(_ exe: String, _ args: [String]) throws -> (status: Int32, output: String) { try runProgram(exe, args) }

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
            return try runToEnd(exe, ["--config", dir + "/s.yaml", "--check-config"])
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
        var inherited: [[String]] = []
        for w in workers {
            let ts = threads(w)
            #expect(ts.count >= 2)   // the I/O reactor and NIO's loop at least
            for t in ts {
                let s = try status(w, t)
                #expect(s.uids.allSatisfy { $0 == nobody.uid } && s.gids.allSatisfy { $0 == nobody.gid }, "\(s)")
                #expect(s.effective == 0 && s.permitted == 0 && s.ambient == 0 && s.inheritable == 0, "\(s)")
                #expect(s.noNewPrivs, "\(s)")
            }
            // Its memory policy: its node preferred (numa_maps shows the task's policy for
            // mappings without their own), where the kernel has NUMA.
            if access("/sys/devices/system/node/node0", F_OK) == 0 {
                let maps = KernelFiles.read("/proc/\(w)/numa_maps") ?? ""
                #expect(maps.contains("prefer:0") || maps.contains("prefer (many):0"), "\(maps.prefix(300))")
            }
            // Every thread on the worker's one CPU.
            let allowed = Set(ts.compactMap { ProcessPlacement.allowedCPUs(pid: w, tid: $0) })
            #expect(allowed.count == 1, "\(allowed)")
            cpusSeen.formUnion(allowed)
            // Its sockets: fds 3 (its slot's UDP socket) and 4 (the shared TCP listener), both
            // shoald's; no other of shoald's sockets.
            let socks = socketInodes(w)
            let mine = Set(socks.values.filter { shoaldSockets.contains($0) })
            #expect(socks[3] != nil && socks[4] != nil && mine == Set([socks[3]!, socks[4]!]), "\(socks)")
            inherited.append([socks[3] ?? "", socks[4] ?? ""])
        }
        #expect(cpusSeen == ["0", "1"])
        // A UDP socket per slot; one TCP listener for both.
        #expect(inherited.count == 2 && inherited[0][0] != inherited[1][0] && inherited[0][1] == inherited[1][1])
    }

    @Test("started unprivileged with only an ambient CAP_NET_BIND_SERVICE (as systemd can): binds port 53 on IPv4 and IPv6, keeps only that capability, workers none")
    func ambientCapability() throws {
        let nobody = try Account.lookup(user: "nobody")
        let d = try ShoaldProcess(tag: "ambient", address: "127.59.13.1", workers: 1,
                                  listen: ["127.59.13.1:53", "[::1]:53"],
                                  launcher: ["/usr/bin/setpriv", "--reuid=\(nobody.uid)", "--regid=\(nobody.gid)", "--clear-groups",
                                             "--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service"],
                                  directoryOwner: nobody)
        for t in threads(d.pid) {
            let s = try status(d.pid, t)
            #expect(s.uids.allSatisfy { $0 == nobody.uid }, "\(s)")
            #expect(s.effective == 1 << 10 && s.permitted == 1 << 10 && s.ambient == 0 && s.inheritable == 0, "\(s)")
            #expect(s.noNewPrivs, "\(s)")
        }
        let w = try #require(d.workerPIDs().first)
        for t in threads(w) {
            let s = try status(w, t)
            #expect(s.effective == 0 && s.permitted == 0 && s.ambient == 0, "\(s)")
        }
        // Both addresses answer (the worker got a socket of each family).
        #expect(d.answers())
        let q = try Message.query(id: 7, name: try DNSName("version.bind."), type: .txt, qclass: .ch,
                                  recursionDesired: false, edns: nil).serialize()
        let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = UInt16(53).bigEndian
        inet_pton(AF_INET6, "::1", &sin6.sin6_addr)
        _ = withUnsafePointer(to: &sin6) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, q, q.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        var buf = [UInt8](repeating: 0, count: 512)
        let n = recv(fd, &buf, buf.count, 0)
        try #require(n >= 12, "no answer on [::1]:53")
        #expect(try Message(wire: Array(buf[0..<n])).header.id == 7)
    }

    @Test("a worker SIGKILLed is restarted on its slot and answers from the shared cache; SIGTERM stops all and keeps the segment")
    func restartAndStop() throws {
        let d = try ShoaldProcess(tag: "restart", address: "127.59.3.1", workers: 2)
        try d.cacheKept(address: 9)
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
        d.terminate()
        #expect(d.waitForExit() == 0, "\(d.log)")
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

    @Test("the segment recreated under a running shoald: its workers exit 75 and restart on the new one, and shoald follows")
    func segmentRecreated() throws {
        let d = try ShoaldProcess(tag: "recreated", address: "127.59.14.1", workers: 2)
        let before = Set(d.workerPIDs())
        let fresh = try SharedSegment.recreate(name: SegmentName.forInstance(d.segment), geometry: nil, force: true)
        #expect(fresh.generation == 2)
        var after = before
        for _ in 0..<200 where !(after.count == 2 && after.isDisjoint(with: before)) {
            usleep(50_000)
            after = Set(d.workerPIDs())
        }
        #expect(after.count == 2 && after.isDisjoint(with: before), "\(d.log)")
        #expect(d.log.contains("exit status 75"), "\(d.log)")
        var generation = 0
        for _ in 0..<60 where generation != 2 {
            usleep(50_000)
            let json = try d.control(.status(json: true))
            generation = (try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["generation"] as? Int ?? 0
        }
        #expect(generation == 2, "\(d.log)")
        // The workers write their heartbeats into the new segment, which shoald now reads: no
        // heartbeat kill follows.
        #expect(!d.log.contains("sent no heartbeat"))
        #expect(d.answers())
    }

    @Test("shoald SIGKILLed: its workers exit too (parent-death signal); a new shoald adopts the segment intact")
    func supervisorKilled() throws {
        var workers: [Int32] = []
        var segment = ""
        do {
            let d = try ShoaldProcess(tag: "orphan", address: "127.59.4.1", workers: 2)
            segment = d.segment
            try d.cacheKept(address: 10)
            workers = d.workerPIDs()
            kill(d.pid, SIGKILL)
            d.waitForExit()
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

/// Queries at a steady rate from one UDP socket, every reply matched by ID: what was sent,
/// what came back, and which went unanswered.
final class UDPLoad: @unchecked Sendable {
    final class Counters: Sendable {
        let sent = Atomic<Int>(0)
        let answered = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
    }
    let counters = Counters()
    private let thread: Thread

    /// `perTick` queries every millisecond-ish tick of `tickMicros`, for `name`, to `address`.
    init(address: String, name: String, perTick: Int = 4, tickMicros: UInt32 = 2000) throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        var room: Int32 = 8 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &room, 4)
        let connected = withSockaddr(ipv4(address)) { connect(fd, $0, $1) }
        try #require(connected == 0)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let queries = try (0..<65536).map { id in
            try Message.query(id: UInt16(id), name: try DNSName(name), type: .a, recursionDesired: true, edns: nil).serialize()
        }
        let c = counters
        thread = Thread {
            var seen = [Bool](repeating: false, count: 65536)
            var next = 0
            var buf = [UInt8](repeating: 0, count: 4096)
            var drainUntil: Double? = nil
            while true {
                if drainUntil == nil {
                    if c.stop.load(ordering: .acquiring) { drainUntil = Clock.monotonicSeconds() + 3 }
                    for _ in 0..<perTick where next < 65536 {
                        _ = queries[next].withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, 0) }
                        next += 1
                        c.sent.store(next, ordering: .releasing)
                    }
                } else if Clock.monotonicSeconds() > drainUntil! || c.answered.load(ordering: .relaxed) == next {
                    break
                }
                while true {
                    let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
                    guard n >= 12 else { break }
                    let id = Int(buf[0]) << 8 | Int(buf[1])
                    if !seen[id] { seen[id] = true; c.answered.add(1, ordering: .relaxed) }
                }
                usleep(tickMicros)
            }
            close(fd)
            c.stop.store(false, ordering: .releasing)   // finished
        }
        thread.start()
    }

    /// Stops sending, waits for the last answers (up to 3 s), returns (sent, answered).
    func finish() -> (sent: Int, answered: Int) {
        counters.stop.store(true, ordering: .releasing)
        usleep(10_000)
        while counters.stop.load(ordering: .acquiring) { usleep(10_000) }
        return (counters.sent.load(ordering: .acquiring), counters.answered.load(ordering: .acquiring))
    }
}

@Suite("shoald's control socket and hot replace", .serialized)
struct ShoaldControlTests {
    @Test("ping, version, status (text and JSON); malformed, oversized and unknown requests get an error line and change nothing")
    func requests() throws {
        let d = try ShoaldProcess(tag: "ctl", address: "127.59.6.1", workers: 2)
        #expect(try d.control(.ping) == "pong")
        #expect(try d.control(.version).hasPrefix("shoald "))
        let text = try d.control(.status(json: false))
        #expect(text.contains("slot  pid") && text.contains(SegmentName.forInstance(d.segment)), "\(text)")
        let json = try d.control(.status(json: true))
        let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let workers = try #require(parsed?["workers"] as? [[String: Any]])
        #expect(workers.count == 2 && Set(workers.compactMap { $0["pid"] as? Int }).count == 2, "\(json)")
        // Raw requests: each gets one error line.
        func raw(_ bytes: [UInt8]) throws -> String {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { p in
                for (i, b) in d.controlSocket.utf8.enumerated() { p[i] = b }
            }
            let ok = withUnsafePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            try #require(ok == 0)
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
            var buf = [UInt8](repeating: 0, count: 4096)
            var out: [UInt8] = []
            while true {
                let n = recv(fd, &buf, buf.count, 0)
                if n <= 0 { break }
                out += buf[0..<n]
            }
            return String(decoding: out, as: UTF8.self)
        }
        #expect(try raw(Array("frobnicate\n".utf8)).hasPrefix("error: unknown request 'frobnicate'"))
        #expect(try raw(Array("restart-worker x\n".utf8)).hasPrefix("error: restart-worker takes a slot number"))
        #expect(try raw([0xFF, 0xFE, 0x00, 0x0A]).hasPrefix("error: request is not printable ASCII"))
        #expect(try raw([UInt8](repeating: UInt8(ascii: "a"), count: 5000)).hasPrefix("error: request longer than"))
        #expect(try raw([]).hasPrefix("error: no request within"))   // says nothing: timed out
        #expect(throws: ControlError.self) { try d.control(.restartWorker(9)) }
        // Still serving, same workers.
        #expect(try d.control(.ping) == "pong")
        #expect(d.workerPIDs().count == 2 && d.answers())
    }

    @Test("a client of another uid is refused by its peer credentials")
    func otherUID() throws {
        let d = try ShoaldProcess(tag: "uid", address: "127.59.7.1", workers: 1)
        chmod(d.controlSocket, 0o666)   // past the file mode: the peer-credential check is what is left
        let exe = try #require(BuildProducts.executable("shoalctl"))
        let (status, out) = try runToEnd("/usr/bin/setpriv",
                                         ["--reuid=1", "--regid=1", "--clear-groups", exe, "ping", "--control-socket", d.controlSocket])
        #expect(status != 0)
        #expect(out.contains("permission denied: uid 1"), "\(out)")
        #expect(try d.control(.ping) == "pong")
    }

    @Test("restart-worker and restart-workers under steady load: every query answered, new pids on every slot")
    func hotReplaceLosesNothing() throws {
        let d = try ShoaldProcess(tag: "hot", address: "127.59.8.1", workers: 2)
        try d.cacheKept(address: 11)
        let before = Set(d.workerPIDs())
        let load = try UDPLoad(address: d.address, name: "kept.example.")
        usleep(300_000)
        let one = try d.control(.restartWorker(0))
        #expect(one.contains("replaced by pid"), "\(one)")
        usleep(300_000)
        let all = try d.control(.restartWorkers)
        #expect(all.contains("2 worker(s) now, replaced one by one"), "\(all)")
        usleep(300_000)
        let (sent, answered) = load.finish()
        print("hot replace under load: sent \(sent), answered \(answered)")
        #expect(sent > 500)
        #expect(answered == sent, "lost \(sent - answered) of \(sent)\n\(d.log)")
        let after = Set(d.workerPIDs())
        #expect(after.count == 2 && after.isDisjoint(with: before), "\(before) → \(after)")
        #expect(d.log.contains("draining") && d.log.contains("replaced pid"), "\(d.log)")
    }

    @Test("a worker SIGKILLed under load loses at most what it had read; its queue waits for the replacement")
    func killUnderLoad() throws {
        let d = try ShoaldProcess(tag: "killload", address: "127.59.9.1", workers: 1)
        try d.cacheKept(address: 12)
        let load = try UDPLoad(address: d.address, name: "kept.example.")
        usleep(300_000)
        let victim = try #require(d.workerPIDs().first)
        kill(victim, SIGKILL)
        usleep(1_500_000)
        let (sent, answered) = load.finish()
        print("kill under load: sent \(sent), answered \(answered), lost \(sent - answered)")
        #expect(sent > 500)
        // One worker: every query sent while no worker ran waited in the slot's socket.
        #expect(sent - answered <= UDPFrontEndBatch.maxInFlight, "lost \(sent - answered) of \(sent)")
        #expect(d.workerPIDs().count == 1 && !d.workerPIDs().contains(victim))
    }

    @Test("reload: a bad file is refused and nothing changes; a good one replaces the workers; SIGHUP does the same; the worker count changes live")
    func reload() throws {
        let d = try ShoaldProcess(tag: "reload", address: "127.59.10.1", workers: 2)
        let original = try String(contentsOfFile: d.directory + "/shoal.yaml", encoding: .utf8)
        let before = Set(d.workerPIDs())
        try (original + "\nmax-resolutions: zero\n").write(toFile: d.directory + "/shoal.yaml", atomically: true, encoding: .utf8)
        #expect { try d.control(.reload) } throws: { e in
            "\(e)".contains("shoal.yaml") && "\(e)".contains("'max-resolutions'") && "\(e)".contains("running configuration is kept")
        }
        #expect(Set(d.workerPIDs()) == before)
        try (original.replacingOccurrences(of: "127.59.10.1", with: "127.59.10.2"))
            .write(toFile: d.directory + "/shoal.yaml", atomically: true, encoding: .utf8)
        #expect { try d.control(.reload) } throws: { e in "\(e)".contains("listen changed") }
        try (original + "\nmax-resolutions: 500\n").write(toFile: d.directory + "/shoal.yaml", atomically: true, encoding: .utf8)
        chmod(d.directory + "/shoal.yaml", 0o644)
        let r = try d.control(.reload)
        #expect(r.contains("reload: 2 worker(s) now, replaced one by one"), "\(r)")
        var middle = Set(d.workerPIDs())
        for _ in 0..<200 where !middle.isDisjoint(with: before) {   // the old ones drain and go
            usleep(20_000)
            middle = Set(d.workerPIDs())
        }
        #expect(middle.isDisjoint(with: before) && middle.count == 2, "\(before) → \(middle)")
        kill(d.pid, SIGHUP)
        var after = middle
        for _ in 0..<200 where !after.isDisjoint(with: middle) || after.count != 2 {
            usleep(50_000)
            after = Set(d.workerPIDs())
        }
        #expect(after.isDisjoint(with: middle) && after.count == 2, "\(d.log)")
        #expect(d.answers())
        // The worker count changes live: up to 3 (new slots, new sockets), then down to 1.
        func waitFor(_ n: Int) -> Bool {
            for _ in 0..<200 {
                if d.workerPIDs().count == n { return true }
                usleep(20_000)
            }
            return false
        }
        for (n, cpus) in [(3, "0-1"), (1, "0")] {
            try (original.replacingOccurrences(of: "workers: 2", with: "workers: \(n)") + "\ncpus: \"\(cpus)\"\n")
                .write(toFile: d.directory + "/shoal.yaml", atomically: true, encoding: .utf8)
            chmod(d.directory + "/shoal.yaml", 0o644)
            let out = try d.control(.reload)
            #expect(out.contains("\(n) worker(s) now"), "\(out)")
            #expect(waitFor(n), "\(d.workerPIDs())\n\(d.log)")
            let status = try d.control(.status(json: true))
            let parsed = try JSONSerialization.jsonObject(with: Data(status.utf8)) as? [String: Any]
            #expect((parsed?["workers"] as? [[String: Any]])?.count == n, "\(status)")
            // A new slot's socket queues queries until its worker listens: answered, if late.
            var answered = false
            for _ in 0..<20 where !answered { answered = d.answers() }
            #expect(answered, "\(d.log)")
        }
    }
}

/// What one worker can have read and not yet answered when it is killed: one wake-up's reads.
enum UDPFrontEndBatch {
    static let maxInFlight = 128
}

/// `GET path` over HTTP/1.1 on a fresh TCP connection: (status line, body).
func httpGet(_ address: String, _ port: UInt16, _ path: String) throws -> (String, String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var tv = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    let ok = withSockaddr(ipv4(address, port)) { connect(fd, $0, $1) }
    try #require(ok == 0, "connect to \(address):\(port)")
    let req = Array("GET \(path) HTTP/1.1\r\nHost: \(address)\r\n\r\n".utf8)
    _ = req.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, 0) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { break }
        out += buf[0..<n]
    }
    let text = String(decoding: out, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { return (text, "") }
    return (String(text[..<split.lowerBound].prefix { $0 != "\r" }), String(text[split.upperBound...]))
}

/// Parses the Prometheus text format: `name{labels}` → value, every sample line checked.
func parsePrometheus(_ text: String) throws -> [String: Double] {
    var out: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        let parts = line.split(separator: " ")
        try #require(parts.count == 2, "bad sample line: \(line)")
        let value = try #require(Double(parts[1]), "bad value: \(line)")
        let key = String(parts[0])
        try #require(key.hasPrefix("shoal_"), "\(key)")
        if let brace = key.firstIndex(of: "{") { try #require(key.hasSuffix("}"), "\(key)"); _ = brace }
        out[key] = value
    }
    return out
}

@Suite("shoald metrics", .serialized)
struct ShoaldMetricsTests {
    @Test("GET /metrics: Prometheus text from the segment (queries, answers by rcode, hits, entries, latency histogram, restarts); other paths 404")
    func scrape() throws {
        let d = try ShoaldProcess(tag: "metrics", address: "127.59.11.1", workers: 2, yaml: "metrics: 127.59.11.1:9153")
        try d.cacheKept(address: 13)
        for _ in 0..<20 { _ = try d.ask("kept.example.", .a) }
        for _ in 0..<5 { _ = try d.ask("version.bind.", .txt, qclass: .ch) }
        let victim = try #require(d.workerPIDs().first)
        kill(victim, SIGKILL)
        for _ in 0..<100 where d.workerPIDs().count < 2 || d.workerPIDs().contains(victim) { usleep(50_000) }
        usleep(1_200_000)   // shoald's restart counts reach the endpoint within a second
        let (status, body) = try httpGet("127.59.11.1", 9153, "/metrics")
        #expect(status.hasPrefix("HTTP/1.1 200"), "\(status)")
        let m = try parsePrometheus(body)
        #expect((m["shoal_queries_total"] ?? 0) >= 25, "\(body)")
        #expect((m["shoal_answers_total{rcode=\"NOERROR\"}"] ?? 0) >= 20)
        #expect((m["shoal_answers_total{rcode=\"REFUSED\"}"] ?? 0) >= 5)
        let hits = (m["shoal_cache_hits_total{cache=\"packet\"}"] ?? 0) + (m["shoal_cache_hits_total{cache=\"record\"}"] ?? 0)
        #expect(hits >= 19)
        #expect((m["shoal_cache_entries{cache=\"record\"}"] ?? 0) >= 1)
        #expect(m["shoal_workers"] == 2)
        let restarts = m.filter { $0.key.hasPrefix("shoal_worker_restarts_total{") && $0.key.contains("reason=\"signal\"") }
        #expect(restarts.values.reduce(0, +) == 1, "\(body)")
        // The histogram counts every answer once, cumulatively.
        let answers = m.filter { $0.key.hasPrefix("shoal_answers_total{") }.values.reduce(0, +)
        #expect(m["shoal_answer_latency_seconds_count"] == answers)
        #expect(m["shoal_answer_latency_seconds_bucket{le=\"+Inf\"}"] == answers)
        #expect((m["shoal_answer_latency_seconds_bucket{le=\"0.001\"}"] ?? 0) <= (m["shoal_answer_latency_seconds_bucket{le=\"0.005\"}"] ?? -1))
        // Validation is off here: the family is there, at zero (the counts: DNSSECLabTests).
        for r in ["secure", "insecure", "bogus"] { #expect(m["shoal_dnssec_results_total{result=\"\(r)\"}"] == 0, "\(body)") }
        let (notFound, _) = try httpGet("127.59.11.1", 9153, "/other")
        #expect(notFound.hasPrefix("HTTP/1.1 404"), "\(notFound)")
    }
}

/// An authoritative server for every name: answers each A question with AA and one address,
/// after `delayMillis` (a slow upstream, so that queries are in flight when a worker dies).
final class SlowAuthority: @unchecked Sendable {
    final class Flags: Sendable {
        let done = Atomic<Bool>(false)
    }
    let flags = Flags()

    init(address: String, delayMillis: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        let bound = withSockaddr(ipv4(address)) { bind(fd, $0, $1) }
        try #require(bound == 0)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let flags = self.flags
        Thread {
            var due: [(at: Double, bytes: [UInt8], to: sockaddr_in)] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while !flags.done.load(ordering: .relaxed) {
                var from = sockaddr_in()
                var len = socklen_t(MemoryLayout<sockaddr_in>.size)
                let n = withUnsafeMutablePointer(to: &from) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buf, buf.count, 0, $0, &len) }
                }
                if n > 0, let q = try? Message(wire: Array(buf[0..<n])), let question = q.questions.first {
                    var r = Message(header: q.header, questions: q.questions)
                    r.header.isResponse = true
                    r.header.authoritative = true
                    r.header.recursionAvailable = false
                    if question.type == .a {
                        let last = UInt8(truncatingIfNeeded: question.name.wire.count)
                        r.answers = [ResourceRecord(name: question.name, type: .a, rrclass: .in, ttl: 300,
                                                    rdata: .a(IPv4Address(192, 0, 2, last)))]
                    }
                    if let bytes = try? r.serialize() {
                        due.append((Clock.monotonicSeconds() + Double(delayMillis) / 1000, bytes, from))
                    }
                }
                let now = Clock.monotonicSeconds()
                for d in due where d.at <= now {
                    _ = withSockaddr(d.to) { sendto(fd, d.bytes, d.bytes.count, 0, $0, $1) }
                }
                due.removeAll { $0.at <= now }
                if n <= 0 { usleep(2000) }
            }
            close(fd)
        }.start()
    }

    deinit { flags.done.store(true, ordering: .relaxed) }
}

@Suite("adoption of a dead worker's queries", .serialized)
struct AdoptionTests {
    @Test("a worker SIGKILLed with queries in flight: its replacement adopts them and every client gets its answer")
    func orphansAnswered() throws {
        let authority = try SlowAuthority(address: "127.59.12.250", delayMillis: 800)
        let d = try ShoaldProcess(tag: "adopt", address: "127.59.12.1", workers: 1,
                                  yaml: "qname-minimisation: false\nupstream-timeout-ms: 3000",
                                  rootServer: "127.59.12.250")
        // 20 different names, each a miss that waits 0.8 s for the slow server.
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        let server = ipv4(d.address)
        var tv = timeval(tv_sec: 6, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let names = (0..<20).map { "name\($0).adopt.test." }
        for (i, n) in names.enumerated() {
            let q = try Message.query(id: UInt16(i), name: try DNSName(n), type: .a, recursionDesired: true, edns: nil).serialize()
            _ = withSockaddr(server) { sendto(fd, q, q.count, 0, $0, $1) }
        }
        usleep(300_000)
        let seg = try SharedSegment.attach(name: SegmentName.forInstance(d.segment))
        #expect(seg.pending.inUse(slot: 0) == 20)   // recorded while being resolved
        let victim = try #require(d.workerPIDs().first)
        kill(victim, SIGKILL)
        var got: [UInt16: Message] = [:]
        var buf = [UInt8](repeating: 0, count: 4096)
        while got.count < names.count {
            let n = recv(fd, &buf, buf.count, 0)
            guard n > 0 else { break }
            if let m = try? Message(wire: Array(buf[0..<n])) { got[m.header.id] = m }
        }
        #expect(got.count == names.count, "answered \(got.count) of \(names.count)\n\(d.log)")
        for (id, m) in got {
            #expect(m.rcode == .noError && m.answers.count == 1, "\(id): \(m)")
        }
        #expect(d.log.contains("adopted 20 query(ies)"), "\(d.log)")
        // Each entry is freed right after its answer went out.
        for _ in 0..<100 where seg.pending.inUse(slot: 0) > 0 { usleep(10_000) }
        #expect(seg.pending.inUse(slot: 0) == 0)
        _ = authority
    }

    @Test("with a bridge: section shoald runs shoal-bridge (the workers of a new segment wait for its warm-up, a bounded time), restarts it when it dies, and stops it with the workers; the workers serve throughout")
    func bridgeChild() throws {
        // No NATS server listens on port 9: the bridge keeps retrying, which is what it must do.
        let d = try ShoaldProcess(tag: "bridge", address: "127.59.24.1", workers: 1,
                                  yaml: "metrics: 127.59.24.1:9153\nbridge-warm-up-wait-ms: 800\nbridge:\n  servers: [\"nats://127.0.0.1:9\"]\n  cluster: test\n  node-id: t1\n")
        // A new segment: the workers waited for the bridge's warm-up, which (no server) never
        // got past "starting", until the end of the wait.
        #expect(d.log.contains("the workers wait up to 800 ms for the bridge's warm-up")
                && d.log.contains("warm-up starting at the end of the wait; starting the workers"), "\(d.log)")
        try d.cacheKept(address: 24)
        for _ in 0..<100 where d.children(running: "shoal-bridge").isEmpty { usleep(50_000) }
        let first = try #require(d.children(running: "shoal-bridge").first, "no bridge:\n\(d.log)")
        // Its counters, as it writes them once a second: in the status line and in /metrics.
        var status = ""
        for _ in 0..<60 {
            status = try d.control(.status(json: false))
            if status.contains("published ") { break }
            usleep(100_000)
        }
        #expect(status.contains("bridge: pid \(first)") && status.contains("published 0, applied 0, rejected 0, warm-up"), "\(status)")
        let (_, page) = try httpGet("127.59.24.1", 9153, "/metrics")
        let m = try parsePrometheus(page)
        #expect(m["shoal_mesh_applied_total"] == 0 && m["shoal_mesh_connect_failures_total"] != nil, "\(page.suffix(2000))")
        kill(first, SIGKILL)
        var second: Int32? = nil
        for _ in 0..<100 {
            second = d.children(running: "shoal-bridge").first { $0 != first }
            if second != nil { break }
            usleep(50_000)
        }
        #expect(second != nil, "not restarted:\n\(d.log)")
        #expect(d.log.contains("bridge: pid \(first) ended"), "\(d.log)")
        #expect(try d.ask("kept.example.", .a).answers.first?.rdata == .a(IPv4Address(192, 0, 2, 24)))
        d.terminate()
        #expect(d.waitForExit() == 0, "\(d.log)")
        if let second { #expect(kill(second, 0) != 0, "the bridge outlived shoald") }
    }
}

/// `shoalctl nta add|list|remove` end to end: shoalctl → control socket → shoald → the
/// segment's table (and a wipe of the name's subtree) → every worker, resolving the lab's
/// signed hierarchy and validating with its trust anchor.
@Suite("run-time negative trust anchors through shoalctl", .serialized)
struct ShoaldNegativeTrustAnchorTests {
    @Test("an anchor added over a bogus zone makes its names answer (insecure); removed, they are bogus again")
    func addListRemove() async throws {
        try await withSharedLab(.testing) { lab in
            let d = try ShoaldProcess(tag: "nta", address: "127.59.30.1", workers: 2,
                                      yaml: "trust-anchor: \(lab.paths.trustAnchor)", dnssec: "validate",
                                      rootHints: lab.paths.rootHints)
            defer { d.stop() }
            let shoalctl = try #require(BuildProducts.executable("shoalctl"))
            func ctl(_ args: String...) throws -> (status: Int32, output: String) {
                try runToEnd(shoalctl, args + ["--control-socket", d.controlSocket])
            }
            let bogus = try #require(lab.hierarchy.expectedAnswers.first {
                $0.kind == .answer && $0.qtype == "A" && $0.features.contains("bogus-expired") && !$0.features.contains("lame-ns")
            })
            let secure = try #require(lab.hierarchy.expectedAnswers.first {
                $0.kind == .answer && $0.qtype == "A" && $0.dnssec == .secure && !$0.features.contains("lame-ns")
            })
            let expected = Set(try bogus.answer.map { try ResourceRecord(presentation: $0).rdata })
            // Many queries, each from a new source port: SO_REUSEPORT spreads them over both workers.
            func answers(_ name: String, _ n: Int = 8) throws -> [Message] {
                try (0..<n).map { _ in try d.ask(name, .a, timeout: 10_000) }
            }
            let first = try d.ask(secure.qname, .a, timeout: 10_000)
            #expect(first.rcode == .noError, "\(first.presentation)\n\(d.log)")
            #expect(try answers(secure.qname).allSatisfy { $0.rcode == .noError })
            #expect(try answers(bogus.qname).allSatisfy { $0.rcode == .servFail })

            let add = try ctl("nta", "add", bogus.zone.uppercased())
            #expect(add.status == 0 && add.output.contains("added \(bogus.zone.lowercased())"), "\(add.output)")
            let again = try ctl("nta", "add", bogus.zone)
            #expect(again.status == 0 && again.output.contains("already"), "\(again.output)")
            let list = try ctl("nta", "list")
            #expect(list.status == 0 && list.output.hasPrefix(bogus.zone.lowercased() + " added 20"), "\(list.output)")
            for r in try answers(bogus.qname) {
                #expect(r.rcode == .noError && !r.header.authenticData, "\(r.presentation)")
                #expect(Set(r.answers.filter { $0.type == .a }.map(\.rdata)) == expected, "\(r.presentation)")
            }
            // The segment's table holds it, lowercased, for every worker.
            let seg = try SharedSegment.attach(name: SegmentName.forInstance(d.segment))
            #expect(seg.negativeTrustAnchors.read().entries.map(\.name.presentation) == [bogus.zone.lowercased()])

            let remove = try ctl("nta", "remove", bogus.zone)
            #expect(remove.status == 0 && remove.output.contains("removed \(bogus.zone.lowercased())"), "\(remove.output)")
            #expect(try ctl("nta", "list").output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
            #expect(try answers(bogus.qname).allSatisfy { $0.rcode == .servFail })
            let missing = try ctl("nta", "remove", bogus.zone)
            #expect(missing.status != 0 && missing.output.contains("is not a negative trust anchor"), "\(missing.output)")
            let bad = try ctl("nta", "add", "a..b")
            #expect(bad.status != 0 && bad.output.contains("is not a domain name"), "\(bad.output)")
            #expect(try ctl("nta", "add").status != 0)
        }
    }

    @Test("nta requests parse and print back")
    func parsing() throws {
        for line in ["nta add example.com.", "nta remove example.com.", "nta list"] {
            #expect(try ControlRequest(line: line).line == line)
        }
        #expect(try ControlRequest(line: "nta add x.test") == .ntaAdd("x.test"))
        for bad in ["nta", "nta add", "nta list x", "nta drop x", "nta add a b"] {
            #expect(throws: ControlError.self, "\(bad)") { try ControlRequest(line: bad) }
        }
    }
}
