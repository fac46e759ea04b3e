import Foundation
import Glibc
import Synchronization

/// A server address that swallows everything: UDP datagrams are read and dropped, TCP
/// connections are accepted and held without a byte of reply.
///
/// Binding the address is the point: with nothing bound, the kernel would answer UDP with ICMP
/// port unreachable and TCP with RST, and a resolver would learn at once that the server is
/// down. A real dead server just times out.
public final class Blackhole: Sendable {
    public let addresses: [String]
    private let udp: [Int32]
    private let tcp: [Int32]
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    /// Connections held open at most; the oldest is closed beyond this.
    private static let maxHeld = 256

    /// Binds UDP and TCP port `port` on every address; throws `LabError.blackholeFailed` if any
    /// bind fails (and closes what it had bound).
    public init(addresses: [String], port: UInt16 = 53) throws {
        var udp: [Int32] = [], tcp: [Int32] = []
        do {
            for address in addresses {
                guard let sin = Sockets.ipv4(address, port: port) else {
                    throw LabError.blackholeFailed(address: address, reason: "not an IPv4 address")
                }
                do {
                    let u = try Sockets.open(stream: false)
                    udp.append(u)
                    try Sockets.bind(u, sin)
                    let t = try Sockets.open(stream: true)
                    tcp.append(t)
                    try Sockets.bind(t, sin)
                    guard listen(t, 64) == 0 else { throw SocketError(call: "listen", errno: errno) }
                } catch let e as SocketError {
                    throw LabError.blackholeFailed(address: address, reason: e.description)
                }
            }
        } catch {
            for fd in udp + tcp { close(fd) }
            throw error
        }
        self.addresses = addresses
        self.udp = udp
        self.tcp = tcp
    }

    /// Swallows traffic until `stop()`; closes every socket before returning.
    public func run() {
        var held: [Int32] = []
        var buffer = [UInt8](repeating: 0, count: 65535)
        defer {
            for fd in udp + tcp + held { close(fd) }
            finished.signal()
        }
        while !stopping.load(ordering: .relaxed) {
            var fds = (udp + tcp + held).map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            // A short timeout is how `stop()` is noticed without a wake-up pipe.
            let rc = poll(&fds, nfds_t(fds.count), 200)
            guard rc > 0 else { continue }
            for p in fds where p.revents != 0 {
                if udp.contains(p.fd) {
                    // Drain everything queued; nil means it would block.
                    while (try? Sockets.receive(p.fd, into: &buffer)) != nil {}
                } else if tcp.contains(p.fd) {
                    // accept4 is not visible through Glibc; a child spawned in between would
                    // only inherit a socket that never speaks anyway.
                    let c = accept(p.fd, nil, nil)
                    guard c >= 0 else { continue }
                    _ = fcntl(c, F_SETFD, FD_CLOEXEC)
                    _ = fcntl(c, F_SETFL, O_NONBLOCK)
                    held.append(c)
                    if held.count > Self.maxHeld { close(held.removeFirst()) }
                } else {
                    let n: Int?
                    do { n = try Sockets.receive(p.fd, into: &buffer) } catch { n = 0 }
                    if n == 0 {  // the peer closed or failed: let it go
                        close(p.fd)
                        held.removeAll { $0 == p.fd }
                    }
                }
            }
        }
    }

    /// Runs `run()` on a thread of its own and returns at once.
    public func start() {
        let thread = Thread { [self] in run() }
        thread.start()
    }

    /// Makes `run()` return and waits until its sockets are closed. Call at most once, and only
    /// after `run()` or `start()`.
    public func stop() {
        stopping.store(true, ordering: .relaxed)
        finished.wait()
    }
}
