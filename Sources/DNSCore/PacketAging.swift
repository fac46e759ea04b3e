/// In-place edits of a stored response, for answering a packet-cache hit without parsing it:
/// a new ID, the client's spelling of the question name, and TTLs reduced by the time the
/// response spent in the cache.
public enum PacketAging {
    /// Offsets of the TTL fields of every record except OPT, or nil when `wire` is not a
    /// well-formed message (a stored entry that does not walk is treated as a miss).
    public static func ttlOffsets(_ wire: [UInt8]) -> [Int]? {
        wire.withUnsafeBufferPointer { b -> [Int]? in
            let n = b.count
            guard n >= 12 else { return nil }
            let qd = Int(b[4]) << 8 | Int(b[5])
            let rr = (Int(b[6]) << 8 | Int(b[7])) + (Int(b[8]) << 8 | Int(b[9])) + (Int(b[10]) << 8 | Int(b[11]))
            var p = 12
            /// Skips a possibly compressed name; -1 when it runs off the end.
            func skipName(_ p: Int) -> Int {
                var p = p
                while p < n {
                    let l = Int(b[p])
                    if l == 0 { return p + 1 }
                    if l & 0xC0 == 0xC0 { return p + 2 <= n ? p + 2 : -1 }
                    if l & 0xC0 != 0 { return -1 }
                    p += l + 1
                }
                return -1
            }
            for _ in 0..<qd {
                p = skipName(p)
                guard p >= 0, p + 4 <= n else { return nil }
                p += 4
            }
            var out: [Int] = []
            out.reserveCapacity(rr)
            for _ in 0..<rr {
                p = skipName(p)
                guard p >= 0, p + 10 <= n else { return nil }
                let type = Int(b[p]) << 8 | Int(b[p + 1])
                if type != 41 { out.append(p + 4) }
                let rdlen = Int(b[p + 8]) << 8 | Int(b[p + 9])
                p += 10 + rdlen
                guard p <= n else { return nil }
            }
            return p == n ? out : nil
        }
    }

    /// Subtracts `elapsed` seconds from the TTLs at `offsets` (not below zero) and returns the
    /// lowest TTL left.
    @discardableResult
    public static func age(_ wire: inout [UInt8], ttlOffsets offsets: [Int], by elapsed: UInt32) -> UInt32 {
        var lowest = UInt32.max
        wire.withUnsafeMutableBufferPointer { b in
            for o in offsets where o + 4 <= b.count {
                let ttl = UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3])
                let left = ttl > elapsed ? ttl - elapsed : 0
                lowest = min(lowest, left)
                b[o] = UInt8(left >> 24); b[o + 1] = UInt8((left >> 16) & 0xFF)
                b[o + 2] = UInt8((left >> 8) & 0xFF); b[o + 3] = UInt8(left & 0xFF)
            }
        }
        return offsets.isEmpty ? 0 : lowest
    }

    /// Sets the ID and copies the query's question name bytes (same length, so only the case
    /// can differ) into the response, so clients using 0x20 see their own spelling.
    public static func personalize(_ wire: inout [UInt8], id: UInt16, queryName: ArraySlice<UInt8>) {
        guard wire.count >= 12 + queryName.count else { return }
        wire[0] = UInt8(id >> 8)
        wire[1] = UInt8(id & 0xFF)
        var i = 12
        for byte in queryName {
            wire[i] = byte
            i += 1
        }
    }
}

extension PacketAging {
    /// Appends an OPT record (no options) and counts it in ARCOUNT: a packet-cache entry is
    /// stored without OPT, since whether one belongs in the answer depends on each query.
    public static func appendOPT(_ wire: inout [UInt8], udpPayloadSize: UInt16, dnssecOK: Bool) {
        guard wire.count >= 12 else { return }
        let ar = UInt16(wire[10]) << 8 | UInt16(wire[11])
        guard ar < .max else { return }
        wire[10] = UInt8((ar + 1) >> 8)
        wire[11] = UInt8((ar + 1) & 0xFF)
        wire += [0, 0, 41, UInt8(udpPayloadSize >> 8), UInt8(udpPayloadSize & 0xFF),
                 0, 0, dnssecOK ? 0x80 : 0, 0, 0, 0]
    }

    /// Copies the query's RD bit into the response header.
    public static func setRecursionDesired(_ wire: inout [UInt8], _ rd: Bool) {
        guard wire.count >= 12 else { return }
        wire[2] = rd ? wire[2] | 0x01 : wire[2] & 0xFE
    }
}
