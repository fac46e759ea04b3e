/// One EDNS option as code and opaque data; typed views are on ``EDNS``.
public struct EDNSOption: Hashable, Sendable {
    public var code: EDNSOptionCode
    public var data: [UInt8]
    public init(code: EDNSOptionCode, data: [UInt8]) { self.code = code; self.data = data }
}

/// The EDNS(0) pseudo-record (RFC 6891): what a message's OPT record says.
public struct EDNS: Hashable, Sendable {
    /// Requestor's UDP payload size (the OPT CLASS field). Values below 512 mean 512.
    public var udpPayloadSize: UInt16
    /// Upper 8 bits of the 12-bit RCODE.
    public var extendedRCode: UInt8
    public var version: UInt8
    /// The 16 flag bits of the OPT TTL field; DO is the top bit.
    public var flags: UInt16
    public var options: [EDNSOption]

    public init(udpPayloadSize: UInt16 = 1232, dnssecOK: Bool = false, version: UInt8 = 0,
                extendedRCode: UInt8 = 0, options: [EDNSOption] = []) {
        self.udpPayloadSize = udpPayloadSize
        self.extendedRCode = extendedRCode
        self.version = version
        self.flags = dnssecOK ? 0x8000 : 0
        self.options = options
    }

    /// DNSSEC OK (RFC 3225).
    public var dnssecOK: Bool {
        get { flags & 0x8000 != 0 }
        set { flags = newValue ? flags | 0x8000 : flags & 0x7FFF }
    }

    /// The effective payload size: never below 512.
    public var effectivePayloadSize: Int { max(512, Int(udpPayloadSize)) }

    /// Reads the OPT record fields; `owner` must be the root.
    init(opt rr: ResourceRecord, at offset: Int) throws(WireError) {
        guard rr.name.isRoot else { throw WireError(.misplacedOPT("owner is not the root"), at: offset) }
        guard case let .opt(options) = rr.rdata else { throw WireError(.misplacedOPT("without OPT data"), at: offset) }
        udpPayloadSize = rr.rrclass.rawValue
        extendedRCode = UInt8(rr.ttl >> 24)
        version = UInt8((rr.ttl >> 16) & 0xFF)
        flags = UInt16(rr.ttl & 0xFFFF)
        self.options = options
    }

    /// As an OPT record for the additional section, with `rcodeHigh` as extended RCODE.
    func record(rcodeHigh: UInt8) -> ResourceRecord {
        ResourceRecord(name: .root, type: .opt, rrclass: RRClass(udpPayloadSize),
                       ttl: UInt32(rcodeHigh) << 24 | UInt32(version) << 16 | UInt32(flags),
                       rdata: .opt(options))
    }

    /// Size in bytes of the OPT record on the wire.
    var wireSize: Int { 11 + options.reduce(0) { $0 + 4 + $1.data.count } }

    public func option(_ code: EDNSOptionCode) -> EDNSOption? { options.first { $0.code == code } }

    // MARK: Typed options

    /// The DNS cookie (RFC 7873), nil when absent. Throws when the option is malformed, which
    /// RFC 7873 §5.2.2 answers with FORMERR.
    public func cookie() throws(WireError) -> DNSCookie? {
        guard let o = option(.cookie) else { return nil }
        let n = o.data.count
        guard n == 8 || (n >= 16 && n <= 40) else {
            throw WireError(.invalidField("COOKIE option of \(n) bytes (8 or 16–40)"), at: 0)
        }
        return DNSCookie(client: Array(o.data[0..<8]), server: Array(o.data[8...]))
    }

    /// Sets or replaces the cookie option.
    public mutating func setCookie(_ c: DNSCookie) {
        options.removeAll { $0.code == .cookie }
        options.append(EDNSOption(code: .cookie, data: c.client + c.server))
    }

    /// Extended DNS Errors (RFC 8914) carried in the message; malformed ones are skipped.
    public var extendedErrors: [ExtendedDNSError] {
        options.compactMap { o in
            guard o.code == .extendedError, o.data.count >= 2 else { return nil }
            return ExtendedDNSError(code: EDECode(UInt16(o.data[0]) << 8 | UInt16(o.data[1])),
                                    extraText: Array(o.data[2...]))
        }
    }

    public mutating func addExtendedError(_ e: ExtendedDNSError) {
        options.append(EDNSOption(code: .extendedError,
                                  data: [UInt8(e.code.rawValue >> 8), UInt8(e.code.rawValue & 0xFF)] + e.extraText))
    }

    /// Adds a padding option (RFC 7830) of `count` zero bytes.
    public mutating func addPadding(_ count: Int) {
        options.append(EDNSOption(code: .padding, data: [UInt8](repeating: 0, count: max(0, min(count, 65535)))))
    }
}

/// A DNS cookie: 8 client bytes and 0 or 8–32 server bytes.
public struct DNSCookie: Hashable, Sendable {
    public var client: [UInt8]
    public var server: [UInt8]
    public init(client: [UInt8], server: [UInt8] = []) { self.client = client; self.server = server }
}

/// Extended DNS Error info code (RFC 8914 §5.2), open.
public struct EDECode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ v: UInt16) { rawValue = v }

    public static let other = EDECode(0), unsupportedDNSKEYAlgorithm = EDECode(1)
    public static let unsupportedDSDigest = EDECode(2), staleAnswer = EDECode(3)
    public static let forgedAnswer = EDECode(4), dnssecIndeterminate = EDECode(5)
    public static let dnssecBogus = EDECode(6), signatureExpired = EDECode(7)
    public static let signatureNotYetValid = EDECode(8), dnskeyMissing = EDECode(9)
    public static let rrsigsMissing = EDECode(10), noZoneKeyBitSet = EDECode(11)
    public static let nsecMissing = EDECode(12), cachedError = EDECode(13), notReady = EDECode(14)
    public static let blocked = EDECode(15), censored = EDECode(16), filtered = EDECode(17)
    public static let prohibited = EDECode(18), staleNXDOMAINAnswer = EDECode(19)
    public static let notAuthoritative = EDECode(20), notSupported = EDECode(21)
    public static let noReachableAuthority = EDECode(22), networkError = EDECode(23)
    public static let invalidData = EDECode(24)
    /// IANA registry additions after RFC 8914: 25 and 26 (DNSSEC timing), 27 (RFC 9276 §3.2).
    public static let signatureExpiredBeforeValid = EDECode(25), tooEarly = EDECode(26)
    public static let unsupportedNSEC3Iterations = EDECode(27)

    public var description: String {
        let names = ["Other", "Unsupported DNSKEY Algorithm", "Unsupported DS Digest Type", "Stale Answer",
                     "Forged Answer", "DNSSEC Indeterminate", "DNSSEC Bogus", "Signature Expired",
                     "Signature Not Yet Valid", "DNSKEY Missing", "RRSIGs Missing", "No Zone Key Bit Set",
                     "NSEC Missing", "Cached Error", "Not Ready", "Blocked", "Censored", "Filtered",
                     "Prohibited", "Stale NXDOMAIN Answer", "Not Authoritative", "Not Supported",
                     "No Reachable Authority", "Network Error", "Invalid Data",
                     "Signature Expired before Valid", "Too Early", "Unsupported NSEC3 Iterations Value"]
        return Int(rawValue) < names.count ? names[Int(rawValue)] : "EDE\(rawValue)"
    }
}

public struct ExtendedDNSError: Hashable, Sendable {
    public var code: EDECode
    /// UTF-8 text for humans, possibly empty.
    public var extraText: [UInt8]
    public init(code: EDECode, extraText: [UInt8] = []) { self.code = code; self.extraText = extraText }
}
