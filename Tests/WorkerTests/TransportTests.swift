import DNSCore
import Foundation
import ShoalLab
import Testing

/// UDP truncation and TCP: an answer too large for 512 bytes sets TC over UDP and comes whole
/// over TCP; queries pipelined on one TCP connection are all answered.
@Suite(.workerLab, .serialized)
struct TransportTests {
    @Test func largeAnswerIsTruncatedOverUDPAndWholeOverTCP() throws {
        try WorkerLab.withWorker("tcp", host: ".204.1") { worker, lab in
            let e = try #require(lab.hierarchy.expectedAnswers.first { $0.features.contains("large") && $0.kind == .answer })
            let type = try #require(RRType(mnemonic: e.qtype))
            // Resolve once (the worker itself must fall back to TCP upstream for this one).
            let full = try worker.ask(e.qname, type)
            let expected = Set(try e.answer.map { try ResourceRecord(presentation: $0).comparable })
            #expect(Set(full.answers.filter { $0.type != .rrsig }.map(\.comparable)) == expected)

            // No EDNS: 512 bytes at most, so TC and no partial RRset.
            let q = Message.query(id: 77, name: try DNSName(e.qname), type: type, edns: nil)
            let udp = try Message(wire: DNSProbe.exchange(try q.serialize(), server: worker.address, port: worker.port))
            #expect(udp.header.truncated)
            #expect(udp.answers.isEmpty)
            let tcp = try Message(wire: DNSProbe.exchange(try q.serialize(), server: worker.address, port: worker.port,
                                                          transport: .tcp))
            #expect(!tcp.header.truncated)
            #expect(Set(tcp.answers.filter { $0.type != .rrsig }.map(\.comparable)) == expected)
        }
    }

    @Test func pipelinedTCPQueriesAreAllAnswered() throws {
        try WorkerLab.withWorker("pipeline", host: ".204.2") { worker, lab in
            let names = lab.hierarchy.expectedAnswers.filter { $0.kind == .answer && $0.qtype == "A" }.prefix(5)
            var stream: [UInt8] = []
            var ids: Set<UInt16> = []
            for (i, e) in names.enumerated() {
                let id = UInt16(1000 + i)
                ids.insert(id)
                let wire = try Message.query(id: id, name: try DNSName(e.qname), type: .a).serialize()
                stream += [UInt8(wire.count >> 8), UInt8(wire.count & 0xFF)] + wire
            }
            let responses = try tcpExchange(stream, count: names.count, address: worker.address, port: worker.port)
            #expect(Set(responses.map(\.header.id)) == ids)
            #expect(responses.allSatisfy { $0.rcode == .noError && !$0.answers.isEmpty })
        }
    }

    /// Over IPv6 (the client's address checked against the ACL from the received sockaddr): an
    /// answer when ::1 is allowed (the default), REFUSED when only IPv4 blocks are.
    @Test(arguments: [false, true]) func answersOverIPv6(onlyIPv4Allowed: Bool) throws {
        let lab = try WorkerLab.lab()
        let segment = uniqueSegment("v6")
        defer { unlinkSegment(segment) }
        let port = UInt16.random(in: 30000...39999)
        // The readiness probe speaks IPv4, so the worker listens on a v4 address as well.
        let worker = try WorkerProcess(address: lab.listenAddress(lab.hierarchy.plan.prefix + ".204.3"), port: port,
                                       segment: segment, rootHints: lab.paths.rootHints, validation: .lab(lab),
                                       extra: ["--listen", "[::1]:\(port)"] + (onlyIPv4Allowed ? ["--allow", "127.0.0.0/8"] : []))
        defer { worker.stop() }
        let e = try #require(lab.hierarchy.expectedAnswers.first { $0.kind == .answer && $0.qtype == "A" })
        let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = port.bigEndian
        inet_pton(AF_INET6, "::1", &sin6.sin6_addr)
        let wire = try Message.query(id: 606, name: try DNSName(e.qname), type: .a).serialize()
        let sent = withUnsafePointer(to: &sin6) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, wire, wire.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
            }
        }
        try #require(sent == wire.count)
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buf, buf.count, 0)
        try #require(n > 0, "no answer over IPv6")
        let r = try Message(wire: Array(buf[0..<n]))
        if onlyIPv4Allowed {
            #expect(r.header.id == 606 && r.rcode == .refused && r.answers.isEmpty, "\(r.presentation)")
            return
        }
        #expect(r.header.id == 606 && r.rcode == .noError)
        let expected = Set(try e.answer.map { try ResourceRecord(presentation: $0).comparable })
        #expect(Set(r.answers.map(\.comparable)) == expected)
    }

    /// Writes `stream` on one TCP connection and reads `count` length-prefixed messages.
    func tcpExchange(_ stream: [UInt8], count: Int, address: String, port: UInt16) throws -> [Message] {
        var (fd, sin) = try loopbackSocket(SOCK_STREAM, to: address, port: port)
        defer { close(fd) }
        let rc = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(rc == 0)
        try #require(stream.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) } == stream.count)
        var buffer: [UInt8] = []
        var out: [Message] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while out.count < count {
            let n = recv(fd, &chunk, chunk.count, 0)
            try #require(n > 0, "connection closed after \(out.count) responses")
            buffer += chunk[0..<n]
            while buffer.count >= 2, buffer.count >= 2 + (Int(buffer[0]) << 8 | Int(buffer[1])) {
                let len = Int(buffer[0]) << 8 | Int(buffer[1])
                out.append(try Message(wire: Array(buffer[2..<2 + len])))
                buffer.removeFirst(2 + len)
            }
        }
        return out
    }
}
