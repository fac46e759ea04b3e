import Foundation
import ShoalSystem
import Supervisor
import Testing

/// shoald.service, shoald.socket and shoal-bridge.service under the real systemd 252, booted as
/// PID 1 of private namespaces (``SystemdMachine``), installed with `scripts/install`.
/// `swift test --filter Systemd` runs these and the protocol tests.
@Suite("Systemd service: the units under a real systemd", .serialized)
struct SystemdServiceTests {
    /// Hex capability masks of a process (or thread), from /proc inside the machine.
    static func field(_ m: SystemdMachine, _ pid: String, _ name: String) -> String {
        m.read("/proc/\(pid)/status").split(separator: "\n").first { $0.hasPrefix(name + ":") }
            .map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) } ?? "?"
    }

    @Test("installed as documented: the units verify; shoald starts as user shoal with CAP_NET_BIND_SERVICE only, under its sandbox, answers, reloads, and stop ends every worker and the bridge and keeps the cache")
    func startReloadStop() throws {
        let m = try SystemdMachine()
        // A bridge whose NATS server is not there: it runs (and retries) under shoald.
        try m.installShoal(configuration: "bridge:\n  servers: [\"nats://127.0.0.1:9\"]\n  cluster: test\n")
        let verify = try m.run("systemd-analyze", "verify", "/etc/systemd/system/shoald.service",
                               "/etc/systemd/system/shoald.socket", "/etc/systemd/system/shoal-bridge.service")
        #expect(verify.status == 0, "\(verify.output)")
        #expect(m.read("/etc/passwd").contains("shoal:x:"))

        let start = try m.run("systemctl", "start", "shoald")
        #expect(start.status == 0, "\(start.output)\n\(m.shoaldLog)")
        #expect(m.property("shoald", "ActiveState") == "active")
        #expect(m.property("shoald", "StatusText").hasPrefix("2/2 workers up"), "\(m.property("shoald", "StatusText"))")
        let main = m.property("shoald", "MainPID")
        let uid = try #require(try m.run("id", "-u", "shoal").output.split(separator: "\n").first)
        #expect(Self.field(m, main, "Uid").split(separator: "\t").allSatisfy { $0 == uid }, "\(Self.field(m, main, "Uid"))")
        #expect(Self.field(m, main, "CapEff") == "0000000000000400")   // CAP_NET_BIND_SERVICE
        #expect(Self.field(m, main, "CapBnd") == "0000000000000400")
        #expect(Self.field(m, main, "CapAmb") == "0000000000000000")
        #expect(Self.field(m, main, "NoNewPrivs") == "1")
        #expect(Self.field(m, main, "Seccomp") == "2")                 // SystemCallFilter is on
        let workers = try m.run("pgrep", "-u", "shoal", "-f", "shoal-worker").output.split(separator: "\n").map(String.init)
        #expect(workers.count == 2, "\(workers)")
        let bridge = try m.run("pgrep", "-u", "shoal", "-f", "shoal-bridge").output.split(separator: "\n").map(String.init)
        #expect(bridge.count == 1, "\(bridge)\n\(m.shoaldLog)")
        for b in bridge { #expect(Self.field(m, b, "CapEff") == "0000000000000000", "bridge \(b)") }
        // It keeps running (retrying its server) under the sandbox: shoald has not had to restart it.
        sleep(1)
        let status = try m.run("shoalctl", "status").output
        #expect(status.contains("bridge: pid \(bridge.first ?? "?"), ") && status.contains(", 0 restart(s)"), "\(status)\n\(m.shoaldLog)")
        for w in workers { #expect(Self.field(m, w, "CapEff") == "0000000000000000", "worker \(w)") }
        // ProtectSystem=strict: / is read-only to it, /dev/shm (the segment) is not.
        #expect(m.read("/proc/\(main)/mountinfo").contains(" / / ro,") || m.read("/proc/\(main)/mountinfo").contains(" / ro,"),
                "root not read-only")
        #expect(try m.dig("kept-7.example") == "10.0.0.7", "\(m.shoaldLog)")

        let reload = try m.run("systemctl", "reload", "shoald")
        #expect(reload.status == 0, "\(reload.output)\n\(m.shoaldLog)")
        #expect(m.shoaldLog.contains("reload: configuration valid"))
        #expect(m.property("shoald", "ActiveState") == "active")
        #expect(m.property("shoald", "MainPID") == main)
        // A bad file: the reload fails, the service keeps running as it was.
        try m.write("/etc/shoal/shoal.yaml", m.read("/etc/shoal/shoal.yaml") + "wrkers: 3\n")
        #expect(try m.run("systemctl", "reload", "shoald").status != 0)
        #expect(m.property("shoald", "ActiveState") == "active")

        let stop = try m.run("systemctl", "stop", "shoald")
        #expect(stop.status == 0, "\(stop.output)")
        #expect(m.property("shoald", "ActiveState") == "inactive")
        #expect(try m.run("pgrep", "-u", "shoal").output.isEmpty, "processes left")
        #expect(m.shoaldLog.contains("every worker stopped"))
        #expect(FileManager.default.fileExists(atPath: m.root + "/dev/shm/shoal.default.v2"), "the cache went with the service")
    }

    @Test("systemctl restart under dnsperf load: no query lost, cached names answered with the authority gone, sockets back from the fd store")
    func restartUnderLoad() throws {
        let m = try SystemdMachine.warmWithoutAuthority()
        #expect(m.property("shoald", "NFileDescriptorStore") == "3")
        let before = m.property("shoald", "MainPID")

        // Load in the background (inside the machine), the restart 2 s into it.
        try m.sh("setsid dnsperf -s 127.0.0.1 -d /etc/shoal-test/queries -l 6 -Q 1500 -c 4 -t 5 >/run/load.out 2>&1 &")
        sleep(2)
        let restart = try m.run("systemctl", "restart", "shoald")
        #expect(restart.status == 0, "\(restart.output)")
        #expect(m.wait(seconds: 20) { m.read("/run/load.out").contains("Queries lost") }, "\(m.read("/run/load.out"))")
        let r = DNSPerfResult(m.read("/run/load.out"))
        #expect(r.sent > 3000 && r.lost == 0 && r.noError == r.sent, "\(r)\n\(m.shoaldLog)")
        #expect(m.property("shoald", "MainPID") != before)
        #expect(m.shoaldLog.contains("sockets from systemd: shoal-tcp-127.0.0.1-53"), "\(m.shoaldLog)")
        #expect(m.property("shoald", "NFileDescriptorStore") == "3")
    }

    @Test("kill -9 of shoald: Restart=on-failure brings it back with its sockets and its cache")
    func crashRestart() throws {
        let m = try SystemdMachine.warmWithoutAuthority()
        let before = m.property("shoald", "MainPID")
        #expect(try m.run("kill", "-KILL", before).status == 0)
        let back = try m.wait(seconds: 20) {
            m.property("shoald", "NRestarts") == "1" && m.property("shoald", "ActiveState") == "active"
                && m.property("shoald", "StatusText").hasPrefix("2/2")
        }
        #expect(back, "\(m.status("shoald"))\n\(m.shoaldLog)")
        #expect(m.property("shoald", "MainPID") != before)
        #expect(m.shoaldLog.contains("sockets from systemd"), "\(m.shoaldLog)")
        let r = try m.dnsperf(seconds: 3, rate: 1000, passes: 1)
        #expect(r.noError == SystemdMachine.names && r.lost == 0, "\(r)")
    }

    @Test("a SIGSTOPped shoald stops feeding the watchdog: systemd kills and restarts it, and it answers again")
    func watchdog() throws {
        let m = try SystemdMachine()
        try m.installShoal(serviceDropIn: "WatchdogSec=2s\nTimeoutAbortSec=1s")
        #expect(try m.run("systemctl", "start", "shoald").status == 0, "\(m.shoaldLog)")
        #expect(try m.dig("kept-3.example") == "10.0.0.3")
        let before = m.property("shoald", "MainPID")
        // Fed while healthy: a few watchdog periods pass without a restart.
        sleep(3)
        #expect(m.property("shoald", "NRestarts") == "0", "\(m.managerLog)")
        #expect(try m.run("kill", "-STOP", before).status == 0)
        let restarted = try m.wait(seconds: 30) {
            m.property("shoald", "NRestarts") == "1" && m.property("shoald", "ActiveState") == "active"
                && m.property("shoald", "StatusText").hasPrefix("2/2")
        }
        #expect(restarted, "\(m.managerLog.suffix(3000))")
        // Nothing but the watchdog restarts a stopped process here (the manager's log line of it
        // is not relied on: systemd drops lines when it logs many at once).
        #expect(m.read("/proc/\(before)/status").isEmpty || m.read("/proc/\(before)/status").contains("State:\tZ"),
                "the stopped shoald is still there")
        #expect(m.property("shoald", "MainPID") != before)
        #expect(try m.dig("kept-4.example") == "10.0.0.4", "\(m.shoaldLog)")
    }

    @Test("socket activation: shoald.socket holds the ports, the first query starts shoald, which answers it on the unit's sockets")
    func socketActivation() throws {
        let m = try SystemdMachine()
        try m.installShoal()
        #expect(try m.run("systemctl", "start", "shoald.socket").status == 0)
        #expect(m.property("shoald.service", "ActiveState") == "inactive")
        // dig retries within its 2 s; the first query is answered once the workers read the socket.
        let answer = try m.run("dig", "+short", "+tries=3", "+time=3", "@127.0.0.1", "kept-9.example", "A").output
        #expect(answer.contains("10.0.0.9"), "\(answer)\n\(m.shoaldLog)")
        #expect(m.wait(seconds: 10) { m.property("shoald.service", "ActiveState") == "active" })
        #expect(m.shoaldLog.contains("dns (UDP 127.0.0.1:53, shared by every slot)"), "\(m.shoaldLog)")
        #expect(m.shoaldLog.contains("dns (TCP 127.0.0.1:53)"), "\(m.shoaldLog)")
        // TCP through the unit's listener too.
        #expect(try m.run("dig", "+short", "+tcp", "@127.0.0.1", "kept-10.example", "A").output.contains("10.0.0.10"))
    }
}
