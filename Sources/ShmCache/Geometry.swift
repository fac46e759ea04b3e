/// Shape of one set-associative slot table: `buckets` buckets, each holding one way of every
/// size in `waySizes`.
///
/// A bucket is a 64-byte line of tags (a hint per way; all tag lines of a table form one array
/// in front of the slots) and its ways; a way is a slot of `waySizes[i]` bytes. Mixing sizes inside a bucket keeps lookups to one bucket while letting a
/// typical small RRset take a small slot and a rare large one a large slot.
public struct TableGeometry: Hashable, Sendable, CustomStringConvertible {
    /// Number of buckets; a power of two.
    public var buckets: Int
    /// Slot size of each way, in bytes: multiples of 64, at most 16 ways.
    public var waySizes: [Int]

    public init(buckets: Int, waySizes: [Int]) {
        self.buckets = buckets
        self.waySizes = waySizes
    }

    public var ways: Int { waySizes.count }
    /// Slots in the table.
    public var slots: Int { buckets * ways }
    /// Bytes of one bucket: the tag line and every way.
    public var bucketBytes: Int { 64 + waySizes.reduce(0, +) }
    public var bytes: Int { buckets * bucketBytes }
    /// The largest key plus value one slot can hold.
    public var maxEntryBytes: Int { (waySizes.max() ?? SlotLayout.headerBytes) - SlotLayout.headerBytes }

    /// Checks the invariants the slot engine relies on.
    public func validate(_ table: String) throws(GeometryError) {
        guard buckets > 0, buckets & (buckets - 1) == 0 else {
            throw GeometryError("\(table): buckets must be a power of two, not \(buckets)")
        }
        guard buckets <= 1 << 20 else { throw GeometryError("\(table): at most 2^20 buckets") }
        guard (1...16).contains(waySizes.count) else {
            throw GeometryError("\(table): 1 to 16 ways per bucket, not \(waySizes.count)")
        }
        for s in waySizes where s < 64 || s % 64 != 0 || s > 65536 {
            throw GeometryError("\(table): way size \(s) is not a multiple of 64 in 64...65536")
        }
    }

    public var description: String { "\(buckets)x[\(waySizes.map(String.init).joined(separator: ","))]" }
}

/// A geometry that cannot be laid out.
public struct GeometryError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ m: String) { message = m }
    public var description: String { message }
}

/// Sizes and capacities of every table of the segment (from configuration).
///
/// The header stores it; a process configured with another geometry attaches the existing
/// segment with the geometry its header records (and says so), never a second segment.
public struct SegmentGeometry: Hashable, Sendable, CustomStringConvertible {
    public var records: TableGeometry
    public var negative: TableGeometry
    public var packets: TableGeometry
    public var nsSpeed: TableGeometry
    /// Records in the change journal ring; a power of two.
    public var journalCapacity: Int
    /// Worker slots with statistics counters.
    public var workerSlots: Int

    public init(records: TableGeometry, negative: TableGeometry, packets: TableGeometry,
                nsSpeed: TableGeometry, journalCapacity: Int, workerSlots: Int) {
        self.records = records; self.negative = negative; self.packets = packets
        self.nsSpeed = nsSpeed; self.journalCapacity = journalCapacity; self.workerSlots = workerSlots
    }

    /// Record-cache ways: twelve 128-byte slots (an unsigned A/AAAA/NS RRset with a name up to
    /// ~60 bytes), two of 256 (a signed one), one of 512 and one of 2048 (DNSKEY sets, long TXT).
    public static let recordWays = [128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 256, 256, 512, 2048]
    /// Negative-cache ways: three of 256 (an unsigned SOA), three of 512, two of 1024 and one of
    /// 2048 (signed denials: an SOA and one to three NSEC or NSEC3 records, each with an RRSIG,
    /// run from ~600 bytes with ECDSA to ~1.5 KB with RSA-2048). With one way of 1024, as
    /// before, two signed denials whose keys met in a bucket evicted each other, and a node
    /// warmed from a peer (whose segment's hash seed differs) lost about one in ten. A bucket
    /// of 6464 bytes still gives the same number of buckets as the old 3904 at 32, 64, 128 and
    /// 256 MiB (the count is rounded down to a power of two).
    public static let negativeWays = [256, 256, 256, 512, 512, 512, 1024, 1024, 2048]
    public static let packetWays = [256, 256, 256, 256, 256, 256, 512, 512, 512, 512, 1024, 1024, 2048]
    public static let nsWays = [64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64]

    /// A geometry of about `megabytes` MiB: 60 % record cache, 10 % negative, 25 % packets,
    /// the rest NS speed, journal and statistics.
    public static func sized(megabytes: Int, workerSlots: Int = 64) -> SegmentGeometry {
        let total = max(1, megabytes) << 20
        func buckets(_ share: Double, _ ways: [Int]) -> Int {
            let per = 64 + ways.reduce(0, +)
            let n = max(1, Int(Double(total) * share) / per)
            return 1 << (Int.bitWidth - 1 - n.leadingZeroBitCount)   // round down to a power of two
        }
        return SegmentGeometry(
            records: TableGeometry(buckets: buckets(0.6, recordWays), waySizes: recordWays),
            negative: TableGeometry(buckets: buckets(0.1, negativeWays), waySizes: negativeWays),
            packets: TableGeometry(buckets: buckets(0.25, packetWays), waySizes: packetWays),
            nsSpeed: TableGeometry(buckets: max(1, buckets(0.02, nsWays)), waySizes: nsWays),
            journalCapacity: max(1024, 1 << (Int.bitWidth - 1 - (total / 512).leadingZeroBitCount)),
            workerSlots: workerSlots)
    }

    /// The default: 64 MiB.
    public static let `default` = sized(megabytes: 64)

    public func validate() throws(GeometryError) {
        try records.validate("records"); try negative.validate("negative")
        try packets.validate("packets"); try nsSpeed.validate("nsSpeed")
        guard journalCapacity >= 16, journalCapacity & (journalCapacity - 1) == 0, journalCapacity <= 1 << 26 else {
            throw GeometryError("journalCapacity must be a power of two in 16...2^26")
        }
        guard (1...4096).contains(workerSlots) else { throw GeometryError("workerSlots must be 1...4096") }
        guard nsSpeed.waySizes.allSatisfy({ $0 >= NSSpeedTable.slotBytes }) else {
            throw GeometryError("nsSpeed ways must be at least \(NSSpeedTable.slotBytes) bytes")
        }
        guard records.slots < 1 << 24, negative.slots < 1 << 24, packets.slots < 1 << 24 else {
            throw GeometryError("a table may hold at most 2^24 slots (journal slot field)")
        }
    }

    public var description: String {
        "records=\(records) negative=\(negative) packets=\(packets) ns=\(nsSpeed) journal=\(journalCapacity) workers=\(workerSlots)"
    }
}

/// Where each table starts in the segment; computed from the geometry alone, so every process
/// derives the same layout.
struct SegmentLayout: Equatable, Sendable {
    static let headerBytes = 4096
    /// The owner table follows the header page, at the same place in every layout version.
    static let ownersOffset = headerBytes
    var records = 0, negative = 0, packets = 0, nsSpeed = 0, journal = 0, stats = 0, pending = 0
    var total = 0

    init(_ g: SegmentGeometry) {
        func page(_ n: Int) -> Int { (n + 4095) & ~4095 }
        var at = SegmentLayout.ownersOffset + OwnerTable.bytes
        records = at; at = page(at + g.records.bytes)
        negative = at; at = page(at + g.negative.bytes)
        packets = at; at = page(at + g.packets.bytes)
        nsSpeed = at; at = page(at + g.nsSpeed.bytes)
        journal = at; at = page(at + Journal.headerBytes + g.journalCapacity * Journal.recordBytes)
        stats = at; at = page(at + g.workerSlots * WorkerStatistics.slotBytes)
        pending = at; at = page(at + PendingTable.bytes(workerSlots: g.workerSlots))
        total = at
    }
}
