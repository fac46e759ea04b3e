#if canImport(Glibc)
import Glibc
#endif

/// A failed system call on the shared segment: which call, on what, and the errno it returned.
public struct ShmError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The system call (or libc function) that failed, e.g. `shm_open`.
    public var syscall: String
    /// The `errno` value read immediately after the failure (or the code a function returned).
    public var errno: Int32
    /// What the call was about: a segment name, a size.
    public var detail: String

    public init(syscall: String, errno: Int32, detail: String = "") {
        self.syscall = syscall
        self.errno = errno
        self.detail = detail
    }

    /// A segment that exists but cannot be used (bad header, wrong size) by an attach that may
    /// not recreate it.
    public static func invalidSegment(_ detail: String) -> ShmError {
        ShmError(syscall: "attach", errno: EINVAL, detail: detail)
    }

    public var description: String {
        let msg = String(cString: strerror(errno))
        return detail.isEmpty ? "\(syscall): \(msg) (errno \(errno))" : "\(syscall) \(detail): \(msg) (errno \(errno))"
    }
}

/// Runs a system call that returns -1 and sets errno on failure; retries `EINTR`, reads errno
/// at once and throws a typed error (the NIOPosix `System.swift` pattern).
@inline(__always)
func sysCall<T: FixedWidthInteger>(_ name: String, _ detail: @autoclosure () -> String = "",
                                   _ body: () -> T) throws(ShmError) -> T {
    while true {
        let r = body()
        if r != -1 { return r }
        let e = Glibc.errno
        if e == EINTR { continue }
        throw ShmError(syscall: name, errno: e, detail: detail())
    }
}

/// Wall-clock seconds (CLOCK_REALTIME): expiry times are absolute so they survive restarts.
@inline(__always)
public func shmNow() -> UInt32 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt32(truncatingIfNeeded: ts.tv_sec)
}
