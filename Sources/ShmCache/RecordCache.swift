import DNSCore

/// Builds a cache key in a stack buffer and lends it: `prefixCount` bytes of `prefix` (lowest
/// byte first), then the lower-cased name wire form.
@inline(__always)
func withKey<R>(prefix: UInt64, prefixCount: Int, name: DNSName, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    name.wire.withUnsafeBufferPointer { w in
        withUnsafeTemporaryAllocation(byteCount: 272, alignment: 8) { buf in
            let p = buf.baseAddress!
            for i in 0..<prefixCount {
                p.storeBytes(of: UInt8(truncatingIfNeeded: prefix >> UInt64(8 * i)), toByteOffset: i, as: UInt8.self)
            }
            let n = min(w.count, 256)
            for i in 0..<n { p.storeBytes(of: lowerByte(w[i]), toByteOffset: prefixCount + i, as: UInt8.self) }
            return body(UnsafeRawBufferPointer(start: p, count: prefixCount + n))
        }
    }
}

/// Splits `[u16 count-prefixed]` lists as written by the caches; nil when malformed.
func splitList(_ v: [UInt8], from start: Int, count: Int) -> (items: [[UInt8]], end: Int)? {
    var out: [[UInt8]] = []
    out.reserveCapacity(count)
    var i = start
    for _ in 0..<count {
        guard i + 2 <= v.count else { return nil }
        let n = Int(v.be16(i))
        guard i + 2 + n <= v.count else { return nil }
        out.append(Array(v[(i + 2)..<(i + 2 + n)]))
        i += 2 + n
    }
    return (out, i)
}

/// One cached RRset, copied out of the segment.
public struct CachedRRSet: Hashable, Sendable {
    /// Owner name (lower-cased as stored; a lookup returns the name it was given).
    public var name: DNSName
    public var type: RRType
    public var rrclass: RRClass
    /// Seconds left; 0 when served stale.
    public var ttl: UInt32
    /// Absolute wall-clock expiry.
    public var expiry: UInt32
    /// Wall-clock second it was stored.
    public var storedAt: UInt32
    /// TTL it was stored with.
    public var originalTTL: UInt32
    public var validation: ValidationState
    public var rank: Rank
    public var origin: Origin
    /// Expired, returned only because the caller allowed stale data (RFC 8767).
    public var isStale: Bool
    /// Seconds in which it was hit (approximate), and the last such second.
    public var hits: UInt32
    public var lastHit: UInt32
    /// Slot index and version: what the journal names.
    public var slot: Int
    public var version: UInt32
    /// The stored value: a 12-byte header, then RDATA items and RRSIG RDATA items, each with a
    /// 16-bit length.
    public var value: [UInt8]

    /// RDATA of each record, uncompressed wire form.
    public var rdata: [[UInt8]] {
        guard value.count >= 12 else { return [] }
        return splitList(value, from: 12, count: Int(value.be16(8)))?.items ?? []
    }

    /// RDATA of each covering RRSIG.
    public var signatures: [[UInt8]] {
        guard value.count >= 12, let (_, end) = splitList(value, from: 12, count: Int(value.be16(8))) else { return [] }
        return splitList(value, from: end, count: Int(value.be16(10)))?.items ?? []
    }

    /// The records with `ttl` as their TTL, and their RRSIGs; throws on RDATA that does not
    /// parse as its type.
    public func records() throws(WireError) -> (records: [ResourceRecord], signatures: [ResourceRecord]) {
        func parse(_ items: [[UInt8]], _ t: RRType) throws(WireError) -> [ResourceRecord] {
            var out: [ResourceRecord] = []
            for d in items {
                var r = WireReader(d)
                out.append(ResourceRecord(name: name, type: t, rrclass: rrclass, ttl: ttl,
                                          rdata: try RData.parse(type: t, length: d.count, from: &r)))
            }
            return out
        }
        return (try parse(rdata, type), try parse(signatures, .rrsig))
    }
}

/// The record cache: (owner, type, class) → RRset in wire form with absolute expiry, RRSIGs,
/// validation state, rank (RFC 2181 §5.4.1), origin and hit statistics.
///
/// All methods are safe to call from any process at any time; none waits. A write that finds
/// every candidate slot busy is dropped (`.droppedBusy`).
public final class RecordCache: Sendable {
    let table: SlotTable
    let journal: Journal

    init(table: SlotTable, journal: Journal) { self.table = table; self.journal = journal }

    /// Value header: rank, state, origin, flags, original TTL, record count, signature count.
    static let valueHeader = 12

    @inline(__always)
    func withRecordKey<R>(_ name: DNSName, _ type: RRType, _ c: RRClass, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        // Type and class big-endian, as on the wire.
        let pre = UInt64(type.rawValue >> 8) | UInt64(type.rawValue & 0xFF) << 8
            | UInt64(c.rawValue >> 8) << 16 | UInt64(c.rawValue & 0xFF) << 24
        return withKey(prefix: pre, prefixCount: 4, name: name, body)
    }

    /// The cached RRset, or nil. An expired entry is a miss unless it expired at most
    /// `allowStaleFor` seconds ago, in which case it comes back with `isStale` and TTL 0.
    public func lookup(name: DNSName, type: RRType, class rrclass: RRClass = .in, now: UInt32,
                       allowStaleFor: UInt32 = 0) -> CachedRRSet? {
        find(name, type, rrclass, now: now, allowStaleFor: allowStaleFor, touch: true)
    }

    /// The live cached RRset, or nil, without counting a hit (the bridge looking before it
    /// writes is not a use, and hits order snapshots).
    public func peek(name: DNSName, type: RRType, class rrclass: RRClass = .in, now: UInt32) -> CachedRRSet? {
        find(name, type, rrclass, now: now, allowStaleFor: 0, touch: false)
    }

    func find(_ name: DNSName, _ type: RRType, _ rrclass: RRClass, now: UInt32, allowStaleFor: UInt32,
              touch: Bool) -> CachedRRSet? {
        withRecordKey(name, type, rrclass) { key -> CachedRRSet? in
            guard let snap = table.find(key: key, hash: table.hash(key)), snap.value.count >= Self.valueHeader else {
                return nil
            }
            var stale = false
            if snap.expiry <= now {
                guard allowStaleFor > 0, now - snap.expiry <= allowStaleFor else { return nil }
                stale = true
            }
            if touch { table.touch(slot: snap.slot, now: now) }
            return Self.entry(snap, name: name, type: type, rrclass: rrclass, now: now, stale: stale)
        }
    }

    static func entry(_ snap: SlotSnapshot, name: DNSName, type: RRType, rrclass: RRClass, now: UInt32,
                      stale: Bool) -> CachedRRSet {
        let v = snap.value
        return CachedRRSet(name: name, type: type, rrclass: rrclass,
                           ttl: snap.expiry > now ? snap.expiry - now : 0, expiry: snap.expiry,
                           storedAt: snap.storedAt, originalTTL: v.be32(4),
                           validation: ValidationState(rawValue: v[1]), rank: Rank(rawValue: v[0]),
                           origin: Origin(rawValue: v[2]), isStale: stale, hits: snap.hits, lastHit: snap.lastUsed,
                           slot: snap.slot, version: snap.version, value: v)
    }

    /// Stores an RRset given as RDATA items (uncompressed wire form) with its RRSIG RDATA.
    ///
    /// A live entry of a higher rank is kept (`.rejectedLowerRank`); an equal or higher rank, or
    /// an expired entry, is replaced. Local entries are journaled for the bridge; `.mesh` ones
    /// are not.
    @discardableResult
    public func insert(name: DNSName, type: RRType, class rrclass: RRClass = .in, ttl: UInt32,
                       rdata: [[UInt8]], signatures: [[UInt8]] = [], validation: ValidationState = .indeterminate,
                       rank: Rank, origin: Origin = .local, now: UInt32) -> InsertResult {
        var valueLen = Self.valueHeader
        for d in rdata { valueLen += 2 + d.count }
        for d in signatures { valueLen += 2 + d.count }
        guard rdata.count <= 0xFFFF, signatures.count <= 0xFFFF, valueLen <= 0xFFFF else { return .tooLarge }
        let expiry = now &+ ttl < now ? UInt32.max : now + ttl
        let outcome = withRecordKey(name, type, rrclass) { key in
            table.write(key: key, hash: table.hash(key), valueLen: valueLen, expiry: expiry, now: now,
                        admit: { prefix, oldExpiry in
                            // RFC 2181 §5.4.1: never replace live data by less trustworthy data.
                            let live = oldExpiry > now
                            if live && prefix.count >= 1 && prefix[0] > rank.rawValue { return false }
                            // A peer's entry replaces live local data only when it lives longer
                            // and is validated as well: decided here, on the entry the write
                            // replaces, so a local write just before it is never lost.
                            if origin == .mesh, live, prefix.count >= 3, prefix[2] == Origin.local.rawValue {
                                return oldExpiry < expiry
                                    && !(prefix[1] == ValidationState.secure.rawValue && validation != .secure)
                            }
                            return true
                        },
                        fill: { p in
                            p.storeBytes(of: rank.rawValue, toByteOffset: 0, as: UInt8.self)
                            p.storeBytes(of: validation.rawValue, toByteOffset: 1, as: UInt8.self)
                            p.storeBytes(of: origin.rawValue, toByteOffset: 2, as: UInt8.self)
                            p.storeBytes(of: 0, toByteOffset: 3, as: UInt8.self)
                            putBE32(p, 4, ttl)
                            putBE16(p, 8, UInt16(rdata.count))
                            putBE16(p, 10, UInt16(signatures.count))
                            var at = Self.valueHeader
                            for list in [rdata, signatures] {
                                for d in list {
                                    putBE16(p, at, UInt16(d.count))
                                    d.withUnsafeBytes { (p + at + 2).copyMemory(from: $0.baseAddress!, byteCount: d.count) }
                                    at += 2 + d.count
                                }
                            }
                        })
        }
        journalIfLocal(outcome, origin: origin)
        return InsertResult(outcome)
    }

    /// Stores an RRset given as records (same owner, type and class); the TTL is their minimum.
    @discardableResult
    public func insert(_ rrset: [ResourceRecord], signatures: [ResourceRecord] = [],
                       validation: ValidationState = .indeterminate, rank: Rank, origin: Origin = .local,
                       now: UInt32) -> InsertResult {
        guard let first = rrset.first else { return .tooLarge }
        let ttl = (rrset + signatures).map(\.ttl).min() ?? 0
        return insert(name: first.name, type: first.type, class: first.rrclass, ttl: ttl,
                      rdata: rrset.map { $0.rdata.wire(type: $0.type) },
                      signatures: signatures.map { $0.rdata.wire(type: .rrsig) },
                      validation: validation, rank: rank, origin: origin, now: now)
    }

    func journalIfLocal(_ o: WriteOutcome, origin: Origin) {
        guard origin != .mesh else { return }
        switch o {
        case let .inserted(slot, version, _), let .replaced(slot, version):
            journal.append(table: .records, slot: slot, version: version)
        default: break
        }
    }

    /// Removes the RRset. Returns whether one was there.
    @discardableResult
    public func remove(name: DNSName, type: RRType, class rrclass: RRClass = .in) -> Bool {
        withRecordKey(name, type, rrclass) { key in table.remove(key: key, hash: table.hash(key)) > 0 }
    }

    /// Removes every RRset owned by `name` or a name below it (a full scan). Returns how many.
    @discardableResult
    public func removeSubtree(at name: DNSName) -> Int { table.removeSubtree(nameOffset: 4, at: name) }

    /// Removes `name`'s entries (of every type), and with `subtree` those of every name below it.
    @discardableResult
    public func removeNames(at name: DNSName, subtree: Bool) -> Int {
        table.removeNames(nameOffset: 4, at: name, subtree: subtree)
    }

    /// Visits every entry (expired ones too, with `ttl` 0 and `isStale` set); return false to
    /// stop. For dumps and snapshots: sort by `hits`/`lastHit` for hottest first.
    public func forEach(now: UInt32, _ body: (CachedRRSet) -> Bool) {
        table.scan { snap in
            guard let e = Self.decode(snap, now: now) else { return .keep }
            return body(e) ? .keep : .stop
        }
    }

    /// The entry in a slot named by a journal event, if it still holds that version.
    public func entry(slot: Int, version: UInt32? = nil, now: UInt32) -> CachedRRSet? {
        guard let snap = table.read(slot: slot), version == nil || snap.version == version else { return nil }
        return Self.decode(snap, now: now)
    }

    static func decode(_ snap: SlotSnapshot, now: UInt32) -> CachedRRSet? {
        guard snap.key.count > 4, snap.value.count >= valueHeader,
              let name = try? DNSName(wire: Array(snap.key[4...])) else { return nil }
        let k = snap.key
        return entry(snap, name: name, type: RRType(UInt16(k[0]) << 8 | UInt16(k[1])),
                     rrclass: RRClass(UInt16(k[2]) << 8 | UInt16(k[3])), now: now, stale: snap.expiry <= now)
    }

    /// Entries and how many of them have expired (a full scan).
    public func count(now: UInt32) -> (entries: Int, expired: Int) { table.count(now: now) }

    /// Slots in the table.
    public var capacity: Int { table.geometry.slots }

    /// Slot states (empty, occupied, busy) without reading entries.
    public func occupancy() -> (empty: Int, occupied: Int, busy: Int) {
        let o = table.occupancy()
        return (o.empty, o.occupied, o.busy)
    }
}

/// Whether the name stored at `key[from...]` equals `target` or lies below it (both lower-cased
/// wire form).
func nameIsAtOrBelow(_ key: [UInt8], from start: Int, _ target: [UInt8]) -> Bool {
    let n = key.count - start
    guard n >= target.count else { return false }
    var i = start
    while true {
        if key.count - i == target.count {
            return key[i...].elementsEqual(target)
        }
        guard i < key.count, key[i] != 0, key.count - i > target.count else { return false }
        i += Int(key[i]) + 1
    }
}
