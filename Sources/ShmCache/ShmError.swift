import ShoalSystem
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

extension ShmError {
    /// A failed call of the system layer, as this module reports it.
    init(_ e: SystemCallError) {
        self.init(syscall: e.call, errno: e.errno.rawValue, detail: e.detail)
    }
}

/// Runs calls of the system layer (ShoalSystem), reporting their failures as `ShmError`.
@inline(__always)
func shm<R>(_ body: () throws(SystemCallError) -> R) throws(ShmError) -> R {
    do { return try body() } catch { throw ShmError(error) }
}

/// Wall-clock seconds (CLOCK_REALTIME): expiry times are absolute so they survive restarts.
@inline(__always)
public func shmNow() -> UInt32 { Clock.wallSeconds() }
