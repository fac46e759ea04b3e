import DNSCore

/// A client query that passed screening and needs an answer.
public struct ClientQuery: Sendable {
    public var message: Message
    public var question: Question
    /// Whether the client asked for DNSSEC records (EDNS DO).
    public var dnssecOK: Bool { message.edns?.dnssecOK ?? false }
    /// Largest response the client accepts over this transport.
    public var maxResponseSize: Int
    /// The question name exactly as the client wrote it (0x20 spelling kept).
    public var wireName: [UInt8]
}

/// What to do with bytes a client sent.
public enum Screening: Sendable {
    /// Not a query, from a client the ACL does not admit: dropped without a word or a count.
    case ignore
    /// Not worth an answer (a response, or too short to carry an ID): dropped and counted.
    case drop(String)
    /// Answer at once with these bytes (FORMERR, NOTIMP, REFUSED, BADVERS).
    case respond([UInt8], reason: String)
    /// A well-formed query to answer from the caches or by resolution.
    case answer(ScreenedQuery)
}

/// A query that passed screening: what the packet cache needs at once, and the parsed message
/// for everything else.
public struct ScreenedQuery: Sendable {
    /// The packet cache's key and how to personalise its answer.
    let packet: PacketQuery
    /// The parsed query; nil for a plain query (``PacketQuery/init(plain:overTCP:)``), whose
    /// message is built only when it misses the packet cache.
    private let parsed: ClientQuery?
    private let bytes: [UInt8]
    private let overTCP: Bool

    init(plain packet: PacketQuery, bytes: [UInt8], overTCP: Bool) {
        self.packet = packet
        self.parsed = nil
        self.bytes = bytes
        self.overTCP = overTCP
    }

    init(parsed q: ClientQuery, bytes: [UInt8], overTCP: Bool) {
        self.packet = PacketQuery(q)
        self.parsed = q
        self.bytes = bytes
        self.overTCP = overTCP
    }

    /// The query as a message. For a plain query this parses the bytes, which screening has
    /// already checked (one question, class IN, no records but an OPT without options), so it
    /// is not screened again; `.respond` only if the full parser disagrees with the fast one.
    public func clientQuery() -> Result<ClientQuery, QueryScreen.Rejection> {
        if let parsed { return .success(parsed) }
        switch QueryScreen.screenMessage(bytes, overTCP: overTCP) {
        case let .answer(q): return .success(q)
        case let .drop(reason): return .failure(QueryScreen.Rejection(response: nil, reason: reason))
        case let .respond(b, reason): return .failure(QueryScreen.Rejection(response: b, reason: reason))
        }
    }
}

/// Screens client queries before any cache or resolution work (RFC 1035, 6891, 8482): every
/// query is screened once, here, and comes out as a ``Screening``.
public enum QueryScreen {
    /// Our own EDNS payload size (DNS Flag Day 2020).
    public static let ednsPayloadSize: UInt16 = 1232

    /// A query turned away after all: the answer to send (nil: none) and why.
    public struct Rejection: Error, Sendable {
        public var response: [UInt8]?
        public var reason: String
    }

    /// Screens `bytes` from a client. A client outside the ACL gets REFUSED (or nothing, for a
    /// non-query); a plain query (``PacketQuery/init(plain:overTCP:)``) is read straight from
    /// the bytes, with no message built, so a packet-cache hit costs no parse; anything else
    /// is parsed and checked in full.
    public static func screen(_ bytes: [UInt8], overTCP: Bool, clientAllowed: Bool) -> Screening {
        guard clientAllowed else {
            guard bytes.count >= 12, bytes[2] & 0x80 == 0 else { return .ignore }
            let h = Header(id: UInt16(bytes[0]) << 8 | UInt16(bytes[1]), flags: UInt16(bytes[2]) << 8 | UInt16(bytes[3]))
            return .respond(errorResponse(h, .refused), reason: "client not allowed")
        }
        if let plain = PacketQuery(plain: bytes, overTCP: overTCP) {
            return .answer(ScreenedQuery(plain: plain, bytes: bytes, overTCP: overTCP))
        }
        switch screenMessage(bytes, overTCP: overTCP) {
        case let .drop(reason): return .drop(reason)
        case let .respond(b, reason): return .respond(b, reason: reason)
        case let .answer(q): return .answer(ScreenedQuery(parsed: q, bytes: bytes, overTCP: overTCP))
        }
    }

    enum FullScreening {
        case drop(String)
        case respond([UInt8], reason: String)
        case answer(ClientQuery)
    }

    /// The full checks, on a parsed message.
    static func screenMessage(_ bytes: [UInt8], overTCP: Bool) -> FullScreening {
        guard bytes.count >= 12 else { return .drop("shorter than a header") }
        let header = Header(id: UInt16(bytes[0]) << 8 | UInt16(bytes[1]), flags: UInt16(bytes[2]) << 8 | UInt16(bytes[3]))
        guard !header.isResponse else { return .drop("a response, not a query") }
        let message: Message
        do {
            message = try Message(wire: bytes)
        } catch {
            return .respond(errorResponse(header, .formErr), reason: "malformed: \(error)")
        }
        guard message.header.opcode == .query else {
            return .respond(errorResponse(header, .notImp, message), reason: "opcode \(message.header.opcode)")
        }
        guard message.questions.count == 1, let q = message.question,
              message.answers.isEmpty, message.authority.isEmpty else {
            return .respond(errorResponse(header, .formErr, message), reason: "not exactly one question")
        }
        if let edns = message.edns, edns.version != 0 {
            return .respond(errorResponse(header, .badVers, message), reason: "EDNS version \(edns.version)")
        }
        if let edns = message.edns, (try? edns.cookie()) == nil, edns.option(.cookie) != nil {
            return .respond(errorResponse(header, .formErr, message), reason: "malformed cookie")
        }
        guard q.qclass == .in else {
            return .respond(errorResponse(header, .refused, message), reason: "class \(q.qclass)")
        }
        switch q.type {
        case .axfr, .ixfr:
            return .respond(errorResponse(header, .refused, message), reason: "zone transfer")
        case .opt:
            return .respond(errorResponse(header, .formErr, message), reason: "query for OPT")
        default:
            break
        }
        let maxSize = overTCP ? 65535 : min(Int(ednsPayloadSize), message.edns?.effectivePayloadSize ?? 512)
        let nameEnd = 12 + q.name.wire.count
        let wireName = nameEnd <= bytes.count ? Array(bytes[12..<nameEnd]) : q.name.wire
        return .answer(ClientQuery(message: message, question: q, maxResponseSize: maxSize, wireName: wireName))
    }

    /// A response with only a header (and the question and OPT when the query parsed).
    public static func errorResponse(_ header: Header, _ rcode: RCode, _ query: Message? = nil) -> [UInt8] {
        var h = Header(id: header.id)
        h.isResponse = true
        h.opcode = header.opcode
        h.recursionDesired = header.recursionDesired
        h.recursionAvailable = true
        var m = Message(header: h)
        if let query {
            m.questions = query.questions.count == 1 ? query.questions : []
            if query.edns != nil { m.edns = EDNS(udpPayloadSize: ednsPayloadSize) }
        }
        // An extended RCODE (BADVERS) needs an OPT record to carry its upper bits.
        if rcode.rawValue > 15 && m.edns == nil { m.edns = EDNS(udpPayloadSize: ednsPayloadSize) }
        m.rcode = rcode
        return (try? m.serialize(maxSize: 512)) ?? []
    }
}

/// What the packet cache needs of a query besides its name: the rest of its key (type, DO,
/// CD; the class is IN) and how to personalise the cached answer (ID, RD, AD, OPT, size limit).
struct HitQuery {
    var id: UInt16
    var recursionDesired: Bool
    var checkingDisabled: Bool
    /// The client set AD: it wants the AD bit even without DO (RFC 6840 §5.7).
    var authenticData: Bool
    var type: RRType
    var hasEDNS: Bool
    var dnssecOK: Bool
    var maxResponseSize: Int
    /// Where the question name ends in the query (it starts at 12).
    var nameEnd: Int

    init(id: UInt16, recursionDesired: Bool, checkingDisabled: Bool, authenticData: Bool, type: RRType,
         hasEDNS: Bool, dnssecOK: Bool, maxResponseSize: Int, nameEnd: Int) {
        self.id = id; self.recursionDesired = recursionDesired; self.checkingDisabled = checkingDisabled
        self.authenticData = authenticData; self.type = type; self.hasEDNS = hasEDNS; self.dnssecOK = dnssecOK
        self.maxResponseSize = maxResponseSize; self.nameEnd = nameEnd
    }

    /// Reads a plain query straight from the bytes, allocating nothing — one question of class
    /// IN with an uncompressed name, not a zone transfer or OPT, no records but an OPT at the
    /// root, version 0, without options — which passes every check of the full screening. Nil
    /// for anything else (then the full screening decides).
    init?(plain b: UnsafeRawBufferPointer, overTCP: Bool) {
        guard b.count >= 17, b[2] & 0xF8 == 0,          // QR clear, opcode QUERY
              b[4] == 0, b[5] == 1, b[6] == 0, b[7] == 0, b[8] == 0, b[9] == 0, b[10] == 0, b[11] <= 1 else { return nil }
        // The name: labels of 1...63 bytes, no compression, 255 bytes at most.
        var p = 12
        while true {
            guard p < b.count, p - 12 < 255 else { return nil }
            let l = Int(b[p])
            if l == 0 { p += 1; break }
            guard l <= 63 else { return nil }
            p += 1 + l
        }
        guard p - 12 <= 255, p + 4 <= b.count else { return nil }
        let t = UInt16(b[p]) << 8 | UInt16(b[p + 1]), c = UInt16(b[p + 2]) << 8 | UInt16(b[p + 3])
        guard c == RRClass.in.rawValue, t != RRType.axfr.rawValue, t != RRType.ixfr.rawValue, t != RRType.opt.rawValue
        else { return nil }
        nameEnd = p
        type = RRType(t)
        id = UInt16(b[0]) << 8 | UInt16(b[1])
        recursionDesired = b[2] & 0x01 != 0
        checkingDisabled = b[3] & 0x10 != 0
        authenticData = b[3] & 0x20 != 0
        let o = p + 4
        if b[11] == 1 {
            // OPT at the root, version 0, no options: 11 bytes.
            guard b.count == o + 11, b[o] == 0, b[o + 1] == 0, b[o + 2] == 41, b[o + 6] == 0,
                  b[o + 9] == 0, b[o + 10] == 0 else { return nil }
            hasEDNS = true
            dnssecOK = b[o + 7] & 0x80 != 0
            let payload = Int(b[o + 3]) << 8 | Int(b[o + 4])
            maxResponseSize = overTCP ? 65535 : min(Int(QueryScreen.ednsPayloadSize), max(512, payload))
        } else {
            guard b.count == o else { return nil }
            hasEDNS = false
            dnssecOK = false
            maxResponseSize = overTCP ? 65535 : 512
        }
        // RD=0 queries are answered from the cache too; a miss goes the full way.
    }
}

/// A query as the packet cache sees it: its ``HitQuery`` fields and its name, as a name (for
/// the key) and as the client spelled it.
struct PacketQuery {
    var hit: HitQuery
    var name: DNSName
    /// The question name exactly as the client wrote it.
    var wireName: ArraySlice<UInt8>

    init(_ q: ClientQuery) {
        hit = HitQuery(id: q.message.header.id, recursionDesired: q.message.header.recursionDesired,
                       checkingDisabled: q.message.header.checkingDisabled, authenticData: q.message.header.authenticData,
                       type: q.question.type, hasEDNS: q.message.edns != nil, dnssecOK: q.dnssecOK,
                       maxResponseSize: q.maxResponseSize, nameEnd: 12 + q.wireName.count)
        name = q.question.name
        wireName = q.wireName[...]
    }

    /// A plain query (``HitQuery/init(plain:overTCP:)``), with its name.
    init?(plain b: [UInt8], overTCP: Bool) {
        guard let h = b.withUnsafeBytes({ HitQuery(plain: $0, overTCP: overTCP) }),
              let n = try? DNSName(wire: Array(b[12..<h.nameEnd])) else { return nil }
        hit = h
        name = n
        wireName = b[12..<h.nameEnd]
    }
}
