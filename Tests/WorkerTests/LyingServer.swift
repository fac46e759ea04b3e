import DNSCore
import Dispatch
import Foundation
import Glibc
import Synchronization

/// A scriptable authoritative DNS server for tests, running in the test process.
///
/// One thread polls one UDP socket per address, all on the same port (the worker's
/// `--upstream-port` moves every authoritative server, the root included, to that port). Each
/// query is handed to `script` with the address it arrived on; the steps it returns are sent
/// from that address, or from a second socket on another port, after any delays. Every query
/// is counted per address and per question, so tests can bound the work a client query caused.
///
/// Loopback only: the addresses must be in 127.0.0.0/8. ``stop()`` must be called (the thread
/// holds the server until then).
final class LyingServer: @unchecked Sendable {
    /// What the server does about one query, step by step.
    enum Reply: Sendable {
        /// Sends the message from the address and port the query came to.
        case message(Message)
        /// Sends these bytes as they are, from the address and port the query came to.
        case raw([UInt8])
        /// Sends the message from the same address but another source port (a second socket),
        /// as an off-path spoofer that guessed the address but not the port would.
        case fromOtherPort(Message)
        /// Sends what follows this much later; the server keeps serving other queries meanwhile.
        case delay(milliseconds: Int)
        /// Sends nothing (a script may also return no step at all; this reads better).
        case noAnswer
    }

    typealias Script = @Sendable (_ query: Message, _ localAddress: String) -> [Reply]

    let addresses: [String]
    let port: UInt16

    private struct Endpoint {
        var address: String
        /// Bound to `address`:`port`: receives queries and sends normal replies.
        var fd: Int32
        /// Bound to `address` on a kernel-chosen port: sends ``Reply/fromOtherPort(_:)`` replies.
        var otherFD: Int32
    }

    /// A datagram waiting for its delay to pass.
    private struct Pending {
        var due: Int
        var fd: Int32
        var bytes: [UInt8]
        var to: sockaddr_in
    }

    private struct Counts {
        var perAddress: [String: Int] = [:]
        var perQuestion: [String: Int] = [:]
        var log: [String] = []
    }

    private let endpoints: [Endpoint]
    private let script: Script
    /// Written by the server thread, read by the test: every access holds the lock.
    private let counts = Mutex(Counts())
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    /// Binds every address on one port (`port`, or a free one chosen at random among high ports)
    /// and starts serving.
    init(addresses: [String], port: UInt16? = nil, script: @escaping Script) throws {
        precondition(!addresses.isEmpty && addresses.allSatisfy { $0.hasPrefix("127.") }, "loopback addresses only")
        var bound: (endpoints: [Endpoint], port: UInt16)?
        var lastError = LyingServerError(call: "bind", errno: EADDRINUSE, address: addresses[0])
        for _ in 0..<(port == nil ? 50 : 1) where bound == nil {
            let p = port ?? UInt16.random(in: 20_000..<30_000)
            do {
                bound = (try Self.bindAll(addresses, port: p), p)
            } catch {
                lastError = error
                guard error.errno == EADDRINUSE else { throw error }
            }
        }
        guard let bound else { throw lastError }
        endpoints = bound.endpoints
        self.addresses = addresses
        self.port = bound.port
        self.script = script
        let thread = Thread { [self] in self.serve() }
        thread.name = "lying-server"
        thread.start()
    }

    /// Stops the thread and closes the sockets; waits for both. Idempotent.
    func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        finished.wait()
    }

    // MARK: Counting

    /// Queries received on `address`.
    func queries(at address: String) -> Int { counts.withLock { $0.perAddress[address] ?? 0 } }

    /// Queries received for `name` (any case) and `type`, on any address.
    func queries(for name: String, _ type: RRType) -> Int {
        let key = (try? Self.key(Question(name: DNSName(name), type: type))) ?? name
        return counts.withLock { $0.perQuestion[key] ?? 0 }
    }

    /// Queries received on every address.
    var total: Int { counts.withLock { $0.perAddress.values.reduce(0, +) } }

    /// Every query received, in order, as "address question" lines (for failure messages).
    var log: [String] { counts.withLock { $0.log } }

    /// Forgets the counts, so the next client query's upstream work can be measured alone.
    func resetCounts() { counts.withLock { $0 = Counts() } }

    private static func key(_ q: Question) -> String { "\(q.name.lowercased.presentation) \(q.type)" }

    // MARK: Serving

    private func serve() {
        var pending: [Pending] = []
        var buffer = [UInt8](repeating: 0, count: 65_535)
        var fds = endpoints.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        while !stopping.load(ordering: .acquiring) {
            let now = Self.monotonicMilliseconds()
            // Due datagrams go out in the order the scripts asked for them.
            pending.removeAll { p in
                guard p.due <= now else { return false }
                Self.send(p.fd, p.bytes, to: p.to)
                return true
            }
            let wait = pending.map { $0.due - now }.min().map { max(0, min($0, 20)) } ?? 20
            for i in fds.indices { fds[i].revents = 0 }
            guard poll(&fds, nfds_t(fds.count), Int32(wait)) > 0 else { continue }
            for (i, p) in fds.enumerated() where p.revents & Int16(POLLIN) != 0 {
                while let (n, from) = Self.receive(endpoints[i].fd, into: &buffer) {
                    handle(Array(buffer[0..<n]), from: from, endpoints[i], &pending)
                }
            }
        }
        for e in endpoints {
            close(e.fd)
            close(e.otherFD)
        }
        finished.signal()
    }

    private func handle(_ bytes: [UInt8], from: sockaddr_in, _ e: Endpoint, _ pending: inout [Pending]) {
        // Not a query we can read: an authoritative server would drop it too.
        guard let query = try? Message(wire: bytes), !query.header.isResponse, let q = query.question else { return }
        counts.withLock {
            $0.perAddress[e.address, default: 0] += 1
            $0.perQuestion[Self.key(q), default: 0] += 1
            $0.log.append("\(e.address) \(q)")
        }
        var due = Self.monotonicMilliseconds()
        for step in script(query, e.address) {
            let datagram: (Int32, [UInt8])?
            switch step {
            case let .message(m): datagram = (try? m.serialize()).map { (e.fd, $0) }
            case let .raw(b): datagram = (e.fd, b)
            case let .fromOtherPort(m): datagram = (try? m.serialize()).map { (e.otherFD, $0) }
            case let .delay(ms):
                due += ms
                datagram = nil
            case .noAnswer: datagram = nil
            }
            if let (fd, b) = datagram { pending.append(Pending(due: due, fd: fd, bytes: b, to: from)) }
        }
        // Undelayed replies leave at once, before the next query is read.
        let now = Self.monotonicMilliseconds()
        pending.removeAll { p in
            guard p.due <= now else { return false }
            Self.send(p.fd, p.bytes, to: p.to)
            return true
        }
    }

    // MARK: Sockets

    private static func bindAll(_ addresses: [String], port: UInt16) throws(LyingServerError) -> [Endpoint] {
        var out: [Endpoint] = []
        do {
            for a in addresses {
                let fd = try open(a, port: port)
                out.append(Endpoint(address: a, fd: fd, otherFD: -1))
                out[out.count - 1].otherFD = try open(a, port: 0)
            }
            return out
        } catch {
            for e in out {
                close(e.fd)
                if e.otherFD >= 0 { close(e.otherFD) }
            }
            throw error
        }
    }

    /// A non-blocking, close-on-exec UDP socket bound to `address`:`port`, without
    /// SO_REUSEADDR so that a port someone else holds is reported, not shared.
    private static func open(_ address: String, port: UInt16) throws(LyingServerError) -> Int32 {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        guard inet_pton(AF_INET, address, &sin.sin_addr) == 1 else {
            throw LyingServerError(call: "inet_pton", errno: EINVAL, address: address)
        }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue | SOCK_CLOEXEC.rawValue | SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw LyingServerError(call: "socket", errno: errno, address: address) }
        let rc = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw LyingServerError(call: "bind", errno: e, address: "\(address):\(port)")
        }
        return fd
    }

    /// One datagram and its source, or nil when none is waiting.
    private static func receive(_ fd: Int32, into buffer: inout [UInt8]) -> (Int, sockaddr_in)? {
        var from = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        while true {
            let n = buffer.withUnsafeMutableBytes { b in
                withUnsafeMutablePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(fd, b.baseAddress, b.count, 0, $0, &len)
                    }
                }
            }
            if n >= 0 { return (n, from) }
            if errno == EINTR { continue }
            return nil
        }
    }

    /// Best effort, as UDP is: a datagram the kernel refuses is a lost reply.
    private static func send(_ fd: Int32, _ bytes: [UInt8], to: sockaddr_in) {
        var to = to
        _ = bytes.withUnsafeBytes { b in
            withUnsafePointer(to: &to) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, b.baseAddress, b.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    private static func monotonicMilliseconds() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
    }
}

/// A socket call of the lying server failed: which call, on which address, and errno.
struct LyingServerError: Error, CustomStringConvertible {
    var call: String
    var errno: Int32
    var address: String
    var description: String { "lying server \(address): \(call): \(String(cString: strerror(errno)))" }
}

// MARK: - Honest answers

/// One zone's data, answered the way an authoritative server answers: the server's own truth,
/// which scripts then distort.
struct FakeZone: Sendable {
    let apex: DNSName
    let records: [ResourceRecord]
    let soa: ResourceRecord

    /// `lines` are records in presentation format, relative to the apex, TTL 300 by default.
    /// An SOA is made up when none is given.
    init(_ apex: String, _ lines: [String]) throws {
        let origin = try DNSName(apex)
        let records = try lines.map { try ResourceRecord(presentation: $0, origin: origin, defaultTTL: 300) }
        self.apex = origin
        self.records = records
        soa = try records.first { $0.type == .soa }
            ?? ResourceRecord(presentation: "@ 300 SOA ns hostmaster 1 3600 600 86400 300", origin: origin)
    }

    /// The NS set of the highest zone cut strictly below the apex and above `name` (or at `name`
    /// itself when `includingName`): where an authoritative server refers instead of answering.
    func cut(above name: DNSName, includingName: Bool) -> [ResourceRecord]? {
        guard name.isStrictSubdomain(of: apex) else { return nil }
        let last = includingName ? name.labelCount : name.labelCount - 1
        guard last > apex.labelCount else { return nil }
        for n in (apex.labelCount + 1)...last {
            let owner = name.suffix(labels: n)
            let ns = records.filter { $0.name == owner && $0.type == .ns }
            if !ns.isEmpty { return ns }
        }
        return nil
    }
}

/// The zones one server serves, answered honestly (RFC 1034 §4.3.2, without wildcards).
struct FakeAuthority: Sendable {
    let zones: [FakeZone]
    /// Whether CNAMEs are followed inside the zone, as real servers do; off, only the CNAME at
    /// the question name is given.
    var chasesCNAMEs = true

    init(_ zones: [FakeZone], chasesCNAMEs: Bool = true) {
        self.zones = zones
        self.chasesCNAMEs = chasesCNAMEs
    }

    func answer(_ query: Message) -> Message {
        var r = Message.reply(to: query)
        guard let q = query.question, query.questions.count == 1 else {
            r.rcode = .formErr
            return r
        }
        guard let zone = zones.filter({ q.name.isSubdomain(of: $0.apex) })
            .max(by: { $0.apex.labelCount < $1.apex.labelCount }) else {
            r.rcode = .refused
            return r
        }
        // DS is the parent's: it is answered above the cut at the name.
        if let ns = zone.cut(above: q.name, includingName: q.type != .ds) {
            r.authority = ns
            r.additional = glue(for: ns, in: zone)
            return r
        }
        r.header.authoritative = true
        var name = q.name
        var seen: Set<DNSName> = []
        while seen.insert(name).inserted {
            let here = zone.records.filter { $0.name == name }
            let exact = here.filter { $0.type == q.type }
            if !exact.isEmpty {
                r.answers += exact
                return r
            }
            if q.type != .cname, let c = here.first(where: { $0.type == .cname }), case let .cname(target) = c.rdata {
                r.answers.append(c)
                guard chasesCNAMEs, target.isSubdomain(of: zone.apex),
                      zone.cut(above: target, includingName: true) == nil else { return r }
                name = target
                continue
            }
            // NXDOMAIN only when nothing exists at or below the name (RFC 8020 empty non-terminals).
            if !zone.records.contains(where: { $0.name.isSubdomain(of: name) }) { r.rcode = .nxDomain }
            r.authority = [zone.soa]
            return r
        }
        // An in-zone CNAME loop: the chain as far as it goes, as some servers give it.
        return r
    }

    /// Addresses of the NS names that the zone itself holds (glue, or in-zone data).
    func glue(for ns: [ResourceRecord], in zone: FakeZone) -> [ResourceRecord] {
        let names = Set(ns.compactMap { rr -> DNSName? in if case let .ns(n) = rr.rdata { n } else { nil } })
        return zone.records.filter { ($0.type == .a || $0.type == .aaaa) && names.contains($0.name) }
    }
}

extension Message {
    /// An empty response to `query`: same ID and question, QR set, RD copied, EDNS if asked.
    static func reply(to query: Message) -> Message {
        var h = Header(id: query.header.id)
        h.isResponse = true
        h.opcode = query.header.opcode
        h.recursionDesired = query.header.recursionDesired
        return Message(header: h, questions: query.questions,
                       edns: query.edns.map { _ in EDNS(udpPayloadSize: 1232) })
    }
}
