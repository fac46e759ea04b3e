import CAllocationCounter
import DNSCore
import Foundation
import Logging
import NIOCore
import ShmCache
import ShoalSystem
import Testing
@testable import Worker

/// Issue #14's guard: a packet-cache hit makes no heap allocation. Real datagrams on a real
/// socket go through the UDP front end's own round (receive batch, prefetch, ACL, answer in
/// place, send batch), run on the test's thread while that thread's allocations are counted
/// (CAllocationCounter interposes malloc and its kin in the test binary).
@Suite("The hit path allocates nothing")
struct HitAllocationTests {
    /// The engine never reaches an authoritative server here: every name it is asked is cached.
    struct NoUpstream: UpstreamSender {
        func send(_ q: UpstreamQuery) async throws(UpstreamError) -> UpstreamReply { throw .connectionClosed }
    }

    /// A UDP socket connected to `listener`'s address (a client of it).
    static func client(of listener: UDPListener) throws -> OwnedDescriptor {
        var local = sockaddr_storage()
        let localLength = try listener.socket.descriptor.localAddress(into: &local)
        let client = try OwnedDescriptor.socket(family: AF_INET, type: Int32(SOCK_DGRAM.rawValue))
        try withUnsafePointer(to: &local) { p in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { try client.descriptor.connect($0, localLength) }
        }
        return client
    }

    /// A worker's engine on `seg` (statistics slot 0), as shoal-worker builds it, without upstream.
    static func engine(_ seg: SharedSegment, logger: Logger) -> WorkerEngine {
        let limits = WorkerSettings().limits
        let stats = seg.stats(workerSlot: 0)
        let resolver = Resolver(cache: SegmentCache(segment: seg, stats: stats, serveStaleSeconds: limits.serveStaleSeconds),
                                upstream: NoUpstream(), hints: .iana, limits: limits,
                                executor: WorkerExecutors.ioReactor, logger: logger)
        return WorkerEngine(segment: seg, resolver: resolver, acl: .localDefault, stats: stats, logger: logger)
    }

    @Test("rounds of 32 cached queries, EDNS or not, mixed case, one answer cut with TC, make no heap allocation after the first round; each is answered with its ID")
    func hitsAllocateNothing() throws {
        let (seg, segmentName) = try PacketHitTests.segment("hitalloc")
        defer { unlinkSegment(segmentName) }
        let names = (0..<32).map { "host\($0).alloc.example." }
        for n in names.dropLast() { try PacketHitTests.store(PacketAnswers(seg.packets), seg, name: n, age: 3) }
        // The last one too large for a client without EDNS: cut in place with TC.
        var big = Message(header: Header(id: 0))
        big.header.isResponse = true
        let bigName = try DNSName(names[names.count - 1])
        big.questions = [Question(name: bigName, type: .a, qclass: .in)]
        big.answers = (0..<60).map { ResourceRecord(name: bigName, type: .a, rrclass: .in, ttl: 300, rdata: .a(IPv4Address(UInt32(0x0A00_0000 + $0)))) }
        seg.packets.insert(PacketKey(name: bigName, type: .a), response: try big.serialize(), ttl: 300, now: shmNow())
        let logger = Logger(label: "hit-allocation-test")
        let engine = Self.engine(seg, logger: logger)
        let stats = engine.stats

        let listener = try UDPListener(binding: try SocketAddress(ipAddress: "127.0.0.1", port: 0), reusePort: false)
        let client = try Self.client(of: listener)
        // Queries built before anything is counted: with and without EDNS, names in odd case.
        let queries = try names.enumerated().map { i, n in
            try PacketHitTests.query(i % 2 == 0 ? n.uppercased() : n, id: UInt16(0x4000 + i),
                                     edns: i % 3 == 0 && i != names.count - 1 ? EDNS(udpPayloadSize: 1232) : nil)
        }
        let server = UDPFrontEnd.Server(listener: listener, index: 0, engine: engine, logger: logger)
        var batch = DatagramBatch(receiveSlots: UDPFrontEnd.receiveSlots, sendSlots: UDPFrontEnd.sendSlots,
                                  bufferSize: UDPFrontEnd.bufferSize)
        let hits = UnsafeMutableBufferPointer<WorkerEngine.PrefetchedHit?>.allocate(capacity: UDPFrontEnd.receiveSlots)
        hits.initialize(repeating: nil)
        defer { hits.deallocate() }
        var reply = [UInt8](repeating: 0, count: 2048)

        // The counter sees this thread's allocations (else the check below would prove nothing).
        calloc_counter_start()
        let probe = [UInt8](repeating: 7, count: 1000 + queries.count)
        let probeAllocations = calloc_counter_stop()
        #expect(probeAllocations >= 1 && probe.count > 1000)

        let hitsBefore = stats.value(.packetHits)
        var counted: UInt64 = 0
        for round in 0..<20 {
            for q in queries { _ = try q.withUnsafeBytes { try client.descriptor.send($0) } }
            if round > 0 { calloc_counter_start() }
            let read = server.answerRound(&batch, hits)
            if round > 0 { counted += calloc_counter_stop() }
            #expect(read == queries.count)
            // Every answer came back, to its query's ID (the socket keeps their order).
            for (i, _) in queries.enumerated() {
                var got: Int? = nil
                for _ in 0..<200 where got == nil {
                    got = try reply.withUnsafeMutableBytes { try client.descriptor.receive(into: $0) }
                    if got == nil { usleep(5000) }
                }
                let n = try #require(got)
                #expect(n > 12 && UInt16(reply[0]) << 8 | UInt16(reply[1]) == UInt16(0x4000 + i) && reply[3] & 0x0F == 0)
                // TC on the large one only.
                #expect((reply[2] & 0x02 != 0) == (i == queries.count - 1) && n <= 512 + PacketAging.optBytes)
            }
        }
        #expect(stats.value(.packetHits) - hitsBefore == UInt64(20 * queries.count))
        #expect(counted == 0, "heap allocations in 19 rounds of \(queries.count) hits: \(counted)")
    }
}

/// The front end's thread per socket: started, it answers; stopped (a worker draining), it has
/// left its loop when `stop` returns, and what arrives afterwards stays queued on the socket for
/// its other readers (the replacement worker of a hot restart).
@Suite("UDP front end threads")
struct UDPFrontEndThreadTests {
    @Test("a datagram sent after stop returns is left on the socket, unanswered; start again and it is answered (a blocking socket, and one whose description is O_NONBLOCK, as an inherited one may be)",
          arguments: [false, true])
    func stopLeavesTheQueueAlone(nonBlocking: Bool) throws {
        let (seg, segmentName) = try PacketHitTests.segment("udp-stop-\(nonBlocking)")
        defer { unlinkSegment(segmentName) }
        try PacketHitTests.store(PacketAnswers(seg.packets), seg, name: "stop.example.", age: 0)
        let logger = Logger(label: "udp-stop-test")
        let engine = HitAllocationTests.engine(seg, logger: logger)
        let listener = try UDPListener(binding: try SocketAddress(ipAddress: "127.0.0.1", port: 0), reusePort: false)
        let client = try HitAllocationTests.client(of: listener)
        if nonBlocking {
            let fd = listener.socket.rawValue
            #expect(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0 && listener.socket.descriptor.isNonBlocking)
        }
        var buffer = [UInt8](repeating: 0, count: 2048)
        /// The client's next reply within `seconds`, or nil.
        func reply(within seconds: Double) throws -> [UInt8]? {
            let deadline = Date().addingTimeInterval(seconds)
            repeat {
                if let n = try buffer.withUnsafeMutableBytes({ try client.descriptor.receive(into: $0) }) { return Array(buffer[0..<n]) }
                usleep(2000)
            } while Date() < deadline
            return nil
        }
        func ask(_ id: UInt16) throws {
            let q = try PacketHitTests.query("stop.example.", id: id)
            _ = try q.withUnsafeBytes { try client.descriptor.send($0) }
        }

        try UDPFrontEnd.start(listener, engine: engine, logger: logger)
        try ask(1)
        let first = try #require(try reply(within: 5), "no answer from the front end's thread")
        #expect(first[0] == 0 && first[1] == 1 && first[3] & 0x0F == 0)

        UDPFrontEnd.stop(listener)
        try ask(2)
        #expect(try reply(within: 0.4) == nil, "answered after stop returned")
        // Still queued on the socket, for whoever reads it next.
        var waiting = [UInt8](repeating: 0, count: 2048)
        let queued = try waiting.withUnsafeMutableBytes { try listener.socket.descriptor.receive(into: $0) }
        #expect(queued != nil && waiting[0] == 0 && waiting[1] == 2)

        try UDPFrontEnd.start(listener, engine: engine, logger: logger)
        try ask(3)
        let third = try #require(try reply(within: 5), "no answer after a second start")
        #expect(third[0] == 0 && third[1] == 3)
        UDPFrontEnd.stop(listener)
    }
}
