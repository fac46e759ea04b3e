/// The fixed 12-byte header without its four counts (those follow from the sections).
public struct Header: Hashable, Sendable {
    public var id: UInt16
    /// The raw flag word: QR, Opcode, AA, TC, RD, RA, Z, AD, CD, RCODE (low 4 bits).
    public var flags: UInt16

    public init(id: UInt16 = 0, flags: UInt16 = 0) { self.id = id; self.flags = flags }

    private func bit(_ m: UInt16) -> Bool { flags & m != 0 }
    private mutating func set(_ m: UInt16, _ v: Bool) { flags = v ? flags | m : flags & ~m }

    public var isResponse: Bool { get { bit(0x8000) } set { set(0x8000, newValue) } }
    public var opcode: Opcode {
        get { Opcode(UInt8((flags >> 11) & 0x0F)) }
        set { flags = flags & ~0x7800 | UInt16(newValue.rawValue) << 11 }
    }
    public var authoritative: Bool { get { bit(0x0400) } set { set(0x0400, newValue) } }
    public var truncated: Bool { get { bit(0x0200) } set { set(0x0200, newValue) } }
    public var recursionDesired: Bool { get { bit(0x0100) } set { set(0x0100, newValue) } }
    public var recursionAvailable: Bool { get { bit(0x0080) } set { set(0x0080, newValue) } }
    /// The reserved Z bit; must be zero in queries (RFC 1035).
    public var zero: Bool { get { bit(0x0040) } set { set(0x0040, newValue) } }
    public var authenticData: Bool { get { bit(0x0020) } set { set(0x0020, newValue) } }
    public var checkingDisabled: Bool { get { bit(0x0010) } set { set(0x0010, newValue) } }
    /// The low 4 bits of the RCODE.
    public var rcodeLow: UInt8 {
        get { UInt8(flags & 0x000F) }
        set { flags = flags & ~0x000F | UInt16(newValue & 0x0F) }
    }
}

public struct Question: Hashable, Sendable, CustomStringConvertible {
    public var name: DNSName
    public var type: RRType
    public var qclass: RRClass
    public init(name: DNSName, type: RRType, qclass: RRClass = .in) {
        self.name = name; self.type = type; self.qclass = qclass
    }
    public var description: String { "\(name.presentation) \(qclass) \(type)" }
}

/// One resource record. `rrclass` and `ttl` are kept raw, which OPT needs.
public struct ResourceRecord: Hashable, Sendable {
    public var name: DNSName
    public var type: RRType
    public var rrclass: RRClass
    public var ttl: UInt32
    public var rdata: RData

    public init(name: DNSName, type: RRType, rrclass: RRClass = .in, ttl: UInt32, rdata: RData) {
        self.name = name; self.type = type; self.rrclass = rrclass; self.ttl = ttl; self.rdata = rdata
    }

    /// Reads one record; the reader is left after it.
    public init(from r: inout WireReader) throws(WireError) {
        name = try r.name()
        type = RRType(try r.u16())
        rrclass = RRClass(try r.u16())
        ttl = try r.u32()
        let len = Int(try r.u16())
        rdata = try RData.parse(type: type, length: len, from: &r)
    }

    /// Writes the record with RDLENGTH filled in.
    public func write(to w: inout WireWriter, compress: Bool = true) {
        w.name(name, compress: compress)
        w.u16(type.rawValue); w.u16(rrclass.rawValue); w.u32(ttl)
        let lenAt = w.count
        w.u16(0)
        rdata.write(type: type, to: &w, compress: compress)
        w.patch16(UInt16(truncatingIfNeeded: w.count - lenAt - 2), at: lenAt)
    }
}

/// A DNS message: header, question and the three record sections, with the OPT record taken
/// out of the additional section into ``edns``.
public struct Message: Hashable, Sendable {
    public var header: Header
    public var questions: [Question]
    public var answers: [ResourceRecord]
    public var authority: [ResourceRecord]
    /// Additional records, without the OPT record.
    public var additional: [ResourceRecord]
    public var edns: EDNS?

    public init(header: Header = Header(), questions: [Question] = [], answers: [ResourceRecord] = [],
                authority: [ResourceRecord] = [], additional: [ResourceRecord] = [], edns: EDNS? = nil) {
        self.header = header; self.questions = questions; self.answers = answers
        self.authority = authority; self.additional = additional; self.edns = edns
    }

    /// A query for one name and type.
    public static func query(id: UInt16, name: DNSName, type: RRType, qclass: RRClass = .in,
                             recursionDesired: Bool = true, edns: EDNS? = EDNS(udpPayloadSize: 1232)) -> Message {
        var h = Header(id: id)
        h.recursionDesired = recursionDesired
        return Message(header: h, questions: [Question(name: name, type: type, qclass: qclass)], edns: edns)
    }

    /// The full RCODE: the header's 4 bits plus EDNS's 8 extended bits.
    public var rcode: RCode {
        get { RCode(UInt16(edns?.extendedRCode ?? 0) << 4 | UInt16(header.rcodeLow)) }
        set {
            header.rcodeLow = UInt8(newValue.rawValue & 0x0F)
            if edns != nil { edns!.extendedRCode = UInt8((newValue.rawValue >> 4) & 0xFF) }
        }
    }

    /// The first question, if any.
    public var question: Question? { questions.first }

    // MARK: Parsing

    /// Parses a whole message. Any malformation throws; bytes after the last record are an error.
    public init(wire: [UInt8]) throws(WireError) {
        var r = WireReader(wire)
        r.minPointerTarget = 12
        let id = try r.u16(), flags = try r.u16()
        let qd = Int(try r.u16()), an = Int(try r.u16()), ns = Int(try r.u16()), ar = Int(try r.u16())
        header = Header(id: id, flags: flags)
        // Each question needs at least 5 bytes, each record 11: refuse absurd counts before
        // reserving anything.
        guard qd * 5 + (an + ns + ar) * 11 <= r.remaining else {
            throw WireError(.truncated(needed: qd * 5 + (an + ns + ar) * 11, available: r.remaining), at: 4)
        }
        questions = []
        questions.reserveCapacity(qd)
        for _ in 0..<qd {
            let n = try r.name()
            questions.append(Question(name: n, type: RRType(try r.u16()), qclass: RRClass(try r.u16())))
        }
        func section(_ count: Int, _ name: String, _ r: inout WireReader) throws(WireError) -> [ResourceRecord] {
            var out: [ResourceRecord] = []
            out.reserveCapacity(count)
            for _ in 0..<count {
                let at = r.offset
                let rr = try ResourceRecord(from: &r)
                if rr.type == .opt { throw WireError(.misplacedOPT("in the \(name) section"), at: at) }
                out.append(rr)
            }
            return out
        }
        answers = try section(an, "answer", &r)
        authority = try section(ns, "authority", &r)
        additional = []
        edns = nil
        for _ in 0..<ar {
            let at = r.offset
            let rr = try ResourceRecord(from: &r)
            if rr.type == .opt {
                guard edns == nil else { throw WireError(.misplacedOPT("appears twice"), at: at) }
                edns = try EDNS(opt: rr, at: at)
            } else {
                additional.append(rr)
            }
        }
        if !r.atEnd { throw WireError(.trailingBytes(r.remaining), at: r.offset) }
    }

    // MARK: Building

    /// Builds the wire form with name compression, at most `maxSize` bytes.
    ///
    /// When the answer or authority section does not fit, the RRset that overflows and everything
    /// after it is left out and TC is set; additional RRsets that do not fit are left out without
    /// TC (RFC 2181 §9). The OPT record is always kept. Throws ``WireError/Kind/doesNotFit(limit:)``
    /// when not even the header, question and OPT fit.
    public func serialize(maxSize: Int = 65535) throws(WireError) -> [UInt8] {
        let limit = min(maxSize, 65535)
        let optSize = edns?.wireSize ?? 0
        var w = WireWriter(capacity: min(limit, 1232))
        var h = header
        w.u16(h.id); w.u16(h.flags)
        w.u16(UInt16(truncatingIfNeeded: questions.count))
        w.u16(0); w.u16(0); w.u16(0)
        for q in questions {
            w.name(q.name, compress: true)
            w.u16(q.type.rawValue); w.u16(q.qclass.rawValue)
        }
        guard w.count + optSize <= limit else { throw WireError(.doesNotFit(limit: limit), at: 0) }
        let room = limit - optSize
        var truncated = false

        /// Writes whole RRsets while they fit; returns how many records went in.
        func put(_ rrs: [ResourceRecord], _ w: inout WireWriter, stopAtOverflow: Bool) -> (Int, Bool) {
            var written = 0
            var i = 0
            while i < rrs.count {
                var j = i + 1
                while j < rrs.count, rrs[j].type == rrs[i].type, rrs[j].name == rrs[i].name,
                      rrs[j].rrclass == rrs[i].rrclass { j += 1 }
                let m = w.mark()
                for k in i..<j { rrs[k].write(to: &w, compress: true) }
                if w.count > room {
                    w.rollback(to: m)
                    if stopAtOverflow { return (written, true) }
                } else {
                    written += j - i
                }
                i = j
            }
            return (written, false)
        }

        let (an, anCut) = put(answers, &w, stopAtOverflow: true)
        var ns = 0, ar = 0
        if anCut {
            truncated = true
        } else {
            let (n, nsCut) = put(authority, &w, stopAtOverflow: true)
            ns = n
            if nsCut { truncated = true } else { ar = put(additional, &w, stopAtOverflow: false).0 }
        }
        if let edns {
            edns.record(rcodeHigh: edns.extendedRCode).write(to: &w, compress: false)
            ar += 1
        }
        if truncated { h.truncated = true; w.patch16(h.flags, at: 2) }
        w.patch16(UInt16(an), at: 6)
        w.patch16(UInt16(ns), at: 8)
        w.patch16(UInt16(ar), at: 10)
        return w.bytes
    }
}
