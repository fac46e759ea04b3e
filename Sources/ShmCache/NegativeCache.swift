import DNSCore

/// A cached negative answer (RFC 2308), copied out of the segment.
public struct CachedNegative: Hashable, Sendable {
    public enum Kind: UInt8, Hashable, Sendable {
        /// The name does not exist (any type).
        case nxDomain = 1
        /// The name exists but has no data of `type`.
        case noData = 2
    }
    public var kind: Kind
    public var name: DNSName
    /// The type of a NODATA entry; `RRType(0)` for NXDOMAIN.
    public var type: RRType
    public var rrclass: RRClass
    public var ttl: UInt32
    public var expiry: UInt32
    public var validation: ValidationState
    public var origin: Origin
    public var isStale: Bool
    public var slot: Int
    public var version: UInt32
    /// 12-byte header, then the SOA and the proof records (NSEC/NSEC3 and RRSIGs) as
    /// uncompressed wire records.
    public var value: [UInt8]

    /// The SOA first, then the proofs, with their stored TTLs capped at the time left.
    public func records() throws(WireError) -> [ResourceRecord] {
        guard value.count >= 12 else { return [] }
        let n = Int(value.be16(8))
        var r = WireReader(value, offset: 12)
        var out: [ResourceRecord] = []
        for _ in 0..<n {
            var rr = try ResourceRecord(from: &r)
            rr.ttl = min(rr.ttl, ttl)
            out.append(rr)
        }
        return out
    }
}

/// The negative cache: NXDOMAIN per name, NODATA per (name, type), each with the SOA and the
/// NSEC/NSEC3 records (and their RRSIGs) that prove it, validation state and expiry.
public final class NegativeCache: Sendable {
    let table: SlotTable
    let journal: Journal

    init(table: SlotTable, journal: Journal) { self.table = table; self.journal = journal }

    @inline(__always)
    func withNegKey<R>(_ kind: CachedNegative.Kind, _ name: DNSName, _ type: RRType, _ c: RRClass,
                       _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let t = kind == .nxDomain ? 0 : type.rawValue
        let pre = UInt64(kind.rawValue) | UInt64(t >> 8) << 8 | UInt64(t & 0xFF) << 16
            | UInt64(c.rawValue >> 8) << 24 | UInt64(c.rawValue & 0xFF) << 32
        return withKey(prefix: pre, prefixCount: 5, name: name, body)
    }

    /// The negative answer for (name, type): an NXDOMAIN for the name wins over a NODATA.
    /// Expired entries are misses unless within `allowStaleFor`.
    public func lookup(name: DNSName, type: RRType, class rrclass: RRClass = .in, now: UInt32,
                       allowStaleFor: UInt32 = 0) -> CachedNegative? {
        find(name, type, rrclass, now: now, allowStaleFor: allowStaleFor, touch: true)
    }

    /// The live negative answer for (name, type), or nil, without counting a hit.
    public func peek(name: DNSName, type: RRType, class rrclass: RRClass = .in, now: UInt32) -> CachedNegative? {
        find(name, type, rrclass, now: now, allowStaleFor: 0, touch: false)
    }

    func find(_ name: DNSName, _ type: RRType, _ rrclass: RRClass, now: UInt32, allowStaleFor: UInt32,
              touch: Bool) -> CachedNegative? {
        for kind in [CachedNegative.Kind.nxDomain, .noData] {
            let hit = withNegKey(kind, name, type, rrclass) { key -> CachedNegative? in
                guard let snap = table.find(key: key, hash: table.hash(key)), snap.value.count >= 12 else { return nil }
                var stale = false
                if snap.expiry <= now {
                    guard allowStaleFor > 0, now - snap.expiry <= allowStaleFor else { return nil }
                    stale = true
                }
                if touch { table.touch(slot: snap.slot, now: now) }
                return Self.entry(snap, kind: kind, name: name, type: kind == .nxDomain ? RRType(0) : type,
                                  rrclass: rrclass, now: now, stale: stale)
            }
            if let hit { return hit }
        }
        return nil
    }

    static func entry(_ snap: SlotSnapshot, kind: CachedNegative.Kind, name: DNSName, type: RRType,
                      rrclass: RRClass, now: UInt32, stale: Bool) -> CachedNegative {
        let v = snap.value
        return CachedNegative(kind: kind, name: name, type: type, rrclass: rrclass,
                              ttl: snap.expiry > now ? snap.expiry - now : 0, expiry: snap.expiry,
                              validation: ValidationState(rawValue: v[0]), origin: Origin(rawValue: v[1]),
                              isStale: stale, slot: snap.slot, version: snap.version, value: v)
    }

    /// Caches "`name` does not exist" for `ttl` seconds (RFC 2308: the SOA's minimum and TTL).
    @discardableResult
    public func insertNXDomain(name: DNSName, class rrclass: RRClass = .in, ttl: UInt32, soa: ResourceRecord,
                               proofs: [ResourceRecord] = [], validation: ValidationState = .indeterminate,
                               origin: Origin = .local, now: UInt32) -> InsertResult {
        insert(.nxDomain, name, RRType(0), rrclass, ttl, soa, proofs, validation, origin, now)
    }

    /// Caches "`name` has no `type` data" for `ttl` seconds.
    @discardableResult
    public func insertNoData(name: DNSName, type: RRType, class rrclass: RRClass = .in, ttl: UInt32,
                             soa: ResourceRecord, proofs: [ResourceRecord] = [],
                             validation: ValidationState = .indeterminate, origin: Origin = .local,
                             now: UInt32) -> InsertResult {
        insert(.noData, name, type, rrclass, ttl, soa, proofs, validation, origin, now)
    }

    private func insert(_ kind: CachedNegative.Kind, _ name: DNSName, _ type: RRType, _ rrclass: RRClass,
                        _ ttl: UInt32, _ soa: ResourceRecord, _ proofs: [ResourceRecord],
                        _ validation: ValidationState, _ origin: Origin, _ now: UInt32) -> InsertResult {
        var w = WireWriter(capacity: 256)
        for rr in [soa] + proofs { rr.write(to: &w, compress: false) }
        let body = w.bytes
        guard proofs.count < 0xFFFF, body.count + 12 <= 0xFFFF else { return .tooLarge }
        let expiry = now &+ ttl < now ? UInt32.max : now + ttl
        let outcome = withNegKey(kind, name, type, rrclass) { key in
            table.write(key: key, hash: table.hash(key), valueLen: 12 + body.count, expiry: expiry, now: now,
                        admit: { prefix, oldExpiry in
                            // A peer's denial replaces a live local one only when it lives longer
                            // and is validated as well (decided on the entry the write replaces).
                            guard origin == .mesh, oldExpiry > now, prefix.count >= 2,
                                  prefix[1] == Origin.local.rawValue else { return true }
                            return oldExpiry < expiry
                                && !(prefix[0] == ValidationState.secure.rawValue && validation != .secure)
                        },
                        fill: { p in
                            p.storeBytes(of: validation.rawValue, toByteOffset: 0, as: UInt8.self)
                            p.storeBytes(of: origin.rawValue, toByteOffset: 1, as: UInt8.self)
                            p.storeBytes(of: UInt16(0), toByteOffset: 2, as: UInt16.self)
                            putBE32(p, 4, ttl)
                            putBE16(p, 8, UInt16(1 + proofs.count))
                            putBE16(p, 10, 0)
                            body.withUnsafeBytes { (p + 12).copyMemory(from: $0.baseAddress!, byteCount: body.count) }
                        })
        }
        if origin != .mesh {
            switch outcome {
            case let .inserted(slot, version, _), let .replaced(slot, version):
                journal.append(table: .negative, slot: slot, version: version)
            default: break
            }
        }
        return InsertResult(outcome)
    }

    /// Removes the NXDOMAIN entry of `name` and its NODATA entry for `type` (if given).
    @discardableResult
    public func remove(name: DNSName, type: RRType? = nil, class rrclass: RRClass = .in) -> Int {
        var n = withNegKey(.nxDomain, name, RRType(0), rrclass) { table.remove(key: $0, hash: table.hash($0)) }
        if let type {
            n += withNegKey(.noData, name, type, rrclass) { table.remove(key: $0, hash: table.hash($0)) }
        }
        return n
    }

    /// Removes every negative entry at or below `name` (a full scan). Returns how many.
    @discardableResult
    public func removeSubtree(at name: DNSName) -> Int { table.removeSubtree(nameOffset: 5, at: name) }

    /// Removes `name`'s entries (of every type), and with `subtree` those of every name below it.
    @discardableResult
    public func removeNames(at name: DNSName, subtree: Bool) -> Int {
        table.removeNames(nameOffset: 5, at: name, subtree: subtree)
    }

    /// Visits every entry (expired ones with `isStale`); return false to stop.
    public func forEach(now: UInt32, _ body: (CachedNegative) -> Bool) {
        table.scan { snap in
            guard let e = Self.decode(snap, now: now) else { return .keep }
            return body(e) ? .keep : .stop
        }
    }

    /// The entry in a slot named by a journal event, if it still holds that version.
    public func entry(slot: Int, version: UInt32? = nil, now: UInt32) -> CachedNegative? {
        guard let snap = table.read(slot: slot), version == nil || snap.version == version else { return nil }
        return Self.decode(snap, now: now)
    }

    static func decode(_ snap: SlotSnapshot, now: UInt32) -> CachedNegative? {
        let k = snap.key
        guard k.count > 5, snap.value.count >= 12, let kind = CachedNegative.Kind(rawValue: k[0]),
              let name = try? DNSName(wire: Array(k[5...])) else { return nil }
        return entry(snap, kind: kind, name: name, type: RRType(UInt16(k[1]) << 8 | UInt16(k[2])),
                     rrclass: RRClass(UInt16(k[3]) << 8 | UInt16(k[4])), now: now, stale: snap.expiry <= now)
    }

    public func count(now: UInt32) -> (entries: Int, expired: Int) { table.count(now: now) }

    public var capacity: Int { table.geometry.slots }
}
