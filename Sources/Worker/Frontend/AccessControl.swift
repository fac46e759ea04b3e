import DNSCore
import NIOCore

/// Which clients may query (an open resolver is an amplifier, so the default is local only).
public struct AccessControl: Sendable, Equatable {
    /// An address block: the first `prefixLength` bits of `address` (IPv4 as ::ffff:a.b.c.d).
    public struct Block: Sendable, Equatable, CustomStringConvertible {
        var high: UInt64
        var low: UInt64
        var prefixLength: Int

        /// Parses `a.b.c.d/n`, `x:y::z/n` or a bare address (a /32 or /128).
        public init(_ text: String) throws(ACLError) {
            let parts = text.split(separator: "/", maxSplits: 1)
            guard let addrText = parts.first else { throw ACLError("empty address block") }
            let isV4 = addrText.contains(".")
            let maxLen = isV4 ? 32 : 128
            var len = maxLen
            if parts.count == 2 {
                guard let l = Int(parts[1]), l >= 0, l <= maxLen else {
                    throw ACLError("bad prefix length in \(text)")
                }
                len = l
            }
            let rd: RData
            do {
                rd = try RData(type: isV4 ? .a : .aaaa, presentation: String(addrText), origin: nil)
            } catch {
                throw ACLError("bad address in \(text): \(error.message)")
            }
            switch rd {
            case let .a(a):
                high = 0
                low = 0xFFFF_0000_0000 | UInt64(a.value)
                prefixLength = 96 + len
            case let .aaaa(a):
                high = a.high
                low = a.low
                prefixLength = len
            default:
                throw ACLError("bad address in \(text)")
            }
        }

        func contains(high h: UInt64, low l: UInt64) -> Bool {
            func mask(_ bits: Int) -> UInt64 { bits <= 0 ? 0 : bits >= 64 ? ~0 : ~0 << UInt64(64 - bits) }
            let mh = mask(prefixLength), ml = mask(prefixLength - 64)
            return (h & mh) == (high & mh) && (l & ml) == (low & ml)
        }

        public var description: String {
            if high == 0 && low >> 32 == 0xFFFF {
                let v = UInt32(low & 0xFFFF_FFFF)
                return "\(v >> 24).\((v >> 16) & 255).\((v >> 8) & 255).\(v & 255)/\(prefixLength - 96)"
            }
            return "\(IPv6Address(high: high, low: low).presentation)/\(prefixLength)"
        }
    }

    public var allowed: [Block]

    public init(allowed: [Block]) { self.allowed = allowed }

    /// Loopback and private ranges (RFC 1918, RFC 4193, link-local), like unbound's default
    /// plus the private ranges operators expect inside a network.
    public static let localDefault: AccessControl = {
        // Static, valid blocks.
        let blocks = ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
                      "::1/128", "fc00::/7", "fe80::/10"].map { try! Block($0) }
        return AccessControl(allowed: blocks)
    }()

    /// Whether a client at this IPv4 address (host order) may query.
    public func allows(ipv4 v: UInt32) -> Bool {
        allows(high: 0, low: 0xFFFF_0000_0000 | UInt64(v))
    }

    /// Whether a client at this IPv6 address may query (IPv4-mapped addresses match IPv4 blocks).
    public func allows(ipv6 a: IPv6Address) -> Bool {
        allows(high: a.high, low: a.low)
    }

    /// Checked for every datagram: a plain loop, so that no build (not even an unoptimised
    /// one, whose generic `contains(where:)` allocates) allocates here.
    private func allows(high: UInt64, low: UInt64) -> Bool {
        var i = 0
        while i < allowed.count {
            if allowed[i].contains(high: high, low: low) { return true }
            i += 1
        }
        return false
    }
}

/// An access-control entry that cannot be read.
public struct ACLError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ m: String) { message = m }
    public var description: String { message }
}

extension SocketAddress {
    /// Whether the ACL admits this client.
    public func allowed(by acl: AccessControl) -> Bool {
        switch self {
        case let .v4(a):
            return acl.allows(ipv4: UInt32(bigEndian: a.address.sin_addr.s_addr))
        case let .v6(a):
            var addr = a.address.sin6_addr
            let bytes = withUnsafeBytes(of: &addr) { Array($0) }
            guard let ip = DNSCore.IPv6Address(bytes: bytes) else { return false }
            return acl.allows(ipv6: ip)
        default:
            return false
        }
    }
}
