import Foundation

/// Configuration text and checks for one nsd process of a lab.
struct NSDInstance {
    let server: ServerInstance
    let hierarchy: LabHierarchy
    let paths: LabPaths

    var name: String { server.name }
    var configPath: String { paths.nsdConfig(name) }
    var pidfile: String { paths.nsdPidfile(name) }
    var logfile: String { paths.nsdLog(name) }
    /// Addresses nsd binds (the listen-prefix form of the public addresses).
    var listenAddresses: [String] { server.addresses.map(hierarchy.plan.listenAddress) }

    /// The nsd.conf text. Everything nsd writes stays in the lab directory and nothing needs
    /// privileges beyond binding port 53.
    var configText: String {
        var lines = [
            "# nsd instance \(name) of a Shoal lab; generated, do not edit",
            "server:",
            "    server-count: 1",
            "    port: 53",
            "    do-ip4: yes",
            "    do-ip6: no",
        ]
        lines += listenAddresses.map { "    ip-address: \($0)" }
        lines += [
            "    username: \"\"",
            "    chroot: \"\"",
            "    zonesdir: \"\(paths.zones)\"",
            "    pidfile: \"\(pidfile)\"",
            "    database: \"\"",
            "    zonelistfile: \"\(paths.nsd)/\(name).zonelist\"",
            "    xfrdfile: \"\(paths.nsd)/\(name).xfrd.state\"",
            "    xfrdir: \"\(paths.nsd)/\(name).xfr\"",
            "    logfile: \"\(logfile)\"",
            "    verbosity: 1",
            "    hide-version: yes",
            // Debian builds nsd with response rate limiting on; a resolver under test sends
            // bursts that RRL would turn into apparent packet loss.
            "    rrl-ratelimit: 0",
            "    rrl-whitelist-ratelimit: 0",
            "    receive-buffer-size: 4194304",
            "    send-buffer-size: 4194304",
            "    tcp-count: 256",
            "remote-control:",
            "    control-enable: no",
        ]
        for origin in server.zones {
            guard let zone = hierarchy.zone(origin) else { continue }
            lines += ["zone:", "    name: \"\(origin)\"", "    zonefile: \"\(paths.servedZone(zone))\""]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the configuration and has `nsd-checkconf` accept it.
    func writeAndCheck(tools: LabTools) throws {
        try FileManager.default.createDirectory(atPath: "\(paths.nsd)/\(name).xfr", withIntermediateDirectories: true)
        do { try configText.write(toFile: configPath, atomically: true, encoding: .utf8) } catch {
            throw LabError.io(path: configPath, reason: "cannot write: \(error)")
        }
        let (status, output) = try ToolRunner.run(ToolInvocation(tool: tools.nsdCheckconf, arguments: [configPath]))
        guard status == 0 else {
            throw LabError.nsdConfigRejected(instance: name, path: configPath, output: output)
        }
    }

    /// Starts nsd, which daemonises and writes `pidfile`.
    func start(tools: LabTools) throws {
        // A fresh log per run, so `diagnostics()` shows this run's complaints, not old ones.
        for path in [pidfile, logfile, "\(paths.nsd)/\(name).stdout"] { try? FileManager.default.removeItem(atPath: path) }
        let status = try ToolRunner.launch(ToolInvocation(tool: tools.nsd, arguments: ["-c", configPath]),
                                           output: "\(paths.nsd)/\(name).stdout")
        guard status == 0 else {
            throw LabError.nsdFailed(instance: name, output: "nsd exited with status \(status)\n" + diagnostics())
        }
    }

    /// The tail of what nsd said, for error messages.
    func diagnostics() -> String {
        var text = ""
        for path in ["\(paths.nsd)/\(name).stdout", logfile] {
            guard let content = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            let tail = content.split(separator: "\n").suffix(15).joined(separator: "\n")
            text += "--- \(path)\n\(tail)\n"
        }
        return text
    }
}
