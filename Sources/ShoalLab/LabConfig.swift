import Foundation

/// Everything that decides what a lab contains and where it runs.
///
/// Two labs coexist when their `directory` and `addressPrefix` differ. The generated data is a
/// pure function of `seed`, `secondLevelZones`, `sldInstances`, `addressesPerInstance` and
/// `addressPrefix`; keys are random but cached in `directory`, so a lab is stable across runs.
public struct LabConfig: Codable, Sendable, Hashable {
    /// Where keys, zones, nsd configurations, pidfiles and logs live. Made absolute by `init`.
    public var directory: String
    /// First two octets of every server address in the zone data, e.g. `"127.53"`.
    public var addressPrefix: String
    /// First two octets the servers actually bind to; nil means `addressPrefix`. A user-space
    /// relay (latency, loss) listens on `addressPrefix` and forwards here.
    public var listenPrefix: String?
    /// Seed of every random choice in the generated zones.
    public var seed: UInt64
    /// Number of generic second-level zones (the named special zones come on top).
    public var secondLevelZones: Int
    /// Number of nsd instances serving second-level zones.
    public var sldInstances: Int
    /// Addresses each second-level nsd instance listens on.
    public var addressesPerInstance: Int
    /// Validity of ordinary signatures, in days from now (inception is one hour back).
    public var signatureValidityDays: Int
    /// Concurrent external tool processes (key generation, signing).
    public var parallelism: Int
    /// Who runs the black-hole responder.
    public var blackhole: BlackholeHost
    /// How long `Lab.start` waits for another process using the same directory to let go.
    public var lockTimeoutSeconds: Double
    /// Paths of the external tools.
    public var tools: LabTools

    /// The black hole either runs as threads of the process that owns the `Lab` (tests: it dies
    /// with them) or as a detached process that outlives it (`shoal-lab up`).
    public enum BlackholeHost: Codable, Sendable, Hashable {
        case inProcess
        /// `executable blackhole --listen ADDR… --pidfile FILE` is started under `setsid -f`.
        case process(executable: String)
    }

    public init(
        directory: String = "lab",
        addressPrefix: String = "127.53",
        listenPrefix: String? = nil,
        seed: UInt64 = 1,
        secondLevelZones: Int = 300,
        sldInstances: Int = 3,
        addressesPerInstance: Int = 4,
        signatureValidityDays: Int = 30,
        parallelism: Int = 4,
        blackhole: BlackholeHost = .inProcess,
        lockTimeoutSeconds: Double = 900,
        tools: LabTools = LabTools()
    ) {
        self.directory = URL(fileURLWithPath: directory).standardizedFileURL.path
        self.addressPrefix = addressPrefix
        self.listenPrefix = listenPrefix
        self.seed = seed
        self.secondLevelZones = secondLevelZones
        self.sldInstances = sldInstances
        self.addressesPerInstance = addressesPerInstance
        self.signatureValidityDays = signatureValidityDays
        self.parallelism = parallelism
        self.blackhole = blackhole
        self.lockTimeoutSeconds = lockTimeoutSeconds
        self.tools = tools
    }

    /// Throws `LabError.invalidConfig` naming the first field that cannot work.
    public func validate() throws {
        for (field, prefix) in [("addressPrefix", addressPrefix), ("listenPrefix", listenPrefix ?? addressPrefix)] {
            let parts = prefix.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == "127", let second = Int(parts[1]), (0...255).contains(second) else {
                throw LabError.invalidConfig(field: field, reason: "\"\(prefix)\" is not of the form 127.N with N in 0...255")
            }
        }
        guard secondLevelZones >= 20 else {
            throw LabError.invalidConfig(field: "secondLevelZones", reason: "\(secondLevelZones) is below 20, too few to place every feature")
        }
        guard (1...100).contains(sldInstances) else {
            throw LabError.invalidConfig(field: "sldInstances", reason: "\(sldInstances) is outside 1...100")
        }
        guard (2...250).contains(addressesPerInstance) else {
            throw LabError.invalidConfig(field: "addressesPerInstance", reason: "\(addressesPerInstance) is outside 2...250")
        }
        guard signatureValidityDays >= 2 else {
            throw LabError.invalidConfig(field: "signatureValidityDays", reason: "\(signatureValidityDays) is below 2")
        }
        guard parallelism >= 1 else {
            throw LabError.invalidConfig(field: "parallelism", reason: "must be at least 1")
        }
    }
}

extension LabConfig {
    /// The lab every test target shares: prefix 127.54 (a manual lab uses 127.53) in
    /// `<tmp>/shoal-lab-tests`, a fixed place so keys stay cached between runs and a crashed
    /// run's servers are found and stopped by the next one. Concurrent test processes take
    /// turns through the directory lock.
    public static var testing: LabConfig {
        let tmp = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        return LabConfig(directory: "\(tmp)/shoal-lab-tests", addressPrefix: "127.54")
    }
}

/// Paths of the external programs the lab runs (Debian packages nsd, ldnsutils, util-linux).
public struct LabTools: Codable, Sendable, Hashable {
    public var nsd = "/usr/sbin/nsd"
    public var nsdCheckconf = "/usr/sbin/nsd-checkconf"
    public var ldnsKeygen = "/usr/bin/ldns-keygen"
    public var ldnsSignzone = "/usr/bin/ldns-signzone"
    public var setsid = "/usr/bin/setsid"

    public init() {}
}
