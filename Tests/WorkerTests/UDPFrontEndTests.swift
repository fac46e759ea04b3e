import DNSCore
import Foundation
import ShmCache
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
    }

    @Test func clientsOutsideTheACLAreRefusedWithoutUpstreamWork() throws {
        let server = try rootServer()
        defer { server.stop() }
        // Loopback is not in this ACL.
        let worker = try net.worker(tag: "udp-fe-acl", server: server, extra: ["--allow", "10.0.0.0/8"])
        defer { worker.stop() }
        let before = server.total
        let refused = try worker.ask("cached.test.", .a, edns: false)
        #expect(refused.rcode == .refused && refused.answers.isEmpty)
        let burst = try udpBurst((0..<50).map { "n\($0).test." }, address: worker.address, port: worker.port)
        #expect(burst.count == 50 && burst.allSatisfy { $0.rcode == .refused })
        #expect(server.total == before, "a refused client caused upstream queries")
    }
}
