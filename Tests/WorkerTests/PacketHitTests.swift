import DNSCore
import Logging
import Foundation
import ShmCache
import Testing
@testable import Worker

/// The packet-cache hit path that writes answers straight into a send buffer (issue #14): what
/// it patches in the stored response, and that it agrees with the array path.
@Suite("Packet-cache hits written in place")
struct PacketHitTests {
    static func segment(_ tag: String) throws -> (SharedSegment, String) {
        let name = uniqueSegment(tag)
        let (seg, _) = try SharedSegment.openOrCreate(name: SegmentName.forInstance(name), geometry: .sized(megabytes: 4))
        return (seg, name)
    }

    /// A response for `name` A with two records of TTL 300, stored `age` seconds ago.
    static func store(_ answers: PacketAnswers, _ seg: SharedSegment, name: String, age: UInt32,
                      validated: Bool = false, ad: Bool = false) throws {
        var m = Message(header: Header(id: 0x1111))
        m.header.isResponse = true
        m.header.recursionAvailable = true
        m.header.authenticData = ad
        m.header.zero = validated
        let n = try DNSName(name)
        m.questions = [Question(name: n, type: .a, qclass: .in)]
        m.answers = [ResourceRecord(name: n, type: .a, rrclass: .in, ttl: 300, rdata: .a(IPv4Address(192, 0, 2, 1))),
                     ResourceRecord(name: n, type: .a, rrclass: .in, ttl: 200, rdata: .a(IPv4Address(192, 0, 2, 2)))]
        seg.packets.insert(PacketKey(name: n, type: .a), response: try m.serialize(), ttl: 200, now: shmNow() - age)
    }

    /// The query bytes a client sends: its ID, its spelling, RD, EDNS (DO) or not.
    static func query(_ name: String, id: UInt16, rd: Bool = true, edns: EDNS? = nil, cd: Bool = false, ad: Bool = false) throws -> [UInt8] {
        var q = Message.query(id: id, name: try DNSName(name), type: .a, recursionDesired: rd, edns: edns)
        q.header.checkingDisabled = cd
        q.header.authenticData = ad
        return try q.serialize()
    }

    /// Writes the answer to `bytes` in place; the answer as a message, and its bytes.
    static func hit(_ answers: PacketAnswers, _ bytes: [UInt8]) throws -> (Message, [UInt8])? {
        try bytes.withUnsafeBytes { raw -> (Message, [UInt8])? in
            let q = try #require(HitQuery(plain: raw, overTCP: false))
            var out = [UInt8](repeating: 0, count: 2048)
            let n = out.withUnsafeMutableBytes { answers.write(q, name: UnsafeRawBufferPointer(rebasing: raw[12..<q.nameEnd]), into: $0) }
            guard let n else { return nil }
            let wire = Array(out[0..<n])
            return (try Message(wire: wire), wire)
        }
    }

    @Test("the client's ID, spelling and RD; TTLs lowered by the time in the cache; OPT only for EDNS clients; the same bytes as the array path")
    func patched() throws {
        let (seg, name) = try Self.segment("hit-patch")
        defer { unlinkSegment(name) }
        let answers = PacketAnswers(seg.packets)
        try Self.store(answers, seg, name: "www.example.", age: 30)

        let bytes = try Self.query("WwW.ExAmPlE.", id: 0xBEEF, rd: false)
        let (m, wire) = try #require(try Self.hit(answers, bytes))
        #expect(m.header.id == 0xBEEF && !m.header.recursionDesired && m.header.isResponse)
        #expect(Array(wire[12..<(12 + 13)]) == Array(bytes[12..<(12 + 13)]), "the question as the client spelled it")
        #expect(m.answers.map(\.ttl) == [270, 170] || m.answers.map(\.ttl) == [269, 169], "\(m.answers.map(\.ttl))")
        #expect(m.edns == nil)
        // The array path (TCP, parsed queries) gives the same bytes.
        let packetQuery = try #require(PacketQuery(plain: bytes, overTCP: false))
        let array = try #require(answers.answer(packetQuery))
        #expect(array == wire)

        let withEDNS = try Self.query("www.example.", id: 7, edns: EDNS(udpPayloadSize: 4096, dnssecOK: false))
        let (e, _) = try #require(try Self.hit(answers, withEDNS))
        #expect(e.edns?.udpPayloadSize == QueryScreen.ednsPayloadSize && e.edns?.dnssecOK == false, "\(String(describing: e.edns))")
        // DO is part of the key: this entry was stored for DO clear.
        #expect(try Self.hit(answers, try Self.query("www.example.", id: 8, edns: EDNS(udpPayloadSize: 4096, dnssecOK: true))) == nil)
    }

    @Test("a miss, an entry another kind of worker stored, and AD: what a validating worker serves and to whom")
    func validation() throws {
        let (seg, name) = try Self.segment("hit-validation")
        defer { unlinkSegment(name) }
        let plain = PacketAnswers(seg.packets), validating = PacketAnswers(seg.packets, validating: true)
        #expect(try Self.hit(plain, try Self.query("absent.example.", id: 1)) == nil)
        // Stored by a worker that does not validate: a miss for a validating one.
        try Self.store(plain, seg, name: "unvalidated.example.", age: 0)
        #expect(try Self.hit(validating, try Self.query("unvalidated.example.", id: 2)) == nil)
        #expect(try Self.hit(plain, try Self.query("unvalidated.example.", id: 2)) != nil)
        // Stored validated and secure: AD for a client that set AD, not for one that set neither; the Z mark never leaves.
        try Self.store(validating, seg, name: "secure.example.", age: 0, validated: true, ad: true)
        let (withAD, wire) = try #require(try Self.hit(validating, try Self.query("secure.example.", id: 3, ad: true)))
        #expect(withAD.header.authenticData && wire[3] & 0x40 == 0)
        let (withoutAD, _) = try #require(try Self.hit(validating, try Self.query("secure.example.", id: 4)))
        #expect(!withoutAD.header.authenticData)
        let (fromPlain, _) = try #require(try Self.hit(plain, try Self.query("secure.example.", id: 5, ad: true)))
        #expect(!fromPlain.header.authenticData, "a worker that does not validate never sets AD")
    }

    @Test("an answer too large for the client is cut in place with TC, as the full path cut it: without EDNS at 512 bytes, with EDNS at its size and with OPT")
    func truncatedInPlace() throws {
        let (seg, name) = try Self.segment("hit-truncate")
        defer { unlinkSegment(name) }
        let answers = PacketAnswers(seg.packets)
        // 60 A records (16 bytes each): 990 bytes stored.
        var m = Message(header: Header(id: 0))
        m.header.isResponse = true
        m.header.recursionAvailable = true
        let n = try DNSName("big.example.")
        m.questions = [Question(name: n, type: .a, qclass: .in)]
        m.answers = (0..<60).map { ResourceRecord(name: n, type: .a, rrclass: .in, ttl: 300, rdata: .a(IPv4Address(UInt32(0x0A00_0000 + $0)))) }
        let stored = try m.serialize()
        seg.packets.insert(PacketKey(name: n, type: .a), response: stored, ttl: 300, now: shmNow())

        let plain = try Self.query("BIG.example.", id: 0x0102)
        let (cut, wire) = try #require(try Self.hit(answers, plain))
        #expect(wire.count <= 512 && cut.header.truncated && cut.answers.isEmpty && cut.header.id == 0x0102)
        #expect(Array(wire[12..<25]) == Array(plain[12..<25]), "the client's spelling")
        // What the full path made of it (the cached message cut by serialize), ID and spelling aside.
        var full = m
        full.header.id = 0x0102
        full.header.recursionDesired = true
        full.questions[0].name = try DNSName("BIG.example.")
        #expect(wire == (try full.serialize(maxSize: 512)))

        let small = try Self.query("big.example.", id: 3, edns: EDNS(udpPayloadSize: 600))
        let (e, ewire) = try #require(try Self.hit(answers, small))
        #expect(ewire.count <= 600 && e.header.truncated && e.edns != nil && e.answers.isEmpty)
        // A client that takes it all gets it all.
        let large = try Self.query("big.example.", id: 4, edns: EDNS(udpPayloadSize: 1232))
        let (whole, _) = try #require(try Self.hit(answers, large))
        #expect(!whole.header.truncated && whole.answers.count == 60)
    }

    @Test("EDNS options are never replayed from the cache: a cached answer to a query with a cookie (RFC 7873) or padding (RFC 7830) carries a fresh OPT without either, and its own ID")
    func optionsNotReplayed() throws {
        let (seg, name) = try Self.segment("hit-options")
        defer { unlinkSegment(name) }
        try Self.store(PacketAnswers(seg.packets), seg, name: "opts.example.", age: 0)
        let engine = HitAllocationTests.engine(seg, logger: Logger(label: "options-test"))
        var cookie = EDNS(udpPayloadSize: 1232, dnssecOK: false)
        cookie.setCookie(DNSCookie(client: [9, 8, 7, 6, 5, 4, 3, 2]))
        var padded = EDNS(udpPayloadSize: 1232, dnssecOK: false)
        padded.addPadding(40)
        for (i, edns) in [cookie, padded].enumerated() {
            let bytes = try Self.query("opts.example.", id: UInt16(0x600 + i), edns: edns)
            guard case let .respond(wire) = engine.receive(bytes, clientAllowed: true, overTCP: false) else {
                Issue.record("no answer from the cache for option set \(i)")
                continue
            }
            let m = try Message(wire: wire)
            #expect(m.header.id == UInt16(0x600 + i) && m.answers.count == 2)
            #expect(m.edns != nil && m.edns?.options.isEmpty == true, "\(String(describing: m.edns))")
        }
    }

    @Test("queries the in-place path leaves to the full one: compression, options, two questions, class CH, a cut name")
    func notPlain() throws {
        var withCookie = EDNS(udpPayloadSize: 1232, dnssecOK: false)
        withCookie.options = [EDNSOption(code: .cookie, data: [1, 2, 3, 4, 5, 6, 7, 8])]
        let cookie = try Self.query("a.example.", id: 1, edns: withCookie)
        var chaos = Message.query(id: 2, name: try DNSName("version.bind."), type: .txt, recursionDesired: true, edns: nil)
        chaos.questions[0].qclass = .ch
        let good = try Self.query("a.example.", id: 3)
        for bytes in [cookie, try chaos.serialize(), Array(good.dropLast(3)), good + [0]] {
            #expect(bytes.withUnsafeBytes { HitQuery(plain: $0, overTCP: false) } == nil, "\(bytes)")
        }
        #expect(good.withUnsafeBytes { HitQuery(plain: $0, overTCP: false) } != nil)
    }
}
