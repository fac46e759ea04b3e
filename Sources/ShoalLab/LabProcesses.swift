import Foundation
import Glibc

/// A live process that belongs to a lab directory.
public struct LabProcess: Sendable, Hashable {
    public var pid: Int32
    public var commandLine: String
}

/// Finds and ends the processes of one lab directory — and only those.
///
/// A process belongs to the lab when its command line is `nsd -c <dir>/nsd/…` (nsd's children
/// keep their parent's command line) or `… blackhole … --pidfile <dir>/run/…`. Matching on the
/// directory rather than on pidfiles alone also catches a previous run's processes whose
/// pidfiles were lost, and never touches another lab's.
enum LabProcesses {
    static func find(paths: LabPaths) -> [LabProcess] {
        let me = getpid()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var result: [LabProcess] = []
        for entry in entries {
            guard let pid = Int32(entry), pid != me,
                  let raw = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"), !raw.isEmpty else { continue }
            let argv = raw.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            if belongs(argv, paths) {
                result.append(LabProcess(pid: pid, commandLine: argv.filter { !$0.isEmpty }.joined(separator: " ")))
            }
        }
        return result.sorted { $0.pid < $1.pid }
    }

    private static func belongs(_ argv: [String], _ paths: LabPaths) -> Bool {
        guard let program = argv.first?.split(separator: "/").last else { return false }
        func value(after flag: String) -> String? {
            guard let i = argv.firstIndex(of: flag), i + 1 < argv.count else { return nil }
            return argv[i + 1]
        }
        if program == "nsd", let conf = value(after: "-c") { return conf.hasPrefix(paths.nsd + "/") }
        if argv.contains("blackhole"), let pidfile = value(after: "--pidfile") { return pidfile.hasPrefix(paths.run + "/") }
        return false
    }

    /// SIGTERM, then SIGKILL for whatever is still there after `grace` seconds. Returns the
    /// processes that were signalled.
    @discardableResult
    static func terminate(paths: LabPaths, grace: Double = 3) throws -> [LabProcess] {
        let victims = find(paths: paths)
        guard !victims.isEmpty else { return [] }
        for p in victims { kill(p.pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(grace)
        while Date() < deadline, victims.contains(where: { alive($0.pid) }) { usleep(20_000) }
        let stubborn = victims.filter { alive($0.pid) }
        for p in stubborn { kill(p.pid, SIGKILL) }
        let killDeadline = Date().addingTimeInterval(2)
        while Date() < killDeadline, stubborn.contains(where: { alive($0.pid) }) { usleep(20_000) }
        if let p = stubborn.first(where: { alive($0.pid) }) {
            throw LabError.processWouldNotDie(pid: p.pid, commandLine: p.commandLine)
        }
        return victims
    }

    /// True while the process exists and is not a zombie waiting for its parent.
    static func alive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).prefix(1)
        return state != "Z" && state != "X"
    }

    /// The pid in a pidfile, if it names a live process.
    static func livePid(inPidfile path: String) -> Int32? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0, alive(pid) else { return nil }
        return pid
    }
}
