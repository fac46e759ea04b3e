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
        func skipName(_ p: Int) -> Int { PacketAging.skipName(UnsafeRawBufferPointer(wire), p) }
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

    /// The offset just past the possibly compressed name at `p`; -1 when it runs off the end.
    static func skipName(_ wire: UnsafeRawBufferPointer, _ p: Int) -> Int {
        let n = wire.count
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

    /// Whether the possibly compressed names at `a` and `b` are the same name (ASCII case
    /// ignored). False for a name that does not walk (a pointer loop, a cut name).
    static func sameName(_ wire: UnsafeRawBufferPointer, _ a: Int, _ b: Int) -> Bool {
        let n = wire.count
        var a = a, b = b, steps = 0
        while steps < 256 {
            steps += 1
            guard a < n, b < n else { return false }
            // Follow pointers first (both names may end in a shared suffix).
            if wire[a] & 0xC0 == 0xC0 {
                guard a + 1 < n else { return false }
                a = Int(wire[a] & 0x3F) << 8 | Int(wire[a + 1]); continue
            }
            if wire[b] & 0xC0 == 0xC0 {
                guard b + 1 < n else { return false }
                b = Int(wire[b] & 0x3F) << 8 | Int(wire[b + 1]); continue
            }
            if a == b { return true }   // the same bytes from here on
            let l = Int(wire[a])
            guard l == Int(wire[b]), l & 0xC0 == 0, a + l < n, b + l < n else { return false }
            if l == 0 { return true }
            for i in 1...l where lowerASCII(wire[a + i]) != lowerASCII(wire[b + i]) { return false }
            a += l + 1; b += l + 1
        }
        return false
    }

    @inline(__always)
    private static func lowerASCII(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c | 0x20 : c }

    /// Cuts the message of `length` bytes in `wire` (one question, no OPT: a packet-cache
    /// entry) to at most `limit` bytes, in place, as ``Message/serialize(maxSize:)`` cuts:
    /// whole RRsets of the answer section while they fit, then of the authority section; the
    /// first that does not fit sets TC and ends the message there (no later record, no
    /// additional section). Additional RRsets are kept while they fit, without TC; unlike
    /// `serialize`, which re-compresses the names and so may keep a later, smaller RRset after
    /// one that did not fit, this stops at the first (a later record's names may point into
    /// the one left out). Returns the new length (`length` itself when it fits), or nil when
    /// not even the question fits or the message does not walk.
    public static func truncate(_ wire: UnsafeMutableRawBufferPointer, length: Int, to limit: Int) -> Int? {
        guard length >= 12, length <= wire.count else { return nil }
        if length <= limit { return length }
        let msg = UnsafeRawBufferPointer(rebasing: wire[0..<length])
        let qd = Int(wire[4]) << 8 | Int(wire[5])
        let counts = (Int(wire[6]) << 8 | Int(wire[7]), Int(wire[8]) << 8 | Int(wire[9]), Int(wire[10]) << 8 | Int(wire[11]))
        var p = 12
        for _ in 0..<qd {
            p = skipName(msg, p)
            guard p >= 0, p + 4 <= length else { return nil }
            p += 4
        }
        guard p <= limit else { return nil }
        var kept = (0, 0, 0), end = p, truncated = false
        sections: for section in 0..<3 {
            let count = section == 0 ? counts.0 : section == 1 ? counts.1 : counts.2
            var i = 0
            while i < count {
                // One RRset: records in a row with the first one's name, type and class.
                let owner = p
                var q = skipName(msg, p)
                guard q >= 0, q + 10 <= length else { return nil }
                let typeClass = (msg[q], msg[q + 1], msg[q + 2], msg[q + 3])
                var j = i
                repeat {
                    q = skipName(msg, p)
                    guard q >= 0, q + 10 <= length else { return nil }
                    p = q + 10 + (Int(msg[q + 8]) << 8 | Int(msg[q + 9]))
                    guard p <= length else { return nil }
                    j += 1
                    guard j < count else { break }
                    let r = skipName(msg, p)
                    guard r >= 0, r + 4 <= length else { return nil }
                    if (msg[r], msg[r + 1], msg[r + 2], msg[r + 3]) != typeClass || !sameName(msg, owner, p) { break }
                } while true
                if p > limit {
                    if section < 2 { truncated = true }
                    break sections
                }
                switch section {
                case 0: kept.0 += j - i
                case 1: kept.1 += j - i
                default: kept.2 += j - i
                }
                end = p
                i = j
            }
        }
        wire[6] = UInt8(kept.0 >> 8); wire[7] = UInt8(kept.0 & 0xFF)
        wire[8] = UInt8(kept.1 >> 8); wire[9] = UInt8(kept.1 & 0xFF)
        wire[10] = UInt8(kept.2 >> 8); wire[11] = UInt8(kept.2 & 0xFF)
        if truncated { wire[2] |= 0x02 }
        return end
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
