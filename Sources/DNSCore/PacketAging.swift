/// In-place edits of a stored response, for answering a packet-cache hit without parsing it:
/// a new ID, the client's spelling of the question name, RD, an OPT record, and TTLs reduced by
/// the time the response spent in the cache.
///
/// Each edit works on raw bytes (the hit path writes the answer straight into a send buffer,
/// allocating nothing); the `[UInt8]` forms call the same code.
public enum PacketAging {
    /// Lowers every TTL of the message in `wire` (OPT excepted) by `elapsed` seconds, not below
    /// zero, in one walk. False when `wire` is not a well-formed message (a stored entry that
    /// does not walk is treated as a miss); nothing is changed then.
    @discardableResult
    public static func age(_ wire: UnsafeMutableRawBufferPointer, by elapsed: UInt32) -> Bool {
        let n = wire.count
        guard n >= 12 else { return false }
        let qd = Int(wire[4]) << 8 | Int(wire[5])
        let rr = (Int(wire[6]) << 8 | Int(wire[7])) + (Int(wire[8]) << 8 | Int(wire[9])) + (Int(wire[10]) << 8 | Int(wire[11]))
        /// Skips a possibly compressed name; -1 when it runs off the end.
        func skipName(_ p: Int) -> Int {
            var p = p
            while p < n {
                let l = Int(wire[p])
                if l == 0 { return p + 1 }
                if l & 0xC0 == 0xC0 { return p + 2 <= n ? p + 2 : -1 }
                if l & 0xC0 != 0 { return -1 }
                p += l + 1
            }
            return -1
        }
        var p = 12
        for _ in 0..<qd {
            p = skipName(p)
            guard p >= 0, p + 4 <= n else { return false }
            p += 4
        }
        // First the walk, then the edits: a malformed entry is left as it was.
        let recordsStart = p
        for _ in 0..<rr {
            p = skipName(p)
            guard p >= 0, p + 10 <= n else { return false }
            p += 10 + (Int(wire[p + 8]) << 8 | Int(wire[p + 9]))
            guard p <= n else { return false }
        }
        guard p == n else { return false }
        guard elapsed > 0 else { return true }
        p = recordsStart
        for _ in 0..<rr {
            p = skipName(p)
            if !(wire[p] == 0 && wire[p + 1] == 41) {
                let o = p + 4
                let ttl = UInt32(wire[o]) << 24 | UInt32(wire[o + 1]) << 16 | UInt32(wire[o + 2]) << 8 | UInt32(wire[o + 3])
                let left = ttl > elapsed ? ttl - elapsed : 0
                wire[o] = UInt8(left >> 24); wire[o + 1] = UInt8((left >> 16) & 0xFF)
                wire[o + 2] = UInt8((left >> 8) & 0xFF); wire[o + 3] = UInt8(left & 0xFF)
            }
            p += 10 + (Int(wire[p + 8]) << 8 | Int(wire[p + 9]))
        }
        return true
    }

    /// Sets the ID and copies the query's question name bytes (same length, so only the case
    /// can differ) into the response, so clients using 0x20 see their own spelling.
    public static func personalize(_ wire: UnsafeMutableRawBufferPointer, id: UInt16, queryName: UnsafeRawBufferPointer) {
        guard wire.count >= 12 + queryName.count else { return }
        wire[0] = UInt8(id >> 8)
        wire[1] = UInt8(id & 0xFF)
        UnsafeMutableRawBufferPointer(rebasing: wire[12..<(12 + queryName.count)]).copyMemory(from: queryName)
    }

    /// Copies the query's RD bit into the response header.
    public static func setRecursionDesired(_ wire: UnsafeMutableRawBufferPointer, _ rd: Bool) {
        guard wire.count >= 12 else { return }
        wire[2] = rd ? wire[2] | 0x01 : wire[2] & 0xFE
    }

    /// Bytes of the OPT record ``appendOPT(_:length:udpPayloadSize:dnssecOK:)`` adds.
    public static let optBytes = 11

    /// Appends an OPT record (no options) after the `length` bytes of the message in `wire`
    /// and counts it in ARCOUNT: a packet-cache entry is stored without OPT, since whether one
    /// belongs in the answer depends on each query. Returns the new length, or nil when it does
    /// not fit.
    public static func appendOPT(_ wire: UnsafeMutableRawBufferPointer, length: Int, udpPayloadSize: UInt16, dnssecOK: Bool) -> Int? {
        guard length >= 12, length + optBytes <= wire.count else { return nil }
        let ar = UInt16(wire[10]) << 8 | UInt16(wire[11])
        guard ar < .max else { return nil }
        wire[10] = UInt8((ar + 1) >> 8)
        wire[11] = UInt8((ar + 1) & 0xFF)
        let opt: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 41, UInt8(udpPayloadSize >> 8), UInt8(udpPayloadSize & 0xFF), 0, 0, dnssecOK ? 0x80 : 0, 0, 0, 0)
        withUnsafeBytes(of: opt) { UnsafeMutableRawBufferPointer(rebasing: wire[length..<(length + optBytes)]).copyMemory(from: $0) }
        return length + optBytes
    }
}

extension PacketAging {
    /// ``age(_:by:)`` on an array.
    @discardableResult
    public static func age(_ wire: inout [UInt8], by elapsed: UInt32) -> Bool {
        wire.withUnsafeMutableBytes { age($0, by: elapsed) }
    }

    public static func personalize(_ wire: inout [UInt8], id: UInt16, queryName: ArraySlice<UInt8>) {
        wire.withUnsafeMutableBytes { w in queryName.withUnsafeBytes { personalize(w, id: id, queryName: $0) } }
    }

    public static func appendOPT(_ wire: inout [UInt8], udpPayloadSize: UInt16, dnssecOK: Bool) {
        let length = wire.count
        guard length >= 12 else { return }
        wire += [UInt8](repeating: 0, count: optBytes)
        let done = wire.withUnsafeMutableBytes { appendOPT($0, length: length, udpPayloadSize: udpPayloadSize, dnssecOK: dnssecOK) }
        if done == nil { wire.removeLast(optBytes) }
    }

    public static func setRecursionDesired(_ wire: inout [UInt8], _ rd: Bool) {
        wire.withUnsafeMutableBytes { setRecursionDesired($0, rd) }
    }
}
