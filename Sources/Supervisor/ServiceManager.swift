import CSystemd
import ShoalSystem
#if canImport(Glibc)
import Glibc
#endif

/// systemd's side of shoald, through libsystemd's sd-daemon API: the notify protocol (READY,
/// STATUS, RELOADING, STOPPING, WATCHDOG) and the file-descriptor store.
///
/// Exists only when systemd started shoald with a notify socket (`NOTIFY_SOCKET`); run by hand
/// or in a container, ``fromEnvironment()`` is nil and shoald skips all of it.
public final class ServiceManager {
    /// How often systemd expects `WATCHDOG=1` (half of `WatchdogSec=`), or nil without a watchdog.
    public let watchdogInterval: Double?
    private var lastWatchdog = 0.0
    private var lastStatus = ""
    private let logger: ((String) -> Void)?

    /// The manager that started this process, or nil when none listens.
    public static func fromEnvironment(log: ((String) -> Void)? = nil) -> ServiceManager? {
        guard let socket = getenv("NOTIFY_SOCKET"), socket.pointee != 0 else { return nil }
        return ServiceManager(log: log)
    }

    private init(log: ((String) -> Void)?) {
        var usec: UInt64 = 0
        // > 0: a watchdog is set for this very process (WATCHDOG_PID, when set, is our pid).
        watchdogInterval = sd_watchdog_enabled(0, &usec) > 0 && usec > 0 ? Double(usec) / 2_000_000 : nil
        logger = log
    }

    /// Sends `state` (newline-separated KEY=VALUE), with `descriptors` attached when given.
    @discardableResult
    public func notify(_ state: String, descriptors: [Int32] = []) -> Bool {
        let r: Int32
        if descriptors.isEmpty {
            r = sd_notify(0, state)
        } else {
            r = descriptors.withUnsafeBufferPointer { sd_pid_notify_with_fds(0, 0, state, $0.baseAddress, UInt32($0.count)) }
        }
        if r < 0 { logger?("systemd notify \(state.split(separator: "\n").first ?? ""): \(String(cString: strerror(-r)))") }
        return r > 0
    }

    /// The service is up: every worker answers.
    public func ready(status: String) { notify("READY=1\nSTATUS=\(status)"); lastStatus = status }

    /// A reload started (systemd shows the unit "reloading" until the next READY=1).
    public func reloading() {
        notify("RELOADING=1\nMONOTONIC_USEC=\(Clock.monotonicNanos() / 1000)\nSTATUS=reloading")
    }

    public func stopping() { notify("STOPPING=1\nSTATUS=stopping the workers") }

    /// The one-line summary `systemctl status` shows; sent only when it changed.
    public func status(_ line: String) {
        guard line != lastStatus else { return }
        lastStatus = line
        notify("STATUS=\(line)")
    }

    /// Keeps the watchdog fed; call from the run loop, which does so only while its checks pass.
    public func feedWatchdog(now: Double) {
        guard let interval = watchdogInterval, now - lastWatchdog >= interval else { return }
        lastWatchdog = now
        notify("WATCHDOG=1")
    }

    /// Puts `descriptor` in the service's fd store under `name`; systemd hands it back through
    /// `LISTEN_FDS` to the next shoald of this service (restart, crash, watchdog). FDPOLL=0:
    /// systemd must not drop a socket because it became readable (queries wait in it).
    @discardableResult
    public func store(_ descriptor: Int32, name: String) -> Bool {
        notify("FDSTORE=1\nFDNAME=\(name)\nFDPOLL=0", descriptors: [descriptor])
    }

    /// Removes what is stored under `name` (a socket no longer configured).
    public func removeStored(name: String) { notify("FDSTOREREMOVE=1\nFDNAME=\(name)") }
}

/// Descriptors systemd passed at start (`LISTEN_FDS`, `LISTEN_FDNAMES`, `LISTEN_PID`): the fd
/// store's sockets and those of a socket unit. Taken once, early in main; the variables are
/// removed so that children do not see them.
public struct InheritedDescriptors {
    public struct Entry {
        public var fd: Int32
        public var name: String
    }
    public var entries: [Entry]

    public static func take() -> InheritedDescriptors {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil
        let n = sd_listen_fds_with_names(1, &names)
        guard n > 0 else { return InheritedDescriptors(entries: []) }
        var out: [Entry] = []
        for i in 0..<Int(n) {
            let name = names?[i].map { String(cString: $0) } ?? "unknown"
            out.append(Entry(fd: SD_LISTEN_FDS_START + Int32(i), name: name))
            free(names?[i])
        }
        free(names)
        return InheritedDescriptors(entries: out)
    }
}
