import ShoalSystem
import Worker

/// How the bridge reaches NATS and who it is in the mesh: the `bridge:` section of the shared
/// YAML file, plus the top-level `segment` and `max-ttl` the workers use.
///
/// Secrets (password, token) are read from files named in the configuration, never written in
/// it, and never logged: `description` shows only which kind of authentication is configured.
public struct BridgeSettings: Sendable, CustomStringConvertible {
    /// NATS URLs (`nats://HOST:PORT` or `tls://HOST:PORT`).
    public var servers: [String] = []
    public var cluster = MeshIdentifier("shoal")!
    public var nodeID: MeshIdentifier
    public var segment = "default"
    /// Local `max-ttl`: no entry from the mesh lives longer.
    public var maxTTL: UInt32 = 86_400
    public var maxPayload = MeshFormat.defaultPayload
    public var auth = Auth.none
    public var tls: TLS? = nil
    public var connectTimeoutMillis = 2_000
    /// A publish that cannot be written for this long fails instead of blocking.
    public var writeDeadlineMillis = 2_000
    /// Back-off between connection attempts: doubles from the minimum to the maximum, with up to
    /// a quarter of it added at random.
    public var reconnectMinMillis = 100
    public var reconnectMaxMillis = 10_000
    /// Messages and bytes queued in the client before it drops (counted as slow-consumer drops).
    public var pendingMessages = 65_536
    public var pendingBytes = 256 * 1024 * 1024
    /// Pull a snapshot from a peer when the segment is empty at start, and what was missed
    /// after a reconnect.
    public var warmUp = true
    /// How long a snapshot request waits for a donor's reply.
    public var warmUpTimeoutMillis = 2_000
    /// Snapshot chunks this node sends per second, over all requesters.
    public var donorChunksPerSecond = 200
    /// How often what this node measured of authoritative servers is published (0: never).
    public var serverSyncSeconds = 30
    /// What to do with the DNSSEC state peers claim.
    public var dnssecFromPeers = PeerDNSSECPolicy.trust

    /// How far a peer's validation state is believed.
    public enum PeerDNSSECPolicy: String, Sendable, Equatable, CaseIterable {
        /// Stored with the state the peer gives (peers are this operator's own resolvers).
        case trust
        /// Entries a peer marks secure are not taken: this node validates signed data itself.
        case insecureOnly = "insecure-only"
        /// Secure entries are stored as indeterminate, with their RRSIGs, for local validation.
        case revalidate
    }

    /// Prints as the kind of authentication only: the secrets never reach a log line.
    public enum Auth: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
        case none
        case userPassword(user: String, password: String)
        case token(String)
        /// The public key and the file holding its seed (read by libnats).
        case nkey(publicKey: String, seedFile: String)
        /// A `.creds` file (JWT and seed, read by libnats).
        case credentials(file: String)

        public var description: String { kind }
        public var debugDescription: String { kind }

        var kind: String {
            switch self {
            case .none: "none"
            case let .userPassword(user, _): "user '\(user)' with password"
            case .token: "token"
            case let .nkey(pub, _): "nkey \(pub)"
            case let .credentials(file): "credentials file \(file)"
            }
        }
    }

    public struct TLS: Sendable, Equatable {
        public var caFile: String?
        public var certFile: String?
        public var keyFile: String?
    }

    public init(nodeID: MeshIdentifier) { self.nodeID = nodeID }

    /// Keys of the `bridge:` section, with what each expects (errors and `--help`).
    public static let keys: [(String, String)] = [
        ("servers", "list of nats://HOST:PORT or tls://HOST:PORT (required)"),
        ("cluster", "mesh name, [A-Za-z0-9_-] (default shoal)"),
        ("node-id", "this node's name in the mesh (default: the host name)"),
        ("max-payload", "bytes per batch, \(MeshFormat.minPayload)...1048576 (default \(MeshFormat.defaultPayload))"),
        ("user", "NATS user name (with password-file)"), ("password-file", "file holding the password"),
        ("token-file", "file holding the NATS token"),
        ("nkey", "NKey public key (with nkey-seed-file)"), ("nkey-seed-file", "file holding the NKey seed"),
        ("creds-file", ".creds file (JWT and seed)"),
        ("tls", "true/false (implied by tls-ca, tls-cert)"), ("tls-ca", "CA certificates file"),
        ("tls-cert", "client certificate chain file"), ("tls-key", "client private key file"),
        ("connect-timeout-ms", "milliseconds"), ("write-deadline-ms", "milliseconds"),
        ("reconnect-wait-min-ms", "milliseconds"), ("reconnect-wait-max-ms", "milliseconds"),
        ("pending-messages", "messages queued before drops"), ("pending-bytes", "bytes queued before drops"),
        ("warm-up", "true/false: fill an empty segment from a peer at start, catch up after a reconnect (default true)"),
        ("warm-up-timeout-ms", "milliseconds a snapshot request waits (default 2000)"),
        ("donor-chunks-per-second", "snapshot chunks sent per second to peers (default 200)"),
        ("server-sync-seconds", "seconds between publications of NS speed and EDNS status (0: off; default 30)"),
        ("dnssec-from-peers", "trust, insecure-only or revalidate: what a peer's 'secure' means here (default trust)"),
    ]

    /// Reads the settings from a shared configuration file. Errors name the file, the line and
    /// the key; a file without a `bridge:` section is an error (there is nothing to bridge).
    public static func load(yaml text: String, file: String, readFile: (String) -> String? = { KernelFiles.read($0) },
                            hostName: String? = nil) throws(ConfigError) -> BridgeSettings {
        let doc = try SettingsDocument(yaml: text, file: file)
        // The workers' keys (and the check that every top-level key belongs to someone).
        var worker = WorkerSettings()
        try worker.apply(doc)
        guard let b = try doc.section("bridge") else {
            throw ConfigError("\(file): no 'bridge:' section (it needs at least 'servers')")
        }
        for key in ["password", "token", "nkey-seed"] where b.contains(key) {
            throw b.error(key, "must not hold a secret in the configuration: put it in a file and use '\(key)-file'")
        }
        try b.checkKeys(known: keys, others: [])
        let host = hostName ?? KernelFiles.read("/proc/sys/kernel/hostname") ?? "localhost"
        let defaultNode = String(host.split(whereSeparator: { $0 == "\n" }).first ?? "localhost")
        // Host names may hold dots, which separate NATS subject tokens.
        let sanitized = String(decoding: defaultNode.utf8.map { MeshIdentifier.allowed($0) ? $0 : UInt8(ascii: "-") },
                               as: UTF8.self)
        guard let node = MeshIdentifier(sanitized) else {
            throw ConfigError("\(file): the host name '\(defaultNode)' cannot be a node id: set bridge.node-id")
        }
        var s = BridgeSettings(nodeID: node)
        s.segment = worker.segment
        s.maxTTL = worker.limits.maxTTL

        guard let servers = try b.list("servers"), !servers.isEmpty else {
            throw ConfigError("\(doc.location("bridge")): 'bridge' needs 'servers' (a list of nats://HOST:PORT)")
        }
        for url in servers {
            guard url.hasPrefix("nats://") || url.hasPrefix("tls://"), url.split(separator: "/").count >= 2,
                  url.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw b.error("servers", "has '\(url)': expected nats://HOST:PORT or tls://HOST:PORT")
            }
        }
        s.servers = servers
        if let c = try b.string("cluster") {
            guard let id = MeshIdentifier(c) else { throw b.error("cluster", "must be 1-64 of A-Z a-z 0-9 - _") }
            s.cluster = id
        }
        if let n = try b.scalarText("node-id") {
            guard let id = MeshIdentifier(n) else { throw b.error("node-id", "must be 1-64 of A-Z a-z 0-9 - _") }
            s.nodeID = id
        }
        if let v = try b.int("max-payload", MeshFormat.minPayload...1_048_576) { s.maxPayload = v }
        if let v = try b.int("connect-timeout-ms", 100...60_000) { s.connectTimeoutMillis = v }
        if let v = try b.int("write-deadline-ms", 10...60_000) { s.writeDeadlineMillis = v }
        if let v = try b.int("reconnect-wait-min-ms", 10...60_000) { s.reconnectMinMillis = v }
        if let v = try b.int("reconnect-wait-max-ms", 10...600_000) { s.reconnectMaxMillis = v }
        guard s.reconnectMinMillis <= s.reconnectMaxMillis else {
            throw b.error("reconnect-wait-max-ms", "is below reconnect-wait-min-ms")
        }
        if let v = try b.int("pending-messages", 16...10_000_000) { s.pendingMessages = v }
        if let v = try b.int("pending-bytes", 1 << 20...1 << 34) { s.pendingBytes = v }
        if let v = try b.bool("warm-up") { s.warmUp = v }
        if let v = try b.int("warm-up-timeout-ms", 50...60_000) { s.warmUpTimeoutMillis = v }
        if let v = try b.int("donor-chunks-per-second", 1...100_000) { s.donorChunksPerSecond = v }
        if let v = try b.int("server-sync-seconds", 0...3600) { s.serverSyncSeconds = v }
        if let v = try b.string("dnssec-from-peers") {
            guard let p = PeerDNSSECPolicy(rawValue: v) else {
                throw b.error("dnssec-from-peers", "must be one of \(PeerDNSSECPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            s.dnssecFromPeers = p
        }

        func secret(_ key: String) throws(ConfigError) -> String? {
            guard let path = try b.string(key) else { return nil }
            guard let text = readFile(path) else { throw b.error(key, "names '\(path)', which cannot be read") }
            let value = String(text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).first ?? "")
            guard !value.isEmpty else { throw b.error(key, "names '\(path)', which is empty") }
            return value
        }
        func path(_ key: String) throws(ConfigError) -> String? {
            guard let p = try b.string(key) else { return nil }
            guard readFile(p) != nil else { throw b.error(key, "names '\(p)', which cannot be read") }
            return p
        }
        var methods: [(String, Auth)] = []
        if let user = try b.string("user") {
            guard let pw = try secret("password-file") else { throw b.error("user", "needs 'password-file'") }
            methods.append(("user", .userPassword(user: user, password: pw)))
        } else if b.contains("password-file") {
            throw b.error("password-file", "needs 'user'")
        }
        if let t = try secret("token-file") { methods.append(("token-file", .token(t))) }
        if let pub = try b.string("nkey") {
            guard let seed = try path("nkey-seed-file") else { throw b.error("nkey", "needs 'nkey-seed-file'") }
            methods.append(("nkey", .nkey(publicKey: pub, seedFile: seed)))
        } else if b.contains("nkey-seed-file") {
            throw b.error("nkey-seed-file", "needs 'nkey' (the public key)")
        }
        if let c = try path("creds-file") { methods.append(("creds-file", .credentials(file: c))) }
        if methods.count > 1 {
            throw b.error(methods[1].0, "conflicts with '\(methods[0].0)': configure one way to authenticate")
        }
        s.auth = methods.first?.1 ?? .none

        let ca = try path("tls-ca"), cert = try path("tls-cert"), key = try path("tls-key")
        if (cert == nil) != (key == nil) { throw b.error(cert == nil ? "tls-key" : "tls-cert", "needs both tls-cert and tls-key") }
        let wantTLS = try b.bool("tls") ?? (ca != nil || cert != nil || servers.contains { $0.hasPrefix("tls://") })
        if wantTLS { s.tls = TLS(caFile: ca, certFile: cert, keyFile: key) }
        return s
    }

    public var description: String {
        "servers \(servers.joined(separator: ",")), cluster \(cluster), node \(nodeID), segment \(segment), "
            + "auth \(auth.kind)\(tls == nil ? "" : ", TLS"), max-payload \(maxPayload)"
    }
}
