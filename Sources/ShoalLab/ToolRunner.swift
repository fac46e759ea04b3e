import Foundation
import Glibc
import Synchronization

/// One run of an external program.
struct ToolInvocation: Sendable {
    var tool: String
    var arguments: [String]
    /// Working directory; nil keeps the current one.
    var directory: String? = nil
}

/// Runs a program to completion, for tests of the project's own tools: its exit status and its
/// stdout and stderr merged.
public func runProgram(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    try ToolRunner.run(ToolInvocation(tool: path, arguments: arguments))
}

/// Runs external programs (ldns, nsd, setsid) and turns failures into `LabError`s carrying
/// their output.
enum ToolRunner {
    /// Runs to completion and returns the exit status with stdout and stderr merged.
    ///
    /// The output goes through a file and the end is seen with waitpid, never a pipe read to
    /// its end: a daemon the program starts, or one another test starts meanwhile, could hold
    /// a pipe's write end open forever.
    static func run(_ invocation: ToolInvocation) throws -> (status: Int32, output: String) {
        let file = NSTemporaryDirectory() + "tool-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).out"
        defer { unlink(file) }
        var direct = invocation
        if let dir = invocation.directory {
            direct = ToolInvocation(tool: "/bin/sh", arguments: ["-c", "cd \"$0\" && exec \"$@\"", dir, invocation.tool] + invocation.arguments)
        }
        let status = try launch(direct, output: file)
        let data = FileManager.default.contents(atPath: file) ?? Data()
        return (status, String(decoding: data, as: UTF8.self))
    }

    /// Runs to completion; throws `LabError.toolFailed` unless the status is 0.
    @discardableResult
    static func runChecked(_ invocation: ToolInvocation) throws -> String {
        let (status, output) = try run(invocation)
        guard status == 0 else {
            throw LabError.toolFailed(tool: invocation.tool, arguments: invocation.arguments, status: status, output: output)
        }
        return output
    }

    /// Runs a program that daemonises (or is wrapped in `setsid -f`) with its output appended
    /// to `output`, and waits for the launcher itself to exit. Returns its exit status. Runs in
    /// the current directory (`invocation.directory` is not supported here).
    ///
    /// posix_spawn rather than Foundation's `Process`: on Linux, `Process` notices the end of a
    /// child through a descriptor the child inherits, and a daemon keeps that descriptor open,
    /// so `waitUntilExit` would never return.
    static func launch(_ invocation: ToolInvocation, output: String) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        // Daemons must start with default signal handling and nothing blocked, whatever this
        // process (the Swift runtime, a test runner) set for itself.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        for sig in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([invocation.tool] + invocation.arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, invocation.tool, &actions, &attributes, argv, environ)
        guard rc == 0 else {
            throw LabError.launchFailed(tool: invocation.tool, reason: String(cString: strerror(rc)))
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else {
                throw LabError.launchFailed(tool: invocation.tool, reason: "waitpid: \(String(cString: strerror(errno)))")
            }
        }
        // WIFEXITED / WEXITSTATUS are macros Swift cannot see.
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }

    /// Runs `jobs` on `width` threads and waits for all of them; rethrows the first failure
    /// after every job has finished, so no job is left running behind the caller's back.
    static func parallel(_ jobs: [@Sendable () throws -> Void], width: Int) throws {
        guard !jobs.isEmpty else { return }
        let state = Mutex<(next: Int, error: (any Error)?)>((0, nil))
        let done = DispatchGroup()
        // Threads rather than the Swift concurrency pool: every job blocks in waitpid, and the
        // cooperative pool has only as many threads as cores.
        for _ in 0..<min(width, jobs.count) {
            done.enter()
            let thread = Thread {
                defer { done.leave() }
                while true {
                    let i = state.withLock { s -> Int in
                        defer { s.next += 1 }
                        return s.next
                    }
                    guard i < jobs.count else { return }
                    do { try jobs[i]() } catch {
                        state.withLock { s in if s.error == nil { s.error = error } }
                    }
                }
            }
            thread.start()
        }
        done.wait()
        if let error = state.withLock({ $0.error }) { throw error }
    }
}
