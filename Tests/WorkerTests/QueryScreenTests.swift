import DNSCore
import Testing
@testable import Worker

/// The one screener: every client packet goes through ``QueryScreen/screen(_:overTCP:clientAllowed:)``
/// once. Plain queries are read from the bytes without a message; the rest are parsed and
/// checked in full; both end as the same ``PacketQuery`` for the packet cache.
@Suite struct QueryScreenTests {
    func wire(_ m: Message) throws -> [UInt8] { try m.serialize() }

    func query(_ name: String = "www.example.test.", _ type: RRType = .a, id: UInt16 = 0x1234,
               edns: EDNS? = nil, rd: Bool = true) throws -> Message {
        Message.query(id: id, name: try DNSName(name), type: type, recursionDesired: rd, edns: edns)
    }

    func screened(_ bytes: [UInt8], overTCP: Bool = false, allowed: Bool = true) -> ScreenedQuery? {
        if case let .answer(s) = QueryScreen.screen(bytes, overTCP: overTCP, clientAllowed: allowed) { return s }
        return nil
    }

    /// The RCODE of the immediate answer, or nil when the screen did not answer at once.
    func immediateRCode(_ bytes: [UInt8], allowed: Bool = true) throws -> RCode? {
        guard case let .respond(b, _) = QueryScreen.screen(bytes, overTCP: false, clientAllowed: allowed) else { return nil }
        return try Message(wire: b).rcode
    }

    @Test func aPlainQueryIsReadWithoutAMessage() throws {
        let s = try #require(screened(try wire(query("WwW.Example.test."))))
        let lower = try DNSName("www.example.test."), spelled = try DNSName("WwW.Example.test.")
        #expect(s.packet.hit.id == 0x1234 && s.packet.hit.recursionDesired && !s.packet.hit.hasEDNS && !s.packet.hit.dnssecOK)
        #expect(s.packet.name == lower && s.packet.hit.type == .a)
        #expect(Array(s.packet.wireName) == spelled.wire, "the client's spelling is kept")
        #expect(s.packet.hit.maxResponseSize == 512)
        // Its message, built only on a miss, is the same query.
        let q = try s.clientQuery().get()
        #expect(q.question == Question(name: lower, type: .a))
        #expect(q.maxResponseSize == 512 && q.wireName == spelled.wire)
    }

    @Test func ednsSizesAndTransports() throws {
        let big = try wire(query(edns: EDNS(udpPayloadSize: 4096, dnssecOK: true)))
        let s = try #require(screened(big))
        #expect(s.packet.hit.hasEDNS && s.packet.hit.dnssecOK && s.packet.hit.maxResponseSize == 1232)
        let small = try #require(screened(try wire(query(edns: EDNS(udpPayloadSize: 100)))))
        #expect(small.packet.hit.maxResponseSize == 512)
        let tcp = try #require(screened(big, overTCP: true))
        #expect(tcp.packet.hit.maxResponseSize == 65535)
    }

    @Test func plainAndFullScreeningAgree() throws {
        var withCookie = EDNS(udpPayloadSize: 1400, dnssecOK: true)
        withCookie.setCookie(DNSCookie(client: [1, 2, 3, 4, 5, 6, 7, 8]))
        let cases: [(Message, plain: Bool)] = [
            (try query(), true),
            (try query(rd: false), true),
            (try query(edns: EDNS(udpPayloadSize: 1400, dnssecOK: true)), true),
            (try query("a.test.", .aaaa, edns: withCookie), false),   // an option: the full way
        ]
        for (m, plain) in cases {
            let bytes = try wire(m)
            #expect((PacketQuery(plain: bytes, overTCP: false) != nil) == plain, "\(m.questions)")
            let s = try #require(screened(bytes))
            let full = PacketQuery(try s.clientQuery().get())
            #expect(full.hit.id == s.packet.hit.id && full.name == s.packet.name && full.hit.type == s.packet.hit.type)
            #expect(full.hit.recursionDesired == s.packet.hit.recursionDesired && full.hit.checkingDisabled == s.packet.hit.checkingDisabled)
            #expect(full.hit.hasEDNS == s.packet.hit.hasEDNS && full.hit.dnssecOK == s.packet.hit.dnssecOK)
            #expect(full.hit.maxResponseSize == s.packet.hit.maxResponseSize && full.wireName == s.packet.wireName)
        }
    }

    @Test func badQueriesAreAnsweredAtOnce() throws {
        #expect(try immediateRCode(try wire(query("zone.test.", .axfr))) == .refused)
        #expect(try immediateRCode(try wire(query("zone.test.", .opt))) == .formErr)
        var chaos = try query("version.bind.", .txt)
        chaos.questions[0].qclass = .ch
        #expect(try immediateRCode(try wire(chaos)) == .refused)
        var status = try query()
        status.header.opcode = .status
        #expect(try immediateRCode(try wire(status)) == .notImp)
        #expect(try immediateRCode(try wire(query(edns: EDNS(version: 1)))) == .badVers)
        var two = try query()
        two.questions.append(Question(name: try DNSName("other.test."), type: .a))
        #expect(try immediateRCode(try wire(two)) == .formErr)
        // A header and a name cut short.
        #expect(try immediateRCode(Array(try wire(query()).prefix(16))) == .formErr)
    }

    @Test func nonQueriesAreDropped() throws {
        guard case .drop = QueryScreen.screen([1, 2, 3], overTCP: false, clientAllowed: true) else {
            Issue.record("a 3-byte packet was not dropped"); return
        }
        var response = try query()
        response.header.isResponse = true
        guard case .drop = QueryScreen.screen(try wire(response), overTCP: false, clientAllowed: true) else {
            Issue.record("a response was not dropped"); return
        }
    }

    @Test func clientsOutsideTheACL() throws {
        // A query is refused without being parsed; anything else is ignored (not even counted).
        #expect(try immediateRCode(try wire(query()), allowed: false) == .refused)
        var response = try query()
        response.header.isResponse = true
        guard case .ignore = QueryScreen.screen(try wire(response), overTCP: false, clientAllowed: false) else {
            Issue.record("a response from outside the ACL was not ignored"); return
        }
        guard case .ignore = QueryScreen.screen([0, 1], overTCP: false, clientAllowed: false) else {
            Issue.record("a runt from outside the ACL was not ignored"); return
        }
    }
}
