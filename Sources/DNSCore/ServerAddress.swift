/// An authoritative server's address: 16 bytes, IPv4 as IPv4-mapped IPv6.
public struct ServerAddress: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(_ v4: IPv4Address) { high = 0; low = 0xFFFF_0000_0000 | UInt64(v4.value) }
    public init(_ v6: IPv6Address) { high = v6.high; low = v6.low }

    public var isIPv4: Bool { high == 0 && low >> 32 == 0xFFFF }

    public var description: String {
        if isIPv4 {
            let v = UInt32(truncatingIfNeeded: low)
            return "\(v >> 24).\((v >> 16) & 0xFF).\((v >> 8) & 0xFF).\(v & 0xFF)"
        }
        let groups = (0..<8).map { i -> UInt16 in
            UInt16(truncatingIfNeeded: (i < 4 ? high : low) >> UInt64(48 - 16 * (i % 4)))
        }
        return groups.map { String($0, radix: 16) }.joined(separator: ":")
    }
}
