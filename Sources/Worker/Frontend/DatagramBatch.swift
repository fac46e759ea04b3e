import CShoalShims
import DNSCore
import ShoalSystem

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
    /// Returns how many; 0 when none are. With `waitingForOne` (`MSG_WAITFORONE`, for a thread
    /// that does nothing else: the UDP front end's, frontend-bench's bare loop) it blocks until
    /// one datagram is queued (or the socket's `SO_RCVTIMEO` passes: 0 then), then takes what
    /// else is queued without waiting; the listener's socket is a blocking one, so only
    /// `MSG_DONTWAIT` keeps the default call from blocking.
    public mutating func receive(from socket: UDPListener, waitingForOne: Bool = false) throws(SystemCallError) -> Int {
        // The kernel overwrote the address lengths of the slots it filled last time.
        for i in 0..<received {
            receiveHeaders[i].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
        }
        received = 0
        let (fd, headers, slots) = (socket.socket.rawValue, receiveHeaders, UInt32(receiveSlots))
        let flags = waitingForOne ? Int32(MSG_WAITFORONE) : Int32(MSG_DONTWAIT)
        let n = try sysCallUnlessWouldBlock("recvmmsg", socket.name) {
            cshoal_recvmmsg(fd, headers, slots, flags)
        }
        received = Int(n ?? 0)
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
            // The 16 address bytes as two big-endian words: no array on the hit path.
            let addr = raw + MemoryLayout<sockaddr_in6>.offset(of: \.sin6_addr)!
            return acl.allows(ipv6: DNSCore.IPv6Address(high: UInt64(bigEndian: addr.loadUnaligned(as: UInt64.self)),
                                                        low: UInt64(bigEndian: addr.loadUnaligned(fromByteOffset: 8, as: UInt64.self))))
        default:
            return false
        }
    }

    /// Copies `reply` into the next send slot, addressed to the sender of received datagram
    /// `i`. False (nothing queued) when the send slots are full or the reply is larger than a
    /// buffer: the caller sends it on its own.
    public mutating func queueReply(_ reply: [UInt8], toSenderOf i: Int) -> Bool {
        reply.count <= bufferSize && queueReply(toSenderOf: i) { out in
            reply.withUnsafeBytes { out.copyMemory(from: $0) }
            return reply.count
        }
    }

    /// Datagram `i` as received, lent: valid until the next receive (the hit path reads it in
    /// place).
    public func payloadBytes(_ i: Int) -> UnsafeRawBufferPointer {
        precondition(i < received)
        return UnsafeRawBufferPointer(start: buffers + i * bufferSize, count: min(Int(receiveHeaders[i].msg_len), bufferSize))
    }

    /// Has `write` put a reply to the sender of received datagram `i` straight into the next
    /// send slot (a buffer of ``bufferSize`` bytes; it returns the length, or nil for no
    /// reply). False when nothing was queued: the send slots are full, or `write` said nil.
    public mutating func queueReply(toSenderOf i: Int, _ write: (UnsafeMutableRawBufferPointer) -> Int?) -> Bool {
        precondition(i < received)
        guard queued < sendSlots else { return false }
        let slot = receiveSlots + queued
        guard let n = write(UnsafeMutableRawBufferPointer(start: buffers + slot * bufferSize, count: bufferSize)),
              n <= bufferSize else { return false }
        iovecs[slot].iov_len = n
        // The address's own bytes (16 for IPv4, 28 for IPv6), not the whole 128-byte storage.
        let nameLength = receiveHeaders[i].msg_hdr.msg_namelen
        UnsafeMutableRawPointer(names + slot).copyMemory(from: names + i,
                                                         byteCount: min(Int(nameLength), MemoryLayout<sockaddr_storage>.size))
        sendHeaders[queued].msg_hdr.msg_namelen = nameLength
        queued += 1
        return true
    }

    /// Sends the queued replies, with one `sendmmsg` unless the kernel takes only part of them.
    /// Returns how many were sent and how many failed (skipped after an error, as a lone
    /// `sendto` failing would lose that one datagram).
    public mutating func send(on socket: UDPListener) -> (sent: Int, failed: Int) {
        var done = 0, sent = 0, failed = 0
        let fd = socket.socket.rawValue
        while done < queued {
            let (headers, count) = (sendHeaders + done, UInt32(queued - done))
            let r = (try? sysCall("sendmmsg") { cshoal_sendmmsg(fd, headers, count, 0) }) ?? -1
            if r > 0 {
                done += Int(r)
                sent += Int(r)
            } else {
                done += 1   // the first of the remaining ones failed
                failed += 1
            }
        }
        queued = 0
        return (sent, failed)
    }
}
