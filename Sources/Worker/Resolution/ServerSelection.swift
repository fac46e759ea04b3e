import DNSCore

/// Which of a zone's servers to ask, and how long to wait for it, from the shared NS speed
/// table: fastest first, throttled last, a server never measured counted as
/// ``ResolverLimits/unknownServerRTTMicros``, ties broken at random so concurrent resolutions
/// spread over equally unknown servers.
struct ServerSelection: Sendable {
    let cache: any ResolverCache
    let hints: RootHints
    let limits: ResolverLimits
    /// Addresses no query is sent to, whoever names them: "this network" (0.0.0.0/8, ::),
    /// loopback unless allowed, and the configured `do-not-query` blocks.
    let neverAsked: [AccessControl.Block]

    init(cache: any ResolverCache, hints: RootHints, limits: ResolverLimits) {
        self.cache = cache
        self.hints = hints
        self.limits = limits
        // Static, valid blocks.
        let always = ["0.0.0.0/8", "::/128"] + (limits.doNotQueryLocalhost ? ["127.0.0.0/8", "::1/128"] : [])
        neverAsked = always.map { try! AccessControl.Block($0) } + limits.doNotQuery
    }

    /// Whether a query may be sent to `address` at all.
    func mayAsk(_ address: ServerAddress) -> Bool {
        !neverAsked.contains { $0.contains(high: address.high, low: address.low) }
    }

    /// Addresses of the NS set's names that the cache (glue included) or the hints know, less
    /// those no query may go to.
    func knownAddresses(_ ns: RRSet) -> [ServerAddress] {
        var out: [ServerAddress] = []
        for case let .ns(name) in ns.rdatas {
            for t in [RRType.a, .aaaa] {
                if let c = cache.rrset(name, t, allowStale: true) {
                    out += c.set.rdatas.compactMap(ServerAddress.init(rdata:))
                } else if let h = hints.addresses[name] {
                    out += h.filter { t == .a ? $0.isIPv4 : !$0.isIPv4 }
                }
            }
        }
        return Array(Set(out.filter(mayAsk))).sorted { ($0.high, $0.low) < ($1.high, $1.low) }
    }

    /// The best of `candidates` (not empty).
    func choose(from candidates: [ServerAddress]) -> ServerAddress {
        var rng = PooledRandom()
        return candidates.map { a -> ((Int, UInt32, UInt32), ServerAddress) in
            let e = cache.serverEstimate(a)
            return ((e.throttled ? 1 : 0, e.rttMicros == 0 ? limits.unknownServerRTTMicros : e.rttMicros,
                     UInt32.random(in: 0...UInt32.max, using: &rng)), a)
        }.min { $0.0 < $1.0 }!.1
    }

    /// How long to wait for `server`: four times its smoothed RTT within bounds, or the
    /// initial timeout when it was never measured.
    func timeoutMillis(for server: ServerAddress) -> Int {
        let estimate = cache.serverEstimate(server)
        return estimate.rttMicros == 0 ? limits.initialTimeoutMillis
            : min(limits.maxTimeoutMillis, max(100, Int(estimate.rttMicros) * 4 / 1000))
    }
}

extension ServerAddress {
    init?(rdata: RData) {
        switch rdata {
        case let .a(a): self.init(a)
        case let .aaaa(a): self.init(a)
        default: return nil
        }
    }
}
