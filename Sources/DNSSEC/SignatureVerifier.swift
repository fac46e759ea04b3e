import Crypto
import _CryptoExtras
import DNSCore

/// What one cryptographic check said.
public enum SignatureCheck: Hashable, Sendable {
    case valid
    case invalid
    /// The public key does not decode for its algorithm (wrong length, bad RSA encoding…).
    case malformedKey
    /// The algorithm is not implemented (or SHA-1 is refused by policy).
    case unsupportedAlgorithm
}

/// Verifies one signature with one DNSKEY through swift-crypto: RSA with PKCS#1 v1.5 padding
/// (algorithms 5, 7, 8, 10; RFC 3110, RFC 5702), ECDSA P-256 and P-384 (13, 14; RFC 6605),
/// Ed25519 (15; RFC 8080).
public enum SignatureVerifier {
    /// RSA moduli outside this range are refused: RFC 3110 allows 512 to 4096 bits, and a
    /// larger one would let a zone make each verification arbitrarily expensive.
    public static let rsaModulusBits = 512...4096

    /// Checks `signature` over `data` (the RRSIG's signed data) with `key`'s public key.
    public static func verify(signature: [UInt8], data: [UInt8], key: DNSKEY,
                              policy: ValidationPolicy = ValidationPolicy()) -> SignatureCheck {
        guard policy.supports(key.algorithm) else { return .unsupportedAlgorithm }
        switch key.algorithm {
        case .rsaSHA1, .rsaSHA1NSEC3:
            return verifyRSA(signature, digest: Insecure.SHA1.hash(data: data), key: key.publicKey)
        case .rsaSHA256:
            return verifyRSA(signature, digest: SHA256.hash(data: data), key: key.publicKey)
        case .rsaSHA512:
            return verifyRSA(signature, digest: SHA512.hash(data: data), key: key.publicKey)
        case .ecdsaP256SHA256:
            guard key.publicKey.count == 64, let pk = try? P256.Signing.PublicKey(rawRepresentation: key.publicKey) else {
                return .malformedKey
            }
            guard signature.count == 64, let sig = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else {
                return .invalid
            }
            return pk.isValidSignature(sig, for: data) ? .valid : .invalid
        case .ecdsaP384SHA384:
            guard key.publicKey.count == 96, let pk = try? P384.Signing.PublicKey(rawRepresentation: key.publicKey) else {
                return .malformedKey
            }
            guard signature.count == 96, let sig = try? P384.Signing.ECDSASignature(rawRepresentation: signature) else {
                return .invalid
            }
            return pk.isValidSignature(sig, for: data) ? .valid : .invalid
        case .ed25519:
            guard key.publicKey.count == 32, let pk = try? Curve25519.Signing.PublicKey(rawRepresentation: key.publicKey) else {
                return .malformedKey
            }
            guard signature.count == 64 else { return .invalid }
            return pk.isValidSignature(signature, for: data) ? .valid : .invalid
        default:
            return .unsupportedAlgorithm
        }
    }

    /// The exponent and modulus of an RFC 3110 §2 RSA public key: a one-byte exponent length
    /// (or zero and a two-byte length), the exponent, then the modulus. Nil when malformed.
    public static func rsaComponents(_ key: [UInt8]) -> (exponent: ArraySlice<UInt8>, modulus: ArraySlice<UInt8>)? {
        guard let first = key.first else { return nil }
        var at = 1
        var expLen = Int(first)
        if expLen == 0 {
            guard key.count >= 3 else { return nil }
            expLen = Int(key[1]) << 8 | Int(key[2])
            at = 3
        }
        guard expLen > 0, key.count > at + expLen else { return nil }
        let exponent = key[at..<(at + expLen)]
        var modulus = key[(at + expLen)...]
        while modulus.first == 0 { modulus = modulus.dropFirst() }
        guard !modulus.isEmpty, exponent.first != 0 else { return nil }
        return (exponent, modulus)
    }

    private static func verifyRSA<D: Digest>(_ signature: [UInt8], digest: D, key: [UInt8]) -> SignatureCheck {
        guard let (e, n) = rsaComponents(key), e.count <= 16 else { return .malformedKey }
        let bits = n.count * 8 - n.first!.leadingZeroBitCount
        guard rsaModulusBits.contains(bits),
              let pk = try? _RSA.Signing.PublicKey(n: Array(n), e: Array(e)) else { return .malformedKey }
        // PKCS#1 v1.5 signatures are as long as the modulus; a shorter one is invalid, not a
        // reason to trap or to pad.
        guard signature.count == n.count else { return .invalid }
        let sig = _RSA.Signing.RSASignature(rawRepresentation: signature)
        return pk.isValidSignature(sig, for: digest, padding: .insecurePKCS1v1_5) ? .valid : .invalid
    }
}
