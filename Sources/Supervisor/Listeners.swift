import CShoalShims
import NIOCore
import ShoalSystem
import Worker
#if canImport(Glibc)
import Glibc
#endif

/// One worker slot's listening sockets: a UDP socket per listen address, bound with
/// SO_REUSEPORT so that every slot has a queue of its own, and the TCP listener of each address,
/// which every slot shares (its accept queue is served by whichever worker accepts first, so a
/// dead or removed slot strands no connection). shoald opens them before it drops privileges and
/// keeps them for its whole life: a worker gets duplicates at spawn, so the queries queued for a
/// slot outlive the worker reading them, and its replacement (or the next worker in a hot
/// replace) reads them.
public final class SlotSockets: Sendable {
    public let slot: Int
    public let udp: DescriptorGroup
    public let tcp: DescriptorGroup
    /// The sockets this process opened for the slot (not inherited), with the names they get in
    /// systemd's fd store. The shared TCP listeners are listed with the first slot opened.
    public let opened: [StoredSocket]
    /// Store names of the slot's own sockets, removed from the store with the slot.
    public let storeNames: [String]

    init(slot: Int, udp: DescriptorGroup, tcp: DescriptorGroup, opened: [StoredSocket] = [], storeNames: [String] = []) {
        self.slot = slot; self.udp = udp; self.tcp = tcp; self.opened = opened; self.storeNames = storeNames
    }

    /// The descriptors a worker of this slot inherits, in order (UDP first), and the
    /// arguments that tell it which is which once they are 3, 4, ….
    public var inherited: (descriptors: [Int32], arguments: [String]) {
        let fds = udp.rawValues + tcp.rawValues
        var args: [String] = []
        for i in 0..<udp.count { args += ["--udp-fd", "\(3 + i)"] }
        for i in 0..<tcp.count { args += ["--tcp-fd", "\(3 + udp.count + i)"] }
        return (fds, args)
    }
}

public enum Listeners {
    /// Receive buffer asked for each UDP socket (SO_RCVBUFFORCE where allowed, else SO_RCVBUF
    /// up to the system's rmem_max): bursts must queue, not drop.
    public static let receiveBuffer: Int32 = 8 << 20

    /// Opens `slots` × (UDP + TCP) sockets on each of `addresses`, taking from `inherited`
    /// (systemd's fd store, a socket unit) every socket it has for them.
    public static func open(_ addresses: [String], slots: Int, inherited: InheritedSockets? = nil) throws(SystemCallError) -> [SlotSockets] {
        try open(addresses, slots: 0..<slots, sharingTCP: nil, inherited: inherited)
    }

    /// Opens the sockets of worker slots `slots` (more slots on reload: shoald keeps
    /// CAP_NET_BIND_SERVICE for this), with the TCP listeners `tcp` (nil: opened here).
    public static func open(_ addresses: [String], slots: Range<Int>, sharingTCP shared: DescriptorGroup?,
                            inherited: InheritedSockets? = nil) throws(SystemCallError) -> [SlotSockets] {
        var parsed: [SocketAddress] = []
        for a in addresses {
            do { parsed.append(try parseListenAddress(a)) } catch {
                throw SystemCallError(call: "listen address", errno: .invalidArgument, detail: error.message)
            }
        }
        var openedTCP: [StoredSocket] = []
        let tcp: DescriptorGroup
        if let shared { tcp = shared } else {
            tcp = DescriptorGroup()
            for a in parsed {
                let key = SocketKey(type: SOCK_STREAM, address: a)
                if let fd = inherited?.take(key, slot: nil) {
                    tcp.adopt(fd)
                } else {
                    let fd = tcp.adopt(try socket(a, type: SOCK_STREAM))
                    openedTCP.append(StoredSocket(fd: fd, name: key.storeName(slot: nil)))
                }
            }
        }
        var out: [SlotSockets] = []
        for slot in slots {
            let udp = DescriptorGroup()
            var opened = out.isEmpty ? openedTCP : []
            var names: [String] = []
            for a in parsed {
                let key = SocketKey(type: SOCK_DGRAM, address: a)
                names.append(key.storeName(slot: slot))
                if let fd = inherited?.take(key, slot: slot) {
                    udp.adopt(fd)
                } else {
                    let fd = udp.adopt(try socket(a, type: SOCK_DGRAM))
                    opened.append(StoredSocket(fd: fd, name: key.storeName(slot: slot)))
                }
            }
            out.append(SlotSockets(slot: slot, udp: udp, tcp: tcp, opened: opened, storeNames: names))
        }
        return out
    }

    static func socket(_ address: SocketAddress, type: __socket_type) throws(SystemCallError) -> OwnedDescriptor {
        let family = address.protocol.rawValue
        let what = "\(type == SOCK_DGRAM ? "UDP" : "TCP") \(address)"
        let s = try OwnedDescriptor.socket(family: family, type: Int32(type.rawValue), what)
        try s.descriptor.setSocketOption(SOL_SOCKET, SO_REUSEADDR, Int32(1), what)
        try s.descriptor.setSocketOption(SOL_SOCKET, SO_REUSEPORT, Int32(1), what)
        if family == AF_INET6 { try s.descriptor.setSocketOption(Int32(IPPROTO_IPV6), Int32(IPV6_V6ONLY), Int32(1), what) }
        if type == SOCK_DGRAM {
            if (try? s.descriptor.setSocketOption(SOL_SOCKET, CSHOAL_SO_RCVBUFFORCE, receiveBuffer, what)) == nil {
                _ = try? s.descriptor.setSocketOption(SOL_SOCKET, SO_RCVBUF, receiveBuffer, what)
            }
        }
        var bindError: SystemCallError? = nil
        address.withSockAddr { p, len in
            do throws(SystemCallError) { try s.descriptor.bind(p, socklen_t(len), what) } catch { bindError = error }
        }
        if let bindError { throw bindError }
        if type == SOCK_STREAM {
            let fd = s.rawValue
            _ = try sysCall("listen", what) { Glibc.listen(fd, 1024) }
        }
        return s
    }
}
