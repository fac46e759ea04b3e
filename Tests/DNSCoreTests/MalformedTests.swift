import Testing
@testable import DNSCore

/// Truncated, mutated and hand-made hostile packets: the parser returns a typed error (or a
/// message that re-encodes stably) and never traps.
@Suite struct MalformedTests {
    /// The real-looking samples plus a few dozen generated messages.
    static let packets: [(name: String, wire: [UInt8])] = {
        var out = SamplePackets.all()
        var gen = MessageGenerator(seed: 0x7e57)
        for i in 0..<30 {
            out.append(("generated-\(i)", try! gen.message(maxRRsets: 3).serialize()))
        }
        return out
    }()

    // MARK: Truncation

    /// Every strict prefix is a truncation error at or before the cut; the full packet parses.
    @Test func everyPrefixIsTruncated() throws {
        for (name, wire) in Self.packets {
            #expect(parseError(wire) == nil, "\(name) does not parse")
            for len in 0..<wire.count {
                let prefix = Array(wire[..<len])
                guard let e = parseError(prefix) else {
                    Issue.record("\(name): prefix of \(len) bytes parsed"); continue
                }
                guard case let .truncated(needed, available) = e.kind else {
                    Issue.record("\(name): prefix of \(len) bytes: \(e)"); continue
                }
                #expect(e.offset <= len && needed > available, "\(name) prefix \(len): \(e)")
                if len < 12 {
                    // The header's six 16-bit fields, read in order.
                    #expect(e == WireError(.truncated(needed: 2, available: len % 2), at: len / 2 * 2), "\(name) \(len)")
                }
            }
        }
    }

    /// When the announced counts cannot possibly fit, the parser says so at the counts (offset 4)
    /// before looking at any record.
    @Test func countsCheckedAgainstLength() throws {
        let wire = SamplePackets.all().first { $0.name == "referral-root-to-com" }!.wire
        let m = try Message(wire: wire)
        let minimum = m.questions.count * 5 + (m.answers.count + m.authority.count + m.additional.count + 1) * 11
        for len in 12..<(12 + minimum) {
            #expect(parseError(Array(wire[..<len])) == WireError(.truncated(needed: minimum, available: len - 12), at: 4))
        }
    }

    // MARK: Bit flips

    /// Random single- and multi-byte corruptions: an error or a message that re-encodes to itself.
    @Test func randomMutations() throws {
        var rng = SplitMix64(seed: 0xF11F)
        var parsed = 0, total = 0
        for (name, wire) in Self.packets {
            for k in 0..<160 {
                var p = wire
                switch k % 5 {
                case 0:   // one bit
                    let i = rng.int(0..<p.count)
                    p[i] ^= 1 << UInt8(rng.int(0..<8))
                case 1:   // a few bits anywhere
                    for _ in 0..<rng.int(2...6) { p[rng.int(0..<p.count)] ^= 1 << UInt8(rng.int(0..<8)) }
                case 2:   // a few random bytes
                    for _ in 0..<rng.int(1...4) { p[rng.int(0..<p.count)] = rng.u8() }
                case 3:   // a run of bytes, often with "interesting" values
                    let i = rng.int(0..<p.count)
                    let v = rng.pick([0x00, 0xFF, 0xC0, 0x3F, 0x40, 0x80, rng.u8()] as [UInt8])
                    for j in i..<min(p.count, i + rng.int(1...8)) { p[j] = v }
                default:  // a length byte or count bumped up or down
                    let i = rng.int(0..<p.count)
                    p[i] = rng.chance(0.5) ? p[i] &+ UInt8(rng.int(1...3)) : p[i] &- UInt8(rng.int(1...3))
                }
                total += 1
                switch parseResult(p) {
                case .failure: break
                case let .success(m):
                    parsed += 1
                    if let problem = stabilityProblem(m) ?? truncationProblem(m, limit: 512) {
                        Issue.record("\(name) mutation \(k) \(hex(p)): \(problem)")
                    }
                }
            }
        }
        // Sanity: mutations hit both outcomes (many flips land in TTLs, IDs and addresses).
        #expect(parsed > total / 10 && parsed < total)
    }

    /// Every single-bit flip of a few small packets.
    @Test(arguments: ["query-aaaa-do-cookie", "answer-srv-naptr", "raw-srv-compressed", "raw-dname-naptr-compressed",
                      "nxdomain-nsec", "answer-https-svcb", "servfail-ede"])
    func everySingleBitFlip(sample: String) throws {
        let wire = try #require(SamplePackets.all().first { $0.name == sample }).wire
        for i in 0..<wire.count {
            for bit in 0..<8 {
                var p = wire
                p[i] ^= 1 << UInt8(bit)
                if case let .success(m) = parseResult(p), let problem = stabilityProblem(m) {
                    Issue.record("\(sample) byte \(i) bit \(bit): \(problem)")
                }
            }
        }
    }

    /// Splicing parts of two packets (what a fuzzer's cross-over does).
    @Test func splices() {
        var rng = SplitMix64(seed: 0x5911CE)
        for _ in 0..<1500 {
            let a = rng.pick(Self.packets).wire, b = rng.pick(Self.packets).wire
            let p = Array(a[..<rng.int(0...a.count)]) + Array(b[rng.int(0...b.count)...])
            if case let .success(m) = parseResult(p),
               let problem = stabilityProblem(m) ?? truncationProblem(m, limit: rng.int(12...1500)) {
                Issue.record("\(hex(p)): \(problem)")
            }
        }
    }

    // MARK: Compression pointers

    /// `www.example.com.` A IN as the question: 12 + 17 + 4 = 33 bytes.
    static func query(an: Int = 0, ns: Int = 0, ar: Int = 0) -> Packet {
        var p = Packet(qd: 1, an: an, ns: ns, ar: ar)
        p.exampleName()
        p.question()
        return p
    }

    @Test func pointerToItself() {
        var p = Packet(qd: 1)
        p.pointer(12)
        p.question()
        #expect(parseError(p.bytes) == WireError(.forwardPointer(target: 12), at: 12))
    }

    /// Two pointers aiming at each other: one of them necessarily points forward.
    @Test func pointersToEachOther() {
        var p = Packet(an: 2)
        p.u8(0)                                            // owner "." at 12
        p.rrFixed(type: 99, rdlength: 4)                   // RDATA at 23
        p.pointer(25); p.pointer(23)                       // 23 → 25, 25 → 23
        p.pointer(25)                                      // owner of the second record, at 27
        p.rrFixed(type: 1, rdlength: 4); p.u32(0x7F00_0001)
        #expect(parseError(p.bytes) == WireError(.forwardPointer(target: 25), at: 23))
        // Entering the loop at the other pointer fails the same way.
        p.bytes[28] = 23
        #expect(parseError(p.bytes) == WireError(.forwardPointer(target: 25), at: 23))
    }

    @Test func forwardPointer() {
        var p = Packet(qd: 1, an: 1)
        p.pointer(18)                                      // question name → the answer's owner
        p.question()                                       // 14..<18
        p.exampleName()                                    // 18: never reached
        p.rrFixed(type: 1, rdlength: 4); p.u32(1)
        #expect(parseError(p.bytes) == WireError(.forwardPointer(target: 18), at: 12))
        // A pointer inside a name to a later label of that same name.
        var q = Packet(qd: 1)
        q.u8(1); q.u8(0x61); q.pointer(16); q.u8(1); q.u8(0x62); q.u8(0)
        q.question()
        #expect(parseError(q.bytes) == WireError(.forwardPointer(target: 16), at: 14))
    }

    /// Pointers may only go below where the name started, even after a jump, so a pointer to
    /// the name's own start (a loop through one hop) fails too.
    @Test func loopThroughEarlierName() {
        var p = Self.query(an: 1)
        // Answer owner at 33: "x" then a pointer back to 33.
        p.u8(1); p.u8(0x78); p.pointer(33)
        p.rrFixed(type: 1, rdlength: 4); p.u32(1)
        #expect(parseError(p.bytes) == WireError(.forwardPointer(target: 33), at: 35))
    }

    /// A pointer into the header is refused: no name lives there.
    @Test func pointerIntoHeader() throws {
        var p = Packet(id: 0x4000, flags: 0x0100, qd: 1)
        p.pointer(2)
        p.question()
        #expect(parseError(p.bytes) == WireError(.invalidField("compression pointer into the header"), at: 12))
        p.bytes[13] = 11                                   // the last header byte: still refused
        #expect(parseError(p.bytes) == WireError(.invalidField("compression pointer into the header"), at: 12))
    }

    @Test(arguments: [UInt8(0x40), 0x41, 0x7F, 0x80, 0xBF])
    func reservedLabelTypes(byte: UInt8) {
        var p = Packet(qd: 1)
        p.u8(byte); p.raw([UInt8](repeating: 0x61, count: 10)); p.u8(0)
        p.question()
        #expect(parseError(p.bytes) == WireError(.badLabelType(byte), at: 12))
        // The same after a good label and after a pointer.
        var q = Packet(qd: 2)
        q.exampleName(); q.question()
        q.u8(1); q.u8(0x61); q.u8(byte); q.u8(0); q.question()
        #expect(parseError(q.bytes) == WireError(.badLabelType(byte), at: 35))
    }

    @Test func labelOverflowsPacket() {
        var p = Packet(qd: 1)
        p.u8(63); p.raw([UInt8](repeating: 0x61, count: 10))
        #expect(parseError(p.bytes) == WireError(.truncated(needed: 64, available: 11), at: 12))
        var q = Packet(qd: 1)
        q.u8(3); q.raw(Array("www".utf8)); q.pointer(0x3FF)    // far beyond the packet
        q.question()
        #expect(parseError(q.bytes) == WireError(.forwardPointer(target: 0x3FF), at: 16))
        var r = Packet(qd: 1)
        r.u8(3); r.raw(Array("www".utf8)); r.u8(0xC0)          // half a pointer at the end
        #expect(parseError(r.bytes) == WireError(.truncated(needed: 2, available: 1), at: 16))
    }

    /// Four 63-byte labels joined by pointers make a 257-byte name.
    @Test func nameTooLongThroughPointers() {
        var p = Packet(an: 2)
        p.u8(0)                                            // owner "." at 12
        var rdata = Packet()
        let base = 23                                      // RDATA offset
        var starts: [Int] = []
        for (i, c) in [UInt8(0x61), 0x62, 0x63, 0x64].enumerated() {
            starts.append(base + rdata.count)
            rdata.u8(63); rdata.raw([UInt8](repeating: c, count: 63))
            if i == 0 { rdata.u8(0) } else { rdata.pointer(starts[i - 1]) }
        }
        p.rrFixed(type: 99, rdlength: rdata.count)
        p.raw(rdata.bytes)
        p.pointer(starts[3])                               // owner of the second record
        p.rrFixed(type: 1, rdlength: 4); p.u32(1)
        #expect(parseError(p.bytes) == WireError(.nameTooLong, at: starts[0]))
        // Three of them (193 bytes) are fine.
        p.bytes[p.count - 15] = UInt8(starts[2])
        #expect(parseError(p.bytes) == nil)
    }

    /// A pointer chain of hundreds of hops (each pointer at the one before it) must not make
    /// every later name walk the whole chain: the parser caps the hops.
    @Test func longPointerChain() {
        var p = Packet(an: 2)
        p.u8(0)                                            // owner "." at 12
        let hops = 300
        p.rrFixed(type: 99, rdlength: 1 + 2 * hops)
        p.u8(0)                                            // root label at 23
        for i in 0..<hops { p.pointer(i == 0 ? 23 : 22 + 2 * i) }  // at 24 + 2i → the one before
        let last = 24 + 2 * (hops - 1)
        p.pointer(last)
        p.rrFixed(type: 1, rdlength: 4); p.u32(1)
        #expect(parseError(p.bytes) == WireError(.pointerNotAllowed, at: 24 + 2 * (hops - WireReader.maxPointers)))
        // Exactly the limit (the owner's pointer and 125 in the chain) is fine, one more is not.
        func entering(_ k: Int) -> [UInt8] {
            var q = p.bytes
            q[q.count - 16] = 0xC0 | UInt8((24 + 2 * k) >> 8)
            q[q.count - 15] = UInt8((24 + 2 * k) & 0xFF)
            return q
        }
        #expect(parseError(entering(WireReader.maxPointers - 2)) == nil)
        #expect(parseError(entering(WireReader.maxPointers - 1)) == WireError(.pointerNotAllowed, at: 24))
        #expect(parseError(entering(9)) == nil)
    }

    @Test func pointerWhereForbidden() {
        // RRSIG signer and NSEC next name must not be compressed (RFC 4034 §3.1.7, §4.1.1).
        var p = Self.query(an: 1)
        p.pointer(12)
        p.rrFixed(type: 46, rdlength: 18 + 2 + 4)
        p.u16(1); p.u8(13); p.u8(3); p.u32(60); p.u32(2); p.u32(1); p.u16(7)
        p.pointer(16)                                      // signer → "example.com"
        p.u32(0xDEAD_BEEF)
        #expect(parseError(p.bytes) == WireError(.pointerNotAllowed, at: 45 + 18))
        var q = Self.query(an: 1)
        q.pointer(12)
        q.rrFixed(type: 47, rdlength: 2 + 3)
        q.pointer(12); q.u8(0); q.u8(1); q.u8(0x40)
        #expect(parseError(q.bytes) == WireError(.pointerNotAllowed, at: 45))
    }

    // MARK: RDLENGTH

    /// An answer record at 33 (owner pointer, RDATA at 45) of `type` with `rdata` and `rdlength`.
    static func answer(type: UInt16, rdata: [UInt8], rdlength: Int? = nil) -> [UInt8] {
        var p = query(an: 1)
        p.rr(owner: 12, type: type, rdata: rdata, rdlength: rdlength)
        return p.bytes
    }

    static let soaData: [UInt8] = {
        var p = Packet()
        p.u8(2); p.raw(Array("ns".utf8)); p.pointer(16)
        p.u8(4); p.raw(Array("host".utf8)); p.pointer(16)
        for v in [1, 7200, 900, 1_209_600, 300] as [UInt32] { p.u32(v) }
        return p.bytes
    }()

    @Test(arguments: [
        // type, RDATA, error
        (UInt16(1), [UInt8](repeating: 1, count: 5), WireError.Kind.badRDLength(type: .a, length: 5)),
        (1, [1, 2, 3], .badRDLength(type: .a, length: 3)),
        (1, [], .badRDLength(type: .a, length: 0)),
        (28, [UInt8](repeating: 1, count: 15), .badRDLength(type: .aaaa, length: 15)),
        (28, [UInt8](repeating: 1, count: 17), .badRDLength(type: .aaaa, length: 17)),
        (6, MalformedTests.soaData + [0], .badRDLength(type: .soa, length: MalformedTests.soaData.count + 1)),
        (15, [0, 10, 0xC0, 12, 0], .badRDLength(type: .mx, length: 5)),
        (2, [0xC0, 12, 0xC0, 12], .badRDLength(type: .ns, length: 4)),
        (16, [], .badRDLength(type: .txt, length: 0)),
        (43, [0, 1, 8], .truncated(needed: 1, available: 0)),
        (48, [1, 1, 3], .truncated(needed: 1, available: 0)),
        (50, [1, 0, 0, 0, 0, 0], .invalidField("NSEC3 hash is empty")),
        (51, [1, 0, 0, 0, 5, 1], .truncated(needed: 5, available: 1)),
        (257, [0, 0], .invalidField("CAA tag is empty")),
        (16, [5, 0x61, 0x62], .truncated(needed: 5, available: 2)),
    ] as [(UInt16, [UInt8], WireError.Kind)])
    func badRData(type: UInt16, rdata: [UInt8], kind: WireError.Kind) {
        let e = parseError(Self.answer(type: type, rdata: rdata))
        #expect(e?.kind == kind, "type \(type): \(String(describing: e))")
        #expect(e.map { $0.offset >= 45 && $0.offset <= 45 + rdata.count } == true, "\(String(describing: e))")
    }

    @Test func rdataTooShortForFixedFields() {
        // SOA cut inside MINIMUM: reads stop at RDLENGTH, not at the end of the packet.
        var p = Self.query(an: 1, ar: 0)
        p.rr(owner: 12, type: 6, rdata: Array(Self.soaData.dropLast(2)), rdlength: Self.soaData.count - 2)
        p.raw([0, 0])                                      // the bytes exist, but after RDLENGTH
        let e = parseError(p.bytes)
        #expect(e == WireError(.truncated(needed: 4, available: 2), at: 45 + Self.soaData.count - 4))
        // MX with only a preference.
        #expect(parseError(Self.answer(type: 15, rdata: [0, 10])) == WireError(.truncated(needed: 1, available: 0), at: 47))
    }

    @Test func rdlengthBeyondPacket() {
        let p = Self.answer(type: 1, rdata: [1, 2, 3, 4], rdlength: 40)
        #expect(parseError(p) == WireError(.truncated(needed: 40, available: 4), at: 45))
        let q = Self.answer(type: 99, rdata: [], rdlength: 0xFFFF)
        #expect(parseError(q) == WireError(.truncated(needed: 0xFFFF, available: 0), at: 45))
    }

    /// A name in RDATA must end inside RDLENGTH even when the packet goes on.
    @Test func rdataNameRunsPastRDLength() {
        var p = Self.query(an: 1)
        p.pointer(12)
        p.rrFixed(type: 2, rdlength: 4)
        p.name(["ns", "example"])                          // 12 bytes, 4 announced
        #expect(parseError(p.bytes) == WireError(.truncated(needed: 8, available: 1), at: 48))
        // Through a pointer the name may continue anywhere before; the pointer itself must fit.
        var q = Self.query(an: 1)
        q.pointer(12)
        q.rrFixed(type: 2, rdlength: 3)
        q.u8(2); q.raw(Array("ns".utf8)); q.pointer(16)
        #expect(parseError(q.bytes) == WireError(.truncated(needed: 1, available: 0), at: 48))
    }

    // MARK: OPT

    @Test func optInAnswer() {
        var p = Self.query(an: 1)
        p.opt()
        #expect(parseError(p.bytes) == WireError(.misplacedOPT("in the answer section"), at: 33))
    }

    @Test func optInAuthority() {
        var p = Self.query(ns: 1)
        p.opt()
        #expect(parseError(p.bytes) == WireError(.misplacedOPT("in the authority section"), at: 33))
    }

    @Test func twoOPTs() {
        var p = Self.query(ar: 2)
        p.opt()
        p.opt(payload: 4096)
        #expect(parseError(p.bytes) == WireError(.misplacedOPT("appears twice"), at: 44))
    }

    @Test func optNotAtRoot() {
        var p = Self.query(ar: 1)
        p.opt(owner: ["example"])
        #expect(parseError(p.bytes) == WireError(.misplacedOPT("owner is not the root"), at: 33))
        var q = Self.query(ar: 1)
        q.pointer(12)                                      // compressed, and not the root
        q.rrFixed(type: 41, qclass: 1232, ttl: 0, rdlength: 0)
        #expect(parseError(q.bytes) == WireError(.misplacedOPT("owner is not the root"), at: 33))
    }

    @Test func optOptionOverrunsRData() {
        var p = Self.query(ar: 1)
        p.opt(rdata: [0, 10, 0, 8, 1, 2, 3, 4])            // COOKIE claiming 8 bytes, 4 present
        #expect(parseError(p.bytes) == WireError(.truncated(needed: 8, available: 4), at: 48))
        var q = Self.query(ar: 1)
        q.opt(rdata: [0, 10, 0])                           // half an option header
        #expect(parseError(q.bytes) == WireError(.truncated(needed: 2, available: 1), at: 46))
    }

    // MARK: Counts and lengths

    @Test func hugeCountsTinyPacket() {
        let p = Packet(qd: 0xFFFF, an: 0xFFFF, ns: 0xFFFF, ar: 0xFFFF)
        #expect(parseError(p.bytes) == WireError(.truncated(needed: 0xFFFF * 5 + 3 * 0xFFFF * 11, available: 0), at: 4))
        var q = Self.query(an: 200)
        q.raw([UInt8](repeating: 0, count: 100))
        #expect(parseError(q.bytes) == WireError(.truncated(needed: 5 + 200 * 11, available: 121), at: 4))
        // Counts that fit the length check but not the data: records of all-zero bytes parse as
        // "." TYPE0 CLASS0 with empty data, so the 12th record runs out in its TTL.
        var r = Self.query(an: 12)
        r.raw([UInt8](repeating: 0, count: 11 * 11 + 5))
        #expect(parseError(r.bytes) == WireError(.truncated(needed: 4, available: 0), at: 33 + 11 * 11 + 5))
    }

    @Test func trailingGarbage() {
        var p = Self.query()
        p.raw([0xDE, 0xAD, 0xBE])
        #expect(parseError(p.bytes) == WireError(.trailingBytes(3), at: 33))
        var q = Self.query(ar: 1)
        q.opt()
        q.u8(0)
        #expect(parseError(q.bytes) == WireError(.trailingBytes(1), at: 44))
    }

    @Test func emptyPackets() throws {
        #expect(parseError([]) == WireError(.truncated(needed: 2, available: 0), at: 0))
        let header = Packet(qd: 0)
        #expect(try Message(wire: header.bytes).questions.isEmpty)
    }

    // MARK: Typed RDATA structure

    @Test func txtStrings() throws {
        // Zero-length TXT is invalid; a single empty string is fine.
        #expect(parseError(Self.answer(type: 16, rdata: []))?.kind == .badRDLength(type: .txt, length: 0))
        let m = try Message(wire: Self.answer(type: 16, rdata: [0]))
        #expect(m.answers[0].rdata == .txt([[]]))
        let n = try Message(wire: Self.answer(type: 16, rdata: [0, 1, 0x61, 0]))
        #expect(n.answers[0].rdata == .txt([[], [0x61], []]))
    }

    @Test func nsecBitmaps() throws {
        func nsec(_ bitmap: [UInt8]) -> [UInt8] { Self.answer(type: 47, rdata: [0] + bitmap) }
        let ok = try Message(wire: nsec([0, 1, 0x40, 1, 1, 0x80]))
        #expect(ok.answers[0].rdata == .nsec(NSEC(nextName: .root, types: TypeBitmap([.a, RRType(256)]))))
        #expect(parseError(nsec([1, 1, 0x40, 0, 1, 0x40])) == WireError(.invalidField("type bitmap windows out of order"), at: 49))
        #expect(parseError(nsec([0, 1, 0x40, 0, 1, 0x20])) == WireError(.invalidField("type bitmap windows out of order"), at: 49))
        #expect(parseError(nsec([0, 0])) == WireError(.invalidField("type bitmap window length 0"), at: 47))
        #expect(parseError(nsec([0, 33] + [UInt8](repeating: 0xFF, count: 33))) == WireError(.invalidField("type bitmap window length 33"), at: 47))
        #expect(parseError(nsec([0, 4, 0x40])) == WireError(.truncated(needed: 4, available: 1), at: 48))
        #expect(parseError(nsec([0])) == WireError(.truncated(needed: 1, available: 0), at: 47))
        // An empty bitmap is allowed (NSEC3 for empty non-terminals has none).
        #expect(try Message(wire: nsec([])).answers[0].rdata == .nsec(NSEC(nextName: .root, types: TypeBitmap([]))))
        // The same checks for NSEC3.
        let nsec3Head: [UInt8] = [1, 0, 0, 0, 0, 1, 0xAB]
        #expect(parseError(Self.answer(type: 50, rdata: nsec3Head + [2, 1, 1, 1, 1, 1]))
                == WireError(.invalidField("type bitmap windows out of order"), at: 45 + 10))
    }

    @Test func svcbKeys() throws {
        func svcb(_ params: [UInt8]) -> [UInt8] { Self.answer(type: 65, rdata: [0, 1, 0] + params) }
        let ok = try Message(wire: svcb([0, 1, 0, 3, 2, 0x68, 0x32, 0, 3, 0, 2, 1, 0xBB]))
        #expect(ok.answers[0].rdata == .svcb(SVCB(priority: 1, target: .root, params: [
            SVCParam(key: .alpn, value: [2, 0x68, 0x32]), SVCParam(key: .port, value: [1, 0xBB])])))
        let outOfOrder = WireError.Kind.invalidField("SvcParamKeys not in strictly increasing order")
        #expect(parseError(svcb([0, 3, 0, 2, 1, 0xBB, 0, 1, 0, 0])) == WireError(outOfOrder, at: 54))
        #expect(parseError(svcb([0, 3, 0, 0, 0, 3, 0, 0])) == WireError(outOfOrder, at: 52))
        #expect(parseError(svcb([0, 3, 0, 5, 1])) == WireError(.truncated(needed: 5, available: 1), at: 52))
        #expect(parseError(svcb([0, 3, 0])) == WireError(.truncated(needed: 2, available: 1), at: 50))
        // The target name must not be compressed.
        #expect(parseError(Self.answer(type: 64, rdata: [0, 1, 0xC0, 12])) == WireError(.pointerNotAllowed, at: 47))
    }
}
