import DNSCore
import ShmCache

/// Where iteration starts: the root's NS names and their addresses.
public struct RootHints: Sendable, Equatable {
    /// The root NS set.
    public var ns: RRSet
    /// Addresses of each NS name.
    public var addresses: [DNSName: [ServerAddress]]

    public init(ns: RRSet, addresses: [DNSName: [ServerAddress]]) {
        self.ns = ns
        self.addresses = addresses
    }

    /// Builds hints from records as found in a `named.root` file: NS records at the root and
    /// A/AAAA records of their names. Throws when there is no root NS or no address at all.
    public init(records: [ResourceRecord]) throws(HintsError) {
        let names = records.compactMap { rr -> DNSName? in
            guard rr.type == .ns, rr.name.isRoot, case let .ns(n) = rr.rdata else { return nil }
            return n
        }
        guard !names.isEmpty else { throw HintsError("no NS records for the root") }
        var addrs: [DNSName: [ServerAddress]] = [:]
        for rr in records where rr.type == .a || rr.type == .aaaa {
            guard names.contains(rr.name), let a = ServerAddress(rdata: rr.rdata) else { continue }
            addrs[rr.name, default: []].append(a)
        }
        guard !addrs.isEmpty else { throw HintsError("no addresses for the root NS names") }
        ns = RRSet(name: .root, type: .ns, ttl: 3_600_000, rdatas: names.map { .ns($0) })
        addresses = addrs
    }

    /// The IANA root hints (https://www.internic.net/domain/named.root, 2024 edition), compiled in
    /// so the worker runs with no files at all.
    public static let iana: RootHints = {
        let servers: [(String, (UInt8, UInt8, UInt8, UInt8), [UInt16])] = [
            ("a", (198, 41, 0, 4), [0x2001, 0x0503, 0xba3e, 0, 0, 0, 0x0002, 0x0030]),
            ("b", (170, 247, 170, 2), [0x2801, 0x01b8, 0x0010, 0, 0, 0, 0, 0x000b]),
            ("c", (192, 33, 4, 12), [0x2001, 0x0500, 0x0002, 0, 0, 0, 0, 0x000c]),
            ("d", (199, 7, 91, 13), [0x2001, 0x0500, 0x002d, 0, 0, 0, 0, 0x000d]),
            ("e", (192, 203, 230, 10), [0x2001, 0x0500, 0x00a8, 0, 0, 0, 0, 0x000e]),
            ("f", (192, 5, 5, 241), [0x2001, 0x0500, 0x002f, 0, 0, 0, 0, 0x000f]),
            ("g", (192, 112, 36, 4), [0x2001, 0x0500, 0x0012, 0, 0, 0, 0, 0x0d0d]),
            ("h", (198, 97, 190, 53), [0x2001, 0x0500, 0x0001, 0, 0, 0, 0, 0x0053]),
            ("i", (192, 36, 148, 17), [0x2001, 0x07fe, 0, 0, 0, 0, 0, 0x0053]),
            ("j", (192, 58, 128, 30), [0x2001, 0x0503, 0x0c27, 0, 0, 0, 0x0002, 0x0030]),
            ("k", (193, 0, 14, 129), [0x2001, 0x07fd, 0, 0, 0, 0, 0, 0x0001]),
            ("l", (199, 7, 83, 42), [0x2001, 0x0500, 0x009f, 0, 0, 0, 0, 0x0042]),
            ("m", (202, 12, 27, 33), [0x2001, 0x0dc3, 0, 0, 0, 0, 0, 0x0035]),
        ]
        var addrs: [DNSName: [ServerAddress]] = [:]
        var names: [RData] = []
        for (letter, v4, v6) in servers {
            // Static, well-formed names: cannot fail.
            let name = try! DNSName("\(letter).root-servers.net.")
            names.append(.ns(name))
            var hi: UInt64 = 0, lo: UInt64 = 0
            for g in v6[0..<4] { hi = hi << 16 | UInt64(g) }
            for g in v6[4..<8] { lo = lo << 16 | UInt64(g) }
            addrs[name] = [ServerAddress(IPv4Address(v4.0, v4.1, v4.2, v4.3)),
                           ServerAddress(IPv6Address(high: hi, low: lo))]
        }
        return RootHints(ns: RRSet(name: .root, type: .ns, ttl: 3_600_000, rdatas: names), addresses: addrs)
    }()
}

/// Root hints that cannot be used.
public struct HintsError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ m: String) { message = m }
    public var description: String { "root hints: \(message)" }
}
