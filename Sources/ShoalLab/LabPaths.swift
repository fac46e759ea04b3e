/// Where each file of a lab lives, below its directory.
///
/// ```
/// <dir>/lab.json             configuration the lab was started with
/// <dir>/root.hints           named.root-style hints for resolvers
/// <dir>/root.ds              trust anchor: ". IN DS …" lines
/// <dir>/root.dnskey          the root DNSKEY, for tools that want a key rather than a DS
/// <dir>/expected.jsonl       expected answers, see `ExpectedAnswer`
/// <dir>/keys/<zone>_alg<N>…/ cached key pairs (kept across runs)
/// <dir>/zones/<zone>.zone    unsigned text; .signed and .signed.params when signed
/// <dir>/nsd/<instance>.*     nsd configuration, pidfile, log, zone list, xfrd state
/// <dir>/run/blackhole.pid    the detached black hole, when there is one
/// ```
public struct LabPaths: Sendable, Hashable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public var manifest: String { "\(directory)/lab.json" }
    public var rootHints: String { "\(directory)/root.hints" }
    public var trustAnchor: String { "\(directory)/root.ds" }
    public var rootDNSKEY: String { "\(directory)/root.dnskey" }
    public var expectedAnswers: String { "\(directory)/expected.jsonl" }
    public var keys: String { "\(directory)/keys" }
    public var zones: String { "\(directory)/zones" }
    public var nsd: String { "\(directory)/nsd" }
    public var run: String { "\(directory)/run" }
    public var blackholePidfile: String { "\(run)/blackhole.pid" }
    public var blackholeLog: String { "\(run)/blackhole.log" }

    public func unsignedZone(_ zone: LabZone) -> String { "\(zones)/\(zone.fileStem).zone" }
    public func signedZone(_ zone: LabZone) -> String { "\(zones)/\(zone.fileStem).signed" }
    /// The file nsd loads: signed when the zone is signed.
    public func servedZone(_ zone: LabZone) -> String {
        zone.signing == nil ? unsignedZone(zone) : signedZone(zone)
    }
    public func nsdConfig(_ instance: String) -> String { "\(nsd)/\(instance).conf" }
    public func nsdPidfile(_ instance: String) -> String { "\(nsd)/\(instance).pid" }
    public func nsdLog(_ instance: String) -> String { "\(nsd)/\(instance).log" }
}
