import Glibc

/// Why a socket call failed: the call and its errno, read at once.
public struct SocketError: Error, CustomStringConvertible, Sendable, Hashable {
    public var call: String
    public var errno: Int32

    public var description: String { "\(call): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// The few socket calls the probe and the black hole need, each retrying EINTR and throwing
/// `SocketError` with errno captured before anything else can overwrite it.
enum Sockets {
    static func ipv4(_ address: String, port: UInt16) -> sockaddr_in? {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        guard inet_pton(AF_INET, address, &sin.sin_addr) == 1 else { return nil }
        return sin
    }

    /// A close-on-exec, non-blocking IPv4 socket: the lab's children must not inherit it and
    /// every wait goes through `poll` with a deadline.
    static func open(stream: Bool) throws(SocketError) -> Int32 {
        let kind = (stream ? SOCK_STREAM : SOCK_DGRAM).rawValue | SOCK_CLOEXEC.rawValue | SOCK_NONBLOCK.rawValue
        let fd = socket(AF_INET, Int32(kind), 0)
        guard fd >= 0 else { throw SocketError(call: "socket", errno: Glibc.errno) }
        return fd
    }

    static func bind(_ fd: Int32, _ sin: sockaddr_in) throws(SocketError) {
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sin
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { throw SocketError(call: "bind", errno: Glibc.errno) }
    }

    /// Starts a connect; returns 0 when done at once, EINPROGRESS when pending.
    static func connect(_ fd: Int32, _ sin: sockaddr_in) throws(SocketError) -> Int32 {
        var addr = sin
        while true {
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if rc == 0 { return 0 }
            let e = Glibc.errno
            if e == EINTR { continue }
            if e == EINPROGRESS { return EINPROGRESS }
            throw SocketError(call: "connect", errno: e)
        }
    }

    /// Waits for `events` on `fd` until `deadline` (a `monotonicMilliseconds` value).
    /// Returns the revents, or 0 on timeout.
    static func wait(_ fd: Int32, events: Int16, until deadline: Int) throws(SocketError) -> Int16 {
        while true {
            let left = deadline - monotonicMilliseconds()
            if left <= 0 { return 0 }
            var p = pollfd(fd: fd, events: events, revents: 0)
            let rc = poll(&p, 1, Int32(left))
            if rc > 0 { return p.revents }
            if rc == 0 { return 0 }
            let e = Glibc.errno
            if e != EINTR { throw SocketError(call: "poll", errno: e) }
        }
    }

    /// Bytes received, 0 at end of stream, nil when the socket would block.
    static func receive(_ fd: Int32, into buffer: inout [UInt8]) throws(SocketError) -> Int? {
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n >= 0 { return n }
            let e = Glibc.errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return nil }
            throw SocketError(call: "recv", errno: e)
        }
    }

    /// Bytes sent, nil when the socket would block.
    static func send(_ fd: Int32, _ bytes: ArraySlice<UInt8>) throws(SocketError) -> Int? {
        while true {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n >= 0 { return n }
            let e = Glibc.errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return nil }
            throw SocketError(call: "send", errno: e)
        }
    }

    static func monotonicMilliseconds() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
    }
}
