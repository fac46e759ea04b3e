import DNSCore

/// An RRset whose signature verified.
public struct VerifiedRRSet: Hashable, Sendable {
    /// The RRset with its TTL capped by the RRSIG's original TTL and by the time left before
    /// the signature expires (RFC 4035 §5.3.3).
    public var rrset: RRSet
    /// The signature that verified.
    public var signature: RRSIG
    /// For an answer synthesised from a wildcard (RRSIG labels below the owner's, RFC 4035
    /// §5.3.4): the wildcard's owner, `*.` and the rightmost `labels` labels. The caller must
    /// still prove with NSEC/NSEC3 that no closer name exists.
    public var wildcard: DNSName?
}

/// Checks RRSIGs over an RRset against a zone's DNSKEYs (RFC 4035 §5.3).
public struct RRSetVerifier: Sendable {
    public var policy: ValidationPolicy
    /// Seconds since the epoch, modulo 2^32 like the RRSIG time fields.
    public var now: UInt32

    public init(policy: ValidationPolicy = ValidationPolicy(), now: UInt32) {
        self.policy = policy
        self.now = now
    }

    /// Verifies `rrset` as data of `zone` signed by one of `keys` (the zone's validated DNSKEYs).
    ///
    /// Signatures by another signer, over another type, or with an algorithm the policy does
    /// not support are skipped; if none is left, the RRset's RRSIGs are missing. Otherwise the
    /// first signature that verifies makes it secure; when none does, the result names the most
    /// telling failure (a bad signature before an expired one before a missing key). At most
    /// `signaturesPerRRset` signatures and `keysPerSignature` keys per signature are tried, and
    /// each verification is spent from `budget`.
    public func verify(_ rrset: RRSet, zone: DNSName, keys: [DNSKEY], budget: inout WorkBudget) -> Validated<VerifiedRRSet> {
        let candidates = rrset.signatures.filter {
            $0.typeCovered == rrset.type && $0.signerName == zone && policy.supports($0.algorithm)
        }
        guard !candidates.isEmpty else { return .bogus(.rrsigsMissing) }
        var failure: BogusReason?
        func note(_ r: BogusReason) {
            if failure == nil || rank(r) > rank(failure!) { failure = r }
        }
        for (i, sig) in candidates.enumerated() {
            guard i < budget.limits.signaturesPerRRset else { return .bogus(.workLimitExceeded(.signaturesPerRRset)) }
            if let r = checkFields(sig, of: rrset, zone: zone) { note(r); continue }
            let matching = keys.filter { $0.algorithm == sig.algorithm && $0.keyTag == sig.keyTag && $0.proto == 3 }
            let usable = matching.filter { $0.isUsableZoneKey }
            guard !usable.isEmpty else {
                note(matching.contains { !$0.isZoneKey } ? .noZoneKeyBitSet : .dnskeyMissing)
                continue
            }
            guard let data = rrset.signedData(for: sig) else { note(.badSignatureFields("labels")); continue }
            for (k, key) in usable.enumerated() {
                guard k < budget.limits.keysPerSignature else { return .bogus(.workLimitExceeded(.keysPerSignature)) }
                do { try budget.spendVerification() } catch { return .bogus(.workLimitExceeded(error.limit)) }
                switch SignatureVerifier.verify(signature: sig.signature, data: data, key: key, policy: policy) {
                case .valid:
                    return .secure(verified(rrset, by: sig))
                case .invalid: note(.signatureInvalid)
                case .malformedKey: note(.malformedKey)
                case .unsupportedAlgorithm: note(.dnskeyMissing)
                }
            }
        }
        return .bogus(failure ?? .signatureInvalid)
    }

    /// Why `sig` cannot be a valid signature over `rrset` from `zone`, or nil when its fields fit
    /// (RFC 4035 §5.3.1): owner at or below the signer, labels no more than the owner's (the
    /// leading `*` not counted), inception and expiration around `now` with the clock skew.
    public func checkFields(_ sig: RRSIG, of rrset: RRSet, zone: DNSName) -> BogusReason? {
        guard rrset.name.isSubdomain(of: zone) else { return .badSignatureFields("owner outside the signer's zone") }
        let ownerLabels = rrset.name.labelCount - (rrset.name.isWildcard ? 1 : 0)
        guard Int(sig.labels) <= ownerLabels else { return .badSignatureFields("labels \(sig.labels) above the owner's \(ownerLabels)") }
        guard Int(sig.labels) >= zone.labelCount else { return .badSignatureFields("labels \(sig.labels) above the signer") }
        if Self.serialDistance(from: sig.inception, to: sig.expiration) < 0 { return .signatureExpiredBeforeValid }
        if Self.serialDistance(from: now, to: sig.expiration) < -Int64(policy.clockSkew) { return .signatureExpired }
        if Self.serialDistance(from: now, to: sig.inception) > Int64(policy.clockSkew) { return .signatureNotYetValid }
        return nil
    }

    /// `to - from` in RFC 1982 serial arithmetic on 32 bits: the signed distance, so a time field
    /// that wrapped past 2106 still compares right within 68 years of `from`.
    public static func serialDistance(from: UInt32, to: UInt32) -> Int64 {
        Int64(Int32(bitPattern: to &- from))
    }

    private func verified(_ rrset: RRSet, by sig: RRSIG) -> VerifiedRRSet {
        var out = rrset
        let left = max(0, Self.serialDistance(from: now, to: sig.expiration))
        out.ttl = min(rrset.ttl, sig.originalTTL, UInt32(clamping: left))
        let ownerLabels = rrset.name.labelCount - (rrset.name.isWildcard ? 1 : 0)
        var wildcard: DNSName?
        if Int(sig.labels) < ownerLabels {
            wildcard = try? rrset.name.suffix(labels: Int(sig.labels)).prepending([0x2A])
        }
        return VerifiedRRSet(rrset: out, signature: sig, wildcard: wildcard)
    }

    /// Which failure says most about why an RRset did not verify.
    private func rank(_ r: BogusReason) -> Int {
        switch r {
        case .signatureInvalid: 6
        case .malformedKey: 5
        case .signatureExpired, .signatureNotYetValid, .signatureExpiredBeforeValid: 4
        case .noZoneKeyBitSet: 3
        case .dnskeyMissing: 2
        default: 1
        }
    }
}
