import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Several descriptors with one owner (a worker slot's sockets, every listener of a daemon):
/// each is closed exactly once, when the group goes. Arrays cannot hold ``OwnedDescriptor``
/// (it is not copyable), so a group takes each one over and lends the numbers out.
public final class DescriptorGroup: @unchecked Sendable {
    // Appended to only before the group is shared (by its builder); read-only afterwards.
    private var fds: [Int32] = []

    public init() {}

    /// Takes `descriptor` over; returns its number.
    @discardableResult
    public func adopt(_ descriptor: consuming OwnedDescriptor) -> Int32 {
        let fd = descriptor.take().rawValue
        fds.append(fd)
        return fd
    }

    /// The descriptors, lent: do not close them.
    public var rawValues: [Int32] { fds }
    public var count: Int { fds.count }

    deinit {
        // Not retried: on Linux the descriptor is released even when close reports EINTR.
        for fd in fds { _ = Glibc.close(fd) }
    }
}
