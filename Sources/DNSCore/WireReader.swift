/// A bounds-checked cursor over a DNS message.
///
/// It keeps the whole message so names can follow compression pointers, and a `limit` so a
/// record's data cannot be read past its RDLENGTH. Every read checks its length first and throws
/// ``WireError`` instead of trapping.
public struct WireReader: Sendable {
    public let bytes: [UInt8]
    /// Next byte to read.
    public var offset: Int
    /// Reads stop here (the end of the message, or of the current RDATA).
    public var limit: Int
    /// Compression pointers below this offset are refused: 12 for a whole message, whose
    /// header holds no names.
    public var minPointerTarget = 0

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
        self.limit = bytes.count
    }

    public var remaining: Int { limit - offset }
    public var atEnd: Bool { offset >= limit }

    @inline(__always)
    func need(_ n: Int) throws(WireError) {
        if n < 0 || limit - offset < n {
            throw WireError(.truncated(needed: n, available: max(0, limit - offset)), at: offset)
        }
    }

    public mutating func u8() throws(WireError) -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func u16() throws(WireError) -> UInt16 {
        try need(2)
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    public mutating func u32() throws(WireError) -> UInt32 {
        try need(4)
        defer { offset += 4 }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
            | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    /// 48-bit unsigned integer (RRSIG-style times are 32-bit; this is for TSIG-like fields).
    public mutating func u48() throws(WireError) -> UInt64 {
        try need(6)
        var v: UInt64 = 0
        for i in 0..<6 { v = v << 8 | UInt64(bytes[offset + i]) }
        offset += 6
        return v
    }

    public mutating func bytes(_ n: Int) throws(WireError) -> [UInt8] {
        try need(n)
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }

    /// Everything up to `limit`.
    public mutating func rest() -> [UInt8] {
        defer { offset = limit }
        return offset < limit ? Array(bytes[offset..<limit]) : []
    }

    /// A <character-string>: one length byte, then that many bytes.
    public mutating func characterString() throws(WireError) -> [UInt8] {
        let n = Int(try u8())
        return try bytes(n)
    }

    public mutating func skip(_ n: Int) throws(WireError) {
        try need(n)
        offset += n
    }

    /// Most compression pointers followed for one name.
    public static let maxPointers = 126

    /// Reads a domain name, following compression pointers when `allowCompression` is set.
    ///
    /// Pointers must point strictly before the pointer itself, so chains always terminate; labels
    /// are limited to 63 bytes, the name to 255, and the pointers followed to ``maxPointers``.
    public mutating func name(allowCompression: Bool = true) throws(WireError) -> DNSName {
        var wire: [UInt8] = []
        wire.reserveCapacity(32)
        var pos = offset
        var end: Int? = nil          // where the reader continues after the first pointer
        var lowestJump = pos          // every pointer must go below all earlier positions
        var hops = 0                  // backward-only pointers still allow thousands of hops
        while true {
            let bound = end == nil ? limit : bytes.count
            guard pos < bound else {
                throw WireError(.truncated(needed: 1, available: 0), at: pos)
            }
            let len = bytes[pos]
            switch len & 0xC0 {
            case 0x00:
                let n = Int(len)
                if n == 0 {
                    wire.append(0)
                    if wire.count > 255 { throw WireError(.nameTooLong, at: pos) }
                    offset = end ?? (pos + 1)
                    return DNSName(uncheckedWire: wire)
                }
                guard pos + 1 + n <= bound else {
                    throw WireError(.truncated(needed: n + 1, available: bound - pos), at: pos)
                }
                if wire.count + 1 + n + 1 > 255 { throw WireError(.nameTooLong, at: pos) }
                wire.append(len)
                wire.append(contentsOf: bytes[pos + 1...pos + n])
                pos += 1 + n
            case 0xC0:
                guard allowCompression else { throw WireError(.pointerNotAllowed, at: pos) }
                guard pos + 1 < bound else {
                    throw WireError(.truncated(needed: 2, available: bound - pos), at: pos)
                }
                let target = Int(len & 0x3F) << 8 | Int(bytes[pos + 1])
                guard target < lowestJump else {
                    throw WireError(.forwardPointer(target: target), at: pos)
                }
                guard target >= minPointerTarget else {
                    throw WireError(.invalidField("compression pointer into the header"), at: pos)
                }
                // Each hop of a valid name adds a label of at least one byte: no name needs
                // more than 126 (as miekg/dns). Without a cap, one 64 KiB message of names
                // pointing at a long pointer chain costs ~1000× a normal parse.
                hops += 1
                guard hops <= Self.maxPointers else { throw WireError(.pointerNotAllowed, at: pos) }
                if end == nil { end = pos + 2 }
                lowestJump = target
                pos = target
            default:
                throw WireError(.badLabelType(len), at: pos)
            }
        }
    }
}
