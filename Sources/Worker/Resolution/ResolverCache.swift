import DNSCore

/// Trustworthiness of cached data (RFC 2181 §5.4.1), lowest first. Data of a lower rank never
/// replaces data of a higher one.
public struct DataRank: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Additional-section data that is not glue.
    public static let additional = DataRank(rawValue: 1)
    /// Glue from a referral.
    public static let glue = DataRank(rawValue: 2)
    /// Authority-section data of a non-authoritative answer (the NS set of a referral).
    public static let nonAuthAuthority = DataRank(rawValue: 3)
    /// Answer-section data of a non-authoritative answer.
    public static let nonAuthAnswer = DataRank(rawValue: 4)
    /// Authority-section data of an authoritative answer.
    public static let authAuthority = DataRank(rawValue: 5)
    /// Answer-section data of an authoritative answer.
    public static let authAnswer = DataRank(rawValue: 6)

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch rawValue {
        case 1: "additional"
        case 2: "glue"
        case 3: "non-auth-authority"
        case 4: "non-auth-answer"
        case 5: "auth-authority"
        case 6: "auth-answer"
        default: "rank\(rawValue)"
        }
    }
}

/// An RRset found in the cache, its TTL already reduced to what is left.
public struct CachedRRSet: Sendable, Equatable {
    public var set: RRSet
    public var rank: DataRank
    /// True when served past its expiry (serve-stale, RFC 8767).
    public var stale: Bool

    public init(set: RRSet, rank: DataRank, stale: Bool = false) {
        self.set = set
        self.rank = rank
        self.stale = stale
    }
}

/// A cached negative answer: the name does not exist, or has no data of the type.
public struct CachedNegative: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case nxDomain, noData }
    public var kind: Kind
    /// SOA and NSEC/NSEC3 sets that prove it, TTLs reduced to what is left.
    public var authority: [RRSet]
    public var ttl: UInt32

    public init(kind: Kind, authority: [RRSet], ttl: UInt32) {
        self.kind = kind
        self.authority = authority
        self.ttl = ttl
    }
}

/// What the resolver reads from and writes to the shared caches.
///
/// The worker's implementation is backed by the ShmCache segment, so everything a resolution
/// learns is there for every other worker and for the next one. Writes are best effort: a busy
/// slot or a lower rank drops the write silently.
public protocol ResolverCache: Sendable {
    /// A live (or, with `allowStale`, recently expired) RRset of `name`/`type`.
    func rrset(_ name: DNSName, _ type: RRType, allowStale: Bool) -> CachedRRSet?
    /// Stores `set` (its `ttl` relative to now) unless a higher-ranked copy is cached.
    func store(_ set: RRSet, rank: DataRank)
    /// A live negative answer for `name`/`type` (an NXDOMAIN entry of `name` answers every type).
    func negative(_ name: DNSName, _ type: RRType) -> CachedNegative?
    /// Stores a negative answer; NXDOMAIN is stored per name, NODATA per name and type.
    func storeNegative(_ name: DNSName, _ type: RRType, _ negative: CachedNegative)
    /// Smoothed RTT estimate in microseconds for a server address, and whether it is throttled.
    func serverEstimate(_ address: ServerAddress) -> (rttMicros: UInt32, throttled: Bool)
    /// Feeds a measured RTT into the speed table.
    func recordRTT(_ address: ServerAddress, micros: UInt32)
    /// Records a timeout (raising the estimate and, after several, throttling the server).
    func recordTimeout(_ address: ServerAddress)
}

/// An authoritative server's IP address (port 53 unless a test says otherwise).
public struct ServerAddress: Hashable, Sendable, CustomStringConvertible {
    public enum IP: Hashable, Sendable {
        case v4(IPv4Address)
        case v6(IPv6Address)
    }
    public var ip: IP
    public var port: UInt16

    public init(_ ip: IP, port: UInt16 = 53) {
        self.ip = ip
        self.port = port
    }

    /// 16 bytes (IPv4 mapped into IPv6) followed by the port: the speed table's key.
    public var keyBytes: [UInt8] {
        let addr: [UInt8]
        switch ip {
        case let .v4(a): addr = [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + a.bytes
        case let .v6(a): addr = a.bytes
        }
        return addr + [UInt8(port >> 8), UInt8(port & 0xFF)]
    }

    public var description: String {
        switch ip {
        case let .v4(a): return "\(a.bytes.map(String.init).joined(separator: ".")):\(port)"
        case let .v6(a):
            let b = a.bytes
            let groups = stride(from: 0, to: 16, by: 2).map { String(UInt16(b[$0]) << 8 | UInt16(b[$0 + 1]), radix: 16) }
            return "[\(groups.joined(separator: ":"))]:\(port)"
        }
    }
}
