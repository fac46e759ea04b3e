import Glibc

/// Sends one DNS message to a lab server over UDP or TCP and returns the raw response.
///
/// Deliberately independent of the resolver's code: it is how tests and the lab itself check
/// what the authoritative servers really say. Responses are matched on the message ID only
/// (the servers are ours, on loopback).
public enum DNSProbe {
    public enum Transport: String, Sendable, CaseIterable {
        case udp, tcp
    }

    /// Why no response came back.
    public enum Failure: Error, CustomStringConvertible, Sendable, Hashable {
        /// Nothing arrived before the deadline.
        case timeout(server: String, transport: Transport, milliseconds: Int)
        /// ICMP port unreachable (UDP) or a refused connection (TCP): nothing listens there.
        case refused(server: String, transport: Transport)
        /// The TCP peer closed before sending a whole message.
        case closed(server: String)
        case badAddress(String)
        case socket(SocketError)

        public var description: String {
            switch self {
            case let .timeout(server, transport, ms): "no \(transport.rawValue) response from \(server) within \(ms) ms"
            case let .refused(server, transport): "\(server) refused the \(transport.rawValue) query (nothing listening)"
            case let .closed(server): "\(server) closed the TCP connection before a whole response"
            case let .badAddress(a): "\"\(a)\" is not an IPv4 address"
            case let .socket(e): e.description
            }
        }
    }

    /// Sends `message` to `server` and returns the first response carrying its ID.
    public static func exchange(_ message: [UInt8], server: String, port: UInt16 = 53,
                                transport: Transport = .udp, timeoutMilliseconds: Int = 2000) throws(Failure) -> [UInt8] {
        guard let sin = Sockets.ipv4(server, port: port) else { throw .badAddress(server) }
        let deadline = Sockets.monotonicMilliseconds() + timeoutMilliseconds
        let fd: Int32
        do { fd = try Sockets.open(stream: transport == .tcp) } catch { throw .socket(error) }
        defer { close(fd) }
        do {
            switch transport {
            case .udp: return try udp(fd, sin, message, server: server, deadline: deadline, timeout: timeoutMilliseconds)
            case .tcp: return try tcp(fd, sin, message, server: server, deadline: deadline, timeout: timeoutMilliseconds)
            }
        } catch let e as Failure {
            throw e
        } catch let e as SocketError {
            if e.errno == ECONNREFUSED { throw .refused(server: server, transport: transport) }
            throw .socket(e)
        } catch {
            throw .socket(SocketError(call: "unknown", errno: 0))
        }
    }

    /// Connected, so an ICMP port-unreachable surfaces as ECONNREFUSED instead of a timeout.
    private static func udp(_ fd: Int32, _ sin: sockaddr_in, _ message: [UInt8], server: String,
                            deadline: Int, timeout: Int) throws -> [UInt8] {
        _ = try Sockets.connect(fd, sin)
        guard try Sockets.send(fd, message[...]) == message.count else {
            throw SocketError(call: "send (short)", errno: EMSGSIZE)
        }
        var buffer = [UInt8](repeating: 0, count: 65535)
        while true {
            guard try Sockets.wait(fd, events: Int16(POLLIN), until: deadline) != 0 else {
                throw Failure.timeout(server: server, transport: .udp, milliseconds: timeout)
            }
            guard let n = try Sockets.receive(fd, into: &buffer) else { continue }
            if n >= 12, buffer[0] == message[0], buffer[1] == message[1] { return Array(buffer[0..<n]) }
        }
    }

    private static func tcp(_ fd: Int32, _ sin: sockaddr_in, _ message: [UInt8], server: String,
                            deadline: Int, timeout: Int) throws -> [UInt8] {
        let timedOut = Failure.timeout(server: server, transport: .tcp, milliseconds: timeout)
        if try Sockets.connect(fd, sin) == EINPROGRESS {
            guard try Sockets.wait(fd, events: Int16(POLLOUT), until: deadline) != 0 else { throw timedOut }
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            if err != 0 { throw SocketError(call: "connect", errno: err) }
        }
        var out = [UInt8(message.count >> 8), UInt8(message.count & 0xFF)] + message
        while !out.isEmpty {
            guard try Sockets.wait(fd, events: Int16(POLLOUT), until: deadline) != 0 else { throw timedOut }
            if let n = try Sockets.send(fd, out[...]) { out.removeFirst(n) }
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65535)
        while true {
            if received.count >= 2 {
                let length = Int(received[0]) << 8 | Int(received[1])
                if received.count >= 2 + length { return Array(received[2..<(2 + length)]) }
            }
            guard try Sockets.wait(fd, events: Int16(POLLIN), until: deadline) != 0 else { throw timedOut }
            guard let n = try Sockets.receive(fd, into: &buffer) else { continue }
            if n == 0 { throw Failure.closed(server: server) }
            received += buffer[0..<n]
        }
    }

    // MARK: Minimal messages

    /// A query for `name` (absolute or not; presentation without escapes) and type number
    /// `type`, class IN, RD clear (lab servers are authoritative). With `edns`, an OPT record
    /// advertising `payload` bytes and, if `dnssecOK`, the DO bit.
    public static func query(name: String, type: UInt16, id: UInt16 = UInt16.random(in: 0...UInt16.max),
                             recursionDesired: Bool = false, edns: (payload: UInt16, dnssecOK: Bool)? = (1232, true)) -> [UInt8] {
        var m: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), recursionDesired ? 0x01 : 0x00, 0x00,
                          0, 1, 0, 0, 0, 0, 0, edns == nil ? 0 : 1]
        for label in name.split(separator: ".") {
            let bytes = Array(label.utf8)
            m.append(UInt8(bytes.count))
            m += bytes
        }
        m += [0, UInt8(type >> 8), UInt8(type & 0xFF), 0, 1]
        if let edns {
            m += [0, 0, 41, UInt8(edns.payload >> 8), UInt8(edns.payload & 0xFF), 0, 0,
                  edns.dnssecOK ? 0x80 : 0x00, 0x00, 0, 0]
        }
        return m
    }

    /// The fixed header fields of a response.
    public struct Header: Sendable, Hashable {
        public var id: UInt16
        public var isResponse: Bool
        public var authoritative: Bool
        public var truncated: Bool
        /// The 4-bit header rcode (without any EDNS extension).
        public var rcode: UInt8
        public var questionCount: Int
        public var answerCount: Int
        public var authorityCount: Int
        public var additionalCount: Int

        /// nil when `message` is shorter than a header.
        public init?(_ message: [UInt8]) {
            guard message.count >= 12 else { return nil }
            func u16(_ i: Int) -> Int { Int(message[i]) << 8 | Int(message[i + 1]) }
            id = UInt16(u16(0))
            isResponse = message[2] & 0x80 != 0
            authoritative = message[2] & 0x04 != 0
            truncated = message[2] & 0x02 != 0
            rcode = message[3] & 0x0F
            questionCount = u16(4)
            answerCount = u16(6)
            authorityCount = u16(8)
            additionalCount = u16(10)
        }
    }
}
