import Testing
@testable import DNSCore

@Suite struct PresentationMessageTests {
    func n(_ s: String) -> DNSName { try! DNSName(s) }

    @Test func recordLine() throws {
        let rr = ResourceRecord(name: n("www.example.com."), type: .a, ttl: 300, rdata: .a(IPv4Address(192, 0, 2, 1)))
        #expect(rr.presentation == "www.example.com.\t300\tIN\tA\t192.0.2.1")
        #expect(try ResourceRecord(presentation: rr.presentation) == rr)
        // dig's column padding, class and TTL swapped, relative owner, default TTL.
        #expect(try ResourceRecord(presentation: "www.example.com.\t\t300\tIN\tA\t192.0.2.1") == rr)
        #expect(try ResourceRecord(presentation: "www IN 300 A 192.0.2.1", origin: n("example.com.")) == rr)
        #expect(try ResourceRecord(presentation: "www.example.com. A 192.0.2.1", defaultTTL: 300) == rr)
        let odd = ResourceRecord(name: n("x."), type: RRType(65280), rrclass: RRClass(4242), ttl: 0, rdata: .unknown([1]))
        #expect(odd.presentation == "x.\t0\tCLASS4242\tTYPE65280\t\\# 1 01")
        #expect(try ResourceRecord(presentation: odd.presentation) == odd)
    }

    @Test func digLikeMessage() throws {
        var h = Header(id: 4660)
        h.isResponse = true
        h.recursionDesired = true
        h.recursionAvailable = true
        h.authenticData = true
        var e = EDNS(udpPayloadSize: 1232, dnssecOK: true)
        e.setCookie(DNSCookie(client: [1, 2, 3, 4, 5, 6, 7, 8], server: [9, 10, 11, 12, 13, 14, 15, 16]))
        e.addExtendedError(ExtendedDNSError(code: .prohibited, extraText: Array("blocked by policy".utf8)))
        e.options.append(EDNSOption(code: .nsid, data: Array("ns1".utf8)))
        e.options.append(EDNSOption(code: .clientSubnet, data: [0, 1, 24, 0, 192, 0, 2]))
        e.options.append(EDNSOption(code: EDNSOptionCode(65001), data: [0x41]))
        let q = Question(name: n("example.com."), type: .a)
        let answers = [
            ResourceRecord(name: n("example.com."), type: .a, ttl: 3600, rdata: .a(IPv4Address(192, 0, 2, 1))),
            ResourceRecord(name: n("example.com."), type: .rrsig, ttl: 3600, rdata: .rrsig(RRSIG(
                typeCovered: .a, algorithm: .ecdsaP256SHA256, labels: 2, originalTTL: 3600, expiration: 1_767_225_600,
                inception: 1_764_547_200, keyTag: 12345, signerName: n("example.com."), signature: [1, 2, 3]))),
        ]
        let m = Message(header: h, questions: [q], answers: answers, edns: e)
        let text = m.presentation
        #expect(text == """
            ;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 4660
            ;; flags: qr rd ra ad; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 1

            ;; OPT PSEUDOSECTION:
            ; EDNS: version: 0, flags: do; udp: 1232
            ; COOKIE: 0102030405060708090a0b0c0d0e0f10
            ; EDE: 18 (Prohibited): "blocked by policy"
            ; NSID: 6e7331 ("ns1")
            ; CLIENT-SUBNET: 192.0.2.0/24/0
            ; OPT65001: 41 ("A")

            ;; QUESTION SECTION:
            ;example.com.\t\tIN\tA

            ;; ANSWER SECTION:
            example.com.\t3600\tIN\tA\t192.0.2.1
            example.com.\t3600\tIN\tRRSIG\tA 13 2 3600 20260101000000 20251201000000 12345 example.com. AQID

            """)
        // The record lines read back.
        #expect(try ZoneFileParser.records(in: text) == answers)

        // Extended RCODE and unknown flag bits.
        var bad = Message(header: Header(id: 7, flags: 0x8000), edns: EDNS(udpPayloadSize: 512))
        bad.rcode = .badCookie
        bad.edns!.flags |= 0x0001
        #expect(bad.presentation.contains("status: BADCOOKIE, id: 7"))
        #expect(bad.presentation.contains("; EDNS: version: 0, flags:; MBZ: 0x0001; udp: 512"))
        #expect(Message.query(id: 1, name: n("."), type: .ns, edns: nil).presentation.hasPrefix(
            ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1\n;; flags: rd; QUERY: 1, ANSWER: 0"))
    }

    /// Random valid messages: every record prints and reads back to the same bytes, alone and
    /// inside `Message.presentation`.
    @Test(arguments: 0..<4)
    func randomMessagesRoundTrip(seed: UInt64) throws {
        var g = MessageGenerator(seed: 0xD16_0000 + seed)
        for _ in 0..<200 {
            let m = g.message()
            let records = m.answers + m.authority + m.additional
            for rr in records {
                let text = rr.presentation
                let back: ResourceRecord
                do {
                    back = try ResourceRecord(presentation: text)
                } catch {
                    Issue.record("\(error) in \(text)")
                    continue
                }
                #expect(back.name.wire == rr.name.wire && back.type == rr.type && back.rrclass == rr.rrclass
                        && back.ttl == rr.ttl, "\(text)")
                #expect(back.rdata.wire(type: rr.type) == rr.rdata.wire(type: rr.type), "\(text)")
                #expect(back.rdata == rr.rdata, "\(text)")
            }
            let all = try ZoneFileParser.records(in: m.presentation)
            #expect(all == records)
        }
    }
}
