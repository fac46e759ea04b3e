import DNSCore

/// The local choices a validator makes that the RFCs leave open.
public struct ValidationPolicy: Hashable, Sendable {
    /// Validate RSA/SHA-1 (algorithms 5 and 7). RFC 8624 lets a validator keep them; Debian's
    /// unbound still does, so the default is to validate. When false they count as unsupported
    /// algorithms: zones signed only with them are insecure, not bogus.
    public var validatesSHA1Algorithms: Bool
    /// Seconds a signature's inception may lie in the future, or its expiration in the past,
    /// before it counts as not yet valid or expired: clocks of signers and validators differ.
    public var clockSkew: UInt32
    /// NSEC3 records with more iterations than this make a denial insecure (RFC 9276 §3.2:
    /// validators may treat high counts as insecure). 150 is the limit the major validators
    /// first adopted around RFC 9276 (some went lower since; RFC 9276 asks signers for 0).
    public var nsec3InsecureIterations: UInt16
    /// Above this many iterations a denial is bogus (RFC 9276 §3.2 allows SERVFAIL); well
    /// above anything signers still publish, and it bounds a single hash's cost at 501 SHA-1
    /// rounds.
    public var nsec3BogusIterations: UInt16
    /// Caps on validation work (KeyTrap and NSEC3 hash exhaustion).
    public var limits: WorkLimits

    public init(validatesSHA1Algorithms: Bool = true, clockSkew: UInt32 = 300,
                nsec3InsecureIterations: UInt16 = 150, nsec3BogusIterations: UInt16 = 500,
                limits: WorkLimits = WorkLimits()) {
        self.validatesSHA1Algorithms = validatesSHA1Algorithms
        self.clockSkew = clockSkew
        self.nsec3InsecureIterations = nsec3InsecureIterations
        self.nsec3BogusIterations = max(nsec3BogusIterations, nsec3InsecureIterations)
        self.limits = limits
    }

    /// Whether RRSIGs and DNSKEYs of `algorithm` are verified (RFC 8624 §3.1, validation column).
    public func supports(_ algorithm: DNSSECAlgorithm) -> Bool {
        switch algorithm {
        case .rsaSHA256, .rsaSHA512, .ecdsaP256SHA256, .ecdsaP384SHA384, .ed25519: true
        case .rsaSHA1, .rsaSHA1NSEC3: validatesSHA1Algorithms
        default: false
        }
    }

    /// Whether DS records of `digest` are checked (RFC 8624 §3.3: SHA-1 only when nothing
    /// better is offered, which ``DSMatcher`` decides).
    public func supports(_ digest: DigestType) -> Bool {
        digest == .sha1 || digest == .sha256 || digest == .sha384
    }
}
