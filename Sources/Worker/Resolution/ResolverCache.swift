import DNSCore
import ShmCache

/// An RRset found in the cache, its TTL already reduced to what is left.
public struct RankedRRSet: Sendable, Equatable {
    public var set: RRSet
    public var rank: Rank
    /// True when served past its expiry (serve-stale, RFC 8767).
    public var stale: Bool
    /// The DNSSEC verdict stored with the set (``ValidationState/indeterminate``: not validated).
    public var validation: ValidationState

    public init(set: RRSet, rank: Rank, stale: Bool = false, validation: ValidationState = .indeterminate) {
        self.set = set
        self.rank = rank
        self.stale = stale
        self.validation = validation
    }
}

/// A cached negative answer: the name does not exist, or has no data of the type.
public struct NegativeAnswer: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case nxDomain, noData }
    public var kind: Kind
    /// SOA and NSEC/NSEC3 sets that prove it, TTLs reduced to what is left.
    public var authority: [RRSet]
    public var ttl: UInt32
    /// The DNSSEC verdict of the denial (``ValidationState/indeterminate``: not validated).
    public var validation: ValidationState

    public init(kind: Kind, authority: [RRSet], ttl: UInt32, validation: ValidationState = .indeterminate) {
        self.kind = kind
        self.authority = authority
        self.ttl = ttl
        self.validation = validation
    }
}

/// What the resolver reads from and writes to the shared caches.
///
/// The worker's implementation is backed by the ShmCache segment, so everything a resolution
/// learns is there for every other worker and for the next one. Writes are best effort: a busy
/// slot or a lower rank drops the write silently.
public protocol ResolverCache: Sendable {
    /// A live (or, with `allowStale`, recently expired) RRset of `name`/`type`.
    func rrset(_ name: DNSName, _ type: RRType, allowStale: Bool) -> RankedRRSet?
    /// Stores `set` (its `ttl` relative to now) unless a higher-ranked copy is cached.
    func store(_ set: RRSet, rank: Rank)
    /// Stores `set` with its DNSSEC verdict, unless a higher-ranked copy is cached.
    func store(_ set: RRSet, rank: Rank, validation: ValidationState)
    /// A live negative answer for `name`/`type` (an NXDOMAIN entry of `name` answers every type).
    func negative(_ name: DNSName, _ type: RRType) -> NegativeAnswer?
    /// Stores a negative answer; NXDOMAIN is stored per name, NODATA per name and type.
    func storeNegative(_ name: DNSName, _ type: RRType, _ negative: NegativeAnswer)
    /// Smoothed RTT estimate in microseconds for a server address, and whether it is throttled.
    func serverEstimate(_ address: ServerAddress) -> (rttMicros: UInt32, throttled: Bool)
    /// Feeds a measured RTT into the speed table.
    func recordRTT(_ address: ServerAddress, micros: UInt32)
    /// Records a timeout (raising the estimate and, after several, throttling the server).
    func recordTimeout(_ address: ServerAddress)
    /// Whether the server is known to answer FORMERR/NOTIMP to queries with EDNS.
    func rejectsEDNS(_ address: ServerAddress) -> Bool
    /// Remembers that the server rejects EDNS, so later queries go without it at once.
    func recordEDNSRejected(_ address: ServerAddress)
    /// Counts a DNSSEC verdict reached by validating a response (for the statistics).
    func countVerdict(_ state: ValidationState)
}


extension ResolverCache {
    /// Caches that keep no DNSSEC state store the set alone.
    public func store(_ set: RRSet, rank: Rank, validation: ValidationState) { store(set, rank: rank) }
    /// Caches without statistics count nothing.
    public func countVerdict(_ state: ValidationState) {}
}
