import CShoalShims
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A system call (or libc function) that failed: which call, on what, and the errno it gave.
public struct SystemCallError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The call that failed, e.g. `recvmmsg`.
    public var call: String
    /// The error, read immediately after the failure (or the code a function returned itself).
    public var errno: Errno
    /// What the call was about: an address, a descriptor, a segment name.
    public var detail: String

    public init(call: String, errno: Errno, detail: String = "") {
        self.call = call
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        let what = detail.isEmpty ? call : "\(call) (\(detail))"
        return "\(what): \(String(cString: strerror(errno.rawValue))) (errno \(errno.rawValue))"
    }
}

extension Errno {
    /// The calling thread's `errno`, for callers that must read it themselves (one place only:
    /// everything else goes through ``sysCall(_:_:retryingInterrupts:_:)``).
    @inline(__always)
    public static var currentValue: Errno { Errno(rawValue: Glibc.errno) }
}

/// Runs a call that returns -1 and sets `errno` on failure (the NIOPosix `System.swift` pattern):
/// retries `EINTR` unless told not to, reads `errno` at once, and throws it typed, with the
/// call's name and `detail` (built only on failure).
///
/// Do not retry `close`: on Linux the descriptor is gone even when it reports `EINTR`.
@inline(__always)
public func sysCall<T: FixedWidthInteger>(_ call: String, _ detail: @autoclosure () -> String = "",
                                          retryingInterrupts: Bool = true,
                                          _ body: () -> T) throws(SystemCallError) -> T {
    while true {
        let r = body()
        if r != -1 { return r }
        let e = Glibc.errno
        if e == EINTR && retryingInterrupts { continue }
        throw SystemCallError(call: call, errno: Errno(rawValue: e), detail: detail())
    }
}

/// ``sysCall(_:_:retryingInterrupts:_:)`` for a non-blocking call: nil when it would block
/// (`EAGAIN`/`EWOULDBLOCK`), the call's result otherwise. Would-block is told from errno
/// before any error is made: no error value, no detail string, no allocation (the UDP front
/// end meets it once per round).
@inline(__always)
public func sysCallUnlessWouldBlock<T: FixedWidthInteger>(_ call: String, _ detail: @autoclosure () -> String = "",
                                                          _ body: () -> T) throws(SystemCallError) -> T? {
    while true {
        let r = body()
        if r != -1 { return r }
        let e = Glibc.errno
        if e == EINTR { continue }
        if e == EAGAIN || e == EWOULDBLOCK { return nil }
        throw SystemCallError(call: call, errno: Errno(rawValue: e), detail: detail())
    }
}

/// Runs a call that returns its error code itself and 0 on success (`posix_spawn`,
/// `posix_fallocate`, `pthread_create`): retries `EINTR` unless told not to, and throws any
/// other code typed, with the call's name and `detail`.
@inline(__always)
public func sysCallReturningError(_ call: String, _ detail: @autoclosure () -> String = "",
                                  retryingInterrupts: Bool = true,
                                  _ body: () -> Int32) throws(SystemCallError) {
    while true {
        let r = body()
        if r == 0 { return }
        if r == EINTR && retryingInterrupts { continue }
        throw SystemCallError(call: call, errno: Errno(rawValue: r), detail: detail())
    }
}
