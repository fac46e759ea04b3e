import DNSCore

/// Turns a ``Resolution`` into the response a client gets.
public enum ResponseBuilder {
    /// Types that are DNSSEC metadata: left out for clients without DO unless asked for.
    static func isDNSSECType(_ t: RRType) -> Bool { t == .rrsig || t == .nsec || t == .nsec3 }

    /// The full response message (before size limits): a bogus resolution is SERVFAIL with
    /// its EDE unless the client set CD; AD is set on secure data when the client set DO or
    /// AD (RFC 6840 §5.7–5.8).
    public static func message(for q: ClientQuery, _ r: Resolution) -> Message {
        let r = r.forClient(checkingDisabled: q.message.header.checkingDisabled)
        var h = Header(id: q.message.header.id)
        h.isResponse = true
        h.opcode = .query
        h.recursionDesired = q.message.header.recursionDesired
        h.recursionAvailable = true
        h.checkingDisabled = q.message.header.checkingDisabled
        h.authenticData = r.isSecure && r.rcode != .servFail && (q.dnssecOK || q.message.header.authenticData)
        var m = Message(header: h, questions: [q.question])
        let dnssec = q.dnssecOK
        func records(_ sets: [RRSet]) -> [ResourceRecord] {
            var out: [ResourceRecord] = []
            for var s in sets where dnssec || !isDNSSECType(s.type) || s.type == q.question.type {
                if !dnssec { s.signatures = [] }
                out += s.records
            }
            return out
        }
        m.answers = records(r.answer)
        m.authority = records(r.authority)
        if let edns = q.message.edns {
            var e = EDNS(udpPayloadSize: QueryScreen.ednsPayloadSize, dnssecOK: edns.dnssecOK)
            for x in r.extendedErrors { e.addExtendedError(x) }
            m.edns = e
        }
        m.rcode = r.rcode
        return m
    }

    /// The response bytes within the client's size limit (TC set when it does not fit).
    public static func build(for q: ClientQuery, _ r: Resolution) -> [UInt8] {
        let m = message(for: q, r)
        if let b = try? m.serialize(maxSize: q.maxResponseSize) { return b }
        // Not even the question fits: answer SERVFAIL with the header alone.
        return QueryScreen.errorResponse(q.message.header, .servFail)
    }
}
