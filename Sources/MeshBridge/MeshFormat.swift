import DNSCore
import ShmCache

/// The mesh batch format, version 1 (docs/mesh-format.md): what one bridge publishes and the
/// others decode. All integers big-endian; names and RDATA in uncompressed DNS wire form.
public enum MeshFormat {
    /// "SB": Shoal bridge.
    public static let magic: (UInt8, UInt8) = (0x53, 0x42)
    public static let version: UInt8 = 1
    /// Cluster names and node ids: 1...64 bytes of `[A-Za-z0-9_-]` (they are NATS subject tokens).
    public static let maxIdentifierBytes = 64
    /// No TTL above one week is ever sent or accepted (the largest `max-ttl` a node may have).
    public static let maxTTL: UInt32 = 604_800
    /// Records of one RRset, and signatures of one RRset (a cache slot holds at most 64 KiB, two
    /// bytes of length per item at least). Publishers never send more.
    public static let maxRecordsPerSet = 16_384
    /// SOA and proof records of one negative entry.
    public static let maxNegativeRecords = 64
    /// Smallest `max-payload`: the largest RRset a cache slot holds (64 KiB) plus its name and headers.
    public static let minPayload = 70_000
    /// The default `max-payload`: well under nats-server's 1 MB default.
    public static let defaultPayload = 256 * 1024
    /// A send time further than this in the future is not believed.
    public static let maxClockSkewSeconds: UInt64 = 300

    /// Fixed part of the header after the two identifiers: send time, sequence, entry count.
    static let headerTail = 8 + 8 + 2
}

/// An identifier of the mesh (cluster name, node id): a NATS subject token.
public struct MeshIdentifier: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// nil unless `text` is 1...64 bytes of letters, digits, '-' and '_'.
    public init?(_ text: String) {
        self.init(bytes: Array(text.utf8))
    }

    init?(bytes: [UInt8]) {
        guard (1...MeshFormat.maxIdentifierBytes).contains(bytes.count), bytes.allSatisfy(MeshIdentifier.allowed) else {
            return nil
        }
        self.bytes = bytes
    }

    static func allowed(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F
    }

    public var description: String { String(decoding: bytes, as: UTF8.self) }
}

/// One RRset as it travels: what the record cache stores, with the TTL left at send time.
public struct MeshRRSet: Hashable, Sendable {
    public var name: DNSName
    public var type: RRType
    public var rrclass: RRClass
    /// Seconds left when the batch was sent.
    public var ttl: UInt32
    public var rank: Rank
    public var validation: ValidationState
    /// RDATA of each record, uncompressed wire form.
    public var rdata: [[UInt8]]
    /// RDATA of each covering RRSIG.
    public var signatures: [[UInt8]]

    public init(name: DNSName, type: RRType, rrclass: RRClass = .in, ttl: UInt32, rank: Rank,
                validation: ValidationState, rdata: [[UInt8]], signatures: [[UInt8]] = []) {
        self.name = name; self.type = type; self.rrclass = rrclass; self.ttl = ttl; self.rank = rank
        self.validation = validation; self.rdata = rdata; self.signatures = signatures
    }

    public init(_ c: CachedRRSet) {
        self.init(name: c.name, type: c.type, rrclass: c.rrclass, ttl: c.ttl, rank: c.rank, validation: c.validation,
                  rdata: c.rdata, signatures: c.signatures)
    }
}

/// One negative entry (RFC 2308) as it travels: the SOA first, then the NSEC/NSEC3 proofs and RRSIGs.
public struct MeshNegative: Hashable, Sendable {
    public var kind: CachedNegative.Kind
    public var name: DNSName
    /// The type of a NODATA entry; `RRType(0)` for NXDOMAIN.
    public var type: RRType
    public var rrclass: RRClass
    public var ttl: UInt32
    public var validation: ValidationState
    public var soa: ResourceRecord
    public var proofs: [ResourceRecord]

    public init(kind: CachedNegative.Kind, name: DNSName, type: RRType, rrclass: RRClass = .in, ttl: UInt32,
                validation: ValidationState, soa: ResourceRecord, proofs: [ResourceRecord] = []) {
        self.kind = kind; self.name = name; self.type = kind == .nxDomain ? RRType(0) : type; self.rrclass = rrclass
        self.ttl = ttl; self.validation = validation; self.soa = soa; self.proofs = proofs
    }

    /// nil when the stored records do not parse or do not start with an SOA (never published).
    public init?(_ c: CachedNegative) {
        guard let records = try? c.records(), let soa = records.first, soa.type == .soa else { return nil }
        self.init(kind: c.kind, name: c.name, type: c.type, rrclass: c.rrclass, ttl: c.ttl, validation: c.validation,
                  soa: soa, proofs: Array(records.dropFirst()))
    }
}

/// What a node measured of an authoritative server: smoothed RTT and EDNS and cookie support.
/// Timeouts and throttling stay local (they say as much about the path as about the server).
public struct MeshServer: Hashable, Sendable {
    public var address: ServerAddress
    public var srttMicros: UInt32
    /// Seconds since the sender last updated it, at send time.
    public var ageSeconds: UInt32
    public var edns: EDNSStatus
    public var cookie: CookieStatus

    public init(address: ServerAddress, srttMicros: UInt32, ageSeconds: UInt32, edns: EDNSStatus, cookie: CookieStatus) {
        self.address = address; self.srttMicros = srttMicros; self.ageSeconds = ageSeconds; self.edns = edns
        self.cookie = cookie
    }

    /// The largest RTT a table stores (10 s) and the oldest measurement worth sending (1 h).
    public static let maxMicros: UInt32 = 10_000_000
    public static let maxAgeSeconds: UInt32 = 3600
}

/// An entry of a batch.
public enum MeshEntry: Hashable, Sendable {
    case rrset(MeshRRSet)
    case negative(MeshNegative)
    case server(MeshServer)

    /// Entry kinds on the wire.
    static let kindRRSet: UInt8 = 1
    static let kindNXDomain: UInt8 = 2
    static let kindNoData: UInt8 = 3
    static let kindServer: UInt8 = 4
}

/// A decoded batch: who sent it, when, and its entries.
public struct MeshBatch: Hashable, Sendable {
    public var cluster: MeshIdentifier
    public var origin: MeshIdentifier
    /// Milliseconds since the Unix epoch at the sender when it was sent.
    public var sentAtMillis: UInt64
    /// The sender's batch counter (gaps tell of lost batches).
    public var sequence: UInt64
    public var entries: [MeshEntry]

    public init(cluster: MeshIdentifier, origin: MeshIdentifier, sentAtMillis: UInt64, sequence: UInt64,
                entries: [MeshEntry]) {
        self.cluster = cluster; self.origin = origin; self.sentAtMillis = sentAtMillis; self.sequence = sequence
        self.entries = entries
    }
}
