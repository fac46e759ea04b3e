import CShoalShims
import DNSCore
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Why a front-end socket could not be set up or used.
public struct SocketError: Error, CustomStringConvertible, Sendable {
    public var syscall: String
    public var errno: Int32
    public var detail: String

    public var description: String { "\(syscall) (\(detail)): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// A client's address as the kernel gave it (IPv4 or IPv6), kept to send the answer back.
public struct ClientAddress: @unchecked Sendable {
    // sockaddr_storage is a plain C struct: copying it is copying its bytes.
    var storage = sockaddr_storage()
    var length = socklen_t(0)
}

/// A bound UDP socket of the front end. Shared: the front end answers cache hits in batches,
/// and resolution tasks send their answers with ``send(_:to:)`` (one datagram per call; the
/// kernel keeps concurrent sends on one socket apart). Closed when the last user lets go.
public final class UDPListener: Sendable {
    public let fd: Int32
    /// What it listens on, for logs.
    public let name: String

    /// Binds `address` with the front end's options: SO_REUSEADDR, SO_REUSEPORT when asked (so
    /// several workers can share an address), a 4 MiB receive buffer.
    public init(binding address: SocketAddress, reusePort: Bool, receiveBuffer: Int32 = 4 << 20) throws(SocketError) {
        let family: Int32 = if case .v6 = address { AF_INET6 } else { AF_INET }
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError(syscall: "socket", errno: errno, detail: "\(address)") }
        do throws(SocketError) {
            try Self.option(fd, SOL_SOCKET, SO_REUSEADDR, Int32(1), "SO_REUSEADDR on \(address)")
            if reusePort { try Self.option(fd, SOL_SOCKET, SO_REUSEPORT, Int32(1), "SO_REUSEPORT on \(address)") }
            // Above net.core.rmem_max only with CAP_NET_ADMIN (SO_RCVBUFFORCE); otherwise the
            // kernel caps SO_RCVBUF there.
            if (try? Self.option(fd, SOL_SOCKET, 33 /* SO_RCVBUFFORCE */, receiveBuffer, "")) == nil {
                try Self.option(fd, SOL_SOCKET, SO_RCVBUF, receiveBuffer, "SO_RCVBUF on \(address)")
            }
            guard address.withSockAddr({ sa, len in bind(fd, sa, socklen_t(len)) }) == 0 else {
                throw SocketError(syscall: "bind", errno: errno, detail: "\(address)")
            }
        } catch {
            close(fd)
            throw error
        }
        self.fd = fd
        self.name = "\(address)"
    }

    /// Adopts a bound UDP socket inherited from the supervisor (checked to be one).
    public init(inheritedFD fd: Int32) throws(SocketError) {
        var type: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 else {
            throw SocketError(syscall: "getsockopt", errno: errno, detail: "inherited fd \(fd)")
        }
        guard type == Int32(SOCK_DGRAM.rawValue) else {
            throw SocketError(syscall: "getsockopt", errno: EPROTOTYPE, detail: "inherited fd \(fd) is not a UDP socket")
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        self.fd = fd
        var local = ClientAddress()
        local.length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &local.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &local.length) }
        }
        self.name = named == 0 ? "inherited fd \(fd) (\(local))" : "inherited fd \(fd)"
    }

    deinit { close(fd) }

    /// Sends one datagram to `client`. False when the kernel refused it (counted by callers).
    @discardableResult
    public func send(_ bytes: [UInt8], to client: ClientAddress) -> Bool {
        var c = client
        let r = bytes.withUnsafeBytes { b in
            withUnsafePointer(to: &c.storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, b.baseAddress, b.count, 0, $0, c.length) }
            }
        }
        return r == bytes.count
    }

    private static func option(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: some BitwiseCopyable,
                               _ what: String) throws(SocketError) {
        var v = value
        guard setsockopt(fd, level, name, &v, socklen_t(MemoryLayout.size(ofValue: v))) == 0 else {
            throw SocketError(syscall: "setsockopt", errno: errno, detail: what)
        }
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

/// Preallocated `recvmmsg`/`sendmmsg` vectors: `receiveSlots` datagrams in, `sendSlots` out,
/// each with its own buffer, iovec and sockaddr_storage. All the unsafe pointer code of the UDP
/// front end is here.
///
/// Memory: one allocation per array below, made once in `init` and freed in `deinit`; nothing
/// outside this value holds a pointer into it, and the kernel reads or writes it only during
/// the `cshoal_recvmmsg`/`cshoal_sendmmsg` calls made here. One thread uses it.
public struct DatagramBatch: ~Copyable {
    public let receiveSlots: Int
    public let sendSlots: Int
    public let bufferSize: Int
    /// Receive slot i's buffer at `i * bufferSize`, send slot j's at `(receiveSlots + j) * bufferSize`;
    /// iovecs and names split the same way.
    private let buffers: UnsafeMutableRawPointer
    private let iovecs: UnsafeMutablePointer<iovec>
    private let names: UnsafeMutablePointer<sockaddr_storage>
    private let receiveHeaders: UnsafeMutablePointer<cshoal_mmsghdr>
    private let sendHeaders: UnsafeMutablePointer<cshoal_mmsghdr>
    /// Receive slots filled by the last `receive`.
    public private(set) var received = 0
    /// Send slots filled since the last `send`.
    public private(set) var queued = 0

    public init(receiveSlots: Int, sendSlots: Int, bufferSize: Int) {
        precondition(receiveSlots > 0 && sendSlots > 0 && bufferSize > 0)
        let total = receiveSlots + sendSlots
        let buffers = UnsafeMutableRawPointer.allocate(byteCount: total * bufferSize, alignment: 16)
        let iovecs = UnsafeMutablePointer<iovec>.allocate(capacity: total)
        let names = UnsafeMutablePointer<sockaddr_storage>.allocate(capacity: total)
        names.initialize(repeating: sockaddr_storage(), count: total)
        for slot in 0..<total {
            (iovecs + slot).initialize(to: iovec(iov_base: buffers + slot * bufferSize, iov_len: bufferSize))
        }
        func header(_ slot: Int) -> cshoal_mmsghdr {
            var h = msghdr()
            h.msg_name = UnsafeMutableRawPointer(names + slot)
            h.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
            h.msg_iov = iovecs + slot
            h.msg_iovlen = 1
            return cshoal_mmsghdr(msg_hdr: h, msg_len: 0)
        }
        receiveHeaders = .allocate(capacity: receiveSlots)
        receiveHeaders.initialize(from: (0..<receiveSlots).map { header($0) }, count: receiveSlots)
        sendHeaders = .allocate(capacity: sendSlots)
        sendHeaders.initialize(from: (0..<sendSlots).map { header(receiveSlots + $0) }, count: sendSlots)
        self.receiveSlots = receiveSlots
        self.sendSlots = sendSlots
        self.bufferSize = bufferSize
        self.buffers = buffers
        self.iovecs = iovecs
        self.names = names
    }

    deinit {
        buffers.deallocate()
        iovecs.deallocate()
        names.deinitialize(count: receiveSlots + sendSlots)
        names.deallocate()
        receiveHeaders.deallocate()
        sendHeaders.deallocate()
    }

    /// One non-blocking `recvmmsg`: takes up to `receiveSlots` datagrams that are queued.
    /// Returns how many; 0 when none are (or a signal interrupted it).
    public mutating func receive(from socket: UDPListener) throws(SocketError) -> Int {
        // The kernel overwrote the address lengths of the slots it filled last time.
        for i in 0..<received {
            receiveHeaders[i].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
        }
        received = 0
        let n = cshoal_recvmmsg(socket.fd, receiveHeaders, UInt32(receiveSlots), Int32(MSG_DONTWAIT))
        guard n >= 0 else {
            let e = errno
            if e == EINTR || e == EAGAIN || e == EWOULDBLOCK { return 0 }
            throw SocketError(syscall: "recvmmsg", errno: e, detail: socket.name)
        }
        received = Int(n)
        return received
    }

    /// The bytes of received datagram `i`, copied out. A datagram longer than a buffer comes
    /// cut (the engine answers FORMERR or drops it; no query is that long).
    public func payload(_ i: Int) -> [UInt8] {
        precondition(i < received)
        return Array(UnsafeRawBufferPointer(start: buffers + i * bufferSize,
                                            count: min(Int(receiveHeaders[i].msg_len), bufferSize)))
    }

    /// The sender of received datagram `i`.
    public func sender(_ i: Int) -> ClientAddress {
        precondition(i < received)
        return ClientAddress(storage: names[i], length: receiveHeaders[i].msg_hdr.msg_namelen)
    }

    /// Whether the ACL admits the sender of received datagram `i`, read straight from the sockaddr.
    public func senderAllowed(_ i: Int, by acl: AccessControl) -> Bool {
        precondition(i < received)
        let raw = UnsafeRawPointer(names + i)
        switch Int32(names[i].ss_family) {
        case AF_INET:
            let sin = raw.load(as: sockaddr_in.self)
            return acl.allows(ipv4: UInt32(bigEndian: sin.sin_addr.s_addr))
        case AF_INET6:
            let bytes = UnsafeRawBufferPointer(start: raw + MemoryLayout<sockaddr_in6>.offset(of: \.sin6_addr)!, count: 16)
            guard let ip = DNSCore.IPv6Address(bytes: Array(bytes)) else { return false }
            return acl.allows(ipv6: ip)
        default:
            return false
        }
    }

    /// Copies `reply` into the next send slot, addressed to the sender of received datagram
    /// `i`. False (nothing queued) when the send slots are full or the reply is larger than a
    /// buffer: the caller sends it on its own.
    public mutating func queueReply(_ reply: [UInt8], toSenderOf i: Int) -> Bool {
        precondition(i < received)
        guard queued < sendSlots, reply.count <= bufferSize else { return false }
        let slot = receiveSlots + queued
        reply.withUnsafeBytes { src in
            (buffers + slot * bufferSize).copyMemory(from: src.baseAddress!, byteCount: src.count)
        }
        iovecs[slot].iov_len = reply.count
        names[slot] = names[i]
        sendHeaders[queued].msg_hdr.msg_namelen = receiveHeaders[i].msg_hdr.msg_namelen
        queued += 1
        return true
    }

    /// Sends the queued replies, with one `sendmmsg` unless the kernel takes only part of them.
    /// Returns how many were sent and how many failed (skipped after an error, as a lone
    /// `sendto` failing would lose that one datagram).
    public mutating func send(on socket: UDPListener) -> (sent: Int, failed: Int) {
        var done = 0, sent = 0, failed = 0
        while done < queued {
            let r = cshoal_sendmmsg(socket.fd, sendHeaders + done, UInt32(queued - done), 0)
            if r > 0 {
                done += Int(r)
                sent += Int(r)
            } else if r < 0 && errno == EINTR {
                continue
            } else {
                done += 1   // the first of the remaining ones failed
                failed += 1
            }
        }
        queued = 0
        return (sent, failed)
    }
}
