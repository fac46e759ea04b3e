import ShoalSystem
#if canImport(Glibc)
import Glibc
#endif

/// shoal-bridge as shoald's child, when the file has a `bridge:` section: started with the
/// workers, restarted with their back-off when it ends, stopped with them. Nothing waits for it:
/// the workers serve whether it runs or not.
extension Supervisor {
    struct BridgeProcess {
        var pid: pid_t?
        var startedAt = 0.0
        var restarts = 0
        var streak = 0
        var restartAt: Double?
        var lastExit: ExitStatus?
    }

    func spawnBridge() {
        guard let launch = configuration.bridge else { return }
        do {
            let pid = try Spawn.start(launch.executable, arguments: launch.arguments, descriptors: [],
                                      environment: configuration.environment)
            bridge.pid = pid
            bridge.startedAt = Clock.monotonicSeconds()
            bridge.restartAt = nil
            logger.info("bridge: started pid \(pid)")
        } catch {
            logger.error("bridge: cannot start \(launch.executable): \(error)")
            scheduleBridgeRestart(ranFor: 0)
        }
    }

    /// The bridge process ended (reaped by the run loop).
    func bridgeEnded(_ exit: ExitStatus) {
        let pid = bridge.pid ?? 0
        let ranFor = Clock.monotonicSeconds() - bridge.startedAt
        bridge.pid = nil
        bridge.lastExit = exit
        if stopDeadline != nil {
            logger.info("bridge: pid \(pid) stopped (\(exit))")
            return
        }
        logger.warning("bridge: pid \(pid) ended after \(Int(ranFor)) s (\(exit)); the workers serve on")
        scheduleBridgeRestart(ranFor: ranFor)
    }

    private func scheduleBridgeRestart(ranFor: Double) {
        let (delay, streak) = configuration.backoff.next(ranFor: ranFor, streak: bridge.streak)
        bridge.streak = streak
        bridge.restarts += 1
        bridge.restartAt = Clock.monotonicSeconds() + Double(delay) / 1000
        if delay > configuration.backoff.minMillis { logger.warning("bridge: restarting in \(delay) ms") }
    }

    /// For `shoalctl status`: the process, and what its counters say (its metrics file).
    var bridgeDescription: String {
        guard configuration.bridge != nil else { return "not configured" }
        let last = bridge.lastExit.map { ", last exit \($0)" } ?? ""
        let process = bridge.pid.map { "pid \($0), up \(Int(Clock.monotonicSeconds() - bridge.startedAt)) s" } ?? "not running"
        return "\(process), \(bridge.restarts) restart(s)\(last)" + (bridgeCounters.map { "; \($0)" } ?? "")
    }

    /// The warm-up state the bridge last wrote (`starting`, `pulling`, `complete`, `cold`, …).
    var bridgeWarmUpState: String? {
        guard let path = metrics.bridgeFile, let text = KernelFiles.read(path),
              let r = text.range(of: "shoal_mesh_warmup_state{state=\"") else { return nil }
        let rest = text[r.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }

    /// Published, applied and rejected entries and the warm-up, from the bridge's metrics file.
    var bridgeCounters: String? {
        guard let path = metrics.bridgeFile, let text = KernelFiles.read(path) else { return nil }
        var values: [String: String] = [:], rejected = 0, warmUp = "?"
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2 else { continue }
            let name = String(parts[0])
            if name.hasPrefix("shoal_mesh_rejected_total{") { rejected += Int(parts[1]) ?? 0 }
            else if name.hasPrefix("shoal_mesh_warmup_state{") { warmUp = bridgeWarmUpState ?? "?" }
            else { values[name] = String(parts[1]) }
        }
        return "published \(values["shoal_mesh_published_total"] ?? "?"), applied \(values["shoal_mesh_applied_total"] ?? "?"), "
            + "rejected \(rejected), warm-up \(warmUp) (\(values["shoal_mesh_warmup_entries_total"] ?? "?") entries)"
    }

    /// For systemd's status line.
    var bridgeSummary: String {
        guard configuration.bridge != nil else { return "not configured" }
        return bridge.pid == nil ? "restarting" : "running"
    }
}
