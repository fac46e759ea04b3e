import Crypto
import DNSCore

/// The NSEC3 hash of RFC 5155 §5: SHA-1 over the canonical name and the salt, then
/// `iterations` more times over the previous digest and the salt.
public enum NSEC3Hash {
    /// Hash algorithm 1, the only one defined.
    public static let sha1: UInt8 = 1

    public static func hash(_ name: DNSName, salt: [UInt8], iterations: UInt16) -> [UInt8] {
        var input = name.lowercased.wire + salt
        var digest = Array(Insecure.SHA1.hash(data: input))
        for _ in 0..<Int(iterations) {
            input = digest + salt
            digest = Array(Insecure.SHA1.hash(data: input))
        }
        return digest
    }
}
