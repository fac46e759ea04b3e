import CShoalShims
import DNSCore
import NIOCore
import ShoalSystem

/// A client's address as the kernel gave it (IPv4 or IPv6), kept to send the answer back.
public struct ClientAddress: Sendable {
    // sockaddr_storage is a plain C struct: copying it is copying its bytes.
    var storage = sockaddr_storage()
    var length = socklen_t(0)
}

/// A bound UDP socket of the front end. Shared: the front end answers cache hits in batches,
/// and resolution tasks send their answers with ``send(_:to:)`` (one datagram per call; the
/// kernel keeps concurrent sends on one socket apart). The socket is closed when the last
/// user lets go (the listener owns it).
public final class UDPListener: Sendable {
    let socket: OwnedDescriptor
    /// What it listens on, for logs.
    public let name: String

    /// Binds `address` with the front end's options: SO_REUSEADDR, SO_REUSEPORT when asked (so
    /// several workers can share an address), a 4 MiB receive buffer.
    public init(binding address: SocketAddress, reusePort: Bool, receiveBuffer: Int32 = 4 << 20) throws(SystemCallError) {
        let family: Int32 = if case .v6 = address { AF_INET6 } else { AF_INET }
        let socket = try OwnedDescriptor.socket(family: family, type: Int32(SOCK_DGRAM.rawValue), "\(address)")
        let fd = socket.descriptor
        try fd.setSocketOption(SOL_SOCKET, SO_REUSEADDR, Int32(1), "SO_REUSEADDR on \(address)")
        if reusePort { try fd.setSocketOption(SOL_SOCKET, SO_REUSEPORT, Int32(1), "SO_REUSEPORT on \(address)") }
        // Above net.core.rmem_max only with CAP_NET_ADMIN (SO_RCVBUFFORCE); otherwise the
        // kernel caps SO_RCVBUF there.
        if (try? fd.setSocketOption(SOL_SOCKET, CSHOAL_SO_RCVBUFFORCE, receiveBuffer)) == nil {
            try fd.setSocketOption(SOL_SOCKET, SO_RCVBUF, receiveBuffer, "SO_RCVBUF on \(address)")
        }
        try address.withSockAddr { sa, len in
            Result { () throws(SystemCallError) in try fd.bind(sa, socklen_t(len), "\(address)") }
        }.get()
        self.socket = socket
        self.name = "\(address)"
    }

    /// Adopts a bound UDP socket inherited from the supervisor (checked to be one; closed if
    /// it is not).
    public init(adopting socket: consuming OwnedDescriptor) throws(SystemCallError) {
        let fd = socket.descriptor
        let type = try fd.socketOption(SOL_SOCKET, SO_TYPE, "inherited fd \(fd.rawValue)")
        guard type == Int32(SOCK_DGRAM.rawValue) else {
            throw SystemCallError(call: "getsockopt", errno: .protocolWrongTypeForSocket,
                                  detail: "inherited fd \(fd.rawValue) is not a UDP socket")
        }
        try fd.setCloseOnExec()
        var local = ClientAddress()
        if let length = try? fd.localAddress(into: &local.storage) {
            local.length = length
            self.name = "inherited fd \(fd.rawValue) (\(local))"
        } else {
            self.name = "inherited fd \(fd.rawValue)"
        }
        self.socket = socket
    }

    /// Sends one datagram to `client`. False when the kernel refused it (counted by callers).
    @discardableResult
    public func send(_ bytes: [UInt8], to client: ClientAddress) -> Bool {
        var c = client
        let fd = socket.descriptor
        let sent = bytes.withUnsafeBytes { b in
            withUnsafePointer(to: &c.storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try? fd.send(b, to: $0, c.length) }
            }
        }
        return sent == bytes.count
    }
}

extension ClientAddress {
    /// The sockaddr's bytes (what the pending-query table keeps).
    public var bytes: [UInt8] {
        withUnsafeBytes(of: storage) { Array($0.prefix(Int(length))) }
    }

    /// An address from bytes `bytes` gave (nil when they cannot be one).
    public init?(bytes b: [UInt8]) {
        guard b.count >= 2, b.count <= MemoryLayout<sockaddr_storage>.size else { return nil }
        var s = sockaddr_storage()
        withUnsafeMutableBytes(of: &s) { p in for (i, x) in b.enumerated() { p[i] = x } }
        self.init(storage: s, length: socklen_t(b.count))
    }
}

extension ClientAddress: CustomStringConvertible {
    public var description: String {
        var s = storage
        return withUnsafePointer(to: &s) { p -> String in
            let raw = UnsafeRawPointer(p)
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            switch Int32(storage.ss_family) {
            case AF_INET:
                var sin = raw.load(as: sockaddr_in.self)
                inet_ntop(AF_INET, &sin.sin_addr, &text, socklen_t(text.count))
                return "\(Self.string(text)):\(UInt16(bigEndian: sin.sin_port))"
            case AF_INET6:
                var sin6 = raw.load(as: sockaddr_in6.self)
                inet_ntop(AF_INET6, &sin6.sin6_addr, &text, socklen_t(text.count))
                return "[\(Self.string(text))]:\(UInt16(bigEndian: sin6.sin6_port))"
            default:
                return "family \(storage.ss_family)"
            }
        }
    }

    private static func string(_ cText: [CChar]) -> String {
        String(decoding: cText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
