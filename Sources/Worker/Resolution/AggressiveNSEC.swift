import DNSCore
import DNSSEC

extension RRType {
    /// The cache's index of a zone's validated NSEC/NSEC3 records (``DenialIndex``), stored at
    /// the zone's apex. A private-use type (RFC 6895 §3.1): it never goes on the wire to
    /// clients or servers, only into the shared segment (and, a hint like any entry, to peers).
    static let denialIndex = RRType(0xFF79)
}

/// Which NSEC or NSEC3 records of one zone the cache holds, by owner (and, for NSEC, next
/// name), newest first: the way from a name to the record that covers it, which a hash table
/// keyed by owner cannot give. Only a hint: every record it names is read back from the cache
/// and used only if it is still there, validated as secure.
struct DenialIndex: Equatable {
    struct Span: Equatable {
        /// NSEC or NSEC3.
        var type: RRType
        var owner: DNSName
        /// The NSEC's next name; the root for NSEC3 (whose order is that of hashes).
        var next: DNSName
    }
    var spans: [Span] = []

    /// What fits in the record cache's largest way with room for the entry's header and name.
    static let maxBytes = 1536

    init(spans: [Span] = []) { self.spans = spans }

    /// The index stored in `set` (spans that do not decode are dropped).
    init(_ set: RRSet?) {
        for case let .unknown(bytes) in set?.rdatas ?? [] {
            var r = WireReader(bytes)
            guard let type = try? r.u16(), let owner = try? r.name(allowCompression: false),
                  let next = try? r.name(allowCompression: false), r.atEnd,
                  RRType(type) == .nsec || RRType(type) == .nsec3 else { continue }
            spans.append(Span(type: RRType(type), owner: owner, next: next))
        }
    }

    /// Puts `span` first (replacing an older span of the same owner), dropping the oldest
    /// spans beyond ``maxBytes``. Returns false, changing nothing, when the index has it already.
    @discardableResult
    mutating func add(_ span: Span) -> Bool {
        if spans.contains(span) { return false }
        spans.removeAll { $0.owner == span.owner }
        spans.insert(span, at: 0)
        var bytes = 0
        if let keep = spans.firstIndex(where: { bytes += $0.owner.wire.count + $0.next.wire.count + 4; return bytes > Self.maxBytes }) {
            spans.removeSubrange(keep...)
        }
        return true
    }

    func rrset(zone: DNSName, ttl: UInt32) -> RRSet {
        RRSet(name: zone, type: .denialIndex, ttl: ttl, rdatas: spans.map { .unknown([UInt8($0.type.rawValue >> 8), UInt8($0.type.rawValue & 0xFF)] + $0.owner.wire + $0.next.wire) })
    }
}

/// Aggressive use of the DNSSEC-validated cache (RFC 8198): NXDOMAIN, NODATA and wildcard
/// answers synthesised from NSEC and NSEC3 records already validated, without asking the zone's
/// servers again.
///
/// ``record(_:)`` keeps the SOA and the proofs of every secure negative answer (each proof set
/// under its own owner, with a ``DenialIndex`` at the zone's apex); ``synthesize(_:)`` finds
/// the closest zone with an index, reads the secure proof sets it names back from the cache and
/// proves the answer with the validator's own proofs (``Denial``): a name a cached span covers
/// does not exist, a name whose cached NSEC lacks the type has none, and a name under a cached
/// wildcard (itself cached as secure, under its `*` owner) gets the wildcard's data. The
/// answer's TTLs are capped by the proofs' and the SOA's negative TTL (RFC 8198 §5.4).
/// Names at or below a negative trust anchor, DS (whose proof is the parent's) and the
/// DNSSEC and meta types are never synthesised.
struct AggressiveNSEC: Sendable {
    let cache: any ResolverCache
    let limits: ResolverLimits
    let policy: ValidationPolicy
    /// The negative trust anchor at or above a name, if any.
    let negativeAnchor: @Sendable (DNSName) -> DNSName?

    static let neverSynthesised: Set<RRType> = [.ds, .rrsig, .nsec, .nsec3, .any, .opt, .denialIndex]

    // MARK: Recording

    /// Keeps what a secure negative answer proves: its SOA and NSEC/NSEC3 sets (the validator
    /// verified each of them with the signer's keys) and their spans in the zone's index.
    func record(_ authority: [RRSet]) {
        guard let zone = authority.lazy.flatMap(\.signatures).first?.signerName.lowercased,
              let soa = authority.first(where: { $0.type == .soa && $0.name == zone }) else { return }
        let proofs = authority.filter { ($0.type == .nsec || $0.type == .nsec3) && $0.name.isSubdomain(of: zone) }
        guard !proofs.isEmpty else { return }
        cache.store(limits.capped(soa), rank: .authoritativeAuthority, validation: .secure)
        let old = cache.rrset(zone, .denialIndex, allowStale: false)?.set
        var index = DenialIndex(old)
        var changed = false, ttl: UInt32 = 0
        for s in proofs {
            let proof = limits.capped(s)
            cache.store(proof, rank: .authoritativeAuthority, validation: .secure)
            for rdata in s.rdatas {
                switch rdata {
                case let .nsec(n): changed = index.add(.init(type: .nsec, owner: s.name.lowercased, next: n.nextName.lowercased)) || changed
                case .nsec3: changed = index.add(.init(type: .nsec3, owner: s.name.lowercased, next: .root)) || changed
                default: continue
                }
            }
            ttl = max(ttl, proof.ttl)
        }
        // Rewritten (and so journaled, and sent to peers) only when it learnt a span, or when it
        // would run out long before the proofs it names.
        let oldTTL = old?.ttl ?? 0
        guard changed || oldTTL < ttl / 2 else { return }
        cache.store(index.rrset(zone: zone, ttl: max(ttl, oldTTL)), rank: .authoritativeAuthority, validation: .secure)
    }

    /// A secure answer expanded from a wildcard is kept under the wildcard's own name too (the
    /// RRSIG's labels give it, RFC 4035 §5.3.4), so that other names under it can be answered.
    func recordWildcard(_ set: RRSet) {
        guard let labels = set.signatures.first?.labels, Int(labels) < set.name.labelCount,
              set.signatures.allSatisfy({ $0.labels == labels }),
              let owner = try? set.name.suffix(labels: Int(labels)).prepending([0x2A]) else { return }
        var w = limits.capped(set)
        w.name = owner
        cache.store(w, rank: .authoritativeAnswer, validation: .secure)
    }

    // MARK: Synthesis

    /// A step answering `q` from validated denial records, or nil when they do not prove it.
    func synthesize(_ q: Question) -> ResolutionStep? {
        guard q.qclass == .in, !Self.neverSynthesised.contains(q.type) else { return nil }
        let name = q.name.lowercased
        guard let (zone, index) = closestIndex(name), negativeAnchor(name) == nil,
              let soa = secure(zone, .soa), case let .soa(soaData)? = soa.rdatas.first else { return nil }
        let wildcards = Self.wildcards(of: name, in: zone)
        let sets = proofSets(index, zone: zone, for: [name] + wildcards)
        guard !sets.isEmpty else { return nil }
        let denial = Denial(zone: zone, sets, policy: policy)
        var budget = WorkBudget(policy.limits)
        let kind: NegativeAnswer.Kind
        if case .secure = denial.noData(name, q.type, &budget) {
            kind = .noData
        } else if case .secure = denial.nameError(name, &budget) {
            kind = .nxDomain
        } else {
            // Under a wildcard the cache holds as secure: its data, if no closer name exists.
            for w in wildcards {
                guard let data = secure(w, q.type), case .secure = denial.wildcard(name, w, &budget) else { continue }
                var answer = data
                answer.name = q.name
                answer.ttl = min(data.ttl, sets.map(\.ttl).min() ?? data.ttl)
                return ResolutionStep(chain: [], outcome: .answer([answer]), verdict: ValidationVerdict(.secure))
            }
            return nil
        }
        let ttl = ([soa.ttl, soaData.minimum, limits.maxNegativeTTL] + sets.map(\.ttl)).min() ?? 0
        guard ttl > 0 else { return nil }
        let authority = ([soa] + sets).map { s -> RRSet in var s = s; s.ttl = ttl; return s }
        return ResolutionStep(chain: [], outcome: .negative(kind, authority), verdict: ValidationVerdict(.secure))
    }

    /// The deepest ancestor of `name` (or `name`) with an index.
    func closestIndex(_ name: DNSName) -> (DNSName, DenialIndex)? {
        var n: DNSName? = name
        while let a = n {
            if let set = cache.rrset(a, .denialIndex, allowStale: false)?.set { return (a, DenialIndex(set)) }
            n = a.parent
        }
        return nil
    }

    /// The wildcards that could match `name` in `zone`: `*.` and each ancestor from the parent
    /// up to the apex, closest first.
    static func wildcards(of name: DNSName, in zone: DNSName) -> [DNSName] {
        var out: [DNSName] = []
        var a = name.parent
        while let p = a, p.isSubdomain(of: zone) {
            if let w = try? p.prepending([0x2A]), w != name { out.append(w) }
            a = p.parent
        }
        return out
    }

    /// The indexed proof sets that can speak for `names`, read back from the cache: for NSEC,
    /// those whose span covers or whose owner is one of the names; for NSEC3 (ordered by hash),
    /// all of them. Each only if still cached as secure and signed by the zone (the NSEC at a
    /// delegation point and the child's at its apex share an owner and a type).
    func proofSets(_ index: DenialIndex, zone: DNSName, for names: [DNSName]) -> [RRSet] {
        var sets: [RRSet] = []
        for span in index.spans {
            if span.type == .nsec,
               !names.contains(where: { $0 == span.owner || NSECProof.spanContains(owner: span.owner, next: span.next, $0) }) {
                continue
            }
            guard let s = secure(span.owner, span.type), s.signatures.contains(where: { $0.signerName == zone }) else { continue }
            sets.append(s)
        }
        return sets
    }

    /// A live RRset of `name`/`type` cached as secure.
    func secure(_ name: DNSName, _ type: RRType) -> RRSet? {
        guard let c = cache.rrset(name, type, allowStale: false), c.validation == .secure else { return nil }
        return c.set
    }
}
