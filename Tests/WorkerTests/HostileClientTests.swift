import DNSCore
import Foundation
import ShoalLab
import Testing

/// Malformed and unwelcome client queries get FORMERR, NOTIMP, REFUSED or BADVERS, or are
/// dropped; the worker keeps answering.
@Suite(.workerLab, .serialized)
struct HostileClientTests {
    func raw(_ w: WorkerProcess, _ bytes: [UInt8], timeoutMilliseconds: Int = 300) -> Message? {
        guard let b = try? DNSProbe.exchange(bytes, server: w.address, port: w.port,
                                             timeoutMilliseconds: timeoutMilliseconds) else { return nil }
        return try? Message(wire: b)
    }

    func query(_ name: String, _ type: RRType, _ edit: (inout Message) -> Void = { _ in }) throws -> [UInt8] {
        var m = Message.query(id: 0x4242, name: try DNSName(name), type: type, edns: EDNS())
        edit(&m)
        return try m.serialize()
    }

    @Test func badQueriesGetTheRightErrorsAndNothingCrashes() throws {
        let lab = try WorkerLab.lab()
        let segment = uniqueSegment("hostile")
        defer { unlinkSegment(segment) }
        let worker = try WorkerProcess(address: lab.listenAddress(lab.hierarchy.plan.prefix + ".203.1"),
                                       segment: segment, rootHints: lab.paths.rootHints, validation: .lab(lab))
        defer { worker.stop() }

        // Too short to carry an ID, or a response: dropped.
        #expect(raw(worker, [1, 2, 3]) == nil)
        var response = try query("a.lab.", .a)
        response[2] |= 0x80
        #expect(raw(worker, response) == nil)

        // Truncated question: FORMERR with the ID echoed.
        let full = try query("www.example.", .a)
        let cut = Array(full.prefix(20))
        let formerr = try #require(raw(worker, cut))
        #expect(formerr.rcode == .formErr)
        #expect(formerr.header.id == 0x4242)

        // Two questions: FORMERR.
        let two = try query("a.lab.", .a) { $0.questions.append(Question(name: .root, type: .ns)) }
        #expect(raw(worker, two)?.rcode == .formErr)

        // UPDATE: NOTIMP. EDNS version 1: BADVERS. Class CH: REFUSED. AXFR: REFUSED.
        #expect(raw(worker, try query("a.lab.", .a) { $0.header.opcode = .update })?.rcode == .notImp)
        #expect(raw(worker, try query("a.lab.", .a) { $0.edns?.version = 1 })?.rcode == .badVers)
        #expect(raw(worker, try query("version.bind.", .txt) { $0.questions[0].qclass = .ch })?.rcode == .refused)
        #expect(raw(worker, try query("lab.", .axfr))?.rcode == .refused)
        // A malformed cookie option: FORMERR (RFC 7873 §5.2.2).
        let badCookie = try query("a.lab.", .a) { $0.edns?.options = [EDNSOption(code: .cookie, data: [1, 2, 3])] }
        #expect(raw(worker, badCookie)?.rcode == .formErr)

        // Random garbage of every length: never a crash.
        var rng = SystemRandomNumberGenerator()
        for n in 0..<300 {
            let junk = (0..<(n % 120)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = raw(worker, junk, timeoutMilliseconds: 20)
        }
        // Still alive and answering.
        let e = try #require(lab.hierarchy.expectedAnswers.first { $0.kind == .answer && $0.qtype == "A" })
        #expect(try worker.ask(e.qname, .a).rcode == .noError)
        #expect(worker.process.isRunning)
    }
}
