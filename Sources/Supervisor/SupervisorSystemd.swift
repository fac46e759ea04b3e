import ShmCache
import ShoalSystem

/// What shoald tells systemd from its run loop: READY=1 once every worker answers, STATUS= once
/// a second, WATCHDOG=1 while its own checks pass, READY=1 again when a reload ends.
extension Supervisor {
    /// Every slot has a worker that has said it listens (its pid in the slot's ready word).
    var everyWorkerReady: Bool {
        workers.allSatisfy { w in
            guard let pid = w.pid else { return false }
            return segment.stats(workerSlot: w.placement.slot).value(.readyPID) == UInt64(pid)
        }
    }

    /// The line `systemctl status shoald` shows.
    var statusLine: String {
        let up = workers.filter { $0.pid != nil }.count
        let records = segment.records.count(now: shmNow()).entries
        let qps = Int(workers.reduce(0) { $0 + $1.queriesPerSecond }.rounded())
        return "\(up)/\(workers.count) workers up, \(records) RRsets cached, \(qps) queries/s, bridge \(bridgeSummary)"
    }

    func tellServiceManager(now: Double) {
        guard let sm = serviceManager else { return }
        // The watchdog is fed by this loop, and only while the segment it supervises is the
        // current one (as the last check found): a supervisor stuck anywhere, or on a segment it
        // cannot reopen, is killed and restarted by systemd.
        if segmentIsCurrent { sm.feedWatchdog(now: now) }
        guard stopDeadline == nil else { return }
        if !announcedReady {
            guard everyWorkerReady else { return }
            announcedReady = true
            sm.ready(status: statusLine)
            logger.notice("systemd: READY=1 (\(workers.count) worker(s) answering)")
        } else if !reloadAnnounced, now - lastSample < 0.2 {
            sm.status(statusLine)   // right after a sample: the rates are fresh
        }
    }

    /// A reload announced with RELOADING=1 ended (`failure` nil: it succeeded).
    func reloadEnded(_ failure: String?) {
        guard reloadAnnounced, let sm = serviceManager else { return }
        reloadAnnounced = false
        sm.ready(status: failure.map { "reload failed: \($0)" } ?? statusLine)
    }
}
