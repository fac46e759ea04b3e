/// One resource record of the generated data, in presentation form.
///
/// Names are absolute and lower case (`www.foo.lab.`); the generator never produces anything
/// that needs escaping, so plain string comparison is name comparison.
public struct LabRecord: Codable, Sendable, Hashable {
    public var owner: String
    public var ttl: UInt32
    /// Type mnemonic, e.g. `"A"`.
    public var type: String
    /// RDATA in presentation form, e.g. `"10 mail.foo.lab."`.
    public var rdata: String

    public init(_ owner: String, _ ttl: UInt32, _ type: String, _ rdata: String) {
        self.owner = owner
        self.ttl = ttl
        self.type = type
        self.rdata = rdata
    }

    /// `owner TTL IN TYPE RDATA`, one line of a zone file.
    public var presentation: String { "\(owner) \(ttl) IN \(type) \(rdata)" }
}

/// NSEC or NSEC3 (RFC 5155, zero extra iterations) authenticated denial.
public enum Denial: String, Codable, Sendable, Hashable {
    case nsec
    case nsec3
}

/// A deliberate DNSSEC defect, so validators have something to reject.
public enum DNSSECFault: Codable, Sendable, Hashable {
    /// The whole zone is signed with a validity window that ended long ago.
    case expiredSignatures
    /// The parent publishes a DS for a key the zone does not have.
    case dsMatchesNoKey
    /// The signature over one RRset has bytes flipped; everything else is valid.
    case corruptSignature(owner: String, type: String)
}

/// How a zone is signed: algorithm, key size, denial, and an optional fault.
public struct SigningPolicy: Codable, Sendable, Hashable {
    /// DNSSEC algorithm number: 8, 10, 13, 14 or 15.
    public var algorithm: UInt8
    /// RSA modulus size; nil for the fixed-size algorithms.
    public var bits: Int?
    public var denial: Denial
    /// NSEC3 salt in hex; empty means no salt (`-`).
    public var nsec3Salt: String
    public var fault: DNSSECFault?

    public init(algorithm: UInt8, bits: Int? = nil, denial: Denial, nsec3Salt: String = "", fault: DNSSECFault? = nil) {
        self.algorithm = algorithm
        self.bits = bits
        self.denial = denial
        self.nsec3Salt = nsec3Salt
        self.fault = fault
    }
}

/// One generated zone: its data (without DNSSEC records), how it is signed, and who serves it.
public struct LabZone: Codable, Sendable, Hashable {
    /// Absolute, lower case; `"."` for the root.
    public var origin: String
    /// Records as loaded by nsd before signing, including delegation NS and glue for children.
    /// DS records for children are added when the zone file is written (they need the keys).
    public var records: [LabRecord]
    /// nil for an unsigned zone.
    public var signing: SigningPolicy?
    /// Name of the `ServerInstance` that serves it.
    public var instance: String
    /// Public addresses of the zone's name servers, including a black hole for lame zones.
    public var serverAddresses: [String]
    /// Tags for test selection: `nsec`, `nsec3`, `unsigned`, `glueless`, `lame-ns`, `wildcard`…
    public var features: [String]
    /// Origins of the zones delegated from this one.
    public var children: [String]

    /// Zone-file name inside the lab's `zones/` directory.
    public var fileStem: String { origin == "." ? "root" : String(origin.dropLast()) }
}

/// One nsd process: the addresses it listens on (public form) and the zones it serves.
public struct ServerInstance: Codable, Sendable, Hashable {
    public var name: String
    public var addresses: [String]
    public var zones: [String]
}
