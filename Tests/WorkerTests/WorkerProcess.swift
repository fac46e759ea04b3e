import DNSCore
import Foundation
import ShmCache
import ShoalLab
import Testing

/// What a test worker validates with. A worker validates by default, with the IANA root's
/// anchors, which sign no root a test talks to: one resolving the lab validates with the lab's
/// anchor; one facing a scripted, unsigned root (or only a black hole) runs with validation off
/// where validation is not what its test is about.
enum TestValidation {
    /// `dnssec: validate` (the default) with the lab's trust anchor.
    case lab(Lab)
    /// `--dnssec off`.
    case off

    var arguments: [String] {
        switch self {
        case let .lab(lab): ["--trust-anchor", lab.paths.trustAnchor]
        case .off: ["--dnssec", "off"]
        }
    }
}

/// A real `shoal-worker` process for a test: spawned from the build directory, listening on
/// its own loopback address, attached to a segment named for the test.
final class WorkerProcess: @unchecked Sendable {
    let process: Process
    let address: String
    let port: UInt16
    let segment: String
    let logPath: String

    /// Starts a worker and waits until it answers (bounded). `extra` are more command-line
    /// arguments. Every authoritative server of the tests is on loopback, so the worker may
    /// ask loopback addresses unless `queriesLoopback` is false (the worker's default).
    init(address: String, port: UInt16 = 53, segment: String, rootHints: String, validation: TestValidation,
         queriesLoopback: Bool = true, extra: [String] = []) throws {
        let exe = try #require(BuildProducts.executable("shoal-worker"), "shoal-worker not built next to the tests")
        self.address = address
        self.port = port
        self.segment = segment
        logPath = NSTemporaryDirectory() + "/shoal-worker-\(segment)-\(UInt32.random(in: 0...UInt32.max)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = ["--listen", "\(address):\(port)", "--root-hints", rootHints, "--segment", segment,
                             "--segment-size", "16", "--log-level", "debug"]
            + (queriesLoopback ? ["--do-not-query-localhost", "false"] : []) + validation.arguments + extra
        let logHandle = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = logHandle
        process.standardError = logHandle
        try process.run()
        // Ready when it answers anything (a REFUSED for class CH is enough).
        let probe = Message.query(id: 1, name: .root, type: .soa, qclass: .ch, recursionDesired: false, edns: nil)
        for _ in 0..<100 {
            if (try? DNSProbe.exchange(try probe.serialize(), server: address, port: port, timeoutMilliseconds: 100)) != nil {
                return
            }
            guard process.isRunning else { break }
            usleep(50_000)
        }
        Issue.record("worker did not come up; log:\n\(log)")
        throw WorkerTestError.notReady
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    var client: Client { Client(address: address, port: port) }

    func ask(_ name: String, _ type: RRType, dnssecOK: Bool = false, edns: Bool = true,
             recursionDesired: Bool = true) throws -> Message {
        try client.ask(name, type, dnssecOK: dnssecOK, edns: edns, recursionDesired: recursionDesired)
    }

    /// Asks a recursive resolver (ours or a peer) over UDP, then TCP when truncated.
    struct Client {
        var address: String
        var port: UInt16

        func ask(_ name: String, _ type: RRType, dnssecOK: Bool = false, edns: Bool = true,
                 recursionDesired: Bool = true, timeoutMilliseconds: Int = 10_000) throws -> Message {
            let q = Message.query(id: UInt16.random(in: 0...UInt16.max), name: try DNSName(name), type: type,
                                  recursionDesired: recursionDesired,
                                  edns: edns ? EDNS(udpPayloadSize: 1232, dnssecOK: dnssecOK) : nil)
            var r = try Message(wire: DNSProbe.exchange(try q.serialize(), server: address, port: port,
                                                        timeoutMilliseconds: timeoutMilliseconds))
            #expect(r.header.id == q.header.id)
            if r.header.truncated {
                r = try Message(wire: DNSProbe.exchange(try q.serialize(), server: address, port: port, transport: .tcp,
                                                        timeoutMilliseconds: timeoutMilliseconds))
            }
            return r
        }
    }

    /// SIGKILL, as a crash would.
    func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, then SIGKILL if it has not exited after three seconds.
    func stop() {
        if process.isRunning { process.terminate() }
        for _ in 0..<60 where process.isRunning { usleep(50_000) }
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Clean-up of resources made for this worker alone (its segment, files), run once the
    /// process is gone.
    var onDeinit: () -> Void = {}

    deinit {
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        onDeinit()
        // Failures quote the log while the test runs; SHOAL_KEEP_TEST_LOGS=1 keeps the files.
        if ProcessInfo.processInfo.environment["SHOAL_KEEP_TEST_LOGS"] == nil { try? FileManager.default.removeItem(atPath: logPath) }
    }
}

enum WorkerTestError: Error { case notReady }

/// A segment name unique to this test run; unlinked by `cleanup`.
func uniqueSegment(_ tag: String) -> String { "test-\(tag)-\(getpid())-\(UInt16.random(in: 0...UInt16.max))" }

func unlinkSegment(_ instance: String) {
    try? SharedSegment.unlink(name: SegmentName.forInstance(instance))
}

extension ResourceRecord {
    /// The record with TTL 0 and lower-cased owner, for comparing data regardless of aging.
    var comparable: String {
        var r = self
        r.ttl = 0
        r.name = r.name.lowercased
        return r.presentation.lowercased()
    }
}

/// A loopback IPv4 socket of `type` (SOCK_DGRAM or SOCK_STREAM) with a 10 s receive timeout,
/// and the address `address`:`port` to send to or connect to.
func loopbackSocket(_ type: __socket_type, to address: String, port: UInt16) throws -> (fd: Int32, peer: sockaddr_in) {
    let fd = socket(AF_INET, Int32(type.rawValue), 0)
    try #require(fd >= 0)
    var tv = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var sin = sockaddr_in()
    sin.sin_family = sa_family_t(AF_INET)
    sin.sin_port = port.bigEndian
    inet_pton(AF_INET, address, &sin.sin_addr)
    return (fd, sin)
}

/// Sends a query for each name at once from one UDP socket and collects the replies (as many
/// as come within the socket's 10 s timeout).
func udpBurst(_ names: [String], address: String, port: UInt16) throws -> [Message] {
    let copies = names.count
    var (fd, sin) = try loopbackSocket(SOCK_DGRAM, to: address, port: port)
    defer { close(fd) }
    // Room for every reply before the first is read (the default buffer holds about 200).
    var room: Int32 = 8 << 20
    if setsockopt(fd, SOL_SOCKET, 33 /* SO_RCVBUFFORCE, as root */, &room, 4) != 0 {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &room, 4)
    }
    for (i, name) in names.enumerated() {
        let wire = try Message.query(id: UInt16(i), name: try DNSName(name), type: .a).serialize()
        let n = withUnsafePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, wire, wire.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(n == wire.count)
    }
    var out: [Message] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while out.count < copies {
        let n = recv(fd, &buf, buf.count, 0)
        guard n > 0 else { break }
        out.append(try Message(wire: Array(buf[0..<n])))
    }
    return out
}
