import NIOCore
import ShoalSystem
#if canImport(Glibc)
import Glibc
#endif

/// A socket shoald opened, and the name it has in systemd's fd store.
public struct StoredSocket: Sendable, Equatable {
    public var fd: Int32
    public var name: String
}

/// What a listening socket is (protocol, address, port), however it was obtained: configured
/// addresses and inherited descriptors are matched on this, not on names alone.
public struct SocketKey: Hashable, Sendable, CustomStringConvertible {
    /// SOCK_DGRAM or SOCK_STREAM.
    public var type: Int32
    /// The address as inet_ntop writes it.
    public var host: String
    public var port: Int

    public init(type: __socket_type, address: SocketAddress) {
        self.type = Int32(type.rawValue)
        self.host = address.ipAddress ?? "?"
        self.port = address.port ?? 0
    }

    /// The key of a bound socket, or nil when `fd` is not an IPv4/IPv6 UDP or TCP socket.
    public init?(descriptor fd: Int32) {
        var type: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0,
              type == Int32(SOCK_DGRAM.rawValue) || type == Int32(SOCK_STREAM.rawValue) else { return nil }
        var storage = sockaddr_storage()
        var slen = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let got = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &slen) }
        }
        guard got == 0 else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.ss_family) {
        case AF_INET:
            var a = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in.self) }
            guard inet_ntop(AF_INET, &a.sin_addr, &text, socklen_t(text.count)) != nil else { return nil }
            port = Int(UInt16(bigEndian: a.sin_port))
        case AF_INET6:
            var a = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in6.self) }
            guard inet_ntop(AF_INET6, &a.sin6_addr, &text, socklen_t(text.count)) != nil else { return nil }
            port = Int(UInt16(bigEndian: a.sin6_port))
        default:
            return nil
        }
        self.type = type
        host = String(cString: text)
    }

    public var isUDP: Bool { type == Int32(SOCK_DGRAM.rawValue) }

    /// The name in the fd store: stable across restarts, and a valid FDNAME (printable, no
    /// colon): `shoal-udp-127.0.0.1-53-s0`, `shoal-tcp-__1-53`.
    public func storeName(slot: Int?) -> String {
        let h = host.replacingOccurrences(of: ":", with: "_")
        return "\(Self.storePrefix)\(isUDP ? "udp" : "tcp")-\(h)-\(port)" + (slot.map { "-s\($0)" } ?? "")
    }

    /// Names shoald gives what it stores; anything else came from a socket unit.
    public static let storePrefix = "shoal-"

    public var description: String { "\(isUDP ? "UDP" : "TCP") \(host.contains(":") ? "[\(host)]" : host):\(port)" }
}

/// The sockets systemd handed to this shoald (`LISTEN_FDS`): from the fd store of an earlier
/// shoald of the service, and from `shoald.socket`. ``Listeners`` takes from here what matches
/// the configuration before it opens anything; ``finish()`` closes the rest and names what the
/// store should drop.
public final class InheritedSockets {
    struct Candidate {
        var fd: Int32
        var name: String
        var key: SocketKey
        var stored: Bool { name.hasPrefix(SocketKey.storePrefix) }
    }
    private var candidates: [Candidate] = []
    /// UDP sockets of a socket unit, by address: one socket that every slot shares (systemd
    /// bound it as root, so shoald cannot add SO_REUSEPORT siblings of its own to the group).
    private var shared: [SocketKey: Int32] = [:]
    /// What was taken, for the log: store name or socket unit name, and the socket.
    public private(set) var adopted: [String] = []
    /// Descriptors that are not IP sockets (closed).
    public private(set) var ignored: [String] = []

    public init(_ inherited: InheritedDescriptors) {
        for e in inherited.entries {
            if let key = SocketKey(descriptor: e.fd) {
                candidates.append(Candidate(fd: e.fd, name: e.name, key: key))
            } else {
                ignored.append("fd \(e.fd) (\(e.name))")
                _ = Glibc.close(e.fd)
            }
        }
    }

    public var isEmpty: Bool { candidates.isEmpty && shared.isEmpty }

    /// The socket for `key` (and UDP `slot`): the one stored under the slot's name, else one of a
    /// socket unit with that address. nil: open it.
    func take(_ key: SocketKey, slot: Int?) -> OwnedDescriptor? {
        let name = key.storeName(slot: slot)
        if let i = candidates.firstIndex(where: { $0.key == key && $0.name == name }) {
            adopted.append("\(name) (\(key))")
            return OwnedDescriptor(adopting: candidates.remove(at: i).fd)
        }
        if !key.isUDP, let i = candidates.firstIndex(where: { $0.key == key }) {
            let c = candidates.remove(at: i)
            adopted.append("\(c.name) (\(key))")
            return OwnedDescriptor(adopting: c.fd)
        }
        guard key.isUDP else { return nil }
        if shared[key] == nil, let i = candidates.firstIndex(where: { $0.key == key && !$0.stored }) {
            let c = candidates.remove(at: i)
            shared[key] = c.fd
            adopted.append("\(c.name) (\(key), shared by every slot)")
        }
        guard let fd = shared[key] else { return nil }
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        return copy >= 0 ? OwnedDescriptor(adopting: copy) : nil
    }

    /// Closes what was not taken. Returns the store names of shoald's own sockets among them
    /// (no longer configured: remove them from the store) and a description of the others.
    public func finish() -> (removeFromStore: [String], unused: [String]) {
        var remove: [String] = [], unused: [String] = []
        for c in candidates {
            if c.stored { remove.append(c.name) } else { unused.append("\(c.name) (\(c.key))") }
            _ = Glibc.close(c.fd)
        }
        for fd in shared.values { _ = Glibc.close(fd) }
        candidates = []
        shared = [:]
        return (remove, unused)
    }
}
