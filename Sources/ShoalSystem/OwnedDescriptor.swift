import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A file descriptor (a socket, an epoll instance, an eventfd) and the duty to close it.
///
/// Closed exactly once: in `deinit`, or by ``close()``; never twice, since the value cannot be
/// copied. ``take()`` hands the descriptor over without closing it (to another owner, to NIO,
/// or across `exec` to a worker), after which this owner no longer exists. Code that only uses
/// the descriptor borrows it (``descriptor``, ``withDescriptor(_:)``) and must not close it.
///
/// Sendable: the owner is a number; the kernel serialises what threads do with one descriptor,
/// and the duty to close moves with the value.
public struct OwnedDescriptor: ~Copyable, Sendable {
    private let raw: Int32

    /// Takes over `descriptor`, which must be open and owned by no one else.
    public init(adopting descriptor: FileDescriptor) {
        raw = descriptor.rawValue
    }

    /// Takes over the raw descriptor `fd` (an inherited socket, or one a call just returned).
    public init(adopting fd: Int32) {
        precondition(fd >= 0, "adopting an invalid descriptor \(fd)")
        raw = fd
    }

    deinit {
        // Not retried: on Linux the descriptor is released even when close reports EINTR.
        _ = Glibc.close(raw)
    }

    /// The descriptor, lent for as long as the owner is borrowed. Do not close it.
    public var descriptor: FileDescriptor {
        borrowing get { FileDescriptor(rawValue: raw) }
    }

    /// The raw number, lent like ``descriptor`` (for C calls, logs and epoll registrations).
    public var rawValue: Int32 {
        borrowing get { raw }
    }

    /// Lends the descriptor to `body`, which must not close it or keep it.
    public borrowing func withDescriptor<R, E: Error>(_ body: (FileDescriptor) throws(E) -> R) throws(E) -> R {
        try body(FileDescriptor(rawValue: raw))
    }

    /// Hands the descriptor over without closing it; the caller now owns it.
    public consuming func take() -> FileDescriptor {
        let d = FileDescriptor(rawValue: raw)
        discard self
        return d
    }

    /// Closes now and reports the error, which `deinit` cannot (the descriptor is released
    /// either way).
    public consuming func close() throws(SystemCallError) {
        let fd = raw
        discard self
        _ = try sysCall("close", "fd \(fd)", retryingInterrupts: false) { Glibc.close(fd) }
    }
}
