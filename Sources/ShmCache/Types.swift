/// DNSSEC validation state of a cached entry (RFC 4035 §4.3). An open struct: a value written
/// by a newer build survives in memory and prints as a number.
public struct ValidationState: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let indeterminate = ValidationState(rawValue: 0)
    public static let insecure = ValidationState(rawValue: 1)
    public static let secure = ValidationState(rawValue: 2)
    public static let bogus = ValidationState(rawValue: 3)

    public var description: String {
        switch rawValue {
        case 0: "Indeterminate"
        case 1: "Insecure"
        case 2: "Secure"
        case 3: "Bogus"
        default: "State\(rawValue)"
        }
    }
}

/// Where an entry came from: resolved by this instance, or received from a peer over the mesh.
/// Mesh entries are not journaled, so the bridge never re-publishes them.
public struct Origin: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let local = Origin(rawValue: 0)
    public static let mesh = Origin(rawValue: 1)

    public var description: String {
        switch rawValue {
        case 0: "local"
        case 1: "mesh"
        default: "origin\(rawValue)"
        }
    }
}

/// Result of an insert.
public enum InsertResult: Hashable, Sendable {
    /// Stored in a free slot.
    case inserted
    /// Stored over the previous entry of the same key.
    case replaced
    /// Stored over another key's entry: `expired` when that entry had expired.
    case evicted(expired: Bool)
    /// Refused: a live entry of a higher rank is cached.
    case rejectedLowerRank
    /// Every slot it could go to was being written: dropped (caches are best effort).
    case droppedBusy
    /// Too large for the largest slot of the table.
    case tooLarge

    /// Whether the entry is now in the table.
    public var stored: Bool {
        switch self {
        case .inserted, .replaced, .evicted: true
        default: false
        }
    }

    init(_ o: WriteOutcome) {
        switch o {
        case let .inserted(_, _, ev):
            switch ev {
            case .none: self = .inserted
            case .expired: self = .evicted(expired: true)
            case .live: self = .evicted(expired: false)
            }
        case .replaced: self = .replaced
        case .rejected: self = .rejectedLowerRank
        case .droppedBusy: self = .droppedBusy
        case .tooLarge: self = .tooLarge
        }
    }
}

/// Which table a journal event or dump refers to.
public struct TableID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let records = TableID(rawValue: 1)
    public static let negative = TableID(rawValue: 2)
    public static let packets = TableID(rawValue: 3)
    public static let nsSpeed = TableID(rawValue: 4)

    public var description: String {
        switch rawValue {
        case 1: "records"
        case 2: "negative"
        case 3: "packets"
        case 4: "ns-speed"
        default: "table\(rawValue)"
        }
    }
}

/// Little helpers for big-endian fields in value bytes.
extension Array where Element == UInt8 {
    @inline(__always) func be16(_ i: Int) -> UInt16 { UInt16(self[i]) << 8 | UInt16(self[i + 1]) }
    @inline(__always) func be32(_ i: Int) -> UInt32 {
        UInt32(self[i]) << 24 | UInt32(self[i + 1]) << 16 | UInt32(self[i + 2]) << 8 | UInt32(self[i + 3])
    }
}

@inline(__always) func putBE16(_ p: UnsafeMutableRawPointer, _ at: Int, _ v: UInt16) {
    p.storeBytes(of: v.bigEndian, toByteOffset: at, as: UInt16.self)
}
@inline(__always) func putBE32(_ p: UnsafeMutableRawPointer, _ at: Int, _ v: UInt32) {
    p.storeBytes(of: v.bigEndian, toByteOffset: at, as: UInt32.self)
}

/// ASCII lower-casing of one name byte (length bytes are below "A", so the whole wire form can
/// be folded).
@inline(__always) func lowerByte(_ b: UInt8) -> UInt8 { (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b }
