import ArgumentParser
import CShoalShims
import DNSCore
import Logging
import ShmCache
import ShoalSystem
import Supervisor
import Worker
#if canImport(Glibc)
import Glibc
#endif

/// `shoald`: the Shoal supervisor. Everything before `Supervisor.run` happens on this one
/// thread, in this order: configuration, placement, sockets (as root, or with
/// CAP_NET_BIND_SERVICE), privileges dropped, the segment opened as the unprivileged user,
/// workers spawned.
struct Shoald: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shoald",
        abstract: "The Shoal supervisor: opens the sockets, drops privileges, runs and restarts the workers.",
        discussion: """
            shoald reads one YAML file (--config; default /etc/shoal/shoal.yaml when it exists, \
            else built-in defaults) that also configures the workers (see shoal-worker --help \
            and README.md). It binds every listen address once per worker slot for UDP (SO_REUSEPORT: a \
            queue per slot) and once for TCP (a listener all workers share), drops to the configured user keeping only CAP_NET_BIND_SERVICE, opens \
            the shared segment, and starts one shoal-worker per slot pinned to its CPU, handing \
            it the slot's sockets. A worker that dies is restarted on the same slot with \
            back-off, after what it left half-written in the segment is reclaimed; its queued \
            queries wait in the slot's socket, which shoald keeps open. SIGTERM or SIGINT stops \
            the workers and exits 0, keeping the segment.
            The control socket (control-socket, default /run/shoal/control) serves shoalctl: \
            status, restart-worker N (a hot replace: the new worker starts on the slot's sockets \
            before the old one drains), restart-workers, reload (also SIGHUP: a valid file \
            replaces the workers one by one and may change their number; a bad one changes \
            nothing), wipe-cache, ping.
            With `metrics: ADDR:PORT`, GET /metrics there serves Prometheus text from the \
            segment's statistics (queries, answers by rcode, cache hits and entries, upstream \
            queries and timeouts, overload drops, worker restarts, answer latency).
            What a worker that dies was resolving is answered by its replacement (the pending \
            queries are kept in the segment).
            With a `bridge:` section in the file, shoald also runs shoal-bridge (next to it, or \
            bridge-executable) with the same file and segment, restarts it with the workers' \
            back-off when it ends, and stops it with them; the workers serve whether it runs or \
            not. shoalctl status shows it. On a segment it has just created, shoald starts the \
            workers once the bridge's warm-up from the fleet is over, or after \
            bridge-warm-up-wait-ms (2000; 0: at once); queries wait in the sockets meanwhile.
            Under systemd (NOTIFY_SOCKET set; units in systemd/, installed by scripts/install): \
            READY=1 once every worker answers, STATUS=, RELOADING=1 around a reload, STOPPING=1, \
            WATCHDOG=1 from the run loop; every socket goes to the fd store (FDSTORE=1, \
            FDNAME=shoal-udp-ADDR-PORT-sN / shoal-tcp-ADDR-PORT) and sockets handed back through \
            LISTEN_FDS (the store, or shoald.socket) are taken when they match the \
            configuration, so a restart of the service loses no query.

            Keys of the file for shoald: \(SharedConfigKeys.supervisor.map { "\($0.0) (\($0.1))" }.joined(separator: ", ")).
            """,
        version: ShoalVersion.string)

    @Option(help: "YAML configuration file shared with the workers. Default /etc/shoal/shoal.yaml when present.")
    var config: String?

    @Flag(help: "Check the configuration, print the plan (workers, CPUs, sockets, user), and exit.")
    var checkConfig = false

    @Option(help: "Number of workers. Default: one per CPU this process may run on.")
    var workers: Int?

    @Option(help: "CPUs the workers may use, e.g. 0-3,8. Default: every CPU this process may run on.")
    var cpus: String?

    @Option(help: "User to run as after binding the sockets (with its primary group unless --group).")
    var user: String?

    @Option(help: "Group to run as.")
    var group: String?

    @Option(name: .customLong("listen"), help: "Address the workers answer on, ADDR[:PORT] (repeatable). Default 127.0.0.1:53.")
    var listen: [String] = []

    @Option(help: "Instance name of the shared segment (/shoal.NAME.vN). Default \"default\".")
    var segment: String?

    @Option(help: "Size of the shared segment in MiB when it is created. Default 64.")
    var segmentSize: Int?

    @Option(help: "Root hints file for the workers. Default: built in.")
    var rootHints: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical. Default info.")
    var logLevel: String?

    @Option(help: "The shoal-worker executable. Default: the one next to shoald.")
    var workerExecutable: String?

    @Option(help: "Path of the control socket for shoalctl. Default /run/shoal/control.")
    var controlSocket: String?

    @Option(name: .customLong("upstream-port"), help: ArgumentHelp("Port of authoritative servers (tests).", visibility: .hidden))
    var upstreamPort: UInt16?

    /// Defaults, then the file, then the command line; and the file the workers read.
    func settings() throws -> (SupervisorSettings, configFile: String?) {
        var s = SupervisorSettings()
        var file = config
        if file == nil, access("/etc/shoal/shoal.yaml", R_OK) == 0 { file = "/etc/shoal/shoal.yaml" }
        if let path = file {
            guard let text = KernelFiles.read(path) else { throw ValidationError("\(path): cannot read the file") }
            try s.apply(SettingsDocument(yaml: text, file: path))
        }
        if let v = workers { s.workers = v }
        if let v = cpus {
            do { s.cpus = try CPUList(parsing: v) } catch { throw ValidationError("--cpus: \(error)") }
        }
        if let v = user { s.user = v }
        if let v = group { s.group = v }
        if !listen.isEmpty { s.worker.listen = listen }
        if let v = segment { s.worker.segment = v }
        if let v = segmentSize { s.worker.segmentSizeMiB = v }
        if let v = rootHints { s.worker.rootHints = v }
        if let v = logLevel { s.worker.logLevel = v }
        if let v = workerExecutable { s.workerExecutable = v }
        if let v = controlSocket { s.controlSocket = v }
        return (s, file)
    }

    /// What the workers are told on their command line: the file, then every override.
    func workerArguments(configFile: String?, settings s: SupervisorSettings) -> [String] {
        var a: [String] = []
        if let f = configFile { a += ["--config", f] }
        a += ["--segment", s.worker.segment, "--segment-size", "\(s.worker.segmentSizeMiB)", "--log-level", s.worker.logLevel]
        if let h = s.worker.rootHints { a += ["--root-hints", h] }
        if let p = upstreamPort { a += ["--upstream-port", "\(p)"] }
        return a
    }

    func run() throws {
        // Sockets systemd handed over (fd store, shoald.socket): taken before anything else, so
        // that the variables do not reach the workers.
        let inherited = InheritedSockets(InheritedDescriptors.take())
        let (s, configFile) = try settings()
        let level: Logger.Level
        do { level = try StandardErrorLogging.level(s.worker.logLevel, what: "log-level") } catch { throw ValidationError(error.message) }
        let topology = try Topology.read()
        let plan = try PlacementPlan.make(s.placementRequest, topology: topology, allowed: try CPUList.allowedForThisProcess())
        let account = try s.user.map { u throws(PrivilegeError) in try Account.lookup(user: u, group: s.group) }
        let executable = s.workerExecutable ?? Self.siblingExecutable("shoal-worker")
        let bridgeExecutable = s.bridgeConfigured ? s.bridgeExecutable ?? Self.siblingExecutable("shoal-bridge") : nil
        for a in s.worker.listen { _ = try parseListenAddress(a) }
        if checkConfig {
            print("shoald: configuration OK\(configFile.map { " (\($0))" } ?? " (built-in defaults)")")
            print("  workers: \(plan.workers.map(\.description).joined(separator: "; "))")
            print("  NUMA nodes in use: \(plan.nodesInUse.map(String.init).joined(separator: ", "))")
            for w in plan.warnings { print("  warning: \(w)") }
            print("  listen: \(s.worker.listen.joined(separator: ", ")) (UDP and TCP, one socket each per worker)")
            print("  user: \(account?.description ?? "unchanged (uid \(getuid()))"); worker: \(executable)")
            print("  segment: \(SegmentName.forInstance(s.worker.segment)), \(s.worker.segmentSizeMiB) MiB when created")
            print("  control socket: \(s.controlSocket)")
            print("  bridge: \(bridgeExecutable.map { "\($0), run and restarted by shoald" } ?? "not configured (no bridge: section)")")
            return
        }
        StandardErrorLogging.bootstrap(level)
        let logger = Logger(label: "shoald")
        for w in plan.warnings { logger.warning("placement: \(w)") }
        guard access(executable, X_OK) == 0 else { throw ValidationError("\(executable): not an executable (see --worker-executable)") }
        if let b = bridgeExecutable, access(b, X_OK) != 0 {
            throw ValidationError("\(b): not an executable (see the bridge-executable key)")
        }

        // Sockets first: binding port 53 needs root or CAP_NET_BIND_SERVICE, which go next.
        let serviceManager = ServiceManager.fromEnvironment { [logger] in logger.warning("\($0)") }
        let sockets = try Listeners.open(s.worker.listen, slots: plan.workers.count, inherited: inherited)
        let leftovers = inherited.finish()
        if !inherited.adopted.isEmpty { logger.notice("sockets from systemd: \(inherited.adopted.joined(separator: ", "))") }
        for name in leftovers.removeFromStore {
            serviceManager?.removeStored(name: name)
            logger.notice("fd store: \(name) is no longer configured; removed")
        }
        for u in leftovers.unused { logger.warning("socket from systemd not in the configuration, closed: \(u)") }
        for i in inherited.ignored { logger.warning("descriptor from systemd is not a UDP or TCP socket, closed: \(i)") }
        if let sm = serviceManager {
            let opened = sockets.flatMap(\.opened)
            for o in opened where !sm.store(o.fd, name: o.name) {
                logger.warning("fd store: \(o.name) not stored (FileDescriptorStoreMax too small?): a restart will rebind it")
            }
            if !opened.isEmpty { logger.info("fd store: \(opened.count) socket(s) stored") }
        }
        // The control socket too, in a directory the unprivileged user owns (as /run/shoal).
        let dir = String(s.controlSocket[..<(s.controlSocket.lastIndex(of: "/") ?? s.controlSocket.startIndex)])
        if !dir.isEmpty && access(dir, F_OK) != 0 {
            guard mkdir(dir, 0o750) == 0 else { throw ValidationError("control-socket \(s.controlSocket): cannot create \(dir): \(String(cString: strerror(errno)))") }
            if let a = account { chown(dir, a.uid, a.gid) }
        }
        let control = try ControlServer(path: s.controlSocket, owner: account.map { ($0.uid, $0.gid) })
        if getuid() == 0 && account == nil {
            logger.warning("running as root: set `user:` (e.g. shoal) so that shoald and its workers drop root; only CAP_NET_BIND_SERVICE is kept")
        }
        let holds = (PrivilegeStatus.read(pid: getpid())?.permitted ?? 0) & PrivilegeStatus.mask([.netBindService]) != 0
        let after = try Privileges.drop(to: account, keeping: holds ? [.netBindService] : [])
        logger.info("privileges: \(after)")

        // The segment as the user the workers run as, interleaved over the nodes in use.
        let (segment, outcome) = try SharedSegment.openOrCreate(
            name: SegmentName.forInstance(s.worker.segment), geometry: .sized(megabytes: s.worker.segmentSizeMiB),
            numa: NUMAPlacement(cpus: plan.workers.map(\.cpu)))
        logger.notice("segment \(segment.name): \(outcome), generation \(segment.generation), \(segment.totalSize >> 20) MiB")
        if segment.geometry.workerSlots < plan.workers.count {
            throw ValidationError("segment \(segment.name) has \(segment.geometry.workerSlots) worker slots, \(plan.workers.count) workers configured")
        }
        // Slots a previous shoald's workers left claimed (a crash of the whole daemon).
        let reclaimed = segment.reclaimStale()
        if reclaimed > 0 { logger.notice("reclaimed \(reclaimed) slot(s) left half-written by processes that are gone") }

        let supervisor = Supervisor(
            configuration: .init(executable: executable,
                                 workerArguments: workerArguments(configFile: configFile, settings: s),
                                 environment: Self.workerEnvironment(),
                                 backoff: RestartBackoff(minMillis: s.restartBackoffMinMillis, maxMillis: s.restartBackoffMaxMillis),
                                 heartbeatTimeoutSeconds: Double(s.heartbeatTimeoutSeconds),
                                 listen: s.worker.listen, segmentInstance: s.worker.segment,
                                 bridge: bridgeExecutable.map { ($0, ["--config", configFile ?? "", "--segment", s.worker.segment,
                                                                      "--log-level", s.worker.logLevel,
                                                                      "--metrics-file", Self.bridgeMetricsFile(s)]) },
                                 warmUpWaitSeconds: Double(s.bridgeWarmUpWaitMillis) / 1000),
            plan: plan, sockets: sockets, segment: segment, control: control,
            reloadSettings: configFile == nil ? nil : { try self.settings().0 },
            reopenSegment: {
                try SharedSegment.openOrCreate(name: SegmentName.forInstance(s.worker.segment),
                                               geometry: .sized(megabytes: s.worker.segmentSizeMiB),
                                               numa: NUMAPlacement(cpus: plan.workers.map(\.cpu))).0
            },
            serviceManager: serviceManager,
            logger: logger)
        // A new (empty) segment: the bridge, when there is one, may fill it from the fleet first.
        switch outcome {
        case .created, .recreated: supervisor.holdForWarmUp = true
        default: break
        }
        if bridgeExecutable != nil { supervisor.metrics.bridgeFile = Self.bridgeMetricsFile(s) }
        // Metrics after the drop: NIO starts its thread here, which must not take the signals
        // the run loop reads.
        Supervisor.blockSignals()
        var metricsServer: MetricsServer? = nil
        if let m = s.metrics {
            let supervision = supervisor.metrics
            supervision.segment = segment
            metricsServer = try MetricsServer(address: try parseListenAddress(m)) { supervision.render() }
            logger.notice("metrics on http://\(m)/metrics")
        }
        defer { _ = metricsServer }
        logger.notice("shoald \(ShoalVersion.string) ready, pid \(getpid())")
        let code = try supervisor.run()
        throw ExitCode(code)
    }

    /// Where the bridge writes its counters: the control socket's path with `.bridge.prom`
    /// added (/run/shoal/control.bridge.prom). Named after the socket, which no two shoalds
    /// share, so two on one host never read each other's bridge state (which ends the wait for
    /// the warm-up), even with their sockets in one directory.
    static func bridgeMetricsFile(_ s: SupervisorSettings) -> String { s.controlSocket + ".bridge.prom" }

    /// `name` in the directory of this executable.
    static func siblingExecutable(_ name: String) -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return name }
        let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = exe.lastIndex(of: "/") else { return name }
        return String(exe[..<slash]) + "/" + name
    }

    /// The environment workers start with: shoald's, minus what systemd meant for shoald alone
    /// (the notify socket, the watchdog, handed-over descriptors).
    static func workerEnvironment() -> [String] {
        let systemdOnly = ["NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=", "LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES="]
        var out: [String] = []
        var p = environ
        while let e = p.pointee {
            let entry = String(cString: e)
            if !systemdOnly.contains(where: { entry.hasPrefix($0) }) { out.append(entry) }
            p += 1
        }
        return out
    }
}

Shoald.main()
