/// The control socket's protocol, shared by shoald and shoalctl.
///
/// A client connects to the Unix stream socket, writes one request line (at most
/// ``maxRequestBytes``, words separated by spaces, ending in a newline) and reads the reply
/// until the server closes: a first line `ok` or `error: …`, then the body (text for people, or
/// one JSON document when the request ended in `json`).
public enum ControlProtocol {
    public static let maxRequestBytes = 1024
    /// Seconds a client has to send its request.
    public static let requestTimeoutSeconds = 2.0
}

/// A request to shoald.
public enum ControlRequest: Hashable, Sendable {
    case ping
    case version
    case status(json: Bool)
    /// Replace slot N's worker hot: the new one starts on the same sockets before the old one
    /// drains.
    case restartWorker(Int)
    /// Every worker, one after the other.
    case restartWorkers
    /// Re-read the configuration file; a bad file changes nothing.
    case reload
    /// Remove a name (and with `subtree`, every name below it) from the record, negative and
    /// packet caches.
    case wipeCache(name: String, subtree: Bool)
    /// Negative trust anchors kept in the segment, so every worker sees them (RFC 7646): add or
    /// remove one (each also wipes the name and everything below it from the caches, so the
    /// verdicts cached under the old rule go), or list them.
    case ntaAdd(String)
    case ntaRemove(String)
    case ntaList

    public static let usage = "ping | version | status [json] | restart-worker N | restart-workers | reload | wipe-cache NAME [subtree] | nta add|remove NAME | nta list"

    /// Parses a request line (without its newline).
    public init(line: String) throws(ControlError) {
        let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let verb = words.first else { throw ControlError("empty request; expected \(Self.usage)") }
        let args = Array(words.dropFirst())
        func noArgs() throws(ControlError) {
            guard args.isEmpty else { throw ControlError("\(verb) takes no argument") }
        }
        switch verb {
        case "ping": try noArgs(); self = .ping
        case "version": try noArgs(); self = .version
        case "status":
            guard args.isEmpty || args == ["json"] else { throw ControlError("status takes only 'json'") }
            self = .status(json: !args.isEmpty)
        case "restart-worker":
            guard args.count == 1, let n = Int(args[0]), n >= 0 else { throw ControlError("restart-worker takes a slot number") }
            self = .restartWorker(n)
        case "restart-workers": try noArgs(); self = .restartWorkers
        case "reload": try noArgs(); self = .reload
        case "wipe-cache":
            guard (1...2).contains(args.count), args.count == 1 || args[1] == "subtree" else {
                throw ControlError("wipe-cache takes a name and optionally 'subtree'")
            }
            self = .wipeCache(name: args[0], subtree: args.count == 2)
        case "nta":
            switch (args.first, args.count) {
            case ("add", 2): self = .ntaAdd(args[1])
            case ("remove", 2): self = .ntaRemove(args[1])
            case ("list", 1): self = .ntaList
            default: throw ControlError("nta takes 'add NAME', 'remove NAME' or 'list'")
            }
        default:
            throw ControlError("unknown request '\(verb.prefix(40))'; expected \(Self.usage)")
        }
    }

    /// The request line (without its newline).
    public var line: String {
        switch self {
        case .ping: "ping"
        case .version: "version"
        case let .status(json): json ? "status json" : "status"
        case let .restartWorker(n): "restart-worker \(n)"
        case .restartWorkers: "restart-workers"
        case .reload: "reload"
        case let .wipeCache(name, subtree): subtree ? "wipe-cache \(name) subtree" : "wipe-cache \(name)"
        case let .ntaAdd(name): "nta add \(name)"
        case let .ntaRemove(name): "nta remove \(name)"
        case .ntaList: "nta list"
        }
    }
}

/// A request that cannot be served, said in one line.
public struct ControlError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
