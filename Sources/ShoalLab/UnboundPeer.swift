import Foundation

/// A real unbound (Debian's `/usr/sbin/unbound`) resolving against a lab, for cross-checks and
/// comparisons: one thread, the lab's root hints and trust anchor, no query to the Internet.
public enum UnboundPeer {
    public static let path = "/usr/sbin/unbound"
    public static var installed: Bool { FileManager.default.isExecutableFile(atPath: path) }

    /// Starts unbound in the foreground on `address`:53 and waits until it answers (bounded).
    /// `validate: false` leaves DNSSEC validation off (no trust anchor), to compare with a
    /// resolver that does not validate.
    public static func start(_ lab: Lab, address: String, name: String = "unbound",
                             validate: Bool = true) throws -> Process {
        let dir = "\(lab.paths.directory)/\(name)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let conf = """
        server:
          interface: \(address)
          port: 53
          do-ip6: no
          username: ""
          chroot: ""
          directory: "\(dir)"
          pidfile: "\(dir)/unbound.pid"
          use-syslog: no
          logfile: "\(dir)/unbound.log"
          root-hints: "\(lab.paths.rootHints)"
        \(validate ? "  trust-anchor-file: \"\(lab.paths.trustAnchor)\"" : "  module-config: \"iterator\"")
          do-not-query-localhost: no
          access-control: 127.0.0.0/8 allow
          num-threads: 1
          val-log-level: 2
        remote-control:
          control-enable: no

        """
        try conf.write(toFile: "\(dir)/unbound.conf", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-d", "-c", "\(dir)/unbound.conf"]
        try process.run()
        let probe = DNSProbe.query(name: ".", type: 6, recursionDesired: true)
        for _ in 0..<100 {
            if (try? DNSProbe.exchange(probe, server: address, timeoutMilliseconds: 100)) != nil { return process }
            usleep(50_000)
        }
        process.terminate()
        throw LabError.launchFailed(tool: "unbound", reason: "no answer on \(address); see \(dir)/unbound.log")
    }
}
