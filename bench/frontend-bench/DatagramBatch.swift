import CShoalShims
import DNSCore
import NIOCore
import Worker
#if canImport(Glibc)
import Glibc
#endif

/// A failed socket call: which call, on what, and the errno it left.
struct SocketError: Error, CustomStringConvertible {
    var syscall: String
    var errno: Int32
    var detail: String

    var description: String { "\(syscall) (\(detail)): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// A bound, blocking UDP socket, closed when the value goes away.
///
/// Blocking with a receive timeout (SO_RCVTIMEO), so a loop around ``DatagramBatch/receive(from:)``
/// wakes up at least that often to look at its stop flag; with a timeout set, the kernel never
/// restarts recvmmsg after a signal either (signal(7)), so SIGTERM is seen at once.
struct UDPSocket: ~Copyable {
    let fd: Int32

    /// Binds `address` with the options the worker's NIO listener sets (SO_REUSEADDR,
    /// SO_REUSEPORT, a 4 MiB receive buffer; see `Frontend.udpBootstrap`).
    init(binding address: SocketAddress, receiveBuffer: Int32, receiveTimeoutMilliseconds: Int) throws(SocketError) {
        let family: Int32 = switch address {
        case .v6: AF_INET6
        default: AF_INET
        }
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError(syscall: "socket", errno: errno, detail: "\(address)") }
        func option(_ level: Int32, _ name: Int32, _ value: some BitwiseCopyable, _ what: String) throws(SocketError) {
            var v = value
            guard setsockopt(fd, level, name, &v, socklen_t(MemoryLayout.size(ofValue: v))) == 0 else {
                let e = errno
                close(fd)
                throw SocketError(syscall: "setsockopt", errno: e, detail: "\(what) on \(address)")
            }
        }
        try option(SOL_SOCKET, SO_REUSEADDR, Int32(1), "SO_REUSEADDR")
        try option(SOL_SOCKET, SO_REUSEPORT, Int32(1), "SO_REUSEPORT")
        try option(SOL_SOCKET, SO_RCVBUF, receiveBuffer, "SO_RCVBUF")
        let ms = receiveTimeoutMilliseconds
        try option(SOL_SOCKET, SO_RCVTIMEO, timeval(tv_sec: ms / 1000, tv_usec: (ms % 1000) * 1000), "SO_RCVTIMEO")
        let r = address.withSockAddr { sa, len in bind(fd, sa, socklen_t(len)) }
        guard r == 0 else {
            let e = errno
            close(fd)
            throw SocketError(syscall: "bind", errno: e, detail: "\(address)")
        }
        self.fd = fd
    }

    deinit { close(fd) }
}

/// Preallocated `recvmmsg`/`sendmmsg` vectors: `capacity` receive slots and as many send slots,
/// each with its own `bufferSize`-byte buffer, iovec and sockaddr_storage. All the unsafe
/// pointer code of the mmsg mode is here.
///
/// Memory: one allocation per array below, made once in `init` and freed in `deinit`; nothing
/// outside this value holds a pointer into it, and the kernel reads or writes it only during
/// the `cshoal_recvmmsg`/`cshoal_sendmmsg` calls made here. Single-threaded.
struct DatagramBatch: ~Copyable {
    /// Not in the Glibc module without _GNU_SOURCE (bits/socket.h): block for the first
    /// datagram only, then take what is already queued without waiting.
    static let msgWaitForOne: Int32 = 0x10000

    let capacity: Int
    let bufferSize: Int
    /// `2 * capacity` buffers: receive slot i at `i * bufferSize`, send slot i at
    /// `(capacity + i) * bufferSize`.
    private let buffers: UnsafeMutableRawPointer
    private let iovecs: UnsafeMutablePointer<iovec>              // 2 * capacity, same split
    private let names: UnsafeMutablePointer<sockaddr_storage>    // 2 * capacity, same split
    private let receiveHeaders: UnsafeMutablePointer<cshoal_mmsghdr>
    private let sendHeaders: UnsafeMutablePointer<cshoal_mmsghdr>
    /// Receive slots filled by the last `receive`.
    private(set) var received = 0
    /// Send slots filled since the last `send`.
    private(set) var queued = 0

    init(capacity: Int, bufferSize: Int) {
        precondition(capacity > 0 && bufferSize > 0)
        let buffers = UnsafeMutableRawPointer.allocate(byteCount: 2 * capacity * bufferSize, alignment: 16)
        let iovecs = UnsafeMutablePointer<iovec>.allocate(capacity: 2 * capacity)
        let names = UnsafeMutablePointer<sockaddr_storage>.allocate(capacity: 2 * capacity)
        names.initialize(repeating: sockaddr_storage(), count: 2 * capacity)
        for slot in 0..<(2 * capacity) {
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
        receiveHeaders = .allocate(capacity: capacity)
        receiveHeaders.initialize(from: (0..<capacity).map { header($0) }, count: capacity)
        sendHeaders = .allocate(capacity: capacity)
        sendHeaders.initialize(from: (0..<capacity).map { header(capacity + $0) }, count: capacity)
        self.capacity = capacity
        self.bufferSize = bufferSize
        self.buffers = buffers
        self.iovecs = iovecs
        self.names = names
    }

    deinit {
        buffers.deallocate()
        iovecs.deallocate()
        names.deinitialize(count: 2 * capacity)
        names.deallocate()
        receiveHeaders.deallocate()
        sendHeaders.deallocate()
    }

    /// One `recvmmsg`: waits (up to the socket's timeout) for a datagram, then takes up to
    /// `capacity` that are queued. Returns how many; 0 after the timeout or a signal.
    mutating func receive(from socket: borrowing UDPSocket) throws(SocketError) -> Int {
        // The kernel overwrote the address lengths of the slots it filled last time.
        for i in 0..<received {
            receiveHeaders[i].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
        }
        received = 0
        let n = cshoal_recvmmsg(socket.fd, receiveHeaders, UInt32(capacity), Self.msgWaitForOne)
        guard n >= 0 else {
            let e = errno
            if e == EINTR || e == EAGAIN || e == EWOULDBLOCK { return 0 }
            throw SocketError(syscall: "recvmmsg", errno: e, detail: "fd \(socket.fd)")
        }
        received = Int(n)
        return received
    }

    /// The bytes of received datagram `i`, copied out (as the NIO handler copies its ByteBuffer).
    func payload(_ i: Int) -> [UInt8] {
        precondition(i < received)
        return Array(UnsafeRawBufferPointer(start: buffers + i * bufferSize,
                                            count: min(Int(receiveHeaders[i].msg_len), bufferSize)))
    }

    /// Whether the ACL admits the sender of datagram `i` (what `SocketAddress.allowed(by:)`
    /// decides for the NIO path, read straight from the sockaddr).
    func senderAllowed(_ i: Int, by acl: AccessControl) -> Bool {
        precondition(i < received)
        let raw = UnsafeRawPointer(names + i)
        switch Int32(names[i].ss_family) {
        case AF_INET:
            let sin = raw.load(as: sockaddr_in.self)
            return acl.allows(ipv4: UInt32(bigEndian: sin.sin_addr.s_addr))
        case AF_INET6:
            let bytes = Array(UnsafeRawBufferPointer(start: raw + MemoryLayout<sockaddr_in6>.offset(of: \.sin6_addr)!,
                                                     count: 16))
            guard let ip = DNSCore.IPv6Address(bytes: bytes) else { return false }
            return acl.allows(ipv6: ip)
        default:
            return false
        }
    }

    /// Copies `reply` into the next send slot, addressed to the sender of datagram `i`.
    /// False (and nothing queued) when the slots are full or the reply is larger than a buffer.
    mutating func queueReply(_ reply: [UInt8], toSenderOf i: Int) -> Bool {
        precondition(i < received)
        guard queued < capacity, reply.count <= bufferSize else { return false }
        let slot = capacity + queued
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
    mutating func send(on socket: borrowing UDPSocket) -> (sent: Int, failed: Int) {
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
