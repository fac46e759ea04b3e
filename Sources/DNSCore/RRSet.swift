/// All records of one owner, type and class, with the RRSIGs that cover them.
///
/// This is the unit a cache stores and DNSSEC signs. `ttl` is the lowest TTL of the records
/// (RFC 2181 §5.2 asks for equal TTLs; taking the minimum is what resolvers do).
public struct RRSet: Hashable, Sendable {
    public var name: DNSName
    public var type: RRType
    public var rrclass: RRClass
    public var ttl: UInt32
    public var rdatas: [RData]
    public var signatures: [RRSIG]

    public init(name: DNSName, type: RRType, rrclass: RRClass = .in, ttl: UInt32, rdatas: [RData],
                signatures: [RRSIG] = []) {
        self.name = name; self.type = type; self.rrclass = rrclass; self.ttl = ttl
        self.rdatas = rdatas; self.signatures = signatures
    }

    /// The records, RRSIGs last.
    public var records: [ResourceRecord] {
        rdatas.map { ResourceRecord(name: name, type: type, rrclass: rrclass, ttl: ttl, rdata: $0) }
            + signatures.map { ResourceRecord(name: name, type: .rrsig, rrclass: rrclass, ttl: ttl, rdata: .rrsig($0)) }
    }

    /// Groups records into RRsets in order of first appearance, attaching each RRSIG to the set of
    /// its owner, class and covered type. RRSIGs whose covered set is absent form an RRset of
    /// type RRSIG of their own. Duplicate RDATA is dropped (RFC 2181 §5).
    public static func group(_ records: [ResourceRecord]) -> [RRSet] {
        struct Key: Hashable { var name: DNSName; var type: RRType; var rrclass: RRClass }
        // A response holds a handful of RRsets: a linear scan of their keys beats hashing every
        // name. Large ones (zone-transfer-like) get a dictionary, so the cost stays linear.
        var keys: [Key] = []
        var hashed: [Key: Int]? = records.count > 32 ? [:] : nil
        func position(_ k: Key) -> Int? { hashed.map { $0[k] } ?? keys.firstIndex(of: k) }
        func add(_ k: Key) {
            hashed?[k] = keys.count
            keys.append(k)
        }
        var sets: [RRSet] = []
        var orphanSigs: [(Key, UInt32, RRSIG)] = []
        for rr in records {
            if rr.type == .rrsig, case let .rrsig(sig) = rr.rdata {
                orphanSigs.append((Key(name: rr.name, type: sig.typeCovered, rrclass: rr.rrclass), rr.ttl, sig))
                continue
            }
            let k = Key(name: rr.name, type: rr.type, rrclass: rr.rrclass)
            if let i = position(k) {
                if !sets[i].rdatas.contains(rr.rdata) { sets[i].rdatas.append(rr.rdata) }
                sets[i].ttl = min(sets[i].ttl, rr.ttl)
            } else {
                add(k)
                sets.append(RRSet(name: rr.name, type: rr.type, rrclass: rr.rrclass, ttl: rr.ttl, rdatas: [rr.rdata]))
            }
        }
        for (k, ttl, sig) in orphanSigs {
            if let i = position(k) {
                if !sets[i].signatures.contains(sig) { sets[i].signatures.append(sig) }
            } else {
                let sk = Key(name: k.name, type: .rrsig, rrclass: k.rrclass)
                if let i = position(sk) {
                    if !sets[i].rdatas.contains(.rrsig(sig)) { sets[i].rdatas.append(.rrsig(sig)) }
                    sets[i].ttl = min(sets[i].ttl, ttl)
                } else {
                    add(sk)
                    sets.append(RRSet(name: k.name, type: .rrsig, rrclass: k.rrclass, ttl: ttl, rdatas: [.rrsig(sig)]))
                }
            }
        }
        return sets
    }

    /// The canonical RDATA of each record (RFC 4034 §6.2), sorted and without duplicates
    /// (RFC 4034 §6.3).
    public var canonicalRDatas: [[UInt8]] {
        var seen = Set<[UInt8]>()
        return rdatas.map { $0.wire(type: type, canonical: true) }
            .filter { seen.insert($0).inserted }
            .sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// The data an RRSIG over this set signs (RFC 4034 §3.1.8.1 and §6.2): the RRSIG RDATA
    /// without its signature, then every record in canonical form and order, with the RRSIG's
    /// original TTL and, for a wildcard expansion (`labels` fewer than the owner's), the owner
    /// rebuilt as `*.` and the rightmost `labels` labels.
    ///
    /// Returns nil when `labels` exceeds the owner's label count: such a signature cannot match.
    public func signedData(for sig: RRSIG) -> [UInt8]? {
        let ownerLabels = name.labelCount
        guard Int(sig.labels) <= ownerLabels else { return nil }
        var owner = name.lowercased
        if Int(sig.labels) < ownerLabels {
            owner = DNSName(uncheckedWire: [1, 0x2A] + owner.suffix(labels: Int(sig.labels)).wire)
        }
        var w = WireWriter(capacity: 512)
        sig.writeWithoutSignature(to: &w, lowercase: true)
        for rd in canonicalRDatas {
            w.append(owner.wire)
            w.u16(type.rawValue); w.u16(rrclass.rawValue); w.u32(sig.originalTTL)
            w.u16(UInt16(truncatingIfNeeded: rd.count))
            w.append(rd)
        }
        return w.bytes
    }
}

extension DNSKEY {
    /// The key tag (RFC 4034 Appendix B), including the special case of algorithm 1.
    public var keyTag: UInt16 {
        var w = WireWriter(capacity: 4 + publicKey.count)
        RData.dnskey(self).write(type: .dnskey, to: &w, compress: false)
        let rd = w.bytes
        if algorithm.rawValue == 1 {
            guard rd.count >= 4 else { return 0 }
            return UInt16(rd[rd.count - 3]) << 8 | UInt16(rd[rd.count - 2])
        }
        var ac: UInt32 = 0
        for (i, b) in rd.enumerated() { ac &+= (i & 1) == 1 ? UInt32(b) : UInt32(b) << 8 }
        ac &+= (ac >> 16) & 0xFFFF
        return UInt16(ac & 0xFFFF)
    }

    /// What a DS digest is computed over (RFC 4034 §5.1.4): the owner's canonical wire form,
    /// then the DNSKEY RDATA.
    public func digestInput(owner: DNSName) -> [UInt8] {
        owner.lowercased.wire + RData.dnskey(self).wire(type: .dnskey)
    }
}
