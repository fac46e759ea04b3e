import DNSCore

/// What validation concluded about a piece of data (RFC 4033 §5, RFC 4035 §4.3).
///
/// `indeterminate` is not a case here: a validator that has no trust anchor above a name says
/// ``InsecureReason/noTrustAnchor``, and the worker keeps its own "not validated" state.
public enum Security: Hashable, Sendable, CustomStringConvertible {
    /// A chain of signed DNSKEY and DS records leads from a trust anchor to the data.
    case secure
    /// The data is provably outside any chain of trust (an unsigned delegation, an algorithm or
    /// digest this validator does not implement, opt-out, NSEC3 iterations above the insecure
    /// limit), so it is answered without the AD bit.
    case insecure(InsecureReason)
    /// A chain of trust should reach the data and does not: answered SERVFAIL with the reason's
    /// Extended DNS Error.
    case bogus(BogusReason)

    public var isSecure: Bool { self == .secure }
    public var isBogus: Bool { if case .bogus = self { true } else { false } }
    public var isInsecure: Bool { if case .insecure = self { true } else { false } }

    public var description: String {
        switch self {
        case .secure: "secure"
        case let .insecure(r): "insecure (\(r))"
        case let .bogus(r): "bogus (\(r))"
        }
    }
}

/// A validation result that carries what was proven when it is secure.
public enum Validated<Value: Sendable>: Sendable {
    case secure(Value)
    case insecure(InsecureReason)
    case bogus(BogusReason)

    public var security: Security {
        switch self {
        case .secure: .secure
        case let .insecure(r): .insecure(r)
        case let .bogus(r): .bogus(r)
        }
    }

    public var value: Value? { if case let .secure(v) = self { v } else { nil } }
}

/// Why data is insecure rather than secure or bogus.
public enum InsecureReason: Hashable, Sendable, CustomStringConvertible {
    /// No DS at the delegation, proven by a validated NSEC or NSEC3 record.
    case noDS(DNSName)
    /// An NSEC3 record with the Opt-Out flag covers the name (RFC 5155 §6): an unsigned
    /// delegation may exist there.
    case optOut
    /// No DS or trust anchor uses an algorithm this validator implements (RFC 4035 §5.2, RFC 6840 §5.2).
    case unsupportedAlgorithm(DNSSECAlgorithm)
    /// No DS uses a digest type this validator implements.
    case unsupportedDigest(DigestType)
    /// NSEC3 with more iterations than ``ValidationPolicy/nsec3InsecureIterations`` (RFC 9276 §3.2).
    case nsec3Iterations(UInt16)
    /// NSEC3 hash algorithm other than SHA-1: the proof cannot be checked.
    case unsupportedNSEC3Hash(UInt8)
    /// No trust anchor at or above the name.
    case noTrustAnchor
    /// A negative trust anchor (RFC 7646) at or above the name: validation is off there.
    case negativeTrustAnchor(DNSName)

    public var description: String {
        switch self {
        case let .noDS(n): "no DS at \(n)"
        case .optOut: "covered by an NSEC3 opt-out span"
        case let .unsupportedAlgorithm(a): "unsupported algorithm \(a)"
        case let .unsupportedDigest(d): "unsupported DS digest \(d)"
        case let .nsec3Iterations(i): "NSEC3 with \(i) iterations"
        case let .unsupportedNSEC3Hash(h): "NSEC3 hash algorithm \(h)"
        case .noTrustAnchor: "no trust anchor"
        case let .negativeTrustAnchor(n): "negative trust anchor \(n)"
        }
    }

    /// The Extended DNS Error an answer may carry to say why it is not secure, if any
    /// (RFC 8914 §4.2, §4.3; RFC 9276 §3.2 for iterations).
    public var extendedError: EDECode? {
        switch self {
        case .unsupportedAlgorithm: .unsupportedDNSKEYAlgorithm
        case .unsupportedDigest: .unsupportedDSDigest
        case .nsec3Iterations: .unsupportedNSEC3Iterations
        default: nil
        }
    }
}

/// Why data is bogus. Each maps to the Extended DNS Error (RFC 8914) a SERVFAIL carries.
public enum BogusReason: Hashable, Sendable, CustomStringConvertible {
    /// Every signature's expiration is in the past (beyond the clock-skew allowance).
    case signatureExpired
    /// Every signature's inception is in the future (beyond the clock-skew allowance).
    case signatureNotYetValid
    /// A signature expires before its inception.
    case signatureExpiredBeforeValid
    /// No DNSKEY matches the RRSIGs' key tag and algorithm, or no DNSKEY matches the
    /// parent's DS (RFC 8914 §4.10).
    case dnskeyMissing
    /// The RRset has no RRSIG from the zone that should have signed it.
    case rrsigsMissing
    /// The only matching key lacks the Zone Key flag (RFC 4034 §2.1.1).
    case noZoneKeyBitSet
    /// A denial of existence was needed and the NSEC/NSEC3 records do not prove it.
    case nsecMissing
    /// A signature did not verify with the key it names.
    case signatureInvalid
    /// A DNSKEY's public key could not be decoded for its algorithm.
    case malformedKey
    /// An RRSIG's fields do not fit the RRset (labels, signer, type covered).
    case badSignatureFields(String)
    /// A denial record contradicts the answer (the type exists, a DS bit is set, a delegation's
    /// NSEC used to deny names below it…).
    case denialContradicts(String)
    /// NSEC3 with more iterations than ``ValidationPolicy/nsec3BogusIterations``.
    case nsec3Iterations(UInt16)
    /// A work cap was reached (KeyTrap, CVE-2023-50387; CVE-2023-50868).
    case workLimitExceeded(WorkLimit)
    /// An unsigned CNAME after a DNAME is not the one the DNAME synthesises (RFC 6672 §5.3.1).
    case badSynthesis

    public var description: String {
        switch self {
        case .signatureExpired: "signature expired"
        case .signatureNotYetValid: "signature not yet valid"
        case .signatureExpiredBeforeValid: "signature expires before its inception"
        case .dnskeyMissing: "no DNSKEY matches"
        case .rrsigsMissing: "RRSIGs missing"
        case .noZoneKeyBitSet: "matching DNSKEY lacks the zone key bit"
        case .nsecMissing: "denial of existence not proven"
        case .signatureInvalid: "signature does not verify"
        case .malformedKey: "malformed DNSKEY"
        case let .badSignatureFields(s): "RRSIG fields: \(s)"
        case let .denialContradicts(s): "denial contradicts: \(s)"
        case let .nsec3Iterations(i): "NSEC3 with \(i) iterations"
        case let .workLimitExceeded(l): "work limit exceeded: \(l)"
        case .badSynthesis: "CNAME does not follow from its DNAME"
        }
    }

    /// The Extended DNS Error code for a SERVFAIL caused by this (RFC 8914 §4).
    public var extendedError: EDECode {
        switch self {
        case .signatureExpired: .signatureExpired
        case .signatureNotYetValid: .signatureNotYetValid
        case .signatureExpiredBeforeValid: .signatureExpiredBeforeValid
        case .dnskeyMissing: .dnskeyMissing
        case .rrsigsMissing: .rrsigsMissing
        case .noZoneKeyBitSet: .noZoneKeyBitSet
        case .nsecMissing: .nsecMissing
        case .nsec3Iterations: .unsupportedNSEC3Iterations
        case .signatureInvalid, .malformedKey, .badSignatureFields, .denialContradicts, .workLimitExceeded, .badSynthesis:
            .dnssecBogus
        }
    }

    /// The EDE option for a SERVFAIL: the code and this reason as its extra text.
    public var extendedDNSError: ExtendedDNSError {
        ExtendedDNSError(code: extendedError, extraText: Array(description.utf8))
    }
}
