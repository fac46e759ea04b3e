import DNSCore
import ShmCache

/// Packs entries into batches of at most `maxPayload` bytes (docs/mesh-format.md).
///
/// Entries are encoded once, when added; `add` refuses an entry that would make the batch too
/// large (the caller sends what it has and starts the next batch), and `fits` tells whether an
/// entry can ever be sent at this payload size.
public struct BatchEncoder: Sendable {
    public let cluster: MeshIdentifier
    public let origin: MeshIdentifier
    public let maxPayload: Int
    private var body: [UInt8] = []
    public private(set) var count = 0

    public init(cluster: MeshIdentifier, origin: MeshIdentifier, maxPayload: Int) {
        self.cluster = cluster
        self.origin = origin
        self.maxPayload = maxPayload
        body.reserveCapacity(min(maxPayload, 64 * 1024))
    }

    var headerBytes: Int { 4 + 1 + cluster.bytes.count + 1 + origin.bytes.count + MeshFormat.headerTail }
    /// Bytes the batch would have if sent now.
    public var size: Int { headerBytes + body.count }
    public var isEmpty: Bool { count == 0 }

    /// Whether an encoded entry of `bytes` bytes fits in an otherwise empty batch.
    public func fits(entryBytes: Int) -> Bool { headerBytes + entryBytes <= maxPayload }

    /// Appends an encoded entry (from ``encode(_:)``); false when the batch has no room left.
    public mutating func add(encoded e: [UInt8]) -> Bool {
        guard count < 0xFFFF, size + e.count <= maxPayload else { return false }
        body.append(contentsOf: e)
        count += 1
        return true
    }

    /// The batch as bytes, stamped with `sentAtMillis` and `sequence`; the encoder is empty after.
    public mutating func finish(sentAtMillis: UInt64, sequence: UInt64) -> [UInt8] {
        var w = WireWriter(capacity: size)
        w.u8(MeshFormat.magic.0); w.u8(MeshFormat.magic.1)
        w.u8(MeshFormat.version); w.u8(0)
        w.u8(UInt8(cluster.bytes.count)); w.append(cluster.bytes)
        w.u8(UInt8(origin.bytes.count)); w.append(origin.bytes)
        w.u32(UInt32(truncatingIfNeeded: sentAtMillis >> 32)); w.u32(UInt32(truncatingIfNeeded: sentAtMillis))
        w.u32(UInt32(truncatingIfNeeded: sequence >> 32)); w.u32(UInt32(truncatingIfNeeded: sequence))
        w.u16(UInt16(count))
        w.append(body)
        body.removeAll(keepingCapacity: true)
        count = 0
        return w.bytes
    }

    /// One entry in wire form: kind, body length, body. TTLs above ``MeshFormat/maxTTL`` are
    /// sent as the maximum.
    public static func encode(_ entry: MeshEntry) -> [UInt8] {
        var b = WireWriter(capacity: 256)
        let kind: UInt8
        switch entry {
        case let .rrset(s):
            kind = MeshEntry.kindRRSet
            b.name(s.name, compress: false)
            b.u16(s.type.rawValue); b.u16(s.rrclass.rawValue)
            b.u32(min(s.ttl, MeshFormat.maxTTL))
            b.u8(s.rank.rawValue); b.u8(s.validation.rawValue)
            for list in [s.rdata, s.signatures] {
                b.u16(UInt16(truncatingIfNeeded: list.count))
                for d in list { b.u16(UInt16(truncatingIfNeeded: d.count)); b.append(d) }
            }
        case let .negative(n):
            kind = n.kind == .nxDomain ? MeshEntry.kindNXDomain : MeshEntry.kindNoData
            b.name(n.name, compress: false)
            b.u16(n.type.rawValue); b.u16(n.rrclass.rawValue)
            b.u32(min(n.ttl, MeshFormat.maxTTL))
            b.u8(n.validation.rawValue)
            b.u16(UInt16(truncatingIfNeeded: 1 + n.proofs.count))
            for rr in [n.soa] + n.proofs { rr.write(to: &b, compress: false) }
        case let .server(v):
            kind = MeshEntry.kindServer
            b.u32(UInt32(truncatingIfNeeded: v.address.high >> 32)); b.u32(UInt32(truncatingIfNeeded: v.address.high))
            b.u32(UInt32(truncatingIfNeeded: v.address.low >> 32)); b.u32(UInt32(truncatingIfNeeded: v.address.low))
            b.u32(v.srttMicros); b.u32(v.ageSeconds)
            b.u8(v.edns.rawValue); b.u8(v.cookie.rawValue)
        }
        var out: [UInt8] = [kind]
        out.reserveCapacity(5 + b.count)
        let n = UInt32(truncatingIfNeeded: b.count)
        out.append(contentsOf: [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)])
        out.append(contentsOf: b.bytes)
        return out
    }

    /// A whole batch of `entries` (tests, tools): nil when they do not fit in one.
    public static func batch(_ entries: [MeshEntry], cluster: MeshIdentifier, origin: MeshIdentifier,
                             sentAtMillis: UInt64, sequence: UInt64 = 0,
                             maxPayload: Int = MeshFormat.defaultPayload) -> [UInt8]? {
        var e = BatchEncoder(cluster: cluster, origin: origin, maxPayload: maxPayload)
        for x in entries { guard e.add(encoded: encode(x)) else { return nil } }
        return e.finish(sentAtMillis: sentAtMillis, sequence: sequence)
    }
}
