/// Resource record type. An open struct: unknown values survive parsing and printing
/// (`TYPEnnn`, RFC 3597).
public struct RRType: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ v: UInt16) { rawValue = v }

    public static let a = RRType(1), ns = RRType(2), cname = RRType(5), soa = RRType(6)
    public static let ptr = RRType(12), hinfo = RRType(13), mx = RRType(15), txt = RRType(16)
    public static let aaaa = RRType(28), srv = RRType(33), naptr = RRType(35), dname = RRType(39)
    public static let opt = RRType(41), ds = RRType(43), rrsig = RRType(46), nsec = RRType(47)
    public static let dnskey = RRType(48), nsec3 = RRType(50), nsec3param = RRType(51)
    public static let cds = RRType(59), cdnskey = RRType(60)
    public static let svcb = RRType(64), https = RRType(65), caa = RRType(257)
    public static let ixfr = RRType(251), axfr = RRType(252), any = RRType(255)

    static let names: [(RRType, String)] = [
        (.a, "A"), (.ns, "NS"), (.cname, "CNAME"), (.soa, "SOA"), (.ptr, "PTR"), (.hinfo, "HINFO"),
        (.mx, "MX"), (.txt, "TXT"), (.aaaa, "AAAA"), (.srv, "SRV"), (.naptr, "NAPTR"),
        (.dname, "DNAME"), (.opt, "OPT"), (.ds, "DS"), (.rrsig, "RRSIG"), (.nsec, "NSEC"),
        (.dnskey, "DNSKEY"), (.nsec3, "NSEC3"), (.nsec3param, "NSEC3PARAM"), (.cds, "CDS"),
        (.cdnskey, "CDNSKEY"), (.svcb, "SVCB"), (.https, "HTTPS"), (.caa, "CAA"),
        (.ixfr, "IXFR"), (.axfr, "AXFR"), (.any, "ANY"),
    ]
    static let byValue: [UInt16: String] = Dictionary(uniqueKeysWithValues: names.map { ($0.0.rawValue, $0.1) })
    static let byName: [String: RRType] = Dictionary(uniqueKeysWithValues: names.map { ($0.1, $0.0) })

    /// Mnemonic, or `TYPEnnn` for unknown types.
    public var description: String { Self.byValue[rawValue] ?? "TYPE\(rawValue)" }

    /// Parses a mnemonic (any case) or `TYPEnnn`.
    public init?(mnemonic: String) {
        let u = mnemonic.uppercased()
        if let t = Self.byName[u] { self = t; return }
        if u.hasPrefix("TYPE"), let v = parseDecimal16(u.dropFirst(4)) { self.init(v); return }
        return nil
    }

    /// Meta and question-only types (RFC 6895 §3.1), which never appear in a cache.
    public var isMetaType: Bool { rawValue == 41 || (rawValue >= 128 && rawValue <= 255) }

    public static func < (a: RRType, b: RRType) -> Bool { a.rawValue < b.rawValue }
}

/// Resource record class.
public struct RRClass: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ v: UInt16) { rawValue = v }

    public static let `in` = RRClass(1), ch = RRClass(3), hs = RRClass(4)
    public static let none = RRClass(254), any = RRClass(255)

    public var description: String {
        switch rawValue {
        case 1: "IN"
        case 3: "CH"
        case 4: "HS"
        case 254: "NONE"
        case 255: "ANY"
        default: "CLASS\(rawValue)"
        }
    }

    public init?(mnemonic: String) {
        switch mnemonic.uppercased() {
        case "IN": self = .in
        case "CH": self = .ch
        case "HS": self = .hs
        case "NONE": self = .none
        case "ANY": self = .any
        case let u where u.hasPrefix("CLASS"):
            guard let v = parseDecimal16(u.dropFirst(5)) else { return nil }
            self.init(v)
        default: return nil
        }
    }
}

/// Response code, including the extended range carried by EDNS (12 bits).
public struct RCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ v: UInt16) { rawValue = v }

    public static let noError = RCode(0), formErr = RCode(1), servFail = RCode(2)
    public static let nxDomain = RCode(3), notImp = RCode(4), refused = RCode(5)
    public static let yxDomain = RCode(6), yxRRSet = RCode(7), nxRRSet = RCode(8)
    public static let notAuth = RCode(9), notZone = RCode(10), badVers = RCode(16)
    public static let badCookie = RCode(23)

    public var description: String {
        switch rawValue {
        case 0: "NOERROR"
        case 1: "FORMERR"
        case 2: "SERVFAIL"
        case 3: "NXDOMAIN"
        case 4: "NOTIMP"
        case 5: "REFUSED"
        case 6: "YXDOMAIN"
        case 7: "YXRRSET"
        case 8: "NXRRSET"
        case 9: "NOTAUTH"
        case 10: "NOTZONE"
        case 16: "BADVERS"
        case 23: "BADCOOKIE"
        default: "RCODE\(rawValue)"
        }
    }
}

/// Header opcode (4 bits).
public struct Opcode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue & 0x0F }
    public init(_ v: UInt8) { self.init(rawValue: v) }

    public static let query = Opcode(0), iquery = Opcode(1), status = Opcode(2)
    public static let notify = Opcode(4), update = Opcode(5)

    public var description: String {
        switch rawValue {
        case 0: "QUERY"
        case 1: "IQUERY"
        case 2: "STATUS"
        case 4: "NOTIFY"
        case 5: "UPDATE"
        default: "OPCODE\(rawValue)"
        }
    }
}

/// EDNS option code (RFC 6891 §6.1.2).
public struct EDNSOptionCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ v: UInt16) { rawValue = v }

    public static let nsid = EDNSOptionCode(3), clientSubnet = EDNSOptionCode(8)
    public static let cookie = EDNSOptionCode(10), tcpKeepalive = EDNSOptionCode(11)
    public static let padding = EDNSOptionCode(12), extendedError = EDNSOptionCode(15)

    public var description: String {
        switch rawValue {
        case 3: "NSID"
        case 8: "ECS"
        case 10: "COOKIE"
        case 11: "KEEPALIVE"
        case 12: "PADDING"
        case 15: "EDE"
        default: "OPT\(rawValue)"
        }
    }
}

/// DNSSEC algorithm number (RFC 8624 registry).
public struct DNSSECAlgorithm: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(_ v: UInt8) { rawValue = v }

    public static let rsaSHA1 = DNSSECAlgorithm(5), rsaSHA1NSEC3 = DNSSECAlgorithm(7)
    public static let rsaSHA256 = DNSSECAlgorithm(8), rsaSHA512 = DNSSECAlgorithm(10)
    public static let ecdsaP256SHA256 = DNSSECAlgorithm(13), ecdsaP384SHA384 = DNSSECAlgorithm(14)
    public static let ed25519 = DNSSECAlgorithm(15), ed448 = DNSSECAlgorithm(16)

    public var description: String {
        switch rawValue {
        case 5: "RSASHA1"
        case 7: "RSASHA1-NSEC3-SHA1"
        case 8: "RSASHA256"
        case 10: "RSASHA512"
        case 13: "ECDSAP256SHA256"
        case 14: "ECDSAP384SHA384"
        case 15: "ED25519"
        case 16: "ED448"
        default: "ALG\(rawValue)"
        }
    }
}

/// DS digest type (RFC 4509, 6605).
public struct DigestType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(_ v: UInt8) { rawValue = v }

    public static let sha1 = DigestType(1), sha256 = DigestType(2), sha384 = DigestType(4)

    /// Digest length in bytes, when known.
    public var digestLength: Int? {
        switch rawValue {
        case 1: 20
        case 2: 32
        case 4: 48
        default: nil
        }
    }

    public var description: String {
        switch rawValue {
        case 1: "SHA-1"
        case 2: "SHA-256"
        case 4: "SHA-384"
        default: "DIGEST\(rawValue)"
        }
    }
}

/// Digits only (no sign, no spaces), at most 65535.
func parseDecimal16(_ s: Substring) -> UInt16? {
    (try? PresentationText.number(s.utf8, max: 65535)).map { UInt16($0) }
}
