import Foundation
import ShoalLab
import ShoalSystem
import Testing

/// A throwaway machine with the real systemd as PID 1 (`scripts/systemd-container`): Shoal
/// installed into it with `scripts/install` as an operator would, a real `nsd` serving the root
/// zone on 127.0.0.2 as the only authority, and `dnsperf` and `dig` run inside. Everything it
/// writes goes to an overlay that vanishes with it.
final class SystemdMachine: @unchecked Sendable {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    let dir: String
    let pid1: String
    /// The machine's `/`, seen from the host.
    var root: String { "/proc/\(pid1)/root" }
    /// Names the authority serves, `kept-N.example. A 10.0.N/256.N%256`.
    static let names = 300

    init() throws {
        dir = "/tmp/shoal-systemd-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let (status, out) = try Self.capture("/bin/bash", [Self.repository + "/scripts/systemd-container", "boot", dir])
        guard status == 0, let p = KernelFiles.read(dir + "/pid1")?.trimmingCharacters(in: .whitespacesAndNewlines) else {
            Issue.record("systemd did not boot:\n\(out)")
            throw CancellationError()
        }
        pid1 = p
    }

    deinit { _ = try? Self.capture("/bin/bash", [Self.repository + "/scripts/systemd-container", "destroy", dir]) }

    /// Runs `exe` to its end: status and output (stdout and stderr), through a file and
    /// waitpid (``runProgram``): what the command leaves running in the background (the machine
    /// itself, dnsperf) may keep its output open.
    static func capture(_ exe: String, _ args: [String]) throws -> (status: Int32, output: String) {
        try runProgram(exe, args)
    }

    /// Runs a command inside: its status and output.
    @discardableResult
    func run(_ args: String...) throws -> (status: Int32, output: String) {
        try Self.capture("/usr/bin/nsenter", ["-t", pid1, "-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w"] + args)
    }

    func sh(_ command: String) throws -> (status: Int32, output: String) { try run("/bin/bash", "-c", command) }

    func write(_ path: String, _ text: String, mode: Int = 0o644) throws {
        let host = root + path
        try FileManager.default.createDirectory(atPath: (host as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: host, atomically: false, encoding: .utf8)
        chmod(host, mode_t(mode))
    }

    func read(_ path: String) -> String { KernelFiles.read(root + path) ?? "" }

    func property(_ unit: String, _ name: String) -> String {
        ((try? run("systemctl", "show", "-P", name, unit))?.output ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `systemctl status UNIT`, for failure messages.
    func status(_ unit: String) -> String { (try? run("systemctl", "status", "--no-pager", unit))?.output ?? "" }

    /// Polls `condition` every 100 ms for up to `seconds`.
    func wait(seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if try condition() { return true }
            usleep(100_000)
        } while Date() < deadline
        return try condition()
    }

    /// shoald's log (the test's drop-in sends its output there).
    var shoaldLog: String { read("/run/shoald.log") }
    var managerLog: String { KernelFiles.read(dir + "/manager.log") ?? "" }

    /// `scripts/install` from this build's products, an authority, Shoal's configuration
    /// pointing at it, and a drop-in for the test (`extra` lines for [Service]).
    func installShoal(workers: Int = 2, serviceDropIn extra: String = "", configuration more: String = "") throws {
        let products = try #require(BuildProducts.executable("shoald")).replacingOccurrences(of: "/shoald", with: "")
        let install = try run("/bin/bash", Self.repository + "/scripts/install", "--from", products)
        try #require(install.status == 0, "\(install.output)")

        // The authority: nsd serving the root zone with every test name in it.
        var zone = """
            $TTL 3600
            .  IN SOA a.root.test. hostmaster.test. 1 3600 600 86400 3600
            .  IN NS a.root.test.
            a.root.test. IN A 127.0.0.2

            """
        for i in 0..<Self.names { zone += "kept-\(i).example. IN A 10.0.\(i / 256).\(i % 256)\n" }
        try write("/etc/shoal-test/root.zone", zone)
        try write("/etc/shoal-test/nsd.conf", """
            server:
                ip-address: 127.0.0.2
                port: 53
                username: ""
                chroot: ""
                zonesdir: "/etc/shoal-test"
                pidfile: ""
                database: ""
                zonelistfile: "/run/nsd-test.zonelist"
                xfrdfile: "/run/nsd-test.xfrd"
                xfrdir: "/run/nsd-test.xfr"
                verbosity: 1
            remote-control:
                control-enable: no
            zone:
                name: "."
                zonefile: "root.zone"

            """)
        try write("/etc/shoal-test/queries", (0..<Self.names).map { "kept-\($0).example A\n" }.joined())
        let nsd = try run("systemd-run", "--unit=authority", "--quiet", "/usr/sbin/nsd", "-d", "-c", "/etc/shoal-test/nsd.conf")
        try #require(nsd.status == 0, "\(nsd.output)")
        let answering = try wait(seconds: 10) { try dig("kept-1.example", server: "127.0.0.2") == "10.0.0.1" }
        try #require(answering, "nsd does not answer: \(status("authority"))")

        try write("/etc/shoal/hints", ".  3600000 NS a.root.test.\na.root.test. 3600000 A 127.0.0.2\n")
        try write("/etc/shoal/shoal.yaml", """
            listen: ["127.0.0.1:53"]
            workers: \(workers)
            segment: default
            segment-size: 16
            root-hints: /etc/shoal/hints
            do-not-query-localhost: false
            control-socket: /run/shoal/control
            dnssec: off                 # the test's nsd serves an unsigned root
            \(more)
            """)
        try write("/etc/systemd/system/shoald.service.d/test.conf", """
            [Service]
            StandardOutput=append:/run/shoald.log
            StandardError=inherit
            \(extra)

            """)
        try run("systemctl", "daemon-reload")
    }

    /// A machine whose shoald.service has every test name cached, and no authority any more:
    /// only the cache can answer.
    static func warmWithoutAuthority() throws -> SystemdMachine {
        let m = try SystemdMachine()
        try m.installShoal()
        #expect(try m.run("systemctl", "start", "shoald").status == 0, "\(m.shoaldLog)")
        let warm = try m.dnsperf(seconds: 3, rate: 1000, passes: 1)
        #expect(warm.noError == names, "\(warm)")
        #expect(try m.run("systemctl", "stop", "authority").status == 0)
        return m
    }

    /// The first A record `dig` gets, or "" (no answer, SERVFAIL, timeout).
    func dig(_ name: String, server: String = "127.0.0.1") throws -> String {
        let out = try run("dig", "+short", "+tries=1", "+time=2", "@\(server)", name, "A").output
        return out.split(separator: "\n").first.map(String.init) ?? ""
    }

    /// Every test name once, with dnsperf: what it counted.
    func dnsperf(seconds: Int, rate: Int, passes: Int? = nil) throws -> DNSPerfResult {
        var args = ["dnsperf", "-s", "127.0.0.1", "-d", "/etc/shoal-test/queries", "-l", "\(seconds)", "-Q", "\(rate)", "-c", "4", "-t", "5"]
        if let n = passes { args += ["-n", "\(n)"] }
        let out = try Self.capture("/usr/bin/nsenter", ["-t", pid1, "-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w"] + args).output
        return DNSPerfResult(out)
    }
}

/// What dnsperf printed at the end.
struct DNSPerfResult: CustomStringConvertible {
    var sent = 0, completed = 0, lost = 0, noError = 0
    let text: String

    init(_ text: String) {
        self.text = text
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            func number(after key: String) -> Int? {
                guard let i = words.firstIndex(of: Substring(key)), i + 1 < words.count else { return nil }
                return Int(words[i + 1])
            }
            if line.contains("Queries sent:") { sent = Int(words.last ?? "") ?? 0 }
            if line.contains("Queries completed:") { completed = Int(words[2]) ?? 0 }
            if line.contains("Queries lost:") { lost = Int(words[2]) ?? 0 }
            if line.contains("Response codes:") { noError = number(after: "NOERROR") ?? 0 }
        }
    }

    var description: String { "sent \(sent) completed \(completed) lost \(lost) NOERROR \(noError)\n\(text)" }
}
