import DNSCore

// Helpers shared by the wire tests: a seeded PRNG, raw packet building, and the stability check
// that the fuzz target also applies: Fuzz/Sources/FuzzMessage/TestSupport.swift is a symbolic
// link to this file, so it may use only DNSCore's public API and must not import Testing.

/// Test helpers on DNSCore's SplitMix64, so every "random" test here is reproducible from its
/// seed.
extension SplitMix64 {
    /// Uniform-enough integer in `r` (modulo bias is irrelevant for tests). Our own mapping, not
    /// the standard library's, so sequences do not change with the toolchain.
    mutating func int(_ r: ClosedRange<Int>) -> Int {
        r.lowerBound + Int(next() % UInt64(r.upperBound - r.lowerBound + 1))
    }

    mutating func int(_ r: Range<Int>) -> Int { int(r.lowerBound...(r.upperBound - 1)) }

    mutating func u8() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
    mutating func u16() -> UInt16 { UInt16(truncatingIfNeeded: next()) }
    mutating func u32() -> UInt32 { UInt32(truncatingIfNeeded: next()) }

    /// True with probability `p`.
    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }

    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in u8() } }
    mutating func bytes(_ r: ClosedRange<Int>) -> [UInt8] { bytes(int(r)) }

    mutating func pick<T>(_ a: [T]) -> T { a[int(0..<a.count)] }
}

// MARK: Raw packets

/// A little assembler for hand-made (often hostile) packets: big-endian fields, labels, pointers.
struct Packet {
    var bytes: [UInt8] = []

    init() {}

    /// A header with the given counts.
    init(id: UInt16 = 0x1234, flags: UInt16 = 0x8180, qd: Int = 0, an: Int = 0, ns: Int = 0, ar: Int = 0) {
        u16(id); u16(flags); u16(UInt16(qd)); u16(UInt16(an)); u16(UInt16(ns)); u16(UInt16(ar))
    }

    var count: Int { bytes.count }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes += [UInt8(v >> 8), UInt8(v & 0xFF)] }
    mutating func u32(_ v: UInt32) { u16(UInt16(v >> 16)); u16(UInt16(v & 0xFFFF)) }
    mutating func raw(_ b: [UInt8]) { bytes += b }

    /// Labels given as strings, then the root label unless `terminate` is false.
    mutating func name(_ labels: [String], terminate: Bool = true) {
        for l in labels { u8(UInt8(l.utf8.count)); bytes += Array(l.utf8) }
        if terminate { u8(0) }
    }

    /// `www.example.com.`
    mutating func exampleName() { name(["www", "example", "com"]) }

    mutating func pointer(_ target: Int) { u16(0xC000 | UInt16(target)) }

    /// QTYPE and QCLASS.
    mutating func question(type: UInt16 = 1, qclass: UInt16 = 1) { u16(type); u16(qclass) }

    /// TYPE, CLASS, TTL and RDLENGTH of a record whose owner was just written.
    mutating func rrFixed(type: UInt16, qclass: UInt16 = 1, ttl: UInt32 = 3600, rdlength: Int) {
        u16(type); u16(qclass); u32(ttl); u16(UInt16(rdlength))
    }

    /// A whole record owned by the name at offset `owner` (a pointer), with raw RDATA.
    mutating func rr(owner: Int, type: UInt16, rdata: [UInt8], rdlength: Int? = nil) {
        pointer(owner)
        rrFixed(type: type, rdlength: rdlength ?? rdata.count)
        raw(rdata)
    }

    /// An OPT record: owner, payload size, extended RCODE/version/flags, options.
    mutating func opt(owner: [String] = [], payload: UInt16 = 1232, ttl: UInt32 = 0, rdata: [UInt8] = []) {
        name(owner)
        rrFixed(type: 41, qclass: payload, ttl: ttl, rdlength: rdata.count)
        raw(rdata)
    }
}

/// Parses, returning the error instead of throwing it (typed throws make this exact).
func parseResult(_ wire: [UInt8]) -> Result<Message, WireError> {
    do throws(WireError) { return .success(try Message(wire: wire)) } catch { return .failure(error) }
}

/// The error a parse of `wire` throws, or nil when it parses.
func parseError(_ wire: [UInt8]) -> WireError? {
    if case let .failure(e) = parseResult(wire) { return e }
    return nil
}

extension WireError.Kind {
    /// Only the case, ignoring associated values, for "some truncation" style expectations.
    var caseName: String {
        switch self {
        case .truncated: "truncated"
        case .labelTooLong: "labelTooLong"
        case .nameTooLong: "nameTooLong"
        case .forwardPointer: "forwardPointer"
        case .pointerNotAllowed: "pointerNotAllowed"
        case .badLabelType: "badLabelType"
        case .badRDLength: "badRDLength"
        case .invalidField: "invalidField"
        case .misplacedOPT: "misplacedOPT"
        case .trailingBytes: "trailingBytes"
        case .doesNotFit: "doesNotFit"
        }
    }
}

func hex(_ b: [UInt8]) -> String {
    let d = Array("0123456789abcdef")
    return String(b.flatMap { [d[Int($0 >> 4)], d[Int($0 & 0xF)]] })
}

// MARK: Uncompressed form

/// The message written without any name compression, in parse order (OPT last). It is what a
/// naive encoder would send and keeps every name's case exactly, which compressed output cannot.
func uncompressedWire(_ m: Message) -> [UInt8] {
    var w = WireWriter(capacity: 4096)
    w.u16(m.header.id); w.u16(m.header.flags)
    w.u16(UInt16(m.questions.count)); w.u16(UInt16(m.answers.count)); w.u16(UInt16(m.authority.count))
    w.u16(UInt16(m.additional.count + (m.edns == nil ? 0 : 1)))
    for q in m.questions { w.name(q.name, compress: false); w.u16(q.type.rawValue); w.u16(q.qclass.rawValue) }
    for rr in m.answers + m.authority + m.additional { rr.write(to: &w, compress: false) }
    if let e = m.edns {
        let opt = ResourceRecord(name: .root, type: .opt, rrclass: RRClass(e.udpPayloadSize),
                                 ttl: UInt32(e.extendedRCode) << 24 | UInt32(e.version) << 16 | UInt32(e.flags),
                                 rdata: .opt(e.options))
        opt.write(to: &w, compress: false)
    }
    return w.bytes
}

// MARK: Stability

/// What must hold for any message the parser accepted (the fuzz target checks the same):
///
/// - `serialize()` either refuses with `doesNotFit` (header, questions and OPT exceed 64 KiB) or
///   gives bytes that parse again;
/// - that parse equals the message (names compare case-insensitively, and compression takes a
///   name's case from the first occurrence), except that records which no longer fit in 65535
///   bytes may be missing — answer and authority cut at an RRset with TC set, additional RRsets
///   skipped without TC — because our encoder does not compress inside SRV, NAPTR, DNAME or RRSIG
///   data, or point into arbitrary places, as the sender may have;
/// - serializing that parse again gives the very same bytes.
///
/// Returns nil when all holds, else what went wrong.
func stabilityProblem(_ m: Message) -> String? {
    let b1: [UInt8]
    do throws(WireError) {
        b1 = try m.serialize()
    } catch {
        if case .doesNotFit = error.kind { return nil }
        return "serialize threw \(error)"
    }
    let m2: Message
    do throws(WireError) { m2 = try Message(wire: b1) } catch {
        return "re-parse of serialized message failed: \(error); wire \(hex(b1))"
    }
    if m2 != m {
        var expected = m
        let cut = m2.answers.count < m.answers.count || m2.authority.count < m.authority.count
        if cut { expected.header.truncated = true }
        guard m2.header == expected.header else { return "header changed: \(m.header) -> \(m2.header)" }
        guard m2.questions == m.questions else { return "questions changed" }
        guard m2.edns == m.edns else { return "EDNS changed: \(String(describing: m.edns)) -> \(String(describing: m2.edns))" }
        guard m2.answers.elementsEqual(m.answers.prefix(m2.answers.count)) else { return "answers changed" }
        guard m2.authority.elementsEqual(m.authority.prefix(m2.authority.count)) else { return "authority changed" }
        guard !cut || (m2.authority.isEmpty || m2.answers.count == m.answers.count) else {
            return "authority kept after the answer section was cut"
        }
        guard !cut || m2.additional.isEmpty else { return "additional kept after a cut" }
        guard isSubsequence(m2.additional, of: m.additional) else { return "additional changed" }
    }
    let b2: [UInt8]
    do throws(WireError) { b2 = try m2.serialize() } catch { return "serialize of the re-parsed message threw \(error)" }
    guard b2 == b1 else { return "serialize(parse(serialize(m))) differs from serialize(m): \(hex(b1)) vs \(hex(b2))" }
    return nil
}

func isSubsequence<T: Equatable>(_ a: [T], of b: [T]) -> Bool {
    var i = 0
    for x in b where i < a.count && a[i] == x { i += 1 }
    return i == a.count
}

/// What must hold for `serialize(maxSize: limit)` of any message (the fuzz target checks the
/// same): it refuses only when header, questions and OPT alone exceed the limit; otherwise the
/// output fits, parses, keeps questions and EDNS, keeps a prefix of whole RRsets of the answer
/// and authority sections (nothing after a cut) and sets TC exactly when it cut there, and keeps
/// a subsequence of the additional section. Returns nil when all holds, else what went wrong.
func truncationProblem(_ m: Message, limit: Int) -> String? {
    let wire: [UInt8]
    do throws(WireError) {
        wire = try m.serialize(maxSize: limit)
    } catch {
        guard error.kind == .doesNotFit(limit: min(limit, 65535)) else { return "serialize(maxSize: \(limit)) threw \(error)" }
        var bare = m
        bare.answers = []; bare.authority = []; bare.additional = []
        if let b = try? bare.serialize(), b.count <= limit {
            return "doesNotFit(\(limit)) although header, questions and OPT take \(b.count) bytes"
        }
        return nil
    }
    guard wire.count <= min(limit, 65535) else { return "\(wire.count) bytes for a limit of \(limit)" }
    let back: Message
    do throws(WireError) { back = try Message(wire: wire) } catch {
        return "output for limit \(limit) does not parse: \(error); wire \(hex(wire))"
    }
    guard back.questions == m.questions else { return "questions changed at limit \(limit)" }
    guard back.edns == m.edns else { return "EDNS changed at limit \(limit)" }
    let answersCut = back.answers.count < m.answers.count
    let cut = answersCut || back.authority.count < m.authority.count
    var expected = m.header
    if cut { expected.truncated = true }
    guard back.header == expected else { return "header \(back.header) at limit \(limit), expected \(expected)" }
    for (kept, all, section) in [(back.answers, m.answers, "answer"), (back.authority, m.authority, "authority")] {
        guard kept.elementsEqual(all.prefix(kept.count)) else { return "\(section) section is not a prefix" }
        if kept.count > 0 && kept.count < all.count {
            let (x, y) = (all[kept.count - 1], all[kept.count])
            if x.name == y.name && x.type == y.type && x.rrclass == y.rrclass { return "\(section) RRset split" }
        }
    }
    if answersCut && !back.authority.isEmpty { return "authority kept after the answer section was cut" }
    if cut && !back.additional.isEmpty { return "additional kept after a cut" }
    guard isSubsequence(back.additional, of: m.additional) else { return "additional is not a subsequence" }
    return nil
}
