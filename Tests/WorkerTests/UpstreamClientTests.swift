import DNSCore
import Foundation
import NIOCore
import NIOPosix
import ShmCache
import Testing
@testable import Worker

/// The upstream client's UDP path (plain sockets watched by ``IOReactor``), in this
/// process against a ``LyingServer`` on 127.57.11.x: many exchanges at once each get their own
/// reply, forged datagrams do not end an exchange, errors and silence end it with the right
/// error, and no socket is left open (none outstanding in the reactor).
@Suite(.serialized)
struct UpstreamClientTests {
    let net = LieNet(11)
    let client = UpstreamClient(group: MultiThreadedEventLoopGroup.singleton)

    func query(_ name: String, _ server: String, port: UInt16, timeoutMillis: Int64 = 1500) throws -> UpstreamQuery {
        var q = UpstreamQuery(question: Question(name: try DNSName(name), type: .a),
                              server: try SocketAddress(ipAddress: server, port: Int(port)))
        q.timeout = .milliseconds(timeoutMillis)
        return q
    }

    /// Answers every query with one A record whose address encodes the query's first label
    /// ("n123" → 10.0.0.123), after a forged copy with another ID and one from another port.
    func numberingServer() throws -> LyingServer {
        try LyingServer(addresses: [net.ip(1)]) { q, _ in
            var honest = Message.reply(to: q)
            let label = q.questions[0].name.presentation.split(separator: ".")[0].dropFirst()
            let n = UInt8(label) ?? 0
            honest.answers = [ResourceRecord(name: q.questions[0].name, type: .a, ttl: 60,
                                             rdata: .a(IPv4Address(10, 0, 0, n)))]
            var forged = honest
            forged.header.id ^= 0x0101
            forged.answers = [ResourceRecord(name: q.questions[0].name, type: .a, ttl: 60, rdata: .a(LieNet.poison))]
            return [.message(forged), .fromOtherPort(forged), .delay(milliseconds: 5), .message(honest)]
        }
    }

    @Test func concurrentExchangesEachGetTheirOwnReplyAndLeaveNoSocketOpen() async throws {
        let server = try numberingServer()
        defer { server.stop() }
        let n = 200
        let results = try await withThrowingTaskGroup(of: (Int, [ResourceRecord]).self) { group in
            for i in 0..<n {
                let q = try query("n\(i % 250).numbers.test.", net.ip(1), port: server.port)
                group.addTask { (i, try await client.send(q).message.answers) }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(results.count == n)
        for (i, answers) in results {
            #expect(answers.map(\.rdata) == [.a(IPv4Address(10, 0, 0, UInt8(i % 250)))], "exchange \(i)")
        }
        #expect(server.total == n)
        #expect(IOReactor.shared.outstanding == 0, "sockets left open")
    }

    @Test func pooledRandomnessIsFreshAcrossRefills() {
        // 2000 draws cross the 4 KiB pool three times: all distinct, bits balanced.
        var g = PooledRandom()
        let draws = (0..<2000).map { _ in g.next() }
        #expect(Set(draws).count == draws.count)
        let ones = draws.reduce(0) { $0 + $1.nonzeroBitCount }
        let mean = Double(ones) / Double(draws.count)
        #expect(mean > 31 && mean < 33, "mean set bits \(mean)")
    }

    @Test func serverAddressesBecomeSocketAddresses() throws {
        let v4 = try ServerAddress(IPv4Address(127, 57, 11, 9)).socketAddress(port: 5353)
        #expect(v4.ipAddress == "127.57.11.9" && v4.port == 5353)
        let v6 = ServerAddress(IPv6Address(high: 0x2001_0db8_0000_0000, low: 0x0000_0000_0053_0001))
        let s6 = try v6.socketAddress(port: 53)
        #expect(s6.ipAddress == "2001:db8::53:1" && s6.port == 53)
    }

    @Test func aClosedPortIsANetworkErrorNotATimeout() async throws {
        // Bound and closed at once: nothing listens there, so the kernel answers ICMP
        // port-unreachable, which the connected socket reports as ECONNREFUSED.
        let silent = try LyingServer(addresses: [net.ip(2)]) { _, _ in [] }
        let port = silent.port
        silent.stop()
        let q = try query("a.closed.test.", net.ip(2), port: port, timeoutMillis: 3000)
        do {
            _ = try await client.send(q)
            Issue.record("a reply from a closed port")
        } catch {
            guard case .network = error else { Issue.record("expected a network error, got \(error)"); return }
        }
    }

    @Test func silenceIsATimeoutAndTheSocketIsClosed() async throws {
        let server = try LyingServer(addresses: [net.ip(3)]) { _, _ in [.noAnswer] }
        defer { server.stop() }
        let q = try query("a.silent.test.", net.ip(3), port: server.port, timeoutMillis: 150)
        do {
            _ = try await client.send(q)
            Issue.record("a reply from a silent server")
        } catch {
            #expect(error == .timeout)
        }
        #expect(server.total == 1)
        #expect(IOReactor.shared.outstanding == 0)
    }

    @Test func onlyForgeriesMeansATimeoutNotAForgedAnswer() async throws {
        let server = try LyingServer(addresses: [net.ip(4)]) { q, _ in
            var forged = Message.reply(to: q)
            forged.header.id ^= 0x8000
            var otherCase = Message.reply(to: q)
            otherCase.questions = [Question(name: try! DNSName("FORGED.only.test."), type: .a)]
            return [.message(forged), .fromOtherPort(Message.reply(to: q)), .raw([1, 2, 3]),
                    .message(otherCase)]
        }
        defer { server.stop() }
        let q = try query("forged.only.test.", net.ip(4), port: server.port, timeoutMillis: 300)
        do {
            _ = try await client.send(q)
            Issue.record("accepted a forged reply")
        } catch {
            #expect(error == .timeout)
        }
    }

    /// In this process: one exchange's socket gets thousands of forged replies before its real
    /// one; the reactor reads them a bounded batch at a time (the rounds cut short are counted),
    /// exchanges with a quiet server in the meantime complete, and the flooded one still gets
    /// its real reply.
    @Test func aFloodIsReadInBoundedRoundsAndOtherExchangesGoOn() async throws {
        let flooder = try LyingServer(addresses: [net.ip(5)]) { q, _ in
            var forged = Message.reply(to: q)
            forged.header.id ^= 0x0F0F
            guard let bytes = try? forged.serialize() else { return [] }
            return Array(repeating: .raw(bytes), count: 20_000) + [.message(Message.reply(to: q))]
        }
        defer { flooder.stop() }
        let quiet = try LyingServer(addresses: [net.ip(6)]) { q, _ in [.message(Message.reply(to: q))] }
        defer { quiet.stop() }
        let cutBefore = IOReactor.shared.readsCutShort.load(ordering: .relaxed)
        let flooded = Task { try await client.send(try query("flooded.test.", net.ip(5), port: flooder.port, timeoutMillis: 3000)) }
        while flooder.total == 0 { try await Task.sleep(for: .milliseconds(1)) }
        var quietDone = 0
        for i in 0..<20 {
            let reply = try await client.send(try query("q\(i).quiet.test.", net.ip(6), port: quiet.port, timeoutMillis: 3000))
            #expect(reply.message.rcode == .noError)
            quietDone += 1
        }
        #expect(quietDone == 20)
        // The forged replies may all be lost to a full socket buffer but the last one; a reply
        // or a timeout, the exchange ends, and no forged reply is taken.
        switch await flooded.result {
        case let .success(reply): #expect(reply.message.questions.first?.name.presentation == "flooded.test.")
        case let .failure(error): #expect(error as? UpstreamError == .timeout)
        }
        #expect(IOReactor.shared.readsCutShort.load(ordering: .relaxed) > cutBefore,
                "the flood was never cut short: every datagram read in one round")
        #expect(IOReactor.shared.outstanding == 0)
    }
}
