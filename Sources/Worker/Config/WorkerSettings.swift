import DNSCore
import Yams

/// Everything a worker is configured with, with the built-in defaults.
///
/// Values come from the defaults, then a YAML file (`--config`), then command-line options,
/// each overriding the one before.
public struct WorkerSettings: Sendable, Equatable {
    public var listen: [String] = ["127.0.0.1:53"]
    /// nil: the IANA root hints compiled in.
    public var rootHints: String?
    /// nil: the IANA root trust anchors compiled in.
    public var trustAnchor: String?
    public var segment = "default"
    public var segmentSizeMiB = 64
    public var workerSlot = 0
    /// Empty: loopback and private ranges.
    public var allow: [String] = []
    public var trace: [String] = []
    public var logLevel = "info"
    public var limits = ResolverLimits()
    public var tcp = TCPLimits()
    /// Resolutions in progress at once (see ``WorkerEngine/maxResolutions``).
    public var maxResolutions = 2048

    public init() {}

    /// Keys a configuration file may hold, with what each expects (for error messages and
    /// `--help`).
    public static let keys: [(String, String)] = [
        ("listen", "list of ADDR[:PORT]"), ("root-hints", "path"), ("trust-anchor", "path"),
        ("segment", "instance name"), ("segment-size", "MiB"), ("worker-slot", "integer"),
        ("allow", "list of address blocks"), ("trace", "list of names"), ("log-level", "level"),
        ("qname-minimisation", "true/false"), ("use-0x20", "true/false"), ("serve-stale-seconds", "seconds"),
        ("max-ttl", "seconds"), ("max-negative-ttl", "seconds"), ("max-upstream-queries", "integer"),
        ("upstream-timeout-ms", "milliseconds"), ("tcp-max-connections", "integer"),
        ("tcp-idle-timeout", "seconds"), ("max-resolutions", "integer"),
    ]

    /// Applies a YAML mapping of the keys above. Unknown keys and wrong types are errors that
    /// name the key and the file.
    public mutating func apply(yaml text: String, file: String) throws(ConfigError) {
        let node: Any?
        do {
            node = try Yams.load(yaml: text)
        } catch {
            throw ConfigError("\(file): not valid YAML: \(error)")
        }
        guard let node else { return }   // an empty file changes nothing
        guard let map = node as? [String: Any] else {
            throw ConfigError("\(file): expected a mapping of settings at the top level")
        }
        let known = Set(Self.keys.map(\.0))
        for key in map.keys.sorted() where !known.contains(key) {
            throw ConfigError("\(file): unknown key '\(key)' (known: \(Self.keys.map(\.0).joined(separator: ", ")))")
        }
        func string(_ k: String) throws(ConfigError) -> String? {
            guard let v = map[k] else { return nil }
            guard let s = v as? String else { throw ConfigError("\(file): '\(k)' must be a string") }
            return s
        }
        func int(_ k: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int? {
            guard let v = map[k] else { return nil }
            guard let i = v as? Int, range.contains(i) else {
                throw ConfigError("\(file): '\(k)' must be an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return i
        }
        func list(_ k: String) throws(ConfigError) -> [String]? {
            guard let v = map[k] else { return nil }
            if let s = v as? String { return [s] }
            guard let a = v as? [Any], a.allSatisfy({ $0 is String }) else {
                throw ConfigError("\(file): '\(k)' must be a list of strings")
            }
            return a.compactMap { $0 as? String }
        }
        if let v = try list("listen") { listen = v }
        if let v = try string("root-hints") { rootHints = v }
        if let v = try string("trust-anchor") { trustAnchor = v }
        if let v = try string("segment") { segment = v }
        if let v = try int("segment-size", 1...1 << 20) { segmentSizeMiB = v }
        if let v = try int("worker-slot", 0...4095) { workerSlot = v }
        if let v = try list("allow") { allow = v }
        if let v = try list("trace") { trace = v }
        if let v = try string("log-level") { logLevel = v }
        if let v = map["qname-minimisation"] {
            guard let b = v as? Bool else { throw ConfigError("\(file): 'qname-minimisation' must be true or false") }
            limits.qnameMinimisation = b
        }
        if let v = map["use-0x20"] {
            guard let b = v as? Bool else { throw ConfigError("\(file): 'use-0x20' must be true or false") }
            limits.use0x20 = b
        }
        if let v = try int("serve-stale-seconds", 0...604_800) { limits.serveStaleSeconds = UInt32(v) }
        if let v = try int("max-ttl", 1...604_800) { limits.maxTTL = UInt32(v) }
        if let v = try int("max-negative-ttl", 0...604_800) { limits.maxNegativeTTL = UInt32(v) }
        if let v = try int("max-upstream-queries", 1...1000) { limits.maxUpstreamQueries = v }
        if let v = try int("upstream-timeout-ms", 50...30_000) { limits.initialTimeoutMillis = v }
        if let v = try int("tcp-max-connections", 1...100_000) { tcp.maxConnections = v }
        if let v = try int("tcp-idle-timeout", 1...3600) { tcp.idleTimeout = .seconds(Int64(v)) }
        if let v = try int("max-resolutions", 1...1_000_000) { maxResolutions = v }
    }
}
