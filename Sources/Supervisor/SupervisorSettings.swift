import Worker

/// What shoald is configured with: its own keys of the shared file, and the workers' (checked
/// here too, so `shoald --check-config` covers the whole file).
public struct SupervisorSettings: Sendable, Equatable {
    /// nil: one worker per CPU this process may run on.
    public var workers: Int?
    /// nil: every CPU this process may run on.
    public var cpus: CPUList?
    /// Spread workers over NUMA nodes (`numa: spread`, the default) or not (`numa: off`).
    public var spreadOverNodes = true
    /// nil: stay the user shoald was started as (as root: allowed, with a loud warning).
    public var user: String?
    public var group: String?
    public var controlSocket = "/run/shoal/control"
    /// `ADDR:PORT` of the Prometheus endpoint; nil: none.
    public var metrics: String?
    public var restartBackoffMinMillis = 100
    public var restartBackoffMaxMillis = 30_000
    /// A worker whose heartbeat is older than this is killed and replaced.
    public var heartbeatTimeoutSeconds = 10
    /// nil: `shoal-worker` next to shoald's own executable.
    public var workerExecutable: String?
    /// The file has a `bridge:` section: shoald runs shoal-bridge.
    public var bridgeConfigured = false
    /// nil: `shoal-bridge` next to shoald's own executable.
    public var bridgeExecutable: String?
    /// On a new segment, the workers wait this long for the bridge's warm-up (0: not at all).
    public var bridgeWarmUpWaitMillis = 2000
    /// The workers' settings (listen addresses, segment, limits, …).
    public var worker = WorkerSettings()

    public init() {}

    public mutating func apply(_ d: SettingsDocument) throws(ConfigError) {
        try d.checkKeys(known: SharedConfigKeys.supervisor, others: WorkerSettings.keys + SharedConfigKeys.bridge)
        try worker.apply(d)
        if let v = try d.int("workers", 1...4096) { workers = v }
        if let v = try d.scalarText("cpus") {
            do { cpus = try CPUList(parsing: v) } catch { throw d.error("cpus", "\(error)") }
            if cpus?.isEmpty == true { throw d.error("cpus", "is empty") }
        }
        if let v = try d.string("numa") {
            switch v {
            case "spread": spreadOverNodes = true
            case "off": spreadOverNodes = false
            default: throw d.error("numa", "must be spread or off, not \(v)")
            }
        }
        if let v = try d.string("user") { user = v }
        if let v = try d.string("group") { group = v }
        if let v = try d.string("control-socket") { controlSocket = v }
        if let v = try d.string("metrics") {
            do { _ = try parseListenAddress(v) } catch { throw d.error("metrics", "must be ADDR:PORT (\(error))") }
            metrics = v
        }
        if let v = try d.int("restart-backoff-min-ms", 1...600_000) { restartBackoffMinMillis = v }
        if let v = try d.int("restart-backoff-max-ms", 1...3_600_000) { restartBackoffMaxMillis = v }
        guard restartBackoffMaxMillis >= restartBackoffMinMillis else {
            throw d.error(d.contains("restart-backoff-max-ms") ? "restart-backoff-max-ms" : "restart-backoff-min-ms",
                          "must leave restart-backoff-max-ms >= restart-backoff-min-ms")
        }
        if let v = try d.int("heartbeat-timeout", 2...3600) { heartbeatTimeoutSeconds = v }
        if let v = try d.string("worker-executable") { workerExecutable = v }
        if let v = try d.string("bridge-executable") { bridgeExecutable = v }
        if let v = try d.int("bridge-warm-up-wait-ms", 0...60_000) { bridgeWarmUpWaitMillis = v }
        bridgeConfigured = d.contains("bridge")
    }

    public var placementRequest: PlacementRequest {
        PlacementRequest(workers: workers, cpus: cpus, spreadOverNodes: spreadOverNodes)
    }
}

/// Restart back-off: doubles with each crash in a row from `min` to `max`; a worker that ran
/// for `stableSeconds` starts again from `min`.
public struct RestartBackoff: Hashable, Sendable {
    public var minMillis: Int
    public var maxMillis: Int
    public var stableSeconds: Double = 30

    public init(minMillis: Int, maxMillis: Int) { self.minMillis = minMillis; self.maxMillis = maxMillis }

    /// Delay before restarting a worker that crashed after running `ranFor` seconds, its
    /// `streak`-th quick crash in a row (0 for the first). Returns the delay and the new streak.
    public func next(ranFor: Double, streak: Int) -> (delayMillis: Int, streak: Int) {
        if ranFor >= stableSeconds { return (minMillis, 0) }
        let d = min(maxMillis, minMillis << min(streak, 20))
        return (d, streak + 1)
    }
}
