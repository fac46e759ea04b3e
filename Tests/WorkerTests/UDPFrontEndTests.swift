import DNSCore
import Foundation
import ShmCache
import ShoalLab
import Testing
@testable import Worker

/// The UDP front end (recvmmsg/sendmmsg on its own thread, misses resolved on the event loop)
/// in a real worker, against a ``LyingServer`` root on 127.57.12.x that serves `cached.test.`
/// and says NXDOMAIN for the rest: bursts larger than one read and one send batch are answered
/// in full, hits on the thread and misses after resolution; clients outside the ACL get
/// REFUSED and cause no upstream query. (Malformed queries: ``HostileClientTests``.)
@Suite(.serialized)
struct UDPFrontEndTests {
    let net = LieNet(12)

    func rootServer() throws -> LyingServer {
        let root = try FakeAuthority([net.rootZone(["cached.test. 600 A 192.0.2.7"])])
        return try LyingServer(addresses: [net.root]) { q, _ in [.message(root.answer(q))] }
    }

    @Test func aBurstOfHitsAndMissesIsAnsweredInFull() throws {
        let server = try rootServer()
        defer { server.stop() }
        let worker = try net.worker(tag: "udp-fe-burst", server: server)
        defer { worker.stop() }
        // Once alone: resolved, then stored as a packet.
        #expect(try worker.ask("cached.test.", .a).rcode == .noError)
        let segment = try SharedSegment.attach(name: SegmentName.forInstance(worker.segment))
        let hitsBefore = segment.stats(workerSlot: 0).value(.packetHits)
        // 400 queries from one socket: more than one read (32) and one send batch (128).
        let names = (0..<400).map { $0 % 4 == 0 ? "miss\($0).test." : "cached.test." }
        let replies = try udpBurst(names, address: worker.address, port: worker.port)
        #expect(replies.count == names.count)
        #expect(Set(replies.map(\.header.id)).count == replies.count, "an ID answered twice")
        for r in replies {
            let asked = try DNSName(names[Int(r.header.id)])
            #expect(r.questions.first?.name == asked)
            if asked.presentation == "cached.test." {
                #expect(r.rcode == .noError && r.answers.map(\.rdata) == [.a(IPv4Address(192, 0, 2, 7))])
            } else {
                #expect(r.rcode == .nxDomain && r.answers.isEmpty)
            }
        }
        // Every cached.test. query of the burst was a packet-cache hit, answered on the thread;
        // the misses were resolved.
        #expect(segment.stats(workerSlot: 0).value(.packetHits) - hitsBefore == 300)
        #expect(server.queries(for: "miss4.test.", .a) >= 1)

        // What an operator sees of it: shoalctl reads the same counters and caches.
        let ctl = try #require(BuildProducts.executable("shoalctl"), "shoalctl not built next to the tests")
        let stats = try runProgram(ctl, ["stats", "--segment", worker.segment, "--per-worker"])
        #expect(stats.status == 0, "\(stats.output)")
        let hits = segment.stats(workerSlot: 0).value(.packetHits)
        #expect(stats.output.contains("packet-hits=\(hits)"), "\(stats.output)")
        #expect(stats.output.contains("worker 0: queries="), "\(stats.output)")
        let dump = try runProgram(ctl, ["dump-cache", "--segment", worker.segment])
        #expect(dump.status == 0 && dump.output.contains("cached.test. "), "\(dump.output)")
        let negative = try runProgram(ctl, ["dump-cache", "--segment", worker.segment, "--table", "negative"])
        #expect(negative.output.contains("miss4.test. ") && negative.output.contains("NXDOMAIN"), "\(negative.output)")
        let missing = try runProgram(ctl, ["stats", "--segment", "no-such-\(getpid())"])
        #expect(missing.status == 1 && missing.output.contains("No such file"), "\(missing.output)")
    }

    @Test func pastMaxResolutionsMissesAreDroppedAndCountedAndHitsStillAnswered() throws {
        // The root answers after 700 ms, so the first resolutions are still running when the
        // rest of the burst arrives.
        let slow = try FakeAuthority([net.rootZone(["cached.test. 600 A 192.0.2.7"]
                                                   + (0..<20).map { "s\($0).test. 600 A 192.0.2.8" })])
        let server = try LyingServer(addresses: [net.root]) { q, _ in
            q.questions.first?.name.presentation == "cached.test." ? [.message(slow.answer(q))]
                : [.delay(milliseconds: 700), .message(slow.answer(q))]
        }
        defer { server.stop() }
        let config = NSTemporaryDirectory() + "/shoal-max-resolutions-\(getpid()).yaml"
        try "max-resolutions: 4\n".write(toFile: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: config) }
        let worker = try net.worker(tag: "udp-fe-overload", server: server, extra: ["--config", config])
        defer { worker.stop() }
        #expect(try worker.ask("cached.test.", .a).rcode == .noError)
        let segment = try SharedSegment.attach(name: SegmentName.forInstance(worker.segment))
        let stats = segment.stats(workerSlot: 0)
        let upstreamBefore = server.total

        // 20 names at once from one socket; collect for 3 s (the dropped never get a reply).
        var (fd, sin) = try loopbackSocket(SOCK_DGRAM, to: worker.address, port: worker.port)
        defer { close(fd) }
        var tv = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        for i in 0..<20 {
            let wire = try Message.query(id: UInt16(i), name: try DNSName("s\(i).test."), type: .a).serialize()
            _ = withUnsafePointer(to: &sin) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, wire, wire.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        // Meanwhile, a cached name is answered at once: a hit needs no resolution.
        #expect(try worker.ask("cached.test.", .a).answerAddresses == ["192.0.2.7"])
        var answered: [Message] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            guard n > 0 else { break }
            answered.append(try Message(wire: Array(buf[0..<n])))
        }
        #expect(answered.count == 4, "\(answered.map(\.header.id))")
        #expect(answered.allSatisfy { $0.rcode == .noError && $0.answerAddresses == ["192.0.2.8"] })
        #expect(stats.value(.overloadDrops) == 16)
        #expect(server.total - upstreamBefore == 4, "\(server.log)")
        // Once they are done there is room again.
        #expect(try worker.ask("s19.test.", .a).answerAddresses == ["192.0.2.8"])
    }

    @Test func clientsOutsideTheACLAreRefusedWithoutUpstreamWork() throws {
        let server = try rootServer()
        defer { server.stop() }
        // Loopback is not in this ACL.
        let worker = try net.worker(tag: "udp-fe-acl", server: server, extra: ["--allow", "10.0.0.0/8"])
        defer { worker.stop() }
        // The worker primes the root as it starts (RFC 8109), whatever its ACL says of us, and
        // its front end answers (here: refuses) before that query has surely left: count from
        // the priming query on.
        for _ in 0..<300 where server.queries(for: ".", .ns) == 0 { usleep(10_000) }
        let before = server.total
        let refused = try worker.ask("cached.test.", .a, edns: false)
        #expect(refused.rcode == .refused && refused.answers.isEmpty)
        let burst = try udpBurst((0..<50).map { "n\($0).test." }, address: worker.address, port: worker.port)
        #expect(burst.count == 50 && burst.allSatisfy { $0.rcode == .refused })
        #expect(server.total == before, "a refused client caused upstream queries")
    }
}
