/// Which work cap was reached.
public enum WorkLimit: Hashable, Sendable, CustomStringConvertible {
    /// More DNSKEYs share one RRSIG's key tag and algorithm than may be tried.
    case keysPerSignature
    /// More RRSIGs on one RRset failed than may be tried.
    case signaturesPerRRset
    /// The resolution has spent its signature verifications.
    case verificationsPerResolution
    /// The answer has spent its NSEC3 hash computations.
    case nsec3HashesPerAnswer

    public var description: String {
        switch self {
        case .keysPerSignature: "keys tried per signature"
        case .signaturesPerRRset: "signatures tried per RRset"
        case .verificationsPerResolution: "signature verifications per resolution"
        case .nsec3HashesPerAnswer: "NSEC3 hashes per answer"
        }
    }
}

/// Caps on validation work, against KeyTrap (CVE-2023-50387: many keys with colliding tags times
/// many signatures) and NSEC3 hash exhaustion (CVE-2023-50868).
///
/// The defaults let every legitimate zone validate (a key rollover has two keys per tag at
/// most, an RRset rarely more than two signatures per algorithm, a deep chain some twenty
/// verifications) while bounding a hostile response to a few milliseconds of CPU.
public struct WorkLimits: Hashable, Sendable {
    public var keysPerSignature: Int
    public var signaturesPerRRset: Int
    public var verificationsPerResolution: Int
    public var nsec3HashesPerAnswer: Int

    public init(keysPerSignature: Int = 4, signaturesPerRRset: Int = 8,
                verificationsPerResolution: Int = 64, nsec3HashesPerAnswer: Int = 128) {
        self.keysPerSignature = max(1, keysPerSignature)
        self.signaturesPerRRset = max(1, signaturesPerRRset)
        self.verificationsPerResolution = max(1, verificationsPerResolution)
        self.nsec3HashesPerAnswer = max(1, nsec3HashesPerAnswer)
    }
}

/// Thrown when a cap is reached; validation turns it into ``BogusReason/workLimitExceeded(_:)``.
public struct WorkExhausted: Error, Hashable, Sendable {
    public var limit: WorkLimit
    public init(_ limit: WorkLimit) { self.limit = limit }
}

/// The work one resolution may still spend on validation: make one per client resolution and
/// pass it `inout` to every check, so the per-resolution caps hold across its responses.
public struct WorkBudget: Hashable, Sendable {
    public let limits: WorkLimits
    /// Signature verifications spent so far.
    public private(set) var verifications = 0
    /// NSEC3 hashes computed for the current answer.
    public private(set) var nsec3Hashes = 0

    public init(_ limits: WorkLimits = WorkLimits()) { self.limits = limits }

    /// Takes one signature verification, or throws when the resolution has none left.
    public mutating func spendVerification() throws(WorkExhausted) {
        guard verifications < limits.verificationsPerResolution else {
            throw WorkExhausted(.verificationsPerResolution)
        }
        verifications += 1
    }

    /// Takes one NSEC3 hash computation, or throws when the answer has none left.
    public mutating func spendNSEC3Hash() throws(WorkExhausted) {
        guard nsec3Hashes < limits.nsec3HashesPerAnswer else { throw WorkExhausted(.nsec3HashesPerAnswer) }
        nsec3Hashes += 1
    }

    /// Starts the NSEC3 allowance of a new answer (the verification count runs on).
    public mutating func startAnswer() { nsec3Hashes = 0 }
}
