import Foundation
import ShoalSystem
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A program a test starts and watches: spawned as shoald spawns its children (``Spawn``), its
/// standard output and error in a file, reaped by the test.
public final class TestChild: @unchecked Sendable {
    public let pid: pid_t
    /// Where its standard output and error go.
    public let outPath: String
    /// The wait status once reaped.
    public private(set) var status: Int32?
    /// The output file was made up here, and goes with the child.
    private let ownsOutput: Bool

    /// Starts `executable` with `arguments` and this process's environment; its output goes to
    /// `output`, or to a temporary file removed with the child.
    public init(_ executable: String, _ arguments: [String], output: String? = nil) throws {
        ownsOutput = output == nil
        outPath = output ?? "/tmp/shoal-test-child.\(getpid()).\(UInt32.random(in: 0...UInt32.max)).out"
        let fd = open(outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        try #require(fd >= 0, "open \(outPath): errno \(errno)")
        defer { close(fd) }
        let environment = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        pid = try Spawn.start(executable, arguments: arguments, descriptors: [], environment: environment, output: fd)
    }

    /// Reaps it if it has exited (without waiting); true once it has.
    public func poll() -> Bool {
        if status != nil { return true }
        var st: Int32 = 0
        if waitpid(pid, &st, WNOHANG) == pid { status = st }
        return status != nil
    }

    /// Sends `signal` (unless it has exited) and waits for the exit; the wait status.
    @discardableResult
    public func stop(_ signal: Int32 = SIGTERM) -> Int32 {
        if let status { return status }
        kill(pid, signal)
        return reap()
    }

    /// SIGKILL, unless it has exited.
    public func kill9() {
        if status == nil { kill(pid, SIGKILL) }
    }

    /// Waits until it has exited; the wait status.
    @discardableResult
    public func reap() -> Int32 {
        if let status { return status }
        var st: Int32 = 0
        while waitpid(pid, &st, 0) == -1 && errno == EINTR {}
        status = st
        return st
    }

    /// Exited with status 0 (not by a signal).
    public var exitedCleanly: Bool { status.map { ExitStatus(waitStatus: $0) == .exited(0) } ?? false }

    /// What it wrote so far.
    public var output: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }

    deinit {
        if status == nil { kill(pid, SIGKILL); reap() }
        if ownsOutput { unlink(outPath) }
    }
}

/// An executable of this package, built next to the test bundle (`swift build --build-tests`).
public func builtExecutable(_ name: String) throws -> String {
    var dir = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    while let slash = dir.lastIndex(of: "/") {
        dir = String(dir[..<slash])
        if access(dir + "/" + name, X_OK) == 0 { return dir + "/" + name }
        if dir.hasSuffix("/debug") || dir.hasSuffix("/release") || dir.isEmpty { break }
    }
    Issue.record("\(name) not found next to the tests: build with `swift build --build-tests`")
    throw CancellationError()
}
