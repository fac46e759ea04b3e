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

    /// For `shoalctl status`.
    var bridgeDescription: String {
        guard configuration.bridge != nil else { return "not configured" }
        let last = bridge.lastExit.map { ", last exit \($0)" } ?? ""
        if let pid = bridge.pid {
            return "pid \(pid), up \(Int(Clock.monotonicSeconds() - bridge.startedAt)) s, \(bridge.restarts) restart(s)\(last)"
        }
        return "not running, \(bridge.restarts) restart(s)\(last)"
    }

    /// For systemd's status line.
    var bridgeSummary: String {
        guard configuration.bridge != nil else { return "not configured" }
        return bridge.pid == nil ? "restarting" : "running"
    }
}
