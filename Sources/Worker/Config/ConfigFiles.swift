import DNSCore
import NIOCore

/// Parses `ADDRESS:PORT`, `[IPV6]:PORT`, or a bare address (port 53) for `--listen`.
public func parseListenAddress(_ text: String) throws(ConfigError) -> SocketAddress {
    var host = text
    var port = 53
    if text.hasPrefix("[") {
        guard let close = text.firstIndex(of: "]") else { throw ConfigError("--listen \(text): missing ']'") }
        host = String(text[text.index(after: text.startIndex)..<close])
        let rest = text[text.index(after: close)...]
        if !rest.isEmpty {
            guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()), (1...65535).contains(p) else {
                throw ConfigError("--listen \(text): bad port")
            }
            port = p
        }
    } else if let colon = text.lastIndex(of: ":"), text.filter({ $0 == ":" }).count == 1 {
        host = String(text[..<colon])
        guard let p = Int(text[text.index(after: colon)...]), (1...65535).contains(p) else {
            throw ConfigError("--listen \(text): bad port")
        }
        port = p
    }
    do {
        return try SocketAddress(ipAddress: host, port: port)
    } catch {
        throw ConfigError("--listen \(text): '\(host)' is not an IP address")
    }
}

/// Reads a root hints file (named.root format).
public func loadRootHints(path: String, contents: String) throws(ConfigError) -> RootHints {
    do {
        let records = try ZoneFileParser.records(in: contents, origin: .root, defaultTTL: 3_600_000)
        return try RootHints(records: records)
    } catch let e as PresentationError {
        throw ConfigError("\(path): \(e)")
    } catch {
        throw ConfigError("\(path): \(error)")
    }
}

/// Reads a trust-anchor file: DS or DNSKEY records in presentation format (as unbound's
/// `trust-anchor-file`). Returns the records; throws when there are none.
public func loadTrustAnchors(path: String, contents: String) throws(ConfigError) -> [ResourceRecord] {
    let records: [ResourceRecord]
    do {
        records = try ZoneFileParser.records(in: contents, origin: .root, defaultTTL: 0)
    } catch {
        throw ConfigError("\(path): \(error)")
    }
    let anchors = records.filter { $0.type == .ds || $0.type == .dnskey }
    guard !anchors.isEmpty else { throw ConfigError("\(path): no DS or DNSKEY records") }
    return anchors
}

/// A configuration or command-line value that cannot be used.
public struct ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ m: String) { message = m }
    public var description: String { message }
}
