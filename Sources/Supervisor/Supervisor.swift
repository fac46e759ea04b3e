import CShoalShims
import Logging
import ShmCache
import ShoalSystem
#if canImport(Glibc)
import Glibc
#endif

/// shoald's run loop: keeps one worker per slot running on its placement, restarts dead ones
/// with back-off (after reclaiming what they left half-written in the segment), replaces wedged
/// ones, and stops them in order on SIGTERM/SIGINT.
///
/// Single-threaded on purpose: privileges were dropped before it starts, and one thread that
/// waits on a signalfd needs no locking. Workers are children; their sockets are shoald's.
public final class Supervisor {
    /// One worker slot and the process serving it.
    public struct WorkerState {
        public var placement: WorkerPlacement
        public var pid: pid_t?
        /// Monotonic second the current process started (or the last one ended).
        public var startedAt: Double = 0
        public var restarts = 0
        /// Quick crashes in a row (back-off grows with it).
        public var streak = 0
        /// When a dead worker is due to be restarted.
        public var restartAt: Double?
        public var lastExit: ExitStatus?
        /// Restarts by reason (`exit`, `signal`, `heartbeat`, `spawn`), for logs and metrics.
        public var restartReasons: [String: Int] = [:]
        /// shoald killed it for a missing heartbeat (so its death is counted as that).
        var killedForHeartbeat = false
        /// A hot replace in progress: the new worker, started on the same sockets, and who
        /// asked for it.
        var replacement: Replacement?
        /// Queries counted at the last sample, and the rate since the one before.
        var lastQueries: UInt64 = 0
        public var queriesPerSecond = 0.0
    }

    public struct Configuration: Sendable {
        public var executable: String
        /// Arguments every worker gets (configuration file, overrides); slot-specific ones are
        /// added per spawn.
        public var workerArguments: [String]
        public var environment: [String]
        public var backoff: RestartBackoff
        public var heartbeatTimeoutSeconds: Double
        /// Seconds a stopping worker gets before SIGKILL.
        public var stopGraceSeconds: Double = 10
        /// What the sockets and the segment were made from: a reload that changes them is refused.
        public var listen: [String]
        public var segmentInstance: String
        /// shoal-bridge and its arguments, when the file has a `bridge:` section.
        public var bridge: (executable: String, arguments: [String])?
        /// Seconds the workers wait for the bridge's warm-up of a new segment before they start
        /// (0: they start at once). Queries meanwhile wait in the sockets.
        public var warmUpWaitSeconds = 0.0

        public init(executable: String, workerArguments: [String], environment: [String], backoff: RestartBackoff,
                    heartbeatTimeoutSeconds: Double, listen: [String], segmentInstance: String,
                    bridge: (executable: String, arguments: [String])? = nil, warmUpWaitSeconds: Double = 0) {
            self.executable = executable; self.workerArguments = workerArguments; self.environment = environment
            self.backoff = backoff; self.heartbeatTimeoutSeconds = heartbeatTimeoutSeconds
            self.listen = listen; self.segmentInstance = segmentInstance; self.bridge = bridge
            self.warmUpWaitSeconds = warmUpWaitSeconds
        }
    }

    /// A new worker started on a slot whose old worker drains once the new one is ready.
    struct Replacement {
        var pid: pid_t
        var startedAt: Double
        var clients: [ControlServer.Client]
    }

    let configuration: Configuration
    var sockets: [SlotSockets]
    /// The segment: replaced by the current one when it is retired or its name removed
    /// (``checkSegment()``).
    var segment: SharedSegment
    /// Opens the segment again under its name (after it was replaced).
    let reopenSegment: (() throws -> SharedSegment)?
    let logger: Logger
    let control: ControlServer?
    /// What the metrics endpoint shows of shoald itself (updated once a second).
    public let metrics = SupervisionMetrics()
    /// Re-reads the configuration for `reload` (nil: reload is refused).
    let reloadSettings: (() throws -> SupervisorSettings)?
    public internal(set) var workers: [WorkerState]
    var configuredListen: [String] { configuration.listen }
    var configuredSegment: String { configuration.segmentInstance }
    var stopDeadline: Double?
    /// Old workers draining (after a hot replace, or a reload that removed their slot), by
    /// pid → slot number.
    var draining: [pid_t: Int] = [:]
    /// A rolling restart (`restart-workers`, `reload`): slots left, and who asked.
    var rolling: (left: [Int], clients: [ControlServer.Client], what: String)?
    let startedAt = Clock.monotonicSeconds()
    var lastSample = Clock.monotonicSeconds()
    /// systemd, when it started shoald (notify socket); nil otherwise.
    let serviceManager: ServiceManager?
    /// READY=1 was sent (every worker answered once).
    var announcedReady = false
    /// RELOADING=1 was sent; READY=1 follows when the reload ends, however it ends.
    var reloadAnnounced = false
    /// The segment shoald supervises is the current one under its name (``checkSegment()``, once
    /// a second, says): the watchdog is fed only while it is.
    var segmentIsCurrent = true
    /// shoal-bridge, when configured.
    var bridge = BridgeProcess()
    /// The workers wait for the bridge's warm-up until then (monotonic seconds); nil: not held.
    var workersHeldUntil: Double?

    /// The segment is new: the workers may wait for the bridge's warm-up (see
    /// ``Configuration/warmUpWaitSeconds``).
    public var holdForWarmUp = false

    public init(configuration: Configuration, plan: PlacementPlan, sockets: [SlotSockets], segment: SharedSegment,
                control: ControlServer? = nil, reloadSettings: (() throws -> SupervisorSettings)? = nil,
                reopenSegment: (() throws -> SharedSegment)? = nil, serviceManager: ServiceManager? = nil,
                logger: Logger) {
        self.reopenSegment = reopenSegment
        self.serviceManager = serviceManager
        precondition(plan.workers.count == sockets.count, "one socket set per worker slot")
        self.configuration = configuration
        self.sockets = sockets
        self.segment = segment
        self.control = control
        self.reloadSettings = reloadSettings
        self.logger = logger
        self.workers = plan.workers.map { WorkerState(placement: $0) }
    }

    /// The signals the run loop takes from its signalfd (0-terminated). They must be blocked
    /// in every thread: ``blockSignals()`` before any thread starts.
    static let signals: [Int32] = [SIGCHLD, SIGTERM, SIGINT, SIGHUP, 0]

    /// Blocks the run loop's signals in the calling thread, so that threads started from here
    /// on (NIO's for the metrics endpoint) never take them (SIGTERM would kill the process).
    public static func blockSignals() {
        _ = signals.withUnsafeBufferPointer { cshoal_block_signals($0.baseAddress!) }
    }

    /// Runs until SIGTERM or SIGINT has stopped every worker. Returns the exit status.
    public func run() throws(SystemCallError) -> Int32 {
        let sfd = OwnedDescriptor(adopting: try sysCall("signalfd") { Self.signals.withUnsafeBufferPointer { cshoal_signalfd_for($0.baseAddress!) } })
        if configuration.bridge != nil {
            // What an earlier bridge wrote (/run/shoal outlives restarts) must not end the wait.
            if let f = metrics.bridgeFile { unlink(f) }
            spawnBridge()
        }
        if configuration.bridge != nil && configuration.warmUpWaitSeconds > 0 && holdForWarmUp {
            workersHeldUntil = Clock.monotonicSeconds() + configuration.warmUpWaitSeconds
            logger.notice("shoald: a new segment: the workers wait up to \(Int(configuration.warmUpWaitSeconds * 1000)) ms for the bridge's warm-up")
        } else {
            startWorkers()
        }
        while true {
            var fds = [pollfd(fd: sfd.rawValue, events: Int16(POLLIN), revents: 0)]
            fds += (control?.pollDescriptors ?? []).map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            _ = poll(&fds, nfds_t(fds.count), 100)
            for signo in readSignals(sfd) {
                switch signo {
                case SIGTERM, SIGINT: beginStop(signo)
                case SIGHUP: reload(answering: nil)
                default: break   // SIGCHLD: reaped below
                }
            }
            reap()
            let now = Clock.monotonicSeconds()
            if let control {
                for p in fds.dropFirst() where p.revents != 0 {
                    for (client, request) in control.readable(p.fd, now: now) { serve(request, for: client) }
                }
                control.expire(now: now)
            }
            progressReplacements(now: now)
            sample(now: now)
            tellServiceManager(now: now)
            if let deadline = stopDeadline {
                if allPIDs.isEmpty {
                    logger.notice("shoald: every worker stopped; the segment \(segment.name) is kept")
                    return 0
                }
                if now >= deadline {
                    for pid in allPIDs { kill(pid, SIGKILL) }
                }
                continue
            }
            if let until = workersHeldUntil {
                let state = bridgeWarmUpState
                if now >= until || ["complete", "cold", "incomplete", "not-needed"].contains(state) {
                    workersHeldUntil = nil
                    logger.notice("shoald: warm-up \(state ?? "not reported")\(now >= until ? " at the end of the wait" : ""); starting the workers")
                    startWorkers()
                }
                continue
            }
            for i in workers.indices {
                if workers[i].pid == nil, let at = workers[i].restartAt, now >= at { spawn(i) }
            }
            if bridge.pid == nil, let at = bridge.restartAt, now >= at { spawnBridge() }
            checkHeartbeats(now: now)
        }
    }

    /// Starts every slot's worker.
    private func startWorkers() {
        for i in workers.indices { spawn(i) }
        logger.notice("shoald: \(workers.count) worker(s) started: \(workers.map { "slot \($0.placement.slot) pid \($0.pid ?? 0) cpu \($0.placement.cpu)" }.joined(separator: ", "))")
    }

    private func readSignals(_ sfd: borrowing OwnedDescriptor) -> [Int32] {
        var out: [Int32] = []
        var info = signalfd_siginfo()
        while true {
            let n = withUnsafeMutableBytes(of: &info) { b in Glibc.read(sfd.rawValue, b.baseAddress!, b.count) }
            guard n == MemoryLayout<signalfd_siginfo>.size else { break }
            out.append(Int32(info.ssi_signo))
        }
        return out
    }

    private func beginStop(_ signo: Int32) {
        guard stopDeadline == nil else { return }
        logger.notice("shoald: signal \(signo): stopping \(workers.filter { $0.pid != nil }.count) worker(s)")
        stopDeadline = Clock.monotonicSeconds() + configuration.stopGraceSeconds
        serviceManager?.stopping()
        for pid in allPIDs { kill(pid, SIGTERM) }
        for i in workers.indices where workers[i].replacement != nil {
            for c in workers[i].replacement!.clients { control?.reply(c, "error: shoald is stopping") }
            workers[i].replacement!.clients = []
        }
        if let r = rolling {
            for c in r.clients { control?.reply(c, "error: shoald is stopping") }
            rolling = nil
        }
    }

    /// Starts slot `i`'s worker with the slot's sockets as 3, 4, … and its placement.
    func spawn(_ i: Int) {
        let p = workers[i].placement
        do {
            let pid = try startProcess(p)
            workers[i].pid = pid
            workers[i].startedAt = Clock.monotonicSeconds()
            workers[i].restartAt = nil
            logger.info("worker slot \(p.slot): started pid \(pid) on cpu \(p.cpu), node \(p.node)")
        } catch {
            // Counted like a crash: back off and try again.
            logger.error("worker slot \(p.slot): cannot start \(configuration.executable): \(error)")
            scheduleRestart(i, reason: "spawn", ranFor: 0)
        }
    }

    /// Starts a worker process for placement `p`: the slot's sockets as 3, 4, …, its CPU and
    /// node, supervised.
    func startProcess(_ p: WorkerPlacement) throws(SystemCallError) -> pid_t {
        let (fds, fdArgs) = sockets[p.slot].inherited
        let args = configuration.workerArguments + fdArgs
            + ["--worker-slot", "\(p.slot)", "--cpu", "\(p.cpu)", "--numa-node", "\(p.node)", "--supervised"]
        return try Spawn.start(configuration.executable, arguments: args, descriptors: fds,
                               environment: configuration.environment)
    }

    /// Every worker process: serving, starting as a replacement, or draining.
    var allPIDs: [pid_t] {
        workers.compactMap(\.pid) + workers.compactMap(\.replacement?.pid) + Array(draining.keys) + (bridge.pid.map { [$0] } ?? [])
    }

    /// Reaps every exited child and schedules restarts.
    private func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else { return }
            let exit = ExitStatus(waitStatus: status)
            if let slot = draining.removeValue(forKey: pid) {
                let reclaimed = segment.sweep(deadPID: pid)
                logger.info("worker slot \(slot): replaced pid \(pid) ended (\(exit))\(reclaimed > 0 ? "; \(reclaimed) slot(s) reclaimed" : "")")
                continue
            }
            if let i = workers.firstIndex(where: { $0.replacement?.pid == pid }) {
                _ = segment.sweep(deadPID: pid)
                replacementFailed(i, "the new worker pid \(pid) ended before it was ready (\(exit))")
                continue
            }
            if pid == bridge.pid {
                bridgeEnded(exit)
                continue
            }
            guard let i = workers.firstIndex(where: { $0.pid == pid }) else { continue }
            let ranFor = Clock.monotonicSeconds() - workers[i].startedAt
            workers[i].pid = nil
            workers[i].lastExit = exit
            workers[i].startedAt = Clock.monotonicSeconds()
            // Whatever it was writing when it died is reclaimed now, not slot by slot later.
            let reclaimed = segment.sweep(deadPID: pid)
            let slot = workers[i].placement.slot
            if stopDeadline != nil {
                logger.info("worker slot \(slot): pid \(pid) stopped (\(exit))")
                continue
            }
            // A worker that dies while its replacement starts: the replacement takes over.
            if let r = workers[i].replacement {
                logger.warning("worker slot \(slot): pid \(pid) ended (\(exit)) while pid \(r.pid) replaces it")
                continue
            }
            let reason: String
            switch exit {
            case .exited: reason = "exit"
            case .signaled: reason = workers[i].killedForHeartbeat ? "heartbeat" : "signal"
            }
            workers[i].killedForHeartbeat = false
            logger.warning("worker slot \(slot): pid \(pid) ended after \(Int(ranFor)) s (\(exit)); \(reclaimed) slot(s) it left half-written reclaimed")
            scheduleRestart(i, reason: reason, ranFor: ranFor)
        }
    }

    func scheduleRestart(_ i: Int, reason: String, ranFor: Double) {
        let (delay, streak) = configuration.backoff.next(ranFor: ranFor, streak: workers[i].streak)
        workers[i].streak = streak
        workers[i].restarts += 1
        workers[i].restartReasons[reason, default: 0] += 1
        workers[i].restartAt = Clock.monotonicSeconds() + Double(delay) / 1000
        if delay > configuration.backoff.minMillis {
            logger.warning("worker slot \(workers[i].placement.slot): restarting in \(delay) ms (\(streak) quick failure(s) in a row)")
        }
    }

    /// Kills a worker whose heartbeat stopped (it is wedged: alive, but not serving).
    private func checkHeartbeats(now: Double) {
        let boot = UInt64(Clock.bootSeconds())
        for w in workers {
            guard let pid = w.pid, now - w.startedAt > configuration.heartbeatTimeoutSeconds else { continue }
            let beat = segment.stats(workerSlot: w.placement.slot).value(.heartbeat)
            if boot > beat && Double(boot - beat) > configuration.heartbeatTimeoutSeconds {
                logger.error("worker slot \(w.placement.slot): pid \(pid) sent no heartbeat for \(boot - beat) s: killing it")
                if let i = workers.firstIndex(where: { $0.pid == pid }) { workers[i].killedForHeartbeat = true }
                kill(pid, SIGKILL)
            }
        }
    }
}
