import DNSCore
import Synchronization

/// Denial-of-existence proofs from NSEC3 records (RFC 5155 §8, RFC 9276).
///
/// As with ``NSECProof``, the records must already be validated data of `zone`. Records with
/// an unknown hash algorithm or flags other than Opt-Out are ignored (RFC 5155 §8.1–8.2); the
/// parameters (salt, iterations) are those of the first usable record, and records with other
/// parameters are ignored. Iterations above the policy's limits make every proof insecure or
/// bogus before any hash is computed. Each hash is spent from the budget.
public struct NSEC3Proof: Sendable {
    public struct Record: Sendable {
        public var owner: DNSName
        /// The owner's first label, decoded.
        public var ownerHash: [UInt8]
        public var nsec3: NSEC3
    }

    public let zone: DNSName
    public let records: [Record]
    public let policy: ValidationPolicy
    /// Why there is nothing to prove with, when every record was ignored.
    let ignoredHash: UInt8?

    public init(zone: DNSName, rrsets: [RRSet], policy: ValidationPolicy = ValidationPolicy()) {
        self.zone = zone
        self.policy = policy
        var recs: [Record] = []
        var ignored: UInt8?
        for s in rrsets where s.type == .nsec3 && s.name.parent == zone {
            guard let label = s.name.labels.first, let hash = try? Base32Hex.decode(label) else { continue }
            for case let .nsec3(n) in s.rdatas {
                guard n.hashAlgorithm == NSEC3Hash.sha1 else { ignored = n.hashAlgorithm; continue }
                guard n.flags & 0xFE == 0, hash.count == n.nextHashedOwner.count else { continue }
                if let first = recs.first, first.nsec3.salt != n.salt || first.nsec3.iterations != n.iterations { continue }
                recs.append(Record(owner: s.name, ownerHash: hash, nsec3: n))
            }
        }
        records = recs
        ignoredHash = recs.isEmpty ? ignored : nil
    }

    /// Hashes computed so far by this proof, so one name costs one hash.
    private final class Memo: Sendable { let hashes = Mutex<[DNSName: [UInt8]]>([:]) }
    private let memo = Memo()

    func hash(_ name: DNSName, budget: inout WorkBudget) throws(WorkExhausted) -> [UInt8] {
        if let h = memo.hashes.withLock({ $0[name] }) { return h }
        try budget.spendNSEC3Hash()
        let p = records[0].nsec3
        let h = NSEC3Hash.hash(name, salt: p.salt, iterations: p.iterations)
        memo.hashes.withLock { $0[name] = h }
        return h
    }

    func matching(_ h: [UInt8]) -> Record? { records.first { $0.ownerHash == h } }

    func covering(_ h: [UInt8]) -> Record? {
        records.first { r in
            let o = r.ownerHash, n = r.nsec3.nextHashedOwner
            if o.lexicographicallyPrecedes(n) { return o.lexicographicallyPrecedes(h) && h.lexicographicallyPrecedes(n) }
            return o.lexicographicallyPrecedes(h) || h.lexicographicallyPrecedes(n)
        }
    }

    /// Insecure or bogus by the record set alone: none usable, or too many iterations.
    func precheck() -> Security? {
        guard let first = records.first else {
            if let h = ignoredHash { return .insecure(.unsupportedNSEC3Hash(h)) }
            return .bogus(.nsecMissing)
        }
        let it = first.nsec3.iterations
        if it > policy.nsec3BogusIterations { return .bogus(.nsec3Iterations(it)) }
        if it > policy.nsec3InsecureIterations { return .insecure(.nsec3Iterations(it)) }
        return nil
    }

    /// The closest encloser proof (RFC 5155 §8.3): the deepest ancestor of `qname` that has an
    /// NSEC3, with the next closer name (one label longer) covered.
    public struct ClosestEncloser: Sendable {
        public var closestEncloser: DNSName
        public var nextCloser: DNSName
        /// The NSEC3 covering the next closer name has Opt-Out set.
        public var optOut: Bool
    }

    func closestEncloser(_ qname: DNSName, budget: inout WorkBudget) throws(WorkExhausted) -> Validated<ClosestEncloser> {
        guard qname.isSubdomain(of: zone) else { return .bogus(.nsecMissing) }
        var candidate = qname
        var closer: DNSName?
        while true {
            if let m = matching(try hash(candidate, budget: &budget)) {
                // An NSEC3 at a delegation or a DNAME is not a closest encloser for names below it.
                let t = m.nsec3.types
                if candidate != zone, (t.contains(.ns) && !t.contains(.soa)) || t.contains(.dname) {
                    return .bogus(.denialContradicts("closest encloser \(candidate) is a delegation or DNAME"))
                }
                guard let nc = closer else { return .bogus(.denialContradicts("\(qname) has an NSEC3")) }
                guard let cover = covering(try hash(nc, budget: &budget)) else { return .bogus(.nsecMissing) }
                return .secure(ClosestEncloser(closestEncloser: candidate, nextCloser: nc, optOut: cover.nsec3.optOut))
            }
            guard candidate != zone, let parent = candidate.parent else { return .bogus(.nsecMissing) }
            closer = candidate
            candidate = parent
        }
    }

    /// NXDOMAIN: a closest encloser proof and the wildcard at the closest encloser covered.
    /// Opt-Out over the next closer makes it insecure: an unsigned delegation may exist there.
    public func proveNameError(_ qname: DNSName, budget: inout WorkBudget) -> Security {
        if let s = precheck() { return s }
        do {
            let ce: ClosestEncloser
            switch try closestEncloser(qname, budget: &budget) {
            case let .secure(c): ce = c
            case let .insecure(r): return .insecure(r)
            case let .bogus(r): return .bogus(r)
            }
            guard let wildcard = try? ce.closestEncloser.prepending([0x2A]),
                  covering(try hash(wildcard, budget: &budget)) != nil else { return .bogus(.nsecMissing) }
            return ce.optOut ? .insecure(.optOut) : .secure
        } catch { return .bogus(.workLimitExceeded(error.limit)) }
    }

    /// NODATA (RFC 5155 §8.5–8.7): an NSEC3 matching `qname` without `qtype` or CNAME; for a DS
    /// question without a match, a closest encloser proof whose next closer is covered by an
    /// Opt-Out NSEC3 (insecure); otherwise a matching wildcard without `qtype`.
    public func proveNoData(_ qname: DNSName, _ qtype: RRType, budget: inout WorkBudget) -> Security {
        if let s = precheck() { return s }
        do {
            if let m = matching(try hash(qname, budget: &budget)) {
                let t = m.nsec3.types
                if t.contains(qtype) || t.contains(.cname) {
                    return .bogus(.denialContradicts("the NSEC3 of \(qname) lists \(qtype) or CNAME"))
                }
                if qtype != .ds, qname != zone, t.contains(.ns), !t.contains(.soa) {
                    return .bogus(.denialContradicts("a delegation's NSEC3 used for \(qtype)"))
                }
                return .secure
            }
            let ce: ClosestEncloser
            switch try closestEncloser(qname, budget: &budget) {
            case let .secure(c): ce = c
            case let .insecure(r): return .insecure(r)
            case let .bogus(r): return .bogus(r)
            }
            if qtype == .ds {
                return ce.optOut ? .insecure(.optOut) : .bogus(.nsecMissing)
            }
            guard let wildcard = try? ce.closestEncloser.prepending([0x2A]),
                  let w = matching(try hash(wildcard, budget: &budget)) else { return .bogus(.nsecMissing) }
            if w.nsec3.types.contains(qtype) || w.nsec3.types.contains(.cname) {
                return .bogus(.denialContradicts("the wildcard's NSEC3 lists \(qtype) or CNAME"))
            }
            return .secure
        } catch { return .bogus(.workLimitExceeded(error.limit)) }
    }

    /// A positive answer synthesised from `wildcard`: the next closer name (the closest
    /// encloser, which is the wildcard's parent, plus one label of `qname`) must be covered
    /// (RFC 5155 §8.8).
    public func proveWildcardAnswer(_ qname: DNSName, wildcard: DNSName, budget: inout WorkBudget) -> Security {
        guard let ce = wildcard.parent, qname.isStrictSubdomain(of: ce) else {
            return .bogus(.badSignatureFields("wildcard does not enclose the name"))
        }
        if let s = precheck() { return s }
        do {
            let nc = qname.suffix(labels: ce.labelCount + 1)
            guard let cover = covering(try hash(nc, budget: &budget)) else { return .bogus(.nsecMissing) }
            return cover.nsec3.optOut ? .insecure(.optOut) : .secure
        } catch { return .bogus(.workLimitExceeded(error.limit)) }
    }

    /// An unsigned delegation (RFC 5155 §8.9): the NSEC3 of `child` lists NS but neither DS nor
    /// SOA, or the child has no NSEC3 and an Opt-Out NSEC3 covers its next closer name.
    /// Returns `.insecure(.noDS)` or `.insecure(.optOut)` when proven.
    public func proveNoDS(_ child: DNSName, budget: inout WorkBudget) -> Security {
        if let s = precheck() { return s }
        do {
            if let m = matching(try hash(child, budget: &budget)) {
                let t = m.nsec3.types
                if t.contains(.ds) { return .bogus(.denialContradicts("the NSEC3 of \(child) lists DS")) }
                if t.contains(.soa) && child != zone { return .bogus(.denialContradicts("the NSEC3 of \(child) is the child's")) }
                guard t.contains(.ns) else { return .bogus(.denialContradicts("no delegation at \(child)")) }
                return .insecure(.noDS(child))
            }
            switch try closestEncloser(child, budget: &budget) {
            case let .secure(c): return c.optOut ? .insecure(.optOut) : .bogus(.nsecMissing)
            case let .insecure(r): return .insecure(r)
            case let .bogus(r): return .bogus(r)
            }
        } catch { return .bogus(.workLimitExceeded(error.limit)) }
    }
}
