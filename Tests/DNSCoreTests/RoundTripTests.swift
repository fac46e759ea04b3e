import Testing
@testable import DNSCore

/// build → serialize → parse gives the message back, over generated and real-looking messages.
@Suite struct RoundTripTests {
    static let seeds: [UInt64] = Array(1...8)

    @Test(arguments: seeds)
    func generatedMessages(seed: UInt64) throws {
        var gen = MessageGenerator(seed: seed)
        for i in 0..<90 {
            let m = gen.message()
            let wire = try m.serialize()
            let back = try Message(wire: wire)
            #expect(back == m, "seed \(seed) message \(i): \(hex(wire))")
            #expect(!back.header.truncated)

            // Without compression: the same message, byte-exact case, never smaller.
            let plain = uncompressedWire(m)
            #expect(wire.count <= plain.count, "seed \(seed) message \(i)")
            let fromPlain = try Message(wire: plain)
            #expect(fromPlain == m)
            #expect(uncompressedWire(fromPlain) == plain, "case or order changed, seed \(seed) message \(i)")

            // Parsing our own output and writing it again is a fixed point.
            #expect(try back.serialize() == wire)
            if let p = stabilityProblem(m) { Issue.record("seed \(seed) message \(i): \(p)") }
        }
    }

    /// The generator reaches every `RData` case except `.opt` (which lives in `Message.edns`),
    /// and compression kicks in for most messages.
    @Test func generatorCoverage() throws {
        var gen = MessageGenerator(seed: 99)
        var cases = Set<String>()
        var saved = 0
        var messages = 0
        var withEDNSOptions = 0
        for _ in 0..<300 {
            let m = gen.message()
            messages += 1
            for rr in m.answers + m.authority + m.additional {
                cases.insert(String(describing: rr.rdata).prefix { $0 != "(" }.description)
            }
            if let e = m.edns, !e.options.isEmpty { withEDNSOptions += 1 }
            if try m.serialize().count < uncompressedWire(m).count { saved += 1 }
        }
        let expected: Set<String> = ["a", "aaaa", "ns", "cname", "dname", "ptr", "soa", "mx", "txt", "srv", "naptr",
                                     "caa", "ds", "dnskey", "rrsig", "nsec", "nsec3", "nsec3param", "svcb", "unknown"]
        #expect(cases == expected)
        #expect(saved > messages / 2)
        #expect(withEDNSOptions > messages / 4)
    }

    @Test func samplesRoundTripByteExact() throws {
        for (name, m) in SamplePackets.messages() {
            let wire = try m.serialize()
            let back = try Message(wire: wire)
            #expect(back == m, "\(name)")
            #expect(try back.serialize() == wire, "\(name)")
            #expect(wire.count <= 1232 || name == "answer-dnskey", "\(name) is \(wire.count) bytes")
        }
    }

    /// Packets our encoder would not produce still parse, and re-encode stably.
    @Test func rawSamplesParse() throws {
        for (name, wire) in SamplePackets.raw() {
            let m = try Message(wire: wire)
            #expect(stabilityProblem(m) == nil, "\(name)")
        }
        let srv = try Message(wire: SamplePackets.raw()[0].wire)
        guard case let .srv(s1) = srv.answers[0].rdata, case let .srv(s2) = srv.answers[1].rdata else {
            Issue.record("not SRV"); return
        }
        #expect(s1.target == (try DNSName("xmpp.example.com.")))
        #expect(s2.target == s1.target)
        #expect(srv.edns?.dnssecOK == true)
        let dn = try Message(wire: SamplePackets.raw()[1].wire)
        #expect(dn.answers.map(\.name) == [try DNSName("old.test."), try DNSName("old.test."), try DNSName("old.test.")])
        #expect(dn.answers[0].rdata == .dname(try DNSName("new.test.")))
        guard case let .naptr(np) = dn.answers[1].rdata else { Issue.record("not NAPTR"); return }
        #expect(np.replacement == (try DNSName("new.test.")) && np.flags == Array("U".utf8))
        let opt = try Message(wire: SamplePackets.raw()[2].wire)
        #expect(opt.additional.count == 1 && opt.edns?.udpPayloadSize == 4096)
        #expect(opt.edns?.options == [EDNSOption(code: .padding, data: [])])
        let mx = try Message(wire: SamplePackets.raw()[3].wire)
        #expect(mx.answers[1].rdata == .mx(MX(preference: 5, exchange: try DNSName("mail.example."))))
    }

    /// Compression: repeated suffixes become two-byte pointers, case comes from the first
    /// occurrence, and only RFC 1035 types get compressed RDATA (RFC 3597 §4).
    @Test func compressionRules() throws {
        let q = try DNSName("www.example.com.")
        let m = Message(header: Header(id: 1, flags: 0x8400), questions: [Question(name: q, type: .a)],
                        answers: [
                            ResourceRecord(name: try DNSName("WWW.example.com."), type: .a, ttl: 60, rdata: .a(IPv4Address(1, 2, 3, 4))),
                            ResourceRecord(name: q, type: .ns, ttl: 60, rdata: .ns(try DNSName("ns.example.com."))),
                            ResourceRecord(name: q, type: .srv, ttl: 60, rdata: .srv(SRV(priority: 0, weight: 0, port: 53,
                                                                                             target: try DNSName("ns.example.com.")))),
                        ])
        let wire = try m.serialize()
        // Header 12, question 17 + 4; A: pointer 2 + 10 + 4; NS: 2 + 10 + ("ns" 3 + pointer 2);
        // SRV: 2 + 10 + 6 + "ns.example.com." written out (16 bytes).
        #expect(wire.count == 12 + 21 + 16 + 17 + 34)
        #expect(Array(wire[33..<35]) == [0xC0, 12])
        let back = try Message(wire: wire)
        #expect(back.answers[0].name.wire == q.wire)       // lower-case "www" from the question
        #expect(back == m)
        let srvData = Array(wire[(wire.count - 16)...])
        #expect(srvData == (try DNSName("ns.example.com.")).wire)
    }

    /// Names past offset 0x3FFF cannot be pointer targets; the encoder must not try.
    @Test func compressionBeyondPointerRange() throws {
        var gen = SplitMix64(seed: 16383)
        var answers: [ResourceRecord] = []
        // ~20 KB of TXT, then names that repeat each other only after offset 0x3FFF.
        for i in 0..<80 {
            answers.append(ResourceRecord(name: try DNSName("t\(i).example."), type: .txt, ttl: 1,
                                          rdata: .txt([gen.bytes(250)])))
        }
        for i in 0..<40 {
            let n = try DNSName("late\(i % 7).far-away.test.")
            answers.append(ResourceRecord(name: n, type: .ns, ttl: 1, rdata: .ns(n)))
        }
        let m = Message(header: Header(id: 9), questions: [Question(name: try DNSName("example."), type: .txt)],
                        answers: answers)
        let wire = try m.serialize()
        #expect(wire.count > 0x4000)
        #expect(try Message(wire: wire) == m)
        #expect(stabilityProblem(m) == nil)
    }
}
