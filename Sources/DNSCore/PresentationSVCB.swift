// SvcParams in presentation format (RFC 9460 §2.1, §7 and Appendix A; dohpath RFC 9461).

extension SVCParam {
    /// `key=value`, or the key alone for `no-default-alpn` and empty generic values.
    ///
    /// A value that is malformed for its key prints in the generic `keyNNNNN="..."` form, which
    /// reads back to the same bytes.
    public var presentation: String {
        if let typed = typedPresentation { return typed }
        let k = "key\(key.rawValue)"
        return value.isEmpty ? k : k + "=" + PresentationText.quoted(value)
    }

    private var typedPresentation: String? {
        switch key {
        case .mandatory:
            // Only the form the parser accepts (keys strictly increasing, never 0) prints as
            // names; anything else would not read back to the same bytes.
            guard !value.isEmpty, value.count % 2 == 0 else { return nil }
            let keys = stride(from: 0, to: value.count, by: 2).map {
                SVCParamKey(UInt16(value[$0]) << 8 | UInt16(value[$0 + 1]))
            }
            guard keys[0] != .mandatory, zip(keys, keys.dropFirst()).allSatisfy({ $0 < $1 }) else { return nil }
            return "mandatory=" + keys.map(\.description).joined(separator: ",")
        case .alpn:
            guard let ids = RData.characterStrings(value), !ids.isEmpty, !ids.contains(where: \.isEmpty) else {
                return nil
            }
            // Value-list escaping first (`,` and `\` inside an item), then <character-string>
            // quoting of the whole list: RFC 9460 Appendix A.1.
            var list: [UInt8] = []
            for (i, id) in ids.enumerated() {
                if i > 0 { list.append(0x2C) }
                for b in id {
                    if b == 0x2C || b == 0x5C { list.append(0x5C) }
                    list.append(b)
                }
            }
            return "alpn=" + PresentationText.quoted(list)
        case .noDefaultALPN:
            return value.isEmpty ? "no-default-alpn" : nil
        case .port:
            guard value.count == 2 else { return nil }
            return "port=\(UInt16(value[0]) << 8 | UInt16(value[1]))"
        case .ipv4hint:
            guard !value.isEmpty, value.count % 4 == 0 else { return nil }
            let addrs = stride(from: 0, to: value.count, by: 4).map {
                IPv4Address(value[$0], value[$0 + 1], value[$0 + 2], value[$0 + 3]).presentation
            }
            return "ipv4hint=" + addrs.joined(separator: ",")
        case .ech:
            guard !value.isEmpty else { return nil }
            return "ech=" + Base64.encode(value)
        case .ipv6hint:
            guard !value.isEmpty, value.count % 16 == 0 else { return nil }
            let addrs = stride(from: 0, to: value.count, by: 16).compactMap {
                IPv6Address(bytes: Array(value[$0..<($0 + 16)]))?.presentation
            }
            return "ipv6hint=" + addrs.joined(separator: ",")
        case .dohpath:
            return "dohpath=" + PresentationText.quoted(value)
        default:
            return nil
        }
    }
}

extension SVCB {
    /// Reads the SvcParams that remain in `f`: validates each value for its key, refuses
    /// duplicate keys, and sorts them by key as the wire form requires.
    ///
    /// Whether the keys `mandatory` lists are present is not checked: that is a property of the
    /// record's meaning (RFC 9460 §8), and records read from `dig` output must read back as sent.
    static func parseParams(_ f: inout PresentationFields) throws(PresentationError) -> [SVCParam] {
        var params: [SVCParam] = []
        while let t = f.peek {
            _ = try f.next("SvcParam", expecting: "a SvcParam")
            guard !t.quoted else {
                throw f.error("SvcParam", "quoted string \(PresentationText.show(t.raw)) without a key", at: t)
            }
            let eq = t.raw.firstIndex(of: 0x3D)
            let keyText = eq.map { Array(t.raw[..<$0]) } ?? t.raw
            var valueRaw: [UInt8]? = eq.map { Array(t.raw[($0 + 1)...]) }
            // `key="value"`: the lexer splits the quoted value off as an attached token.
            if let v = valueRaw, v.isEmpty, let q = f.peek, q.quoted, q.attached {
                valueRaw = q.raw
                _ = try f.next("SvcParam", expecting: "a value")
            }
            let (key, generic) = try f.wrap("SvcParam", t) { _ throws(PresentationError) in
                try SVCB.parseKey(keyText)
            }
            let field = "\(key)"
            var value: [UInt8]? = nil
            if let v = valueRaw {
                value = try f.wrap(field, t) { _ throws(PresentationError) in try PresentationText.unescape(v) }
            }
            guard !params.contains(where: { $0.key == key }) else {
                throw f.error("SvcParam", "duplicate key \(key)", at: t)
            }
            // `keyNNNNN=` carries the value's wire bytes even for a known key: that is how a
            // value malformed for its key prints, and it must read back unchanged.
            let wire = generic ? value ?? [] : try f.wrap(field, t) { _ throws(PresentationError) in
                try SVCB.valueWire(key: key, value: value)
            }
            guard wire.count <= 65535 else { throw f.error(field, "value of \(wire.count) bytes (limit 65535)", at: t) }
            params.append(SVCParam(key: key, value: wire))
        }
        return params.sorted { $0.key < $1.key }
    }

    /// `mandatory`, `alpn`, … (any case), or `keyNNNNN` with `generic` set. Key 65535,
    /// reserved as invalid, is still read, so that whatever the wire carried reads back.
    static func parseKey(_ raw: [UInt8]) throws(PresentationError) -> (key: SVCParamKey, generic: Bool) {
        let lower = raw.map(asciiLower)
        if let (k, _) = SVCParamKey.names.first(where: { Array($0.value.utf8) == lower }) {
            return (SVCParamKey(k), false)
        }
        if lower.count > 3, lower.starts(with: Array("key".utf8)) {
            let n = try PresentationText.number(lower.dropFirst(3), max: 65535)
            return (SVCParamKey(UInt16(n)), true)
        }
        throw PresentationError("unknown key \(PresentationText.show(raw))")
    }

    /// The wire form of a key's unescaped presentation value (nil when written without `=`).
    static func valueWire(key: SVCParamKey, value: [UInt8]?) throws(PresentationError) -> [UInt8] {
        func required() throws(PresentationError) -> [UInt8] {
            guard let value, !value.isEmpty else { throw PresentationError("needs a value") }
            return value
        }
        switch key {
        case .mandatory:
            var keys: [SVCParamKey] = []
            for item in try required().split(separator: 0x2C, omittingEmptySubsequences: false) {
                let k = try parseKey(Array(item)).key
                guard k != .mandatory else { throw PresentationError("may not list mandatory itself") }
                guard !keys.contains(k) else { throw PresentationError("lists \(k) twice") }
                keys.append(k)
            }
            return keys.sorted().flatMap { [UInt8($0.rawValue >> 8), UInt8($0.rawValue & 0xFF)] }
        case .alpn:
            var out: [UInt8] = []
            for id in try valueList(required()) {
                guard id.count <= 255 else { throw PresentationError("ALPN id of \(id.count) bytes (limit 255)") }
                out.append(UInt8(id.count))
                out += id
            }
            return out
        case .noDefaultALPN:
            guard value?.isEmpty ?? true else { throw PresentationError("takes no value") }
            return []
        case .port:
            let p = try PresentationText.number(required(), max: 65535)
            return [UInt8(p >> 8), UInt8(p & 0xFF)]
        case .ipv4hint:
            var out: [UInt8] = []
            for a in try required().split(separator: 0x2C, omittingEmptySubsequences: false) {
                out += try IPv4Address(presentationBytes: a).bytes
            }
            return out
        case .ech:
            return try Base64.decode(required())
        case .ipv6hint:
            var out: [UInt8] = []
            for a in try required().split(separator: 0x2C, omittingEmptySubsequences: false) {
                out += try IPv6Address(presentationBytes: a).bytes
            }
            return out
        default:
            return value ?? []
        }
    }

    /// Splits a value-list on unescaped commas, resolving `\,` and `\\` (RFC 9460 A.1).
    static func valueList(_ v: [UInt8]) throws(PresentationError) -> [[UInt8]] {
        var items: [[UInt8]] = [], cur: [UInt8] = []
        var i = 0
        while i < v.count {
            switch v[i] {
            case 0x5C:
                guard i + 1 < v.count else { throw PresentationError("'\\' at the end of the list") }
                cur.append(v[i + 1])
                i += 2
            case 0x2C:
                guard !cur.isEmpty else { throw PresentationError("empty item in the list") }
                items.append(cur)
                cur = []
                i += 1
            default:
                cur.append(v[i])
                i += 1
            }
        }
        guard !cur.isEmpty else { throw PresentationError("empty item in the list") }
        items.append(cur)
        return items
    }
}
