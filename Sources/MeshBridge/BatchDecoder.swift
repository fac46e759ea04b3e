import DNSCore
import ShmCache

/// Why a message from the mesh was refused. A String enum: its raw value is the `reason` label
/// of `shoal_mesh_rejected_total`.
public enum RejectionReason: String, CaseIterable, Hashable, Sendable {
    /// Fewer bytes than a field needs.
    case truncated
    /// Larger than this node's `max-payload`.
    case oversized
    /// Not a Shoal batch (bad magic) or reserved flags set.
    case badMagic = "bad-magic"
    case wrongVersion = "wrong-version"
    /// A cluster name or node id that is not 1...64 bytes of `[A-Za-z0-9_-]`.
    case badIdentifier = "bad-identifier"
    case wrongCluster = "wrong-cluster"
    /// Our own node id: a loop (or someone impersonating us).
    case ownEcho = "own-echo"
    /// Published on another node's subject than the origin it names (NATS permissions can
    /// then pin each node to its own subject).
    case originMismatch = "origin-mismatch"
    /// Sent more than five minutes in the future.
    case clockSkew = "clock-skew"
    case badEntryKind = "bad-entry-kind"
    /// An entry's length disagrees with its content, or bytes follow the last entry.
    case badLength = "bad-length"
    /// A name that does not parse (labels, length over 255, compression).
    case badName = "bad-name"
    /// Type 0, OPT, meta and query types, RRSIG as a set, or NXDOMAIN with a type.
    case badType = "bad-type"
    /// A class other than IN.
    case badClass = "bad-class"
    /// A TTL above one week.
    case absurdTTL = "absurd-ttl"
    case badRank = "bad-rank"
    case badValidationState = "bad-validation-state"
    /// Marked bogus: never cached from a peer (Unbound #1504).
    case bogusMarked = "bogus-marked"
    /// RDATA that does not parse as its type, or is not in uncompressed canonical wire form.
    case badRData = "bad-rdata"
    /// An RRSIG that does not cover the set's type, or whose signer cannot sign the owner.
    case badSignature = "bad-signature"
    /// A negative entry without an SOA of an enclosing zone first, or with proofs of other types.
    case badProof = "bad-proof"
    /// An RRset without records, or more records than any cache slot holds.
    case badRecordCount = "bad-record-count"
    /// A server entry with the unspecified address, an RTT of 0 or above 10 s, an age above an
    /// hour, or an unknown EDNS or cookie status.
    case badServer = "bad-server"
}

/// A refused message: the reason, and where and what for the log.
public struct MeshRejection: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: RejectionReason
    /// Byte offset in the message where the problem was found.
    public var offset: Int
    public var detail: String

    public init(_ reason: RejectionReason, at offset: Int, _ detail: String = "") {
        self.reason = reason; self.offset = offset; self.detail = detail
    }

    public var description: String {
        "\(reason.rawValue) at byte \(offset)\(detail.isEmpty ? "" : ": \(detail)")"
    }
}

/// Decodes batches as strictly as packets from the Internet: every length, identifier, name,
/// type, TTL, rank and state is checked, names and RDATA go through DNSCore and must be in
/// uncompressed canonical form. One bad field refuses the whole batch: a peer that sends one is
/// broken or hostile, and nothing of its message is cached.
public struct BatchDecoder: Sendable {
    public let cluster: MeshIdentifier
    /// This node: batches claiming to come from it are refused.
    public let node: MeshIdentifier
    public let maxPayload: Int

    public init(cluster: MeshIdentifier, node: MeshIdentifier, maxPayload: Int) {
        self.cluster = cluster; self.node = node; self.maxPayload = maxPayload
    }

    /// The batch in `bytes`, received at `nowMillis` (wall clock, ms since the epoch).
    public func decode(_ bytes: [UInt8], nowMillis: UInt64) throws(MeshRejection) -> MeshBatch {
        guard bytes.count <= maxPayload else {
            throw MeshRejection(.oversized, at: 0, "\(bytes.count) bytes, limit \(maxPayload)")
        }
        var r = WireReader(bytes)
        guard try Self.u8(&r) == MeshFormat.magic.0, try Self.u8(&r) == MeshFormat.magic.1 else {
            throw MeshRejection(.badMagic, at: 0)
        }
        let version = try Self.u8(&r)
        guard version == MeshFormat.version else {
            throw MeshRejection(.wrongVersion, at: 2, "version \(version), this node reads \(MeshFormat.version)")
        }
        guard try Self.u8(&r) == 0 else { throw MeshRejection(.badMagic, at: 3, "reserved flags set") }
        let clusterAt = r.offset
        let cluster = try Self.identifier(&r)
        guard cluster == self.cluster else {
            throw MeshRejection(.wrongCluster, at: clusterAt, "cluster '\(cluster)', this node is in '\(self.cluster)'")
        }
        let originAt = r.offset
        let origin = try Self.identifier(&r)
        guard origin != node else { throw MeshRejection(.ownEcho, at: originAt, "origin is this node ('\(node)')") }
        let sentAt = UInt64(try Self.u32(&r)) << 32 | UInt64(try Self.u32(&r))
        guard sentAt <= nowMillis + MeshFormat.maxClockSkewSeconds * 1000 else {
            throw MeshRejection(.clockSkew, at: r.offset - 8, "sent \((sentAt - nowMillis) / 1000) s in the future")
        }
        let sequence = UInt64(try Self.u32(&r)) << 32 | UInt64(try Self.u32(&r))
        let count = Int(try Self.u16(&r))
        var entries: [MeshEntry] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            let kindAt = r.offset
            let kind = try Self.u8(&r)
            let length = Int(try Self.u32(&r))
            guard length <= r.remaining else {
                throw MeshRejection(.truncated, at: r.offset, "entry of \(length) bytes, \(r.remaining) left")
            }
            let end = r.offset + length
            let outer = r.limit
            r.limit = end
            switch kind {
            case MeshEntry.kindRRSet: entries.append(.rrset(try rrset(&r)))
            case MeshEntry.kindNXDomain: entries.append(.negative(try negative(&r, kind: .nxDomain)))
            case MeshEntry.kindNoData: entries.append(.negative(try negative(&r, kind: .noData)))
            case MeshEntry.kindServer: entries.append(.server(try server(&r)))
            default: throw MeshRejection(.badEntryKind, at: kindAt, "entry kind \(kind)")
            }
            guard r.offset == end else {
                throw MeshRejection(.badLength, at: r.offset, "\(end - r.offset) bytes left in the entry")
            }
            r.limit = outer
        }
        guard r.atEnd else { throw MeshRejection(.badLength, at: r.offset, "\(r.remaining) bytes after the last entry") }
        return MeshBatch(cluster: cluster, origin: origin, sentAtMillis: sentAt, sequence: sequence, entries: entries)
    }

    // MARK: - Entries

    func rrset(_ r: inout WireReader) throws(MeshRejection) -> MeshRRSet {
        let name = try self.name(&r)
        let typeAt = r.offset
        let type = RRType(try Self.u16(&r))
        try checkType(type, at: typeAt)
        let rrclass = try classIN(&r)
        let ttl = try ttl(&r)
        let rankAt = r.offset
        let rank = Rank(rawValue: try Self.u8(&r))
        // A peer's data is at most an authoritative answer: `configured` (hints, anchors) is
        // local only, and unknown ranks are refused.
        guard [Rank.additional, .glue, .nonAuthoritativeAnswer, .authoritativeAuthority, .authoritativeAnswer]
            .contains(rank) else {
            throw MeshRejection(.badRank, at: rankAt, "rank \(rank.rawValue)")
        }
        let validation = try validationState(&r)
        let rdata = try items(&r, type: type, allowEmpty: false)
        let sigs = try items(&r, type: .rrsig, allowEmpty: true)
        for (i, s) in sigs.enumerated() {
            guard case let .rrsig(sig) = s.parsed, sig.typeCovered == type else {
                throw MeshRejection(.badSignature, at: r.offset, "signature \(i + 1) of \(name) \(type) covers another type")
            }
            // RFC 4035 §5.3.1: the signer is the owner's zone (at or above it), and the labels
            // field counts no more labels than the owner has (without a wildcard's '*').
            guard name.isSubdomain(of: sig.signerName), Int(sig.labels) <= name.labelCount - (name.isWildcard ? 1 : 0) else {
                throw MeshRejection(.badSignature, at: r.offset,
                                    "signature \(i + 1) of \(name) \(type) by \(sig.signerName) cannot sign that name")
            }
        }
        return MeshRRSet(name: name, type: type, rrclass: rrclass, ttl: ttl, rank: rank, validation: validation,
                         rdata: rdata.map(\.bytes), signatures: sigs.map(\.bytes))
    }

    func negative(_ r: inout WireReader, kind: CachedNegative.Kind) throws(MeshRejection) -> MeshNegative {
        let name = try self.name(&r)
        let typeAt = r.offset
        let type = RRType(try Self.u16(&r))
        if kind == .nxDomain {
            guard type.rawValue == 0 else { throw MeshRejection(.badType, at: typeAt, "NXDOMAIN entry with type \(type)") }
        } else {
            try checkType(type, at: typeAt)
        }
        let rrclass = try classIN(&r)
        let ttl = try ttl(&r)
        let validation = try validationState(&r)
        let countAt = r.offset
        let count = Int(try Self.u16(&r))
        guard (1...MeshFormat.maxNegativeRecords).contains(count) else {
            throw MeshRejection(.badRecordCount, at: countAt, "\(count) records in a negative entry")
        }
        var records: [ResourceRecord] = []
        for _ in 0..<count {
            let at = r.offset
            let owner = try self.name(&r)
            let t = RRType(try Self.u16(&r))
            let c = try classIN(&r)
            let rttl = try self.ttl(&r)
            let len = Int(try Self.u16(&r))
            let data = try Self.bytes(&r, len)
            let rd = try checkedRData(type: t, data, at: at)
            records.append(ResourceRecord(name: owner, type: t, rrclass: c, ttl: rttl, rdata: rd))
        }
        let soa = records[0]
        guard soa.type == .soa, name.isSubdomain(of: soa.name) else {
            throw MeshRejection(.badProof, at: countAt, "the first record is not the SOA of a zone enclosing \(name)")
        }
        for p in records.dropFirst() {
            let ok: Bool
            switch p.type {
            case .nsec, .nsec3: ok = p.name.isSubdomain(of: soa.name)
            case .rrsig:
                if case let .rrsig(sig) = p.rdata { ok = [.soa, .nsec, .nsec3].contains(sig.typeCovered) } else { ok = false }
            default: ok = false
            }
            guard ok else { throw MeshRejection(.badProof, at: countAt, "\(p.name) \(p.type) is not a proof for \(name)") }
        }
        return MeshNegative(kind: kind, name: name, type: type, rrclass: rrclass, ttl: ttl, validation: validation,
                            soa: soa, proofs: Array(records.dropFirst()))
    }

    func server(_ r: inout WireReader) throws(MeshRejection) -> MeshServer {
        let at = r.offset
        let high = UInt64(try Self.u32(&r)) << 32 | UInt64(try Self.u32(&r))
        let low = UInt64(try Self.u32(&r)) << 32 | UInt64(try Self.u32(&r))
        var address = ServerAddress(IPv4Address(0))
        address.high = high
        address.low = low
        let srtt = try Self.u32(&r), age = try Self.u32(&r)
        let edns = EDNSStatus(rawValue: try Self.u8(&r)), cookie = CookieStatus(rawValue: try Self.u8(&r))
        guard high != 0 || low != 0, high != 0 || low != 0xFFFF_0000_0000 else {
            throw MeshRejection(.badServer, at: at, "unspecified address")
        }
        guard (1...MeshServer.maxMicros).contains(srtt), age <= MeshServer.maxAgeSeconds, edns.rawValue <= 3,
              cookie.rawValue <= 3 else {
            throw MeshRejection(.badServer, at: at, "\(address): RTT \(srtt) µs, age \(age) s, EDNS \(edns.rawValue), cookie \(cookie.rawValue)")
        }
        return MeshServer(address: address, srttMicros: srtt, ageSeconds: age, edns: edns, cookie: cookie)
    }

    // MARK: - Fields

    /// Count-prefixed RDATA items of `type`, each checked.
    func items(_ r: inout WireReader, type: RRType, allowEmpty: Bool) throws(MeshRejection) -> [(bytes: [UInt8], parsed: RData)] {
        let at = r.offset
        let n = Int(try Self.u16(&r))
        guard n <= MeshFormat.maxRecordsPerSet, allowEmpty || n > 0 else {
            throw MeshRejection(.badRecordCount, at: at, "\(n) records of \(type)")
        }
        var out: [(bytes: [UInt8], parsed: RData)] = []
        out.reserveCapacity(n)
        for _ in 0..<n {
            let itemAt = r.offset
            let len = Int(try Self.u16(&r))
            let d = try Self.bytes(&r, len)
            out.append((d, try checkedRData(type: type, d, at: itemAt)))
        }
        return out
    }

    /// Parses RDATA on its own (no compression pointer can reach outside it) and requires that
    /// it is exactly the uncompressed form DNSCore writes, which is what the cache stores.
    func checkedRData(type: RRType, _ d: [UInt8], at: Int) throws(MeshRejection) -> RData {
        var rd = WireReader(d)
        let parsed: RData
        do {
            parsed = try RData.parse(type: type, length: d.count, from: &rd)
        } catch {
            throw MeshRejection(.badRData, at: at, "\(type): \(error)")
        }
        guard rd.atEnd, parsed.wire(type: type) == d else {
            throw MeshRejection(.badRData, at: at, "\(type) RDATA is not in uncompressed canonical form")
        }
        return parsed
    }

    func checkType(_ type: RRType, at: Int) throws(MeshRejection) {
        guard type.rawValue != 0, type.rawValue != 0xFFFF, !type.isMetaType, type != .rrsig else {
            throw MeshRejection(.badType, at: at, "type \(type.rawValue) is not cacheable data")
        }
    }

    func classIN(_ r: inout WireReader) throws(MeshRejection) -> RRClass {
        let at = r.offset
        let c = RRClass(try Self.u16(&r))
        guard c == .in else { throw MeshRejection(.badClass, at: at, "class \(c)") }
        return c
    }

    func ttl(_ r: inout WireReader) throws(MeshRejection) -> UInt32 {
        let at = r.offset
        let t = try Self.u32(&r)
        guard t <= MeshFormat.maxTTL else { throw MeshRejection(.absurdTTL, at: at, "TTL \(t) s") }
        return t
    }

    func validationState(_ r: inout WireReader) throws(MeshRejection) -> ValidationState {
        let at = r.offset
        let v = ValidationState(rawValue: try Self.u8(&r))
        guard v != .bogus else { throw MeshRejection(.bogusMarked, at: at) }
        guard [ValidationState.indeterminate, .insecure, .secure].contains(v) else {
            throw MeshRejection(.badValidationState, at: at, "state \(v.rawValue)")
        }
        return v
    }

    func name(_ r: inout WireReader) throws(MeshRejection) -> DNSName {
        let at = r.offset
        do {
            return try r.name(allowCompression: false)
        } catch {
            if case .truncated = error.kind { throw MeshRejection(.truncated, at: at, "name: \(error)") }
            throw MeshRejection(.badName, at: at, "\(error)")
        }
    }

    static func identifier(_ r: inout WireReader) throws(MeshRejection) -> MeshIdentifier {
        let at = r.offset
        let n = Int(try Self.u8(&r))
        guard let id = MeshIdentifier(bytes: try Self.bytes(&r, n)) else { throw MeshRejection(.badIdentifier, at: at) }
        return id
    }

    static func bytes(_ r: inout WireReader, _ n: Int) throws(MeshRejection) -> [UInt8] {
        do { return try r.bytes(n) } catch { throw MeshRejection(.truncated, at: r.offset, "\(error)") }
    }
    static func u8(_ r: inout WireReader) throws(MeshRejection) -> UInt8 {
        do { return try r.u8() } catch { throw MeshRejection(.truncated, at: r.offset) }
    }
    static func u16(_ r: inout WireReader) throws(MeshRejection) -> UInt16 {
        do { return try r.u16() } catch { throw MeshRejection(.truncated, at: r.offset) }
    }
    static func u32(_ r: inout WireReader) throws(MeshRejection) -> UInt32 {
        do { return try r.u32() } catch { throw MeshRejection(.truncated, at: r.offset) }
    }
}
