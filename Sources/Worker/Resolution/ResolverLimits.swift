import DNSCore

/// Bounds on the work one client query may cause (DESIGN.md "Hostile input"; NXNSAttack).
public struct ResolverLimits: Sendable, Equatable {
    /// CNAME/DNAME steps followed for one client query.
    public var maxChainLength = 12
    /// Referrals followed while iterating for one name.
    public var maxReferrals = 30
    /// Upstream queries sent on behalf of one client query, all nested resolutions included.
    public var maxUpstreamQueries = 64
    /// NS names without glue resolved per delegation (NXNSAttack, CVE-2020-12662).
    public var maxGluelessNamesPerDelegation = 4
    /// Depth of nested resolutions (an NS name that needs an NS name resolved…).
    public var maxNestingDepth = 4
    /// Servers tried for one step before giving up.
    public var maxServersPerStep = 8
    /// Timeout of one upstream query when the server's RTT is unknown, in milliseconds.
    public var initialTimeoutMillis = 1000
    /// Highest timeout of one upstream query, in milliseconds.
    public var maxTimeoutMillis = 3000
    /// The RTT a server never measured is assumed to have when choosing among a zone's servers,
    /// in microseconds (unbound's UNKNOWN_SERVER_NICENESS): a server that has answered fast is
    /// preferred, so one that never answers is not tried by every resolution in flight before
    /// its first timeout is known; one known to be slower than this is passed over for it.
    public var unknownServerRTTMicros: UInt32 = 376_000
    /// QNAME minimisation (RFC 9156).
    public var qnameMinimisation = true
    /// Longest time an answer may be served past its expiry when every server fails (RFC 8767).
    public var serveStaleSeconds: UInt32 = 86400
    /// Cap on TTLs taken from upstream.
    public var maxTTL: UInt32 = 86400
    /// Cap on negative-answer TTLs (RFC 2308 §5 suggests hours; unbound uses 3600).
    public var maxNegativeTTL: UInt32 = 3600

    /// Randomise the case of query names sent upstream and accept only replies that echo it
    /// (draft-vixie-dnsext-dns0x20): more bits an off-path forger must guess.
    public var use0x20 = false
    /// Port of authoritative servers (53; tests may move it).
    public var upstreamPort: UInt16 = 53
    /// Never send queries to loopback addresses (127.0.0.0/8, ::1), whatever glue or hints say
    /// (unbound's `do-not-query-localhost`). Labs and tests on loopback turn it off.
    public var doNotQueryLocalhost = true
    /// More address blocks no query is ever sent to (unbound's `do-not-query-address`,
    /// pdns-recursor's `dont-query`); 0.0.0.0/8 and :: are never asked in any case.
    public var doNotQuery: [AccessControl.Block] = []
    /// Seconds after which a server found to reject EDNS is tried with EDNS again (a firewall
    /// fixed, a server upgraded; unbound keeps such verdicts 900 s in its infra cache).
    public var ednsReprobeSeconds: UInt32 = 900

    public init() {}

    /// `s` with its TTL capped by ``maxTTL``: how every RRset goes into the cache.
    func capped(_ s: RRSet) -> RRSet {
        var s = s
        s.ttl = min(s.ttl, maxTTL)
        return s
    }
}
