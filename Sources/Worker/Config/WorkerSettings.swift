import DNSCore
import DNSSEC
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
    /// DNSSEC validation (`dnssec: validate | off`); on by default, as in every resolver its
    /// users would otherwise pick.
    public var dnssec = DNSSECMode.validate
    /// Seconds a bogus verdict is cached (`dnssec-bogus-ttl`).
    public var dnssecBogusTTL: UInt32 = 60
    /// Validation work caps (KeyTrap, CVE-2023-50387; CVE-2023-50868): `dnssec-max-…` keys.
    public var dnssecLimits = WorkLimits()
    /// Names below which validation is off (RFC 7646 negative trust anchors), fixed at start.
    public var negativeTrustAnchors: [String] = []
    /// Answers synthesised from validated NSEC/NSEC3 records (RFC 8198, `aggressive-nsec`).
    public var aggressiveNSEC = true

    /// The validator's settings: these caps and bogus TTL, and the trust anchors of
    /// `trustAnchorText` (the `trust-anchor` file's contents) or, without it, the IANA root's.
    public func dnssecSettings(trustAnchorText: String?) throws(ConfigError) -> DNSSECSettings {
        var d: DNSSECSettings
        if let text = trustAnchorText {
            d = try DNSSECSettings(trustAnchorFile: trustAnchor ?? "trust anchor", contents: text, bogusTTL: dnssecBogusTTL)
        } else {
            d = DNSSECSettings(bogusTTL: dnssecBogusTTL)
        }
        d.policy.limits = dnssecLimits
        d.aggressiveNSEC = aggressiveNSEC
        do {
            d.negativeAnchors = NegativeTrustAnchors(try negativeTrustAnchors.map { try DNSName($0).lowercased })
        } catch {
            throw ConfigError("negative-trust-anchors: \(error)")
        }
        return d
    }

    /// Whether the worker validates DNSSEC.
    public enum DNSSECMode: String, Sendable, Equatable, CaseIterable {
        /// Validate: AD on secure answers for DO/AD clients, SERVFAIL with EDE for bogus ones.
        case validate
        /// No validation: every record is cached "indeterminate", AD is never set.
        case off
    }

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
        ("tcp-idle-timeout", "seconds"), ("max-resolutions", "integer"), ("edns-reprobe-seconds", "seconds"),
        ("do-not-query-localhost", "true/false"), ("do-not-query", "list of address blocks"),
        ("dnssec", "validate or off"), ("dnssec-bogus-ttl", "seconds"),
        ("dnssec-max-verifications", "signature verifications per client resolution"),
        ("dnssec-max-keys-per-signature", "integer"), ("dnssec-max-signatures-per-rrset", "integer"),
        ("dnssec-max-nsec3-hashes", "NSEC3 hash computations per answer"),
        ("negative-trust-anchors", "list of names (validation off at and below each)"),
        ("aggressive-nsec", "true/false (answers from validated NSEC/NSEC3 records, RFC 8198)"),
    ]

    /// Applies a YAML mapping of the keys above. Keys of shoald and the bridge (the same file
    /// configures them) are left alone; unknown keys and wrong types are errors that name the
    /// file, the line and the key.
    public mutating func apply(yaml text: String, file: String) throws(ConfigError) {
        try apply(SettingsDocument(yaml: text, file: file))
    }

    public mutating func apply(_ d: SettingsDocument) throws(ConfigError) {
        try d.checkKeys(known: Self.keys, others: SharedConfigKeys.supervisor + SharedConfigKeys.bridge)
        if let v = try d.list("listen") { listen = v }
        if let v = try d.string("root-hints") { rootHints = v }
        if let v = try d.string("trust-anchor") { trustAnchor = v }
        if let v = try d.string("segment") { segment = v }
        if let v = try d.int("segment-size", 1...1 << 20) { segmentSizeMiB = v }
        if let v = try d.int("worker-slot", 0...4095) { workerSlot = v }
        if let v = try d.list("allow") { allow = v }
        if let v = try d.list("trace") { trace = v }
        if let v = try d.string("log-level") { logLevel = v }
        if let v = try d.bool("qname-minimisation") { limits.qnameMinimisation = v }
        if let v = try d.bool("use-0x20") { limits.use0x20 = v }
        if let v = try d.int("serve-stale-seconds", 0...604_800) { limits.serveStaleSeconds = UInt32(v) }
        if let v = try d.int("max-ttl", 1...604_800) { limits.maxTTL = UInt32(v) }
        if let v = try d.int("max-negative-ttl", 0...604_800) { limits.maxNegativeTTL = UInt32(v) }
        if let v = try d.int("max-upstream-queries", 1...1000) { limits.maxUpstreamQueries = v }
        if let v = try d.int("upstream-timeout-ms", 50...30_000) { limits.initialTimeoutMillis = v }
        if let v = try d.int("tcp-max-connections", 1...100_000) { tcp.maxConnections = v }
        if let v = try d.int("tcp-idle-timeout", 1...3600) { tcp.idleTimeout = .seconds(Int64(v)) }
        if let v = try d.int("max-resolutions", 1...1_000_000) { maxResolutions = v }
        if let v = try d.int("edns-reprobe-seconds", 1...604_800) { limits.ednsReprobeSeconds = UInt32(v) }
        if let v = try d.bool("do-not-query-localhost") { limits.doNotQueryLocalhost = v }
        if d.contains("dnssec") {
            // YAML 1.1 reads a bare `off` as false.
            if let off = try? d.bool("dnssec"), !off {
                dnssec = .off
            } else if let v = try? d.string("dnssec"), let mode = DNSSECMode(rawValue: v) {
                dnssec = mode
            } else {
                throw d.error("dnssec", "must be validate or off")
            }
        }
        if let v = try d.int("dnssec-bogus-ttl", 1...86_400) { dnssecBogusTTL = UInt32(v) }
        if let v = try d.bool("aggressive-nsec") { aggressiveNSEC = v }
        if let v = try d.int("dnssec-max-verifications", 1...10_000) { dnssecLimits.verificationsPerResolution = v }
        if let v = try d.int("dnssec-max-keys-per-signature", 1...64) { dnssecLimits.keysPerSignature = v }
        if let v = try d.int("dnssec-max-signatures-per-rrset", 1...64) { dnssecLimits.signaturesPerRRset = v }
        if let v = try d.int("dnssec-max-nsec3-hashes", 1...10_000) { dnssecLimits.nsec3HashesPerAnswer = v }
        if let v = try d.list("negative-trust-anchors") {
            for n in v where (try? DNSName(n)) == nil { throw d.error("negative-trust-anchors", "has an invalid name: \(n)") }
            negativeTrustAnchors = v
        }
        if let v = try d.list("do-not-query") {
            do {
                limits.doNotQuery = try Self.addressBlocks(v)
            } catch {
                throw d.error("do-not-query", "\(error)")
            }
        }
    }

    /// Address blocks (`a.b.c.d/n`, `x::y/n` or a bare address) as `do-not-query` and `allow`
    /// take them.
    public static func addressBlocks(_ texts: [String]) throws(ACLError) -> [AccessControl.Block] {
        var out: [AccessControl.Block] = []
        for t in texts { out.append(try AccessControl.Block(t)) }
        return out
    }
}
