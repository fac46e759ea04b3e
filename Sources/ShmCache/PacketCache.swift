import DNSCore

/// What a cached response is keyed on: the lower-cased question and the bits that change the
/// answer (DO, CD).
public struct PacketKey: Hashable, Sendable {
    public var name: DNSName
    public var type: RRType
    public var rrclass: RRClass
    public var dnssecOK: Bool
    public var checkingDisabled: Bool

    public init(name: DNSName, type: RRType, class rrclass: RRClass = .in, dnssecOK: Bool = false,
                checkingDisabled: Bool = false) {
        self.name = name; self.type = type; self.rrclass = rrclass
        self.dnssecOK = dnssecOK; self.checkingDisabled = checkingDisabled
    }

    var flagByte: UInt8 { (dnssecOK ? 1 : 0) | (checkingDisabled ? 2 : 0) }
}

/// A cached response, copied out of the segment.
public struct CachedPacket: Hashable, Sendable {
    /// The response as stored (its ID is whatever the first query had).
    public var response: [UInt8]
    /// Wall-clock second it was stored, and its expiry.
    public var storedAt: UInt32
    public var expiry: UInt32
    /// Seconds left.
    public var ttl: UInt32
    public var slot: Int

    /// The response to send: the query's ID patched in and every TTL lowered by the seconds
    /// since it was stored (OPT excepted). Nil if the stored bytes do not walk as a message.
    public func response(id: UInt16, now: UInt32) -> [UInt8]? {
        var out = response
        guard out.count >= 12 else { return nil }
        out[0] = UInt8(id >> 8); out[1] = UInt8(id & 0xFF)
        return PacketAging.age(&out, by: now > storedAt ? now - storedAt : 0) ? out : nil
    }
}

/// The packet cache: (lower-cased name, type, class, DO, CD) → full response and the time it
/// was stored, so a hit is answered by patching the ID and aging the TTLs.
public final class PacketCache: Sendable {
    let table: SlotTable

    init(table: SlotTable) { self.table = table }

    @inline(__always)
    func withPacketKey<R>(_ k: PacketKey, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let pre = UInt64(k.flagByte) | UInt64(k.type.rawValue >> 8) << 8 | UInt64(k.type.rawValue & 0xFF) << 16
            | UInt64(k.rrclass.rawValue >> 8) << 24 | UInt64(k.rrclass.rawValue & 0xFF) << 32
        return withKey(prefix: pre, prefixCount: 5, name: k.name, body)
    }

    /// The cached response, or nil (absent or expired).
    public func lookup(_ key: PacketKey, now: UInt32) -> CachedPacket? {
        withPacketKey(key) { k -> CachedPacket? in
            guard let snap = table.find(key: k, hash: table.hash(k)), snap.expiry > now else { return nil }
            table.touch(slot: snap.slot, now: now)
            return CachedPacket(response: snap.value, storedAt: snap.storedAt, expiry: snap.expiry,
                                ttl: snap.expiry - now, slot: snap.slot)
        }
    }

    /// The hit path, allocating nothing: the response stored for the question whose name is
    /// `name` (wire form, any case: the key lower-cases it), type `type`, class IN, and the DO
    /// and CD flags, copied into `out` and aged to `now` (ID and everything else as stored).
    /// Returns its length, or nil: absent, expired, being written, or longer than `out`.
    /// `hash` is the key's hash when ``prefetchBucket(name:type:dnssecOK:checkingDisabled:)``
    /// gave it for the same question already.
    public func copyResponse(name: UnsafeRawBufferPointer, type: RRType, dnssecOK: Bool, checkingDisabled: Bool,
                             now: UInt32, hash: UInt64? = nil, into out: UnsafeMutableRawBufferPointer) -> Int? {
        withHitKey(name: name, type: type, dnssecOK: dnssecOK, checkingDisabled: checkingDisabled) { key -> Int? in
            // The copy may run more than once (a slot rewritten meanwhile): the last one that
            // the sequence word confirms is what `out` holds.
            guard let (found, slot, _) = table.withValue(key: key, hash: hash ?? table.hash(key), { value, expiry, storedAt -> (Int, UInt32)? in
                guard expiry > now, value.count <= out.count else { return nil }
                out.copyMemory(from: value)
                return (value.count, storedAt)
            }) else { return nil }
            table.touch(slot: slot, now: now)
            let length = found.0
            guard PacketAging.age(UnsafeMutableRawBufferPointer(rebasing: out[0..<length]),
                                  by: now > found.1 ? now - found.1 : 0) else { return nil }
            return length
        } ?? nil
    }

    /// The first of the hit path's prefetch steps for a batch of queries (each a hint: what
    /// `copyResponse` finds is the same without them): asks for the line of tags of the
    /// question's bucket and returns the key's hash, for ``prefetchSlot(hash:)`` once every
    /// query of the batch had its first step, then for `copyResponse`. Nil for a name longer
    /// than a name can be.
    public func prefetchBucket(name: UnsafeRawBufferPointer, type: RRType, dnssecOK: Bool, checkingDisabled: Bool) -> UInt64? {
        withHitKey(name: name, type: type, dnssecOK: dnssecOK, checkingDisabled: checkingDisabled) { key in
            let h = table.hash(key)
            table.prefetchTags(hash: h)
            return h
        }
    }

    /// The second prefetch step: asks for the slot lines whose tag matches the hash.
    public func prefetchSlot(hash: UInt64) { table.prefetchSlots(hash: hash) }

    /// The hit path's key (flags, type, class IN, lower-cased name), built on the stack and
    /// lent to `body`; nil for a name longer than 255 bytes.
    @inline(__always)
    private func withHitKey<R>(name: UnsafeRawBufferPointer, type: RRType, dnssecOK: Bool, checkingDisabled: Bool,
                               _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        guard name.count <= 255 else { return nil }
        let flags: UInt8 = (dnssecOK ? 1 : 0) | (checkingDisabled ? 2 : 0)
        return withUnsafeTemporaryAllocation(byteCount: 5 + 255, alignment: 8) { buf -> R in
            let k = buf.baseAddress!
            k.storeBytes(of: flags, toByteOffset: 0, as: UInt8.self)
            k.storeBytes(of: UInt8(type.rawValue >> 8), toByteOffset: 1, as: UInt8.self)
            k.storeBytes(of: UInt8(type.rawValue & 0xFF), toByteOffset: 2, as: UInt8.self)
            k.storeBytes(of: UInt8(RRClass.in.rawValue >> 8), toByteOffset: 3, as: UInt8.self)
            k.storeBytes(of: UInt8(RRClass.in.rawValue & 0xFF), toByteOffset: 4, as: UInt8.self)
            for i in 0..<name.count { k.storeBytes(of: lowerByte(name[i]), toByteOffset: 5 + i, as: UInt8.self) }
            return body(UnsafeRawBufferPointer(start: k, count: 5 + name.count))
        }
    }

    /// Stores a response for `ttl` seconds (the smallest TTL in it, capped by the caller).
    @discardableResult
    public func insert(_ key: PacketKey, response: [UInt8], ttl: UInt32, now: UInt32) -> InsertResult {
        let expiry = now &+ ttl < now ? UInt32.max : now + ttl
        let o = withPacketKey(key) { k in
            table.write(key: k, hash: table.hash(k), valueLen: response.count, expiry: expiry, now: now,
                        admit: { _, _ in true },
                        fill: { p in response.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } })
        }
        return InsertResult(o)
    }

    @discardableResult
    public func remove(_ key: PacketKey) -> Bool {
        withPacketKey(key) { table.remove(key: $0, hash: table.hash($0)) > 0 }
    }

    /// Removes every response whose question name is at or below `name`.
    @discardableResult
    public func removeSubtree(at name: DNSName) -> Int { table.removeSubtree(nameOffset: 5, at: name) }

    /// Removes `name`'s entries (of every type), and with `subtree` those of every name below it.
    @discardableResult
    public func removeNames(at name: DNSName, subtree: Bool) -> Int {
        table.removeNames(nameOffset: 5, at: name, subtree: subtree)
    }

    /// Visits every entry as (key, packet); return false to stop.
    public func forEach(now: UInt32, _ body: (PacketKey, CachedPacket) -> Bool) {
        table.scan { snap in
            let k = snap.key
            guard k.count > 5, let name = try? DNSName(wire: Array(k[5...])) else { return .keep }
            let key = PacketKey(name: name, type: RRType(UInt16(k[1]) << 8 | UInt16(k[2])),
                                class: RRClass(UInt16(k[3]) << 8 | UInt16(k[4])),
                                dnssecOK: k[0] & 1 != 0, checkingDisabled: k[0] & 2 != 0)
            let p = CachedPacket(response: snap.value, storedAt: snap.storedAt, expiry: snap.expiry,
                                 ttl: snap.expiry > now ? snap.expiry - now : 0, slot: snap.slot)
            return body(key, p) ? .keep : .stop
        }
    }

    public func count(now: UInt32) -> (entries: Int, expired: Int) { table.count(now: now) }

    public var capacity: Int { table.geometry.slots }
}
