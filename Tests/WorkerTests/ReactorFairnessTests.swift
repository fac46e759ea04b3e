import DNSCore
import Foundation
import Testing
@testable import Worker

/// The I/O reactor serves every socket in turn: a flood of datagrams on one socket is read a
/// bounded batch per wake-up (``IOReactor/maxDatagramsPerWake`` for an upstream socket,
/// ``UDPFrontEnd/maxReadsPerWake`` batches for a client socket), so the others are still
/// served while it lasts. Against a real worker and a ``LyingServer`` root on 127.57.14.x.
/// (In process, on the reactor's upstream sockets: ``UpstreamClientTests``, whose suite alone
/// uses this process's reactor.)
@Suite(.serialized)
struct ReactorFairnessTests {
    let net = LieNet(14)

    @Test func aFloodedUpstreamSocketDoesNotStarveTheFrontEnd() throws {
        let root = try FakeAuthority([net.rootZone(["cached.test. 600 A 192.0.2.7", "flood.test. 600 A 192.0.2.9"])])
        // For flood.test., no answer but a stream of forged replies (wrong ID) to the worker's
        // upstream socket, sent as fast as the server's thread can: far more than the reactor
        // reads in one round.
        let server = try LyingServer(addresses: [net.root]) { q, _ in
            guard q.questions.first?.name.presentation == "flood.test." else { return [.message(root.answer(q))] }
            var forged = root.answer(q)
            forged.header.id ^= 0x5A5A
            guard let bytes = try? forged.serialize() else { return [] }
            return Array(repeating: .raw(bytes), count: 400_000)
        }
        defer { server.stop() }
        let worker = try net.worker(tag: "flood", server: server)
        defer { worker.stop() }
        #expect(try worker.ask("cached.test.", .a).answerAddresses == ["192.0.2.7"])

        // Ask for the flooded name without waiting for its answer.
        var (fd, sin) = try loopbackSocket(SOCK_DGRAM, to: worker.address, port: worker.port)
        defer { close(fd) }
        let wire = try Message.query(id: 7, name: try DNSName("flood.test."), type: .a).serialize()
        let sent = withUnsafePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, wire, wire.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(sent == wire.count)
        let start = Date()
        while server.queries(for: "flood.test.", .a) == 0 && Date().timeIntervalSince(start) < 5 {
            usleep(1000)
        }
        try #require(server.queries(for: "flood.test.", .a) >= 1, "the flood never started: \(server.log)")

        // While the forged replies pour in, hits are answered at once, one after another.
        var slowest = 0.0
        for _ in 0..<50 {
            let asked = Date()
            #expect(try worker.ask("cached.test.", .a).answerAddresses == ["192.0.2.7"])
            slowest = max(slowest, Date().timeIntervalSince(asked))
        }
        #expect(slowest < 0.5, "a hit took \(slowest) s during the flood")
        // And the flooded exchange itself ends (no forged reply is taken): SERVFAIL after its
        // timeouts, not a poisoned answer.
        var buf = [UInt8](repeating: 0, count: 4096)
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let n = recv(fd, &buf, buf.count, 0)
        try #require(n > 0, "no answer for the flooded name")
        let reply = try Message(wire: Array(buf[0..<n]))
        #expect(reply.header.id == 7 && reply.answers.isEmpty && reply.rcode == .servFail)
    }
}
