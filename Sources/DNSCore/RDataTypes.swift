/// An IPv4 address, in network byte order as four bytes packed big-endian into a `UInt32`.
public struct IPv4Address: Hashable, Sendable, Comparable {
    public var value: UInt32
    public init(_ value: UInt32) { self.value = value }
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }
    public var bytes: [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
    public static func < (a: Self, b: Self) -> Bool { a.value < b.value }
}

/// An IPv6 address as two big-endian 64-bit halves.
public struct IPv6Address: Hashable, Sendable, Comparable {
    public var high: UInt64
    public var low: UInt64
    public init(high: UInt64, low: UInt64) { self.high = high; self.low = low }
    /// From 16 bytes in network order.
    public init?(bytes b: [UInt8]) {
        guard b.count == 16 else { return nil }
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<8 { h = h << 8 | UInt64(b[i]); l = l << 8 | UInt64(b[i + 8]) }
        high = h; low = l
    }
    public var bytes: [UInt8] {
        (0..<8).map { UInt8((high >> UInt64(56 - 8 * $0)) & 0xFF) }
            + (0..<8).map { UInt8((low >> UInt64(56 - 8 * $0)) & 0xFF) }
    }
    public static func < (a: Self, b: Self) -> Bool { (a.high, a.low) < (b.high, b.low) }
}

public struct SOA: Hashable, Sendable {
    public var mname: DNSName
    public var rname: DNSName
    public var serial: UInt32
    public var refresh: UInt32
    public var retry: UInt32
    public var expire: UInt32
    public var minimum: UInt32
    public init(mname: DNSName, rname: DNSName, serial: UInt32, refresh: UInt32, retry: UInt32,
                expire: UInt32, minimum: UInt32) {
        self.mname = mname; self.rname = rname; self.serial = serial; self.refresh = refresh
        self.retry = retry; self.expire = expire; self.minimum = minimum
    }
}

public struct MX: Hashable, Sendable {
    public var preference: UInt16
    public var exchange: DNSName
    public init(preference: UInt16, exchange: DNSName) { self.preference = preference; self.exchange = exchange }
}

public struct SRV: Hashable, Sendable {
    public var priority: UInt16
    public var weight: UInt16
    public var port: UInt16
    public var target: DNSName
    public init(priority: UInt16, weight: UInt16, port: UInt16, target: DNSName) {
        self.priority = priority; self.weight = weight; self.port = port; self.target = target
    }
}

public struct NAPTR: Hashable, Sendable {
    public var order: UInt16
    public var preference: UInt16
    public var flags: [UInt8]
    public var services: [UInt8]
    public var regexp: [UInt8]
    public var replacement: DNSName
    public init(order: UInt16, preference: UInt16, flags: [UInt8], services: [UInt8], regexp: [UInt8],
                replacement: DNSName) {
        self.order = order; self.preference = preference; self.flags = flags
        self.services = services; self.regexp = regexp; self.replacement = replacement
    }
}

public struct CAA: Hashable, Sendable {
    public var flags: UInt8
    public var tag: [UInt8]
    public var value: [UInt8]
    public init(flags: UInt8, tag: [UInt8], value: [UInt8]) { self.flags = flags; self.tag = tag; self.value = value }
}

/// DS and CDS data (RFC 4034 §5).
public struct DS: Hashable, Sendable {
    public var keyTag: UInt16
    public var algorithm: DNSSECAlgorithm
    public var digestType: DigestType
    public var digest: [UInt8]
    public init(keyTag: UInt16, algorithm: DNSSECAlgorithm, digestType: DigestType, digest: [UInt8]) {
        self.keyTag = keyTag; self.algorithm = algorithm; self.digestType = digestType; self.digest = digest
    }
}

/// DNSKEY and CDNSKEY data (RFC 4034 §2).
public struct DNSKEY: Hashable, Sendable {
    public var flags: UInt16
    public var proto: UInt8
    public var algorithm: DNSSECAlgorithm
    public var publicKey: [UInt8]
    public init(flags: UInt16, proto: UInt8 = 3, algorithm: DNSSECAlgorithm, publicKey: [UInt8]) {
        self.flags = flags; self.proto = proto; self.algorithm = algorithm; self.publicKey = publicKey
    }
    /// Zone Key flag (bit 7): the key may verify zone data.
    public var isZoneKey: Bool { flags & 0x0100 != 0 }
    /// Secure Entry Point flag (bit 15).
    public var isSEP: Bool { flags & 0x0001 != 0 }
    /// REVOKE flag (RFC 5011).
    public var isRevoked: Bool { flags & 0x0080 != 0 }
}

/// RRSIG data (RFC 4034 §3).
public struct RRSIG: Hashable, Sendable {
    public var typeCovered: RRType
    public var algorithm: DNSSECAlgorithm
    public var labels: UInt8
    public var originalTTL: UInt32
    /// Seconds since the epoch, modulo 2^32 (RFC 1982 serial arithmetic).
    public var expiration: UInt32
    public var inception: UInt32
    public var keyTag: UInt16
    public var signerName: DNSName
    public var signature: [UInt8]
    public init(typeCovered: RRType, algorithm: DNSSECAlgorithm, labels: UInt8, originalTTL: UInt32,
                expiration: UInt32, inception: UInt32, keyTag: UInt16, signerName: DNSName, signature: [UInt8]) {
        self.typeCovered = typeCovered; self.algorithm = algorithm; self.labels = labels
        self.originalTTL = originalTTL; self.expiration = expiration; self.inception = inception
        self.keyTag = keyTag; self.signerName = signerName; self.signature = signature
    }
}

/// The type bit map of NSEC and NSEC3 (RFC 4034 §4.1.2): a sorted set of types.
public struct TypeBitmap: Hashable, Sendable {
    public private(set) var types: [RRType]

    public init<S: Sequence>(_ types: S) where S.Element == RRType {
        self.types = Array(Set(types)).sorted()
    }

    public func contains(_ t: RRType) -> Bool {
        var lo = 0, hi = types.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if types[mid] == t { return true }
            if types[mid] < t { lo = mid + 1 } else { hi = mid }
        }
        return false
    }

    /// Reads windows until the reader's limit. Windows must ascend and be 1–32 bytes long.
    public init(from r: inout WireReader) throws(WireError) {
        var out: [RRType] = []
        var lastWindow = -1
        while !r.atEnd {
            let at = r.offset
            let window = Int(try r.u8())
            let len = Int(try r.u8())
            guard window > lastWindow else {
                throw WireError(.invalidField("type bitmap windows out of order"), at: at)
            }
            guard len >= 1 && len <= 32 else {
                throw WireError(.invalidField("type bitmap window length \(len)"), at: at + 1)
            }
            lastWindow = window
            let bits = try r.bytes(len)
            for (i, byte) in bits.enumerated() where byte != 0 {
                for bit in 0..<8 where byte & (0x80 >> UInt8(bit)) != 0 {
                    out.append(RRType(UInt16(window << 8 | (i * 8 + bit))))
                }
            }
        }
        types = out
    }

    public func write(to w: inout WireWriter) {
        var i = 0
        while i < types.count {
            let window = types[i].rawValue >> 8
            var bits = [UInt8](repeating: 0, count: 32)
            var maxByte = 0
            while i < types.count && types[i].rawValue >> 8 == window {
                let low = Int(types[i].rawValue & 0xFF)
                bits[low / 8] |= 0x80 >> UInt8(low % 8)
                maxByte = max(maxByte, low / 8)
                i += 1
            }
            w.u8(UInt8(window))
            w.u8(UInt8(maxByte + 1))
            w.append(bits[0...maxByte])
        }
    }
}

public struct NSEC: Hashable, Sendable {
    public var nextName: DNSName
    public var types: TypeBitmap
    public init(nextName: DNSName, types: TypeBitmap) { self.nextName = nextName; self.types = types }
}

/// NSEC3 data (RFC 5155 §3).
public struct NSEC3: Hashable, Sendable {
    public var hashAlgorithm: UInt8
    public var flags: UInt8
    public var iterations: UInt16
    public var salt: [UInt8]
    /// The raw hash (not base32).
    public var nextHashedOwner: [UInt8]
    public var types: TypeBitmap
    public init(hashAlgorithm: UInt8, flags: UInt8, iterations: UInt16, salt: [UInt8], nextHashedOwner: [UInt8],
                types: TypeBitmap) {
        self.hashAlgorithm = hashAlgorithm; self.flags = flags; self.iterations = iterations
        self.salt = salt; self.nextHashedOwner = nextHashedOwner; self.types = types
    }
    /// Opt-Out flag.
    public var optOut: Bool { flags & 1 != 0 }
}

public struct NSEC3PARAM: Hashable, Sendable {
    public var hashAlgorithm: UInt8
    public var flags: UInt8
    public var iterations: UInt16
    public var salt: [UInt8]
    public init(hashAlgorithm: UInt8, flags: UInt8, iterations: UInt16, salt: [UInt8]) {
        self.hashAlgorithm = hashAlgorithm; self.flags = flags; self.iterations = iterations; self.salt = salt
    }
}

/// SvcParamKey (RFC 9460 §14.3), open.
public struct SVCParamKey: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ v: UInt16) { rawValue = v }
    public static let mandatory = SVCParamKey(0), alpn = SVCParamKey(1), noDefaultALPN = SVCParamKey(2)
    public static let port = SVCParamKey(3), ipv4hint = SVCParamKey(4), ech = SVCParamKey(5)
    public static let ipv6hint = SVCParamKey(6), dohpath = SVCParamKey(7)

    static let names: [UInt16: String] = [0: "mandatory", 1: "alpn", 2: "no-default-alpn", 3: "port",
                                          4: "ipv4hint", 5: "ech", 6: "ipv6hint", 7: "dohpath"]
    public var description: String { Self.names[rawValue] ?? "key\(rawValue)" }
    public init?(mnemonic: String) {
        if let (k, _) = Self.names.first(where: { $0.value == mnemonic }) { self.init(k); return }
        guard mnemonic.hasPrefix("key"), let v = parseDecimal16(mnemonic.dropFirst(3)) else { return nil }
        self.init(v)
    }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

public struct SVCParam: Hashable, Sendable {
    public var key: SVCParamKey
    /// The value's wire form.
    public var value: [UInt8]
    public init(key: SVCParamKey, value: [UInt8]) { self.key = key; self.value = value }
}

/// SVCB and HTTPS data (RFC 9460). Priority 0 is AliasMode.
public struct SVCB: Hashable, Sendable {
    public var priority: UInt16
    public var target: DNSName
    /// In strictly increasing key order (checked when parsed).
    public var params: [SVCParam]
    public init(priority: UInt16, target: DNSName, params: [SVCParam]) {
        self.priority = priority; self.target = target; self.params = params
    }
}
