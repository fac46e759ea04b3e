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
    /// Not worth an answer (a response, or too short to carry an ID): dropped and counted.
    case drop(String)
    /// Answer at once with these bytes (FORMERR, NOTIMP, REFUSED, BADVERS).
    case respond([UInt8], reason: String)
    /// A well-formed query to answer from the caches or by resolution.
    case answer(ClientQuery)
}

/// Screens client queries before any cache or resolution work (RFC 1035, 6891, 8482).
public enum QueryScreen {
    /// Our own EDNS payload size (DNS Flag Day 2020).
    public static let ednsPayloadSize: UInt16 = 1232

    public static func screen(_ bytes: [UInt8], overTCP: Bool) -> Screening {
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
