import Yams

/// One YAML configuration file, read once: its top-level mapping and the line of each key.
///
/// The same file configures shoald, its workers and the bridge: each reads its own keys and
/// leaves the others' alone; a key that belongs to none is an error. Every error names the
/// file, the line and the key.
public struct SettingsDocument: @unchecked Sendable {   // values are Yams' immutable Any trees
    public let file: String
    let map: [String: Any]
    let lines: [String: Int]
    /// The composed node of each key's value, for the lines of nested keys.
    let nodes: [String: Node]

    public init(yaml text: String, file: String) throws(ConfigError) {
        self.file = file
        let node: Any?
        let composed: Node?
        do {
            node = try Yams.load(yaml: text)
            composed = try Yams.compose(yaml: text)
        } catch {
            throw ConfigError("\(file): not valid YAML: \(error)")
        }
        guard let node else { map = [:]; lines = [:]; nodes = [:]; return }   // an empty file changes nothing
        guard let m = node as? [String: Any], let mapping = composed?.mapping else {
            throw ConfigError("\(file): expected a mapping of settings at the top level")
        }
        map = m
        (lines, nodes) = Self.index(mapping)
    }

    static func index(_ mapping: Node.Mapping?) -> ([String: Int], [String: Node]) {
        var l: [String: Int] = [:], n: [String: Node] = [:]
        for (k, v) in mapping ?? Node.Mapping([]) {
            if let s = k.string { l[s] = k.mark?.line ?? 0; n[s] = v }
        }
        return (l, n)
    }

    public var keys: [String] { map.keys.sorted() }
    public func contains(_ key: String) -> Bool { map[key] != nil }

    /// `FILE:LINE` of `key`.
    public func location(_ key: String) -> String { "\(file):\(lines[key] ?? 0)" }

    public func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError("\(location(key)): '\(key)' \(message)")
    }

    /// Fails on the first key that is neither in `known` nor in `others` (read by another
    /// process of the same file).
    public func checkKeys(known: [(String, String)], others: [(String, String)]) throws(ConfigError) {
        let all = Set((known + others).map(\.0))
        for key in keys where !all.contains(key) {
            throw ConfigError("\(location(key)): unknown key '\(key)' (known: \(known.map(\.0).joined(separator: ", ")))")
        }
    }

    public func string(_ k: String) throws(ConfigError) -> String? {
        guard let v = map[k] else { return nil }
        guard let s = v as? String else { throw error(k, "must be a string") }
        return s
    }

    public func int(_ k: String, _ range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let v = map[k] else { return nil }
        guard let i = v as? Int, range.contains(i) else {
            throw error(k, "must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return i
    }

    public func bool(_ k: String) throws(ConfigError) -> Bool? {
        guard let v = map[k] else { return nil }
        guard let b = v as? Bool else { throw error(k, "must be true or false") }
        return b
    }

    /// A list of strings; a single string is a list of one.
    public func list(_ k: String) throws(ConfigError) -> [String]? {
        guard let v = map[k] else { return nil }
        if let s = v as? String { return [s] }
        guard let a = v as? [Any], a.allSatisfy({ $0 is String }) else { throw error(k, "must be a list of strings") }
        return a.compactMap { $0 as? String }
    }

    /// A string or an integer, as text (`cpus: 0-3` is a string, `cpus: 2` an integer).
    public func scalarText(_ k: String) throws(ConfigError) -> String? {
        guard let v = map[k] else { return nil }
        if let s = v as? String { return s }
        if let i = v as? Int { return String(i) }
        throw error(k, "must be a string or a number")
    }

    /// A nested mapping (e.g. `bridge:`), as a document of its own for the same file.
    public func section(_ k: String) throws(ConfigError) -> SettingsDocument? {
        guard let v = map[k] else { return nil }
        guard let m = v as? [String: Any] else { throw error(k, "must be a mapping") }
        return SettingsDocument(file: file, map: m, mapping: nodes[k]?.mapping, parentLine: lines[k] ?? 0)
    }

    private init(file: String, map: [String: Any], mapping: Node.Mapping?, parentLine: Int) {
        self.file = file
        self.map = map
        let (l, n) = Self.index(mapping)
        // A key the composed tree does not name (never expected) points at the section.
        self.lines = l.merging(map.keys.map { ($0, parentLine) }) { own, _ in own }
        self.nodes = n
    }
}

/// The keys of the shared configuration file that shoald and the bridge read (a worker ignores
/// them), with what each expects.
public enum SharedConfigKeys {
    public static let supervisor: [(String, String)] = [
        ("workers", "integer (default: one per CPU allowed)"), ("cpus", "CPU list, e.g. 0-3,8"),
        ("numa", "spread or off"), ("user", "user name"), ("group", "group name"),
        ("control-socket", "path"), ("metrics", "ADDR:PORT"), ("restart-backoff-min-ms", "milliseconds"),
        ("restart-backoff-max-ms", "milliseconds"), ("heartbeat-timeout", "seconds"),
        ("worker-executable", "path"), ("bridge-executable", "path"),
        ("bridge-warm-up-wait-ms", "milliseconds the workers of a new segment wait for the bridge's warm-up (2000; 0: none)"),
    ]
    public static let bridge: [(String, String)] = [("bridge", "mapping (see the bridge's --help)")]
}
