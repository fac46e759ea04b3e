/// Trustworthiness of cached data (RFC 2181 §5.4.1), higher is better. A lower rank never
/// replaces a live entry of a higher rank.
public struct Rank: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Additional section of any answer; authority section of a non-authoritative answer.
    public static let additional = Rank(rawValue: 10)
    /// Glue: addresses of name servers from a referral.
    public static let glue = Rank(rawValue: 20)
    /// Answer section of a non-authoritative answer.
    public static let nonAuthoritativeAnswer = Rank(rawValue: 30)
    /// Authority section of an authoritative answer.
    public static let authoritativeAuthority = Rank(rawValue: 40)
    /// Answer section of an authoritative answer.
    public static let authoritativeAnswer = Rank(rawValue: 50)
    /// Configured data (trust anchors, local zones).
    public static let configured = Rank(rawValue: 60)

    public static func < (a: Rank, b: Rank) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch rawValue {
        case 10: "additional"
        case 20: "glue"
        case 30: "answer"
        case 40: "auth-authority"
        case 50: "auth-answer"
        case 60: "configured"
        default: "rank\(rawValue)"
        }
    }
}
