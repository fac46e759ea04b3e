import Crypto
import DNSCore

extension DNSKEY {
    /// The DS digest of this key at `owner` (RFC 4034 §5.1.4, RFC 4509, RFC 6605 §2), or nil
    /// for a digest type not implemented.
    public func dsDigest(owner: DNSName, type: DigestType) -> [UInt8]? {
        let input = digestInput(owner: owner)
        switch type {
        case .sha1: return Array(Insecure.SHA1.hash(data: input))
        case .sha256: return Array(SHA256.hash(data: input))
        case .sha384: return Array(SHA384.hash(data: input))
        default: return nil
        }
    }

    /// A DS record for this key at `owner`.
    public func ds(owner: DNSName, type: DigestType = .sha256) -> DS? {
        dsDigest(owner: owner, type: type).map { DS(keyTag: keyTag, algorithm: algorithm, digestType: type, digest: $0) }
    }

    /// Usable to verify zone data: the Zone Key flag, protocol 3 (RFC 4034 §2.1.2), not revoked
    /// (RFC 5011 §2.1).
    public var isUsableZoneKey: Bool { isZoneKey && proto == 3 && !isRevoked }
}

/// Matches a parent's DS set against a child's DNSKEY set (RFC 4035 §5.2).
public enum DSMatcher {
    /// The DS records a validator acts on: supported algorithm and digest, and SHA-1 ones only
    /// when no SHA-256 or SHA-384 DS is offered (RFC 4509 §3, RFC 8624 §3.3), so an attacker
    /// cannot downgrade a zone to its SHA-1 digest. Empty means the zone is insecure for this
    /// validator; ``insecureReason(_:policy:)`` says why. (A digest of the wrong length stays
    /// usable and matches no key: a malformed DS makes the zone bogus, never insecure.)
    public static func usable(_ dsSet: [DS], policy: ValidationPolicy) -> [DS] {
        let supported = dsSet.filter { policy.supports($0.algorithm) && policy.supports($0.digestType) }
        let better = supported.filter { $0.digestType != .sha1 }
        return better.isEmpty ? supported : better
    }

    /// Why `dsSet` has no usable DS: an unsupported algorithm, else an unsupported digest.
    public static func insecureReason(_ dsSet: [DS], policy: ValidationPolicy) -> InsecureReason {
        if let ds = dsSet.first(where: { !policy.supports($0.algorithm) }),
           !dsSet.contains(where: { policy.supports($0.algorithm) }) {
            return .unsupportedAlgorithm(ds.algorithm)
        }
        return .unsupportedDigest(dsSet.first(where: { !policy.supports($0.digestType) })?.digestType ?? DigestType(0))
    }

    /// The keys of `keys` (owned by `owner`) that some DS of `dsSet` authenticates. Only zone
    /// keys of protocol 3 that are not revoked count. At most `limits.keysPerSignature` keys
    /// are hashed per DS, so colliding key tags cannot multiply the work.
    public static func matchingKeys(_ dsSet: [DS], keys: [DNSKEY], owner: DNSName,
                                    limits: WorkLimits = WorkLimits()) -> [DNSKEY] {
        var out: [DNSKEY] = []
        for ds in dsSet {
            let candidates = keys.filter { $0.algorithm == ds.algorithm && $0.keyTag == ds.keyTag && $0.isUsableZoneKey }
            for key in candidates.prefix(limits.keysPerSignature) where !out.contains(key) {
                if key.dsDigest(owner: owner, type: ds.digestType) == ds.digest { out.append(key) }
            }
        }
        return out
    }
}
