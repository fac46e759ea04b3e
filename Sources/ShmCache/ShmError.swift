import ShoalSystem
import SystemPackage

/// The segment's failures are the system layer's errors: the call (or the step: `attach`,
/// `geometry`, `recreate`) that failed, on what, and the errno.
public typealias ShmError = SystemCallError

extension SystemCallError {
    init(syscall: String, errno: Int32, detail: String = "") {
        self.init(call: syscall, errno: Errno(rawValue: errno), detail: detail)
    }

    /// A segment that exists but cannot be used (bad header, wrong size) by an attach that may
    /// not recreate it.
    static func invalidSegment(_ detail: String) -> SystemCallError {
        SystemCallError(call: "attach", errno: .invalidArgument, detail: detail)
    }
}

/// Wall-clock seconds (CLOCK_REALTIME): expiry times are absolute so they survive restarts.
@inline(__always)
public func shmNow() -> UInt32 { Clock.wallSeconds() }
