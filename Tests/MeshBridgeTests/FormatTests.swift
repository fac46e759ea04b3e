import DNSCore
import ShmCache
import Testing
@testable import MeshBridge

let cluster = MeshIdentifier("lab")!
let peer = MeshIdentifier("node-a")!
let me = MeshIdentifier("node-b")!

func rrsig(covering t: RRType, zone: String = "example.", labels: UInt8 = 2) -> [UInt8] {
    RData.rrsig(RRSIG(typeCovered: t, algorithm: .ecdsaP256SHA256, labels: labels, originalTTL: 300, expiration: 2_000_000_000,
                      inception: 1_700_000_000, keyTag: 4242, signerName: dn(zone), signature: Array(repeating: 7, count: 64)))
        .wire(type: .rrsig)
}

func sampleRRSet(_ name: String = "www.example.", ttl: UInt32 = 300) -> MeshRRSet {
    MeshRRSet(name: dn(name), type: .a, ttl: ttl, rank: .authoritativeAnswer, validation: .secure,
              rdata: [aRecord(0x0A00_0001), aRecord(0x0A00_0002)], signatures: [rrsig(covering: .a)])
}

func sampleNegative() -> MeshNegative {
    let nsec = ResourceRecord(name: dn("a.example."), type: .nsec, ttl: 300,
                              rdata: .nsec(NSEC(nextName: dn("c.example."), types: TypeBitmap([.a, .rrsig, .nsec]))))
    let sig = ResourceRecord(name: dn("a.example."), type: .rrsig, ttl: 300, rdata: try! {
        var r = WireReader(rrsig(covering: .nsec))
        return try RData.parse(type: .rrsig, length: r.remaining, from: &r)
    }())
    return MeshNegative(kind: .nxDomain, name: dn("b.example."), type: RRType(0), ttl: 300, validation: .secure,
                        soa: soaRecord("example."), proofs: [nsec, sig])
}

/// One RRset entry with every field as given, encoded by hand (what a hostile peer can send).
func rawRRSetEntry(nameWire: [UInt8], type: UInt16 = 1, rrclass: UInt16 = 1, ttl: UInt32 = 300, rank: UInt8 = 50,
                   validation: UInt8 = 1, rdata: [[UInt8]] = [[10, 0, 0, 1]], sigs: [[UInt8]] = []) -> [UInt8] {
    var b = WireWriter()
    b.append(nameWire)
    b.u16(type); b.u16(rrclass); b.u32(ttl); b.u8(rank); b.u8(validation)
    for list in [rdata, sigs] {
        b.u16(UInt16(list.count))
        for d in list { b.u16(UInt16(d.count)); b.append(d) }
    }
    let n = UInt32(b.count)
    return [1, UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + b.bytes
}

func rawBatch(_ entries: [[UInt8]], cluster c: MeshIdentifier = cluster, origin: MeshIdentifier = peer,
              sentAt: UInt64 = nowMillis()) -> [UInt8] {
    var e = BatchEncoder(cluster: c, origin: origin, maxPayload: 1 << 20)
    for x in entries { let ok = e.add(encoded: x); #expect(ok) }
    return e.finish(sentAtMillis: sentAt, sequence: 1)
}

/// A server entry with every field as given, encoded by hand.
func server(high: UInt64 = 0, low: UInt64 = 0xFFFF_C000_0235, srtt: UInt32 = 5000, age: UInt32 = 1, edns: UInt8 = 1,
            cookie: UInt8 = 0) -> [UInt8] {
    var b = WireWriter()
    b.u32(UInt32(high >> 32)); b.u32(UInt32(truncatingIfNeeded: high)); b.u32(UInt32(low >> 32)); b.u32(UInt32(truncatingIfNeeded: low))
    b.u32(srtt); b.u32(age); b.u8(edns); b.u8(cookie)
    return [4, 0, 0, 0, UInt8(b.count)] + b.bytes
}

let decoder = BatchDecoder(cluster: cluster, node: me, maxPayload: MeshFormat.minPayload)
let www = dn("www.example.").wire

/// Hostile and broken messages, each with the reason it must be refused for.
let hostile: [(String, [UInt8], RejectionReason)] = {
    let good = BatchEncoder.batch([.rrset(sampleRRSet())], cluster: cluster, origin: peer, sentAtMillis: nowMillis())!
    var wrongVersion = good; wrongVersion[2] = 2
    var badMagic = good; badMagic[0] = 0x47
    let longName: [UInt8] = Array(repeating: [UInt8(63)] + [UInt8](repeating: UInt8(ascii: "a"), count: 63), count: 5).flatMap { $0 } + [0]
    let pointerName: [UInt8] = [3, 0x77, 0x77, 0x77, 0xC0, 0x00]
    let nsWithPointer: [UInt8] = [2, 0x6E, 0x73, 0xC0, 0x00]
    var wrongSOA = sampleNegative(); wrongSOA.soa = ResourceRecord(name: dn("other."), type: .soa, ttl: 300,
                                                                   rdata: soaRecord("other.").rdata)
    return [
        ("truncated: last byte missing", Array(good.dropLast()), .truncated),
        ("truncated: header only", Array(good.prefix(6)), .truncated),
        ("oversized", good + Array(repeating: 0, count: MeshFormat.minPayload + 1 - good.count), .oversized),
        ("bad magic", badMagic, .badMagic),
        ("wrong version", wrongVersion, .wrongVersion),
        ("wrong cluster", BatchEncoder.batch([.rrset(sampleRRSet())], cluster: MeshIdentifier("prod")!, origin: peer,
                                             sentAtMillis: nowMillis())!, .wrongCluster),
        ("own echo", BatchEncoder.batch([.rrset(sampleRRSet())], cluster: cluster, origin: me, sentAtMillis: nowMillis())!,
         .ownEcho),
        ("sent an hour ahead", rawBatch([rawRRSetEntry(nameWire: www)], sentAt: nowMillis() + 3_600_000), .clockSkew),
        ("absurd TTL", rawBatch([rawRRSetEntry(nameWire: www, ttl: 0x7FFF_FFFF)]), .absurdTTL),
        ("TTL just above a week", rawBatch([rawRRSetEntry(nameWire: www, ttl: 604_801)]), .absurdTTL),
        ("name over 255 bytes", rawBatch([rawRRSetEntry(nameWire: longName)]), .badName),
        ("compressed owner name", rawBatch([rawRRSetEntry(nameWire: pointerName)]), .badName),
        ("type 0", rawBatch([rawRRSetEntry(nameWire: www, type: 0)]), .badType),
        ("type OPT", rawBatch([rawRRSetEntry(nameWire: www, type: 41)]), .badType),
        ("type ANY", rawBatch([rawRRSetEntry(nameWire: www, type: 255)]), .badType),
        ("type 65535", rawBatch([rawRRSetEntry(nameWire: www, type: 65535)]), .badType),
        ("RRSIG as a set", rawBatch([rawRRSetEntry(nameWire: www, type: 46, rdata: [rrsig(covering: .a)])]), .badType),
        ("class CH", rawBatch([rawRRSetEntry(nameWire: www, rrclass: 3)]), .badClass),
        ("rank configured", rawBatch([rawRRSetEntry(nameWire: www, rank: 60)]), .badRank),
        ("rank 7", rawBatch([rawRRSetEntry(nameWire: www, rank: 7)]), .badRank),
        ("bogus-marked", rawBatch([rawRRSetEntry(nameWire: www, validation: 3)]), .bogusMarked),
        ("validation state 9", rawBatch([rawRRSetEntry(nameWire: www, validation: 9)]), .badValidationState),
        ("A of 5 bytes", rawBatch([rawRRSetEntry(nameWire: www, rdata: [[1, 2, 3, 4, 5]])]), .badRData),
        ("NS with a compression pointer", rawBatch([rawRRSetEntry(nameWire: www, type: 2, rdata: [nsWithPointer])]), .badRData),
        ("no records", rawBatch([rawRRSetEntry(nameWire: www, rdata: [])]), .badRecordCount),
        ("signature of another type", rawBatch([rawRRSetEntry(nameWire: www, sigs: [rrsig(covering: .aaaa)])]), .badSignature),
        ("signed by another zone", rawBatch([rawRRSetEntry(nameWire: www, sigs: [rrsig(covering: .a, zone: "example.org.")])]),
         .badSignature),
        ("signature with more labels than the owner", rawBatch([rawRRSetEntry(nameWire: www, sigs: [rrsig(covering: .a, labels: 3)])]),
         .badSignature),
        ("negative with a foreign SOA", BatchEncoder.batch([.negative(wrongSOA)], cluster: cluster, origin: peer,
                                                           sentAtMillis: nowMillis())!, .badProof),
        ("entry kind 9", rawBatch([[9, 0, 0, 0, 0]]), .badEntryKind),
        ("server with RTT 0", rawBatch([server(srtt: 0)]), .badServer),
        ("server with RTT 11 s", rawBatch([server(srtt: 11_000_000)]), .badServer),
        ("server measured a day ago", rawBatch([server(age: 86_400)]), .badServer),
        ("server with EDNS status 9", rawBatch([server(edns: 9)]), .badServer),
        ("server ::", rawBatch([server(high: 0, low: 0)]), .badServer),
        ("server entry cut short", rawBatch([Array(server().dropLast(2)).enumerated().map { $0.offset == 4 ? $0.element - 2 : $0.element }]),
         .truncated),
        ("bytes after the last entry", good + [0], .badLength),
        ("cluster name with a dot", {
            var b = good; b[5] = 0x2E; return b
        }(), .badIdentifier),
    ]
}()

@Suite struct FormatTests {
    @Test func roundTrip() throws {
        let entries: [MeshEntry] = [.rrset(sampleRRSet()), .negative(sampleNegative()),
                                    .negative(MeshNegative(kind: .noData, name: dn("www.example."), type: .aaaa, ttl: 60,
                                                           validation: .insecure, soa: soaRecord("example."))),
                                    .server(MeshServer(address: ServerAddress(IPv4Address(192, 0, 2, 53)), srttMicros: 12_345,
                                                       ageSeconds: 3, edns: .ok, cookie: .supported))]
        let sent = nowMillis()
        let bytes = try #require(BatchEncoder.batch(entries, cluster: cluster, origin: peer, sentAtMillis: sent, sequence: 77))
        let batch = try decoder.decode(bytes, nowMillis: sent)
        #expect(batch.origin == peer)
        #expect(batch.cluster == cluster)
        #expect(batch.sequence == 77)
        #expect(batch.sentAtMillis == sent)
        #expect(batch.entries == entries)
    }

    @Test func ttlAboveAWeekIsSentAsAWeek() throws {
        let bytes = try #require(BatchEncoder.batch([.rrset(sampleRRSet(ttl: 10_000_000))], cluster: cluster, origin: peer,
                                                    sentAtMillis: nowMillis()))
        guard case let .rrset(s) = try decoder.decode(bytes, nowMillis: nowMillis()).entries.first else {
            Issue.record("no RRset"); return
        }
        #expect(s.ttl == MeshFormat.maxTTL)
    }

    @Test func batchesRespectTheMaximumPayload() throws {
        var enc = BatchEncoder(cluster: cluster, origin: peer, maxPayload: MeshFormat.minPayload)
        var batches: [[UInt8]] = []
        let big = (0..<40).map { i in [UInt8](repeating: UInt8(i), count: 250) }
        for i in 0..<2000 {
            var s = sampleRRSet("h\(i).example.")
            s.type = .txt
            s.rdata = big.map { [UInt8(249)] + $0.prefix(249) }
            s.signatures = []
            let e = BatchEncoder.encode(.rrset(s))
            if !enc.add(encoded: e) {
                batches.append(enc.finish(sentAtMillis: nowMillis(), sequence: UInt64(batches.count)))
                let ok = enc.add(encoded: e)
                #expect(ok)
            }
        }
        batches.append(enc.finish(sentAtMillis: nowMillis(), sequence: UInt64(batches.count)))
        #expect(batches.count > 100)
        var total = 0
        for b in batches {
            #expect(b.count <= MeshFormat.minPayload)
            total += try decoder.decode(b, nowMillis: nowMillis()).entries.count
        }
        #expect(total == 2000)
    }

    @Test(arguments: hostile.indices)
    func hostileInputIsRejected(_ i: Int) {
        let (what, bytes, reason) = hostile[i]
        do {
            let b = try decoder.decode(bytes, nowMillis: nowMillis())
            Issue.record("\(what): accepted \(b.entries.count) entries")
        } catch {
            #expect(error.reason == reason, "\(what): \(error)")
        }
    }

    /// Random corruption of valid batches never traps: each is decoded or refused.
    @Test func mutatedBatchesNeverTrap() throws {
        let good = try #require(BatchEncoder.batch([.rrset(sampleRRSet()), .negative(sampleNegative())], cluster: cluster,
                                                   origin: peer, sentAtMillis: nowMillis()))
        var rng = SplitMix64(seed: 12)
        var refused = 0
        for _ in 0..<20_000 {
            var b = good
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                case 1: b.removeLast(Int.random(in: 0..<min(b.count, 40), using: &rng))
                default: b.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0...b.count, using: &rng))
                }
                if b.isEmpty { break }
            }
            if (try? decoder.decode(b, nowMillis: nowMillis())) == nil { refused += 1 }
        }
        #expect(refused > 15_000)
    }
}
