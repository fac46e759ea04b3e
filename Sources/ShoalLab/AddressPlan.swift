/// Which loopback address each server of a lab uses.
///
/// With prefix `P` (two octets, default `127.53`):
///
/// | addresses                         | role                                             |
/// | --------------------------------- | ------------------------------------------------ |
/// | `P.0.1`, `P.0.2`                  | root servers `a.root.lab.`, `b.root.lab.`        |
/// | `P.1.(2i+1)`, `P.1.(2i+2)`        | TLD number i: `ns1.nic.<tld>.`, `ns2.nic.<tld>.` |
/// | `P.(10+k).1` … `P.(10+k).m`       | second-level nsd instance k, its address pool    |
/// | `P.250.1`                         | the black hole (never answers)                   |
///
/// Zone data always holds `addressPrefix` addresses; servers bind the same address with the
/// prefix replaced by `listenPrefix`.
public struct AddressPlan: Sendable, Hashable {
    public let prefix: String
    public let listenPrefix: String
    public let sldInstances: Int
    public let addressesPerInstance: Int

    public init(_ config: LabConfig) {
        prefix = config.addressPrefix
        listenPrefix = config.listenPrefix ?? config.addressPrefix
        sldInstances = config.sldInstances
        addressesPerInstance = config.addressesPerInstance
    }

    public var rootAddresses: [String] { ["\(prefix).0.1", "\(prefix).0.2"] }

    /// The two addresses of the TLD with index `index` in `LabHierarchy.tlds`.
    public func tldAddresses(_ index: Int) -> [String] {
        ["\(prefix).1.\(2 * index + 1)", "\(prefix).1.\(2 * index + 2)"]
    }

    /// The address pool of second-level instance `k`.
    public func sldPool(_ k: Int) -> [String] {
        (1...addressesPerInstance).map { "\(prefix).\(10 + k).\($0)" }
    }

    /// Addresses where nothing ever answers, not even with ICMP.
    public var blackholeAddresses: [String] { ["\(prefix).250.1"] }

    /// The address a server binds for the public address `address`.
    public func listenAddress(_ address: String) -> String {
        guard address.hasPrefix(prefix + "."), listenPrefix != prefix else { return address }
        return listenPrefix + address.dropFirst(prefix.count)
    }
}
