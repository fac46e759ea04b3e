import Foundation
import Synchronization

/// A running lab: every nsd instance answering, the black hole swallowing, files in place.
///
/// `start` first ends whatever a previous run left in the same directory (crashed tests, a
/// forgotten `shoal-lab up`), then generates, signs (reusing cached keys and unchanged signed
/// zones), checks and starts. Processes outlive the `Lab` value on purpose (`shoal-lab up`
/// exits and leaves the lab running): call `stop()`, or use `withLab`, which always does.
public final class Lab: Sendable {
    public let config: LabConfig
    public let hierarchy: LabHierarchy
    public let paths: LabPaths
    public let buildReport: LabBuildReport
    /// Seconds from the call to `start` until every server answered.
    public let startSeconds: Double
    private let blackhole: Blackhole?
    private let stopped = Atomic<Bool>(false)
    /// Held from start to stop; released early only by `stop()`.
    private let lock: Mutex<LabLock?>

    private init(config: LabConfig, hierarchy: LabHierarchy, buildReport: LabBuildReport,
                 startSeconds: Double, blackhole: Blackhole?, lock: LabLock) {
        self.config = config
        self.hierarchy = hierarchy
        paths = LabPaths(directory: config.directory)
        self.buildReport = buildReport
        self.startSeconds = startSeconds
        self.blackhole = blackhole
        self.lock = Mutex(lock)
    }

    // MARK: Addresses

    /// Where to send a query meant for a server's public address (differs only when a relay
    /// sits between `addressPrefix` and `listenPrefix`).
    public func listenAddress(_ publicAddress: String) -> String { hierarchy.plan.listenAddress(publicAddress) }

    /// The root servers' public addresses, as in the root hints.
    public var rootServers: [String] { hierarchy.plan.rootAddresses }

    /// Addresses that answer for `zone` (listen form, black holes left out).
    public func servers(for zone: String) -> [String] {
        hierarchy.answeringServers(for: zone).map(listenAddress)
    }

    /// The black-hole addresses (listen form).
    public var blackholeAddresses: [String] { hierarchy.plan.blackholeAddresses.map(listenAddress) }

    // MARK: Lifecycle

    /// Generates, signs and starts the lab described by `config`; `progress` hears one line
    /// per phase. Throws `LabError`; on failure nothing of this lab is left running.
    public static func start(_ config: LabConfig, progress: @Sendable (String) -> Void = { _ in }) throws -> Lab {
        let began = Date()
        let hierarchy = try LabHierarchy(config)
        let generateSeconds = Date().timeIntervalSince(began)
        let paths = LabPaths(directory: config.directory)
        let lock = try LabLock(directory: config.directory, timeout: config.lockTimeoutSeconds, progress: progress)

        let stale = try LabProcesses.terminate(paths: paths)
        if !stale.isEmpty { progress("stopped \(stale.count) stale process(es) of a previous run") }

        progress("generated \(hierarchy.zones.count) zones, \(hierarchy.expectedAnswers.count) expected answers")
        let report = try LabBuilder.build(config, hierarchy, generateSeconds: generateSeconds)
        progress(String(format: "keys %.2fs, signing %.2fs (%d of %d zones signed this run)",
                        report.keySeconds, report.signSeconds, report.zonesSigned, report.zonesTotal))

        let instances = hierarchy.instances.map { NSDInstance(server: $0, hierarchy: hierarchy, paths: paths) }
        var blackhole: Blackhole?
        do {
            for instance in instances { try instance.writeAndCheck(tools: config.tools) }
            for instance in instances { try instance.start(tools: config.tools) }
            blackhole = try startBlackhole(config, hierarchy, paths)
            for instance in instances { try LabReadiness.waitUntilServing(instance) }
        } catch {
            blackhole?.stop()
            _ = try? LabProcesses.terminate(paths: paths)
            throw error
        }
        let lab = Lab(config: config, hierarchy: hierarchy, buildReport: report,
                      startSeconds: Date().timeIntervalSince(began), blackhole: blackhole, lock: lock)
        progress(String(format: "%d nsd instances answering after %.2fs", instances.count, lab.startSeconds))
        return lab
    }

    /// Stops every process of this lab (and an in-process black hole). Safe to call twice.
    public func stop() throws {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        blackhole?.stop()
        defer { lock.withLock { $0 = nil } }
        try Lab.stop(directory: config.directory)
    }

    /// Lets go of the lab without stopping its nsd servers, as a crash would: releases the
    /// directory lock and stops an in-process black hole. The next `start` in the directory
    /// stops the servers; `stop(directory:)` does too. For handing a lab to another process and
    /// for testing stale-process cleanup.
    public func detach() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        blackhole?.stop()
        lock.withLock { $0 = nil }
    }

    /// Stops whatever runs from `directory`, whoever started it; returns what was signalled.
    @discardableResult
    public static func stop(directory: String) throws -> [LabProcess] {
        let paths = LabPaths(directory: URL(fileURLWithPath: directory).standardizedFileURL.path)
        let stopped = try LabProcesses.terminate(paths: paths)
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: paths.nsd)) ?? [] where name.hasSuffix(".pid") {
            try? fm.removeItem(atPath: "\(paths.nsd)/\(name)")
        }
        try? fm.removeItem(atPath: paths.blackholePidfile)
        return stopped
    }

    private static func startBlackhole(_ config: LabConfig, _ hierarchy: LabHierarchy, _ paths: LabPaths) throws -> Blackhole? {
        let addresses = hierarchy.plan.blackholeAddresses.map(hierarchy.plan.listenAddress)
        switch config.blackhole {
        case .inProcess:
            let hole = try Blackhole(addresses: addresses)
            hole.start()
            return hole
        case let .process(executable):
            try? FileManager.default.removeItem(atPath: paths.blackholePidfile)
            var args = ["-f", executable, "blackhole", "--pidfile", paths.blackholePidfile]
            for a in addresses { args += ["--listen", a] }
            let status = try ToolRunner.launch(ToolInvocation(tool: config.tools.setsid, arguments: args),
                                               output: paths.blackholeLog)
            let deadline = Date().addingTimeInterval(5)
            while LabProcesses.livePid(inPidfile: paths.blackholePidfile) == nil {
                guard Date() < deadline, status == 0 else {
                    let log = (try? String(contentsOfFile: paths.blackholeLog, encoding: .utf8)) ?? ""
                    throw LabError.blackholeFailed(address: addresses.joined(separator: ","),
                                                   reason: "no pidfile after 5s (setsid status \(status)):\n\(log.suffix(2000))")
                }
                usleep(20_000)
            }
            return nil
        }
    }
}

/// Starts a lab, runs `body`, and stops the lab whether `body` returns or throws.
public func withLab<T>(_ config: LabConfig, _ body: (Lab) throws -> T) throws -> T {
    let lab = try Lab.start(config)
    let result: T
    do { result = try body(lab) } catch {
        try? lab.stop()
        throw error
    }
    try lab.stop()
    return result
}

/// Async form of `withLab`: starting (seconds of blocking process work) runs on a thread of
/// its own so the concurrency pool stays free.
public func withLab<T>(_ config: LabConfig, _ body: (Lab) async throws -> T) async throws -> T {
    let lab = try await Lab.startDetached(config)
    let result: T
    do { result = try await body(lab) } catch {
        try? lab.stop()
        throw error
    }
    try lab.stop()
    return result
}

extension Lab {
    /// `start(_:)` on a dedicated thread, awaited.
    public static func startDetached(_ config: LabConfig) async throws -> Lab {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Lab, any Error>) in
            Thread { c.resume(with: Result { try Lab.start(config) }) }.start()
        }
    }
}
