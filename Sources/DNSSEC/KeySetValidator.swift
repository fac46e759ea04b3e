import DNSCore

/// Authenticates a zone's DNSKEY RRset: the step of the chain of trust from a DS set (or a
/// trust anchor) to the keys that sign the zone's data (RFC 4035 §5.2).
public struct KeySetValidator: Sendable {
    public var verifier: RRSetVerifier
    public var policy: ValidationPolicy { verifier.policy }

    public init(policy: ValidationPolicy = ValidationPolicy(), now: UInt32) {
        verifier = RRSetVerifier(policy: policy, now: now)
    }

    /// The zone keys of `dnskeys` (the DNSKEY RRset of `zone`) when a DS of `dsSet` (validated
    /// at the parent, or a trust anchor) matches a key that signs the set.
    ///
    /// - No DS with a supported algorithm and digest: insecure (RFC 4035 §5.2, RFC 6840 §5.2).
    /// - No DNSKEY matches a usable DS: bogus, DNSKEY Missing.
    /// - Matching keys, but none signs the DNSKEY set validly: the RRset verifier's reason.
    public func validate(_ dnskeys: RRSet, zone: DNSName, dsSet: [DS], budget: inout WorkBudget) -> Validated<VerifiedRRSet> {
        let usable = DSMatcher.usable(dsSet, policy: policy)
        guard !usable.isEmpty else {
            return dsSet.isEmpty ? .bogus(.dnskeyMissing) : .insecure(DSMatcher.insecureReason(dsSet, policy: policy))
        }
        guard dnskeys.type == .dnskey, dnskeys.name == zone else { return .bogus(.dnskeyMissing) }
        let matched = DSMatcher.matchingKeys(usable, keys: keys(of: dnskeys), owner: zone, limits: policy.limits)
        guard !matched.isEmpty else { return .bogus(.dnskeyMissing) }
        return verifier.verify(dnskeys, zone: zone, keys: matched, budget: &budget)
    }

    /// As ``validate(_:zone:dsSet:budget:)`` for a trust anchor given as DNSKEYs: the anchor
    /// keys present in the set must sign it (RFC 4035 §5: a DNSKEY anchor is trusted as is).
    public func validate(_ dnskeys: RRSet, zone: DNSName, anchorKeys: [DNSKEY], budget: inout WorkBudget) -> Validated<VerifiedRRSet> {
        let supported = anchorKeys.filter { policy.supports($0.algorithm) }
        guard !supported.isEmpty else {
            return .insecure(.unsupportedAlgorithm(anchorKeys.first?.algorithm ?? DNSSECAlgorithm(0)))
        }
        let present = keys(of: dnskeys).filter { k in supported.contains { $0.publicKey == k.publicKey && $0.algorithm == k.algorithm } }
        guard !present.isEmpty, dnskeys.name == zone else { return .bogus(.dnskeyMissing) }
        return verifier.verify(dnskeys, zone: zone, keys: present.filter(\.isUsableZoneKey), budget: &budget)
    }

    /// The zone keys a validated DNSKEY RRset provides for verifying the zone's data.
    public func keys(of dnskeys: RRSet) -> [DNSKEY] {
        dnskeys.rdatas.compactMap { if case let .dnskey(k) = $0 { k } else { nil } }
    }
}
