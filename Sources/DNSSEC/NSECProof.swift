import DNSCore

/// Denial-of-existence proofs from NSEC records (RFC 4035 §5.4, RFC 6840 §4).
///
/// The records handed in must already be validated (their RRsets verified as secure data of
/// `zone`): a proof only says what validated NSECs imply. Every method returns `.secure` when
/// the proof holds and `.bogus(.nsecMissing)` (or a contradiction) when it does not.
public struct NSECProof: Sendable {
    public let zone: DNSName
    /// (owner, record) pairs, from RRsets of type NSEC within `zone`.
    public let records: [(owner: DNSName, nsec: NSEC)]

    public init(zone: DNSName, rrsets: [RRSet]) {
        self.zone = zone
        var recs: [(DNSName, NSEC)] = []
        for s in rrsets where s.type == .nsec && s.name.isSubdomain(of: zone) {
            for case let .nsec(n) in s.rdatas { recs.append((s.name, n)) }
        }
        records = recs
    }

    /// The NSEC owned by `name`.
    public func matching(_ name: DNSName) -> NSEC? {
        records.first { $0.owner == name }?.nsec
    }

    /// An NSEC whose span (owner, next) strictly contains `name` in canonical order, the last
    /// one wrapping to the apex. One at a delegation point or a DNAME cannot deny names below
    /// its owner (RFC 6840 §4.1): the data there is another zone's, or redirected.
    public func covering(_ name: DNSName) -> (owner: DNSName, nsec: NSEC)? {
        guard name.isSubdomain(of: zone) else { return nil }
        return records.first { r in
            guard Self.spanContains(owner: r.owner, next: r.nsec.nextName, name) else { return false }
            if name.isStrictSubdomain(of: r.owner), isDelegation(r.owner, r.nsec) || r.nsec.types.contains(.dname) {
                return false
            }
            return true
        }
    }

    /// Whether the span from `owner` to `next` (the zone's last span wrapping to the apex)
    /// strictly contains `name` in canonical order.
    public static func spanContains(owner: DNSName, next: DNSName, _ name: DNSName) -> Bool {
        if owner < next { return owner < name && name < next }
        // The last NSEC of the zone: its next name is the apex, at or before the owner.
        return owner < name || name < next
    }

    private func isDelegation(_ owner: DNSName, _ n: NSEC) -> Bool {
        owner != zone && n.types.contains(.ns) && !n.types.contains(.soa)
    }

    /// The closest encloser a covering NSEC implies: the longer of the names `name` shares with
    /// the NSEC's owner and with its next name (RFC 4035 §5.4).
    public func closestEncloser(of name: DNSName, coveredBy r: (owner: DNSName, nsec: NSEC)) -> DNSName {
        let a = name.commonAncestor(with: r.owner), b = name.commonAncestor(with: r.nsec.nextName)
        let ce = a.labelCount >= b.labelCount ? a : b
        return ce.isSubdomain(of: zone) ? ce : zone
    }

    /// NXDOMAIN: `qname` is covered, and so is the wildcard at its closest encloser.
    public func proveNameError(_ qname: DNSName) -> Security {
        guard matching(qname) == nil else { return .bogus(.denialContradicts("\(qname) has an NSEC")) }
        guard let c = covering(qname) else { return .bogus(.nsecMissing) }
        let ce = closestEncloser(of: qname, coveredBy: c)
        guard let wildcard = try? ce.prepending([0x2A]) else { return .bogus(.nsecMissing) }
        return covering(wildcard) != nil ? .secure : .bogus(.nsecMissing)
    }

    /// NODATA: `qname` exists without `qtype` (and without CNAME), or is an empty non-terminal,
    /// or a wildcard that would match it exists without `qtype` (RFC 4035 §3.1.3.4).
    public func proveNoData(_ qname: DNSName, _ qtype: RRType) -> Security {
        if let n = matching(qname) {
            if n.types.contains(qtype) || n.types.contains(.cname) {
                return .bogus(.denialContradicts("the NSEC at \(qname) lists \(qtype) or CNAME"))
            }
            // The parent's NSEC at a delegation speaks for the DS only (RFC 6840 §4.4).
            if qtype != .ds, isDelegation(qname, n) {
                return .bogus(.denialContradicts("a delegation's NSEC used for \(qtype)"))
            }
            if qtype == .ds, n.types.contains(.soa), qname != zone { return .bogus(.nsecMissing) }
            return .secure
        }
        guard let c = covering(qname) else { return .bogus(.nsecMissing) }
        // An empty non-terminal: the next name lies below it.
        if c.nsec.nextName.isStrictSubdomain(of: qname) { return .secure }
        let ce = closestEncloser(of: qname, coveredBy: c)
        guard let wildcard = try? ce.prepending([0x2A]), let w = matching(wildcard) else { return .bogus(.nsecMissing) }
        if w.types.contains(qtype) || w.types.contains(.cname) {
            return .bogus(.denialContradicts("the wildcard's NSEC lists \(qtype) or CNAME"))
        }
        return .secure
    }

    /// A positive answer synthesised from `wildcard` (`*.` + the closest encloser): `qname`
    /// itself must not exist, and no name between it and the closest encloser either.
    public func proveWildcardAnswer(_ qname: DNSName, wildcard: DNSName) -> Security {
        guard let ce = wildcard.parent, qname.isStrictSubdomain(of: ce) else {
            return .bogus(.badSignatureFields("wildcard does not enclose the name"))
        }
        guard let c = covering(qname) else { return .bogus(.nsecMissing) }
        return closestEncloser(of: qname, coveredBy: c) == ce ? .secure : .bogus(.nsecMissing)
    }

    /// An unsigned delegation: the parent's NSEC at `child` lists NS but neither DS nor SOA.
    /// Returns `.insecure(.noDS)` when proven.
    public func proveNoDS(_ child: DNSName) -> Security {
        guard let n = matching(child) else { return .bogus(.nsecMissing) }
        if n.types.contains(.ds) { return .bogus(.denialContradicts("the NSEC at \(child) lists DS")) }
        if n.types.contains(.soa) && child != zone { return .bogus(.denialContradicts("the NSEC at \(child) is the child's")) }
        guard n.types.contains(.ns) else { return .bogus(.denialContradicts("no delegation at \(child)")) }
        return .insecure(.noDS(child))
    }
}
