/// Reads the records of a zone file (RFC 1035 §5) or of `dig` output.
///
/// Handles `;` comments, parentheses spanning lines, quoted strings with escapes, `$ORIGIN`,
/// `$TTL` (RFC 2308 §4), a blank owner meaning the previous record's, TTL and class in either
/// order and each optional, `@`, and relative names. A record without a TTL takes `$TTL` (or
/// the `defaultTTL` given), else the last TTL written out; one without a class takes the last
/// class, else IN. `$INCLUDE` and `$GENERATE` are refused. Every error is a
/// ``PresentationError`` with the line number and what was wrong with which token.
///
/// The parser keeps its state between calls to ``parse(_:)``, so a file may be fed in pieces
/// that each end at a line boundary.
public struct ZoneFileParser: Sendable {
    /// Completes relative names; set by `$ORIGIN`.
    public var origin: DNSName?
    /// TTL of records written without one; set by `$TTL`.
    public var defaultTTL: UInt32?
    /// Owner of the last record, used by a record whose line starts with whitespace.
    public private(set) var lastOwner: DNSName?
    private var lastTTL: UInt32?
    private var lastClass: RRClass?

    public init(origin: DNSName? = nil, defaultTTL: UInt32? = nil) {
        self.origin = origin
        self.defaultTTL = defaultTTL
    }

    /// All records of a zone file or `dig` output.
    public static func records(in text: String, origin: DNSName? = nil,
                               defaultTTL: UInt32? = nil) throws(PresentationError) -> [ResourceRecord] {
        var p = ZoneFileParser(origin: origin, defaultTTL: defaultTTL)
        return try p.parse(text)
    }

    /// The records in `text`, in order, applying and updating the parser's state.
    public mutating func parse(_ text: String) throws(PresentationError) -> [ResourceRecord] {
        var out: [ResourceRecord] = []
        for line in try PresentationLexer.lines(Array(text.utf8)) {
            if let rr = try entry(line) { out.append(rr) }
        }
        return out
    }

    /// One logical line: a directive (nil) or a record.
    mutating func entry(_ line: PresentationLine) throws(PresentationError) -> ResourceRecord? {
        let toks = line.tokens
        if !line.blankOwner, let first = toks.first, !first.quoted, first.raw.first == 0x24 {  // $
            try directive(line)
            return nil
        }
        var i = 0
        let owner: DNSName
        if line.blankOwner {
            guard let lastOwner else {
                throw PresentationError("the first record has no owner name (its line starts with whitespace)",
                                        line: line.line)
            }
            owner = lastOwner
        } else {
            owner = try name(toks[0], "owner")
            i = 1
        }
        var ttl: UInt32? = nil
        var rrclass: RRClass? = nil
        var type: RRType? = nil
        while i < toks.count, type == nil {
            let t = toks[i]
            i += 1
            if ttl == nil, !t.quoted, let c = t.raw.first, PresentationText.isDigit(c) {
                ttl = try wrap(t, "TTL") { raw throws(PresentationError) in try PresentationText.ttl(raw) }
                continue
            }
            if rrclass == nil, !t.quoted,
               let c = try wrap(t, "class", { raw throws(PresentationError) in try PresentationFields.parseClass(raw) }) {
                rrclass = c
                continue
            }
            var expected = ttl == nil ? "a TTL, " : ""
            expected += rrclass == nil ? "a class or " : ""
            expected += "a type"
            guard !t.quoted else {
                throw PresentationError("quoted string \(PresentationText.show(t.raw)) where \(expected) was expected",
                                        line: t.line)
            }
            do throws(PresentationError) { type = try PresentationFields.parseType(t.raw) } catch {
                throw PresentationError("\(error.message) (expected \(expected))", line: t.line)
            }
        }
        guard let type else {
            throw PresentationError("record for \(owner.presentation) has no type", line: toks.last?.line ?? line.line)
        }
        if let ttl { lastTTL = ttl }
        guard let recordTTL = ttl ?? defaultTTL ?? lastTTL else {
            throw PresentationError("record for \(owner.presentation) has no TTL and there is no $TTL before it",
                                    line: line.line)
        }
        let cls = rrclass ?? lastClass ?? .in
        lastClass = cls
        var f = PresentationFields(toks[i...], type: type, endLine: toks.last?.line ?? line.line)
        let rdata = try RData.parse(type: type, fields: &f, origin: origin)
        lastOwner = owner
        return ResourceRecord(name: owner, type: type, rrclass: cls, ttl: recordTTL, rdata: rdata)
    }

    /// `$ORIGIN name` and `$TTL ttl`.
    private mutating func directive(_ line: PresentationLine) throws(PresentationError) {
        let toks = line.tokens
        let word = String(decoding: toks[0].raw, as: UTF8.self).uppercased()
        switch word {
        case "$ORIGIN", "$TTL":
            guard toks.count >= 2 else {
                throw PresentationError("\(word) needs \(word == "$TTL" ? "a TTL" : "a domain name")", line: toks[0].line)
            }
            guard toks.count == 2 else {
                throw PresentationError("unexpected \(PresentationText.show(toks[2].raw)) after \(word)", line: toks[2].line)
            }
            if word == "$TTL" {
                defaultTTL = try wrap(toks[1], "$TTL") { raw throws(PresentationError) in try PresentationText.ttl(raw) }
            } else {
                origin = try name(toks[1], "$ORIGIN")
            }
        case "$INCLUDE", "$GENERATE":
            throw PresentationError("\(word) is not supported", line: toks[0].line)
        default:
            throw PresentationError("unknown directive \(PresentationText.show(toks[0].raw))", line: toks[0].line)
        }
    }

    private func name(_ t: PresentationToken, _ field: String) throws(PresentationError) -> DNSName {
        let origin = self.origin
        return try wrap(t, field) { raw throws(PresentationError) in
            try DNSName(String(decoding: raw, as: UTF8.self), origin: origin)
        }
    }

    private func wrap<T>(_ t: PresentationToken, _ field: String,
                         _ body: ([UInt8]) throws(PresentationError) -> T) throws(PresentationError) -> T {
        do throws(PresentationError) { return try body(t.raw) } catch {
            throw PresentationError("\(field): \(error.message)", line: t.line)
        }
    }
}

extension ResourceRecord {
    /// Parses one record in presentation format: `owner [TTL] [class] type data`, as
    /// ``presentation`` and `dig` print it; TTL and class may come in either order.
    ///
    /// Relative names are completed with `origin`; a record without a TTL takes `defaultTTL`,
    /// and without one is an error. The text must hold exactly one record.
    public init(presentation: String, origin: DNSName? = nil, defaultTTL: UInt32? = nil) throws(PresentationError) {
        var p = ZoneFileParser(origin: origin, defaultTTL: defaultTTL)
        let lines = try PresentationLexer.lines(Array(presentation.utf8))
        guard let first = lines.first else { throw PresentationError("no record in the text") }
        guard lines.count == 1 else {
            throw PresentationError("more than one record in the text", line: lines[1].line)
        }
        guard !first.blankOwner else {
            throw PresentationError("the record has no owner name (the text starts with whitespace)", line: first.line)
        }
        guard let rr = try p.entry(first) else {
            throw PresentationError("a directive where a record was expected", line: first.line)
        }
        self = rr
    }
}
