import Testing
@testable import DNSCore

/// Reader and writer primitives, size-limited serialization, EDNS fields and options.
@Suite struct WireTests {
    // MARK: Reader and writer

    @Test func readerPrimitives() throws {
        var r = WireReader([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F])
        #expect(try r.u8() == 0x01)
        #expect(try r.u16() == 0x0203)
        #expect(try r.u32() == 0x0405_0607)
        #expect(try r.u48() == 0x0809_0A0B_0C0D)
        #expect(r.remaining == 2)
        #expect(throws: WireError(.truncated(needed: 4, available: 2), at: 13)) { try r.u32() }
        #expect(r.offset == 13)                              // a failed read consumes nothing
        #expect(throws: WireError(.truncated(needed: 6, available: 2), at: 13)) { try r.u48() }
        #expect(throws: WireError(.truncated(needed: 3, available: 2), at: 13)) { try r.bytes(3) }
        #expect(throws: WireError(.truncated(needed: -1, available: 2), at: 13)) { try r.bytes(-1) }
        r.limit = 14
        #expect(r.rest() == [0x0E])
        #expect(r.atEnd && r.rest() == [])
        var s = WireReader([3, 0x61, 0x62, 0x63, 5, 0x61])
        #expect(try s.characterString() == Array("abc".utf8))
        #expect(throws: WireError(.truncated(needed: 5, available: 1), at: 5)) { try s.characterString() }
        #expect(throws: WireError(.truncated(needed: 2, available: 1), at: 5)) { try s.skip(2) }
    }

    @Test func writerPrimitives() throws {
        var w = WireWriter()
        w.u8(1); w.u16(0x0203); w.u32(0x0405_0607); w.u48(0x0809_0A0B_0C0D)
        #expect(w.bytes == Array(1...13))
        w.patch16(0xABCD, at: 1)
        #expect(Array(w.bytes[1...2]) == [0xAB, 0xCD])
        var c = WireWriter()
        c.characterString([UInt8](repeating: 7, count: 300))
        #expect(c.count == 256 && c.bytes[0] == 255)
    }

    /// After a rollback, names written after the mark are no longer compression targets.
    @Test func rollbackForgetsCompressionTargets() throws {
        let n = try DNSName("www.example.com.")
        var w = WireWriter()
        w.u16(0)
        let m = w.mark()
        w.name(n, compress: true)
        #expect(w.count == 19)
        w.rollback(to: m)
        #expect(w.count == 2)
        w.u8(0xFF)
        w.name(try DNSName("mail.example.com."), compress: true)
        #expect(w.count == 3 + 18)                           // written out: nothing to point at
        w.name(n, compress: true)
        #expect(Array(w.bytes[21...]) == [3, 0x77, 0x77, 0x77, 0xC0, 8])  // "www" + → "example.com" at 8
    }

    /// Regression: the compressor once compared a name against its own unfinished labels and
    /// read past the end of the buffer for names that repeat a label sequence ("ns.ns.example.").
    @Test(arguments: ["a.a.", "ns.ns.example.", "www.WWW.example.com.", "a.b.a.b.c.", "com.com.com.", "x.y.x.y."])
    func namesRepeatingTheirLabels(text: String) throws {
        let n = try DNSName(text)
        var w = WireWriter()
        w.name(n, compress: true)
        #expect(w.bytes == n.wire)                           // nothing earlier to point at
        w.name(n, compress: true)
        #expect(Array(w.bytes[n.wire.count...]) == [0xC0, 0])
        let m = Message(header: Header(id: 1), questions: [Question(name: n, type: .ns)],
                        answers: [ResourceRecord(name: n, type: .ns, ttl: 1, rdata: .ns(n)),
                                  ResourceRecord(name: n.parent!, type: .ns, ttl: 1, rdata: .ns(try n.prepending([0x61])))])
        #expect(try Message(wire: try m.serialize()) == m)
    }

    @Test func canonicalRDataForm() throws {
        let upper = try DNSName("NS1.Example.COM.")
        #expect(RData.ns(upper).wire(type: .ns, canonical: true) == upper.lowercased.wire)
        #expect(RData.ns(upper).wire(type: .ns) == upper.wire)
        // RFC 6840 §5.1: the NSEC next name keeps its case.
        let nsec = RData.nsec(NSEC(nextName: upper, types: TypeBitmap([.a])))
        #expect(Array(nsec.wire(type: .nsec, canonical: true).prefix(upper.wire.count)) == upper.wire)
        let sig = RRSIG(typeCovered: .a, algorithm: .ed25519, labels: 2, originalTTL: 60, expiration: 2, inception: 1,
                        keyTag: 5, signerName: upper, signature: [9])
        let canon = RData.rrsig(sig).wire(type: .rrsig, canonical: true)
        #expect(Array(canon[18..<(18 + upper.wire.count)]) == upper.lowercased.wire)
        #expect(canon.last == 9)
    }

    @Test func typeBitmapWire() throws {
        let t = TypeBitmap([.a, .mx, .rrsig, .nsec, .caa, RRType(65535), .a])
        #expect(t.types == [.a, .mx, .rrsig, .nsec, .caa, RRType(65535)])
        var w = WireWriter()
        t.write(to: &w)
        // Window 0 up to byte 5 (NSEC = 47), window 1 one byte (CAA = 257), window 255 32 bytes.
        #expect(Array(w.bytes[0..<8]) == [0, 6, 0x40, 0x01, 0, 0, 0, 0x03])
        #expect(Array(w.bytes[8..<11]) == [1, 1, 0x40])
        #expect(Array(w.bytes[11..<13]) == [255, 32] && w.bytes.last == 0x01 && w.count == 13 + 32)
        var r = WireReader(w.bytes)
        #expect(try TypeBitmap(from: &r) == t)
        #expect(t.contains(.caa) && !t.contains(.aaaa))
        var empty = WireWriter()
        TypeBitmap([]).write(to: &empty)
        #expect(empty.count == 0)
    }

    @Test func rdataParseStandalone() throws {
        // RDATA parsed from a buffer that is not a message, with the reader restored after.
        var r = WireReader([0xAA, 10, 0, 0, 1, 0xBB])
        r.offset = 1
        let d = try RData.parse(type: .a, length: 4, from: &r)
        #expect(d == .a(IPv4Address(10, 0, 0, 1)))
        #expect(r.offset == 5 && r.limit == 6)
        r.offset = 1
        #expect(throws: WireError(.truncated(needed: 6, available: 5), at: 1)) {
            try RData.parse(type: RRType(99), length: 6, from: &r)
        }
        #expect(r.limit == 6)
    }

    // MARK: Size limits

    static func a(_ i: Int) -> RData { .a(IPv4Address(UInt32(0x0A00_0000 + i))) }

    static func bigResponse(answerRecords: Int, authority: [ResourceRecord] = [], additional: [ResourceRecord] = [],
                            edns: EDNS? = EDNS(udpPayloadSize: 512)) throws -> Message {
        let q = try DNSName("pool.example.")
        var h = Header(id: 0x5151)
        h.isResponse = true
        return Message(header: h, questions: [Question(name: q, type: .a)],
                       answers: (0..<answerRecords).map { ResourceRecord(name: q, type: .a, ttl: 60, rdata: a($0)) },
                       authority: authority, additional: additional, edns: edns)
    }

    /// An answer RRset that does not fit goes entirely, TC is set, OPT stays.
    @Test func answerRRsetTooBigSetsTC() throws {
        let m = try Self.bigResponse(answerRecords: 40)      // 12 + 18 + 40 × 16 + 11 > 512
        let wire = try m.serialize(maxSize: 512)
        #expect(wire.count <= 512)
        let back = try Message(wire: wire)
        #expect(back.header.truncated)
        #expect(back.answers.isEmpty)                        // whole RRsets only
        #expect(back.edns == m.edns)
        #expect(back.questions == m.questions)
        #expect(wire.count == 12 + 18 + 11)
        // Without a limit everything fits and TC stays clear.
        let full = try Message(wire: try m.serialize())
        #expect(full == m && !full.header.truncated)
    }

    @Test func keepsWholeRRsetsBeforeTheCut() throws {
        let q = try DNSName("pool.example.")
        var m = try Self.bigResponse(answerRecords: 0)
        let cname = ResourceRecord(name: q, type: .cname, ttl: 60, rdata: .cname(try DNSName("real.example.")))
        let target = try DNSName("real.example.")
        m.answers = [cname] + (0..<40).map { ResourceRecord(name: target, type: .a, ttl: 60, rdata: Self.a($0)) }
        m.authority = [ResourceRecord(name: try DNSName("example."), type: .ns, ttl: 60, rdata: .ns(try DNSName("ns.example.")))]
        m.additional = [ResourceRecord(name: try DNSName("ns.example."), type: .a, ttl: 60, rdata: Self.a(1))]
        let back = try Message(wire: try m.serialize(maxSize: 512))
        #expect(back.header.truncated)
        #expect(back.answers == [cname])
        #expect(back.authority.isEmpty && back.additional.isEmpty)
        #expect(back.edns != nil)
    }

    @Test func authorityCutSetsTC() throws {
        let big = (0..<40).map { i in
            ResourceRecord(name: try! DNSName("example."), type: .ns, ttl: 60, rdata: .ns(try! DNSName("ns\(i).example.")))
        }
        let m = try Self.bigResponse(answerRecords: 2, authority: big,
                                     additional: [ResourceRecord(name: try DNSName("ns0.example."), type: .a, ttl: 1, rdata: Self.a(0))])
        let back = try Message(wire: try m.serialize(maxSize: 512))
        #expect(back.header.truncated)
        #expect(back.answers == m.answers)
        #expect(back.authority.isEmpty && back.additional.isEmpty)
    }

    /// Additional RRsets that do not fit are dropped without TC; a later smaller one still goes in.
    @Test func additionalDroppedWithoutTC() throws {
        let ns = (0..<4).map { i in
            ResourceRecord(name: try! DNSName("example."), type: .ns, ttl: 60, rdata: .ns(try! DNSName("ns\(i).example.")))
        }
        let bigGlue = (0..<30).map { i in
            ResourceRecord(name: try! DNSName("ns0.example."), type: .aaaa, ttl: 60, rdata: .aaaa(IPv6Address(high: 1, low: UInt64(i))))
        }
        let smallGlue = [ResourceRecord(name: try DNSName("ns1.example."), type: .a, ttl: 60, rdata: Self.a(1))]
        let m = try Self.bigResponse(answerRecords: 0, authority: ns, additional: bigGlue + smallGlue)
        let wire = try m.serialize(maxSize: 512)
        #expect(wire.count <= 512)
        let back = try Message(wire: wire)
        #expect(!back.header.truncated)
        #expect(back.authority == ns)
        #expect(back.additional == smallGlue)
        #expect(back.edns == m.edns)
    }

    @Test func exactFit() throws {
        let m = try Self.bigResponse(answerRecords: 10)
        let size = try m.serialize().count
        #expect(try Message(wire: try m.serialize(maxSize: size)) == m)
        let cut = try Message(wire: try m.serialize(maxSize: size - 1))
        #expect(cut.header.truncated && cut.answers.isEmpty)
        // Limits above 65535 mean 65535.
        #expect(try m.serialize(maxSize: 1 << 20) == (try m.serialize()))
    }

    @Test func headerQuestionAndOPTMustFit() throws {
        var e = EDNS(udpPayloadSize: 512)
        e.addPadding(600)
        let m = try Self.bigResponse(answerRecords: 1, edns: e)
        #expect(throws: WireError(.doesNotFit(limit: 512), at: 0)) { try m.serialize(maxSize: 512) }
        let q = try Self.bigResponse(answerRecords: 1, edns: nil)
        #expect(throws: WireError(.doesNotFit(limit: 20), at: 0)) { try q.serialize(maxSize: 20) }
        #expect(try q.serialize(maxSize: 30).count == 30)    // header and question exactly
        e.options = [EDNSOption(code: .padding, data: [UInt8](repeating: 0, count: 65535 - 30 - 11 - 4 + 1))]
        #expect(throws: WireError(.doesNotFit(limit: 65535), at: 0)) { try Self.bigResponse(answerRecords: 0, edns: e).serialize() }
    }

    /// Any message at any limit: fits, parses, keeps question and OPT, cuts only at RRset
    /// boundaries, and sets TC exactly when answer or authority records were left out.
    @Test(arguments: [UInt64(1), 2, 3, 4])
    func randomLimits(seed: UInt64) throws {
        var gen = MessageGenerator(seed: seed &* 77)
        var truncatedSome = 0
        for _ in 0..<80 {
            let m = gen.message(maxRRsets: 8)
            let limit = gen.rng.pick([512, 1232, gen.rng.int(100...3000)])
            if let problem = truncationProblem(m, limit: limit) { Issue.record("\(problem)") }
            if let wire = try? m.serialize(maxSize: limit), try Message(wire: wire).header.truncated { truncatedSome += 1 }
        }
        #expect(truncatedSome > 0)
    }

    /// `PacketAging.truncate`, the hit path's in-place cut, against `serialize(maxSize:)` on
    /// random messages without OPT (packet-cache entries have none) at random limits: the same
    /// header (TC included), questions, answer and authority records; additional records a
    /// prefix of the message's, at least as long as the prefix `serialize` kept (it may keep a
    /// later, smaller RRset after one that did not fit; the in-place cut stops there).
    @Test(arguments: [UInt64(1), 2, 3])
    func inPlaceTruncationMatchesSerialize(seed: UInt64) throws {
        var gen = MessageGenerator(seed: seed &* 131)
        var cut = 0, truncated = 0
        for _ in 0..<120 {
            var m = gen.message(maxRRsets: 8)
            m.edns = nil
            let full = try m.serialize()
            let limit = gen.rng.pick([512, gen.rng.int(12...max(12, full.count))])
            var buffer = full
            let n = buffer.withUnsafeMutableBytes { PacketAging.truncate($0, length: full.count, to: limit) }
            guard let expectedWire = try? m.serialize(maxSize: limit) else {
                #expect(n == nil, "serialize could not fit the question in \(limit); truncate gave \(String(describing: n))")
                continue
            }
            let length = try #require(n, "limit \(limit), \(full.count) bytes")
            #expect(length <= limit)
            if length < full.count { cut += 1 }
            let got = try Message(wire: Array(buffer[0..<length]))
            let expected = try Message(wire: expectedWire)
            #expect(got.header == expected.header && got.questions == expected.questions)
            #expect(got.answers == expected.answers && got.authority == expected.authority)
            #expect(Array(m.additional.prefix(got.additional.count)) == got.additional)
            let sharedPrefix = zip(expected.additional, m.additional).prefix { $0 == $1 }.count
            #expect(got.additional.count >= sharedPrefix)
            if got.header.truncated { truncated += 1 }
        }
        #expect(cut > 0 && truncated > 0)
    }

    @Test func inPlaceTruncationOfABigAnswer() throws {
        var m = try Self.bigResponse(answerRecords: 40, edns: nil)
        m.authority = [ResourceRecord(name: try DNSName("example."), type: .ns, ttl: 60, rdata: .ns(try DNSName("ns.example.")))]
        var wire = try m.serialize()
        let length = wire.count
        let n = try #require(wire.withUnsafeMutableBytes { PacketAging.truncate($0, length: length, to: 512) })
        let back = try Message(wire: Array(wire[0..<n]))
        #expect(n == 12 + 18 && back.header.truncated && back.answers.isEmpty && back.authority.isEmpty)
        // Fits: untouched.
        let small = try Self.bigResponse(answerRecords: 3, edns: nil).serialize()
        var copy = small
        #expect(copy.withUnsafeMutableBytes { PacketAging.truncate($0, length: small.count, to: 512) } == small.count && copy == small)
        // Not even the question fits.
        #expect(copy.withUnsafeMutableBytes { PacketAging.truncate($0, length: small.count, to: 20) } == nil)
    }

    // MARK: EDNS

    @Test func dnssecOKBit() throws {
        var e = EDNS(udpPayloadSize: 1232, dnssecOK: true)
        #expect(e.flags == 0x8000 && e.dnssecOK)
        let m = Message.query(id: 1, name: .root, type: .dnskey, edns: e)
        let wire = try m.serialize()
        // OPT is the last 11 bytes: root, type 41, class = payload, TTL = ext-rcode, version, flags.
        #expect(Array(wire.suffix(11)) == [0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0])
        #expect(try Message(wire: wire).edns?.dnssecOK == true)
        e.dnssecOK = false
        #expect(e.flags == 0 && !e.dnssecOK)
        e.flags = 0x7FFF
        e.dnssecOK = true
        #expect(e.flags == 0xFFFF)
        let back = try Message(wire: try Message.query(id: 1, name: .root, type: .a, edns: e).serialize())
        #expect(back.edns?.flags == 0xFFFF)
    }

    @Test(arguments: [RCode.noError, .servFail, .nxDomain, .badVers, .badCookie, RCode(0xFFF), RCode(0x10F)])
    func extendedRCode(rcode: RCode) throws {
        var m = Message.query(id: 2, name: try DNSName("example."), type: .a, edns: EDNS(udpPayloadSize: 1232))
        m.header.isResponse = true
        m.rcode = rcode
        #expect(m.header.rcodeLow == UInt8(rcode.rawValue & 0xF))
        #expect(m.edns?.extendedRCode == UInt8(rcode.rawValue >> 4))
        let wire = try m.serialize()
        #expect(wire[3] & 0x0F == UInt8(rcode.rawValue & 0xF))
        #expect(wire[wire.count - 6] == UInt8(rcode.rawValue >> 4))   // first TTL byte of OPT
        let back = try Message(wire: wire)
        #expect(back.rcode == rcode)
        #expect(back == m)
    }

    @Test func rcodeWithoutEDNSKeepsLowBitsOnly() throws {
        var m = Message.query(id: 3, name: .root, type: .a, edns: nil)
        m.rcode = .badCookie                                   // 23 = 0x17
        #expect(m.rcode == RCode(7))
        #expect(try Message(wire: try m.serialize()).rcode == RCode(7))
    }

    @Test func payloadSizeAndVersion() throws {
        let e = EDNS(udpPayloadSize: 100, version: 1)
        #expect(e.effectivePayloadSize == 512)
        #expect(EDNS(udpPayloadSize: 4096).effectivePayloadSize == 4096)
        let back = try Message(wire: try Message.query(id: 4, name: .root, type: .a, edns: e).serialize())
        #expect(back.edns?.udpPayloadSize == 100 && back.edns?.version == 1)
    }

    @Test(arguments: [8] + Array(16...40))
    func validCookieLengths(length: Int) throws {
        var e = EDNS()
        e.options = [EDNSOption(code: .cookie, data: (0..<length).map { UInt8($0) })]
        let back = try Message(wire: try Message.query(id: 5, name: .root, type: .a, edns: e).serialize())
        let c = try #require(try back.edns?.cookie())
        #expect(c.client == Array(0..<8))
        #expect(c.server == (8..<length).map { UInt8($0) })
    }

    @Test(arguments: Array(0..<8) + Array(9..<16) + [41, 64, 300])
    func invalidCookieLengths(length: Int) throws {
        var e = EDNS()
        e.options = [EDNSOption(code: .cookie, data: [UInt8](repeating: 1, count: length))]
        // The option itself parses (it is just bytes); the typed view refuses it.
        let back = try Message(wire: try Message.query(id: 6, name: .root, type: .a, edns: e).serialize())
        #expect(throws: WireError.self) { try back.edns?.cookie() }
        do throws(WireError) {
            _ = try back.edns?.cookie()
        } catch {
            guard case .invalidField = error.kind else { Issue.record("\(error)"); return }
        }
    }

    @Test func cookieAbsentAndReplaced() throws {
        var e = EDNS()
        #expect(try e.cookie() == nil)
        e.setCookie(DNSCookie(client: Array(1...8)))
        e.setCookie(DNSCookie(client: Array(11...18), server: Array(21...36)))
        #expect(e.options.count == 1)
        #expect(try e.cookie() == DNSCookie(client: Array(11...18), server: Array(21...36)))
    }

    @Test func extendedErrorRoundTrip() throws {
        var e = EDNS(udpPayloadSize: 1232, dnssecOK: true)
        let errors = [ExtendedDNSError(code: .dnssecBogus, extraText: Array("no valid RRSIG for example.com/A".utf8)),
                      ExtendedDNSError(code: .staleAnswer),
                      ExtendedDNSError(code: EDECode(0xFFFF), extraText: [0xF0, 0x9F, 0x98, 0x80])]
        for x in errors { e.addExtendedError(x) }
        e.options.append(EDNSOption(code: .extendedError, data: [0]))      // too short: skipped
        var m = Message.query(id: 7, name: try DNSName("example.com."), type: .a, edns: e)
        m.header.isResponse = true
        m.rcode = .servFail
        let back = try Message(wire: try m.serialize())
        #expect(back.edns?.extendedErrors == errors)
        #expect(back.rcode == .servFail)
        #expect(EDECode.dnssecBogus.description == "DNSSEC Bogus" && EDECode(99).description == "EDE99")
    }

    @Test func paddingAndUnknownOptions() throws {
        var e = EDNS()
        e.addPadding(0)
        e.addPadding(37)
        e.addPadding(-5)
        e.options.append(EDNSOption(code: EDNSOptionCode(65001), data: [1, 2, 3]))
        #expect(e.options.map(\.data.count) == [0, 37, 0, 3])
        let m = Message.query(id: 8, name: .root, type: .a, edns: e)
        let plain = try Message.query(id: 8, name: .root, type: .a, edns: EDNS()).serialize()
        let wire = try m.serialize()
        #expect(wire.count == plain.count + 4 * 4 + 37 + 3)
        #expect(try Message(wire: wire).edns == e)
        #expect(e.option(.padding)?.data.isEmpty == true)
    }
}
