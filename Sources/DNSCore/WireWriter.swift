/// Builds DNS wire data, compressing names against those already written.
///
/// `mark()` and `rollback(to:)` let a message builder try a record and take it back when it does
/// not fit its size limit, compression table included.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8]
    /// Lower-cased name suffix → offset of its first occurrence (pointers reach 0x3FFF at most).
    private var table: [[UInt8]: UInt16] = [:]
    private var tableLog: [[UInt8]] = []

    public init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xFF))
    }
    public mutating func u32(_ v: UInt32) {
        bytes.append(UInt8(v >> 24)); bytes.append(UInt8((v >> 16) & 0xFF))
        bytes.append(UInt8((v >> 8) & 0xFF)); bytes.append(UInt8(v & 0xFF))
    }
    public mutating func u48(_ v: UInt64) {
        for s in stride(from: 40, through: 0, by: -8) { bytes.append(UInt8((v >> UInt64(s)) & 0xFF)) }
    }
    public mutating func append<C: Collection>(_ b: C) where C.Element == UInt8 { bytes.append(contentsOf: b) }

    /// A <character-string>. Callers guarantee at most 255 bytes (typed RDATA keeps that invariant).
    public mutating func characterString(_ s: [UInt8]) {
        let n = min(s.count, 255)
        bytes.append(UInt8(n))
        bytes.append(contentsOf: s.prefix(n))
    }

    /// Overwrites a 16-bit value written earlier (RDLENGTH, counts).
    public mutating func patch16(_ v: UInt16, at offset: Int) {
        bytes[offset] = UInt8(v >> 8)
        bytes[offset + 1] = UInt8(v & 0xFF)
    }

    /// Writes a name; with `compress`, its longest suffix already written becomes a pointer.
    /// Suffixes written here are remembered either way, so later names can point at them.
    public mutating func name(_ name: DNSName, compress: Bool) {
        let w = name.wire
        var i = 0
        while w[i] != 0 {
            let key = w[i...].map(asciiLower)
            if compress, let ptr = table[key] {
                u16(0xC000 | ptr)
                return
            }
            if bytes.count <= 0x3FFF, table[key] == nil {
                table[key] = UInt16(bytes.count)
                tableLog.append(key)
            }
            let n = Int(w[i])
            bytes.append(contentsOf: w[i...(i + n)])
            i += n + 1
        }
        bytes.append(0)
    }

    /// A point to return to.
    public struct Mark: Sendable {
        let count: Int
        let log: Int
    }

    public func mark() -> Mark { Mark(count: bytes.count, log: tableLog.count) }

    /// Forgets everything written since `m`, including compression targets.
    public mutating func rollback(to m: Mark) {
        bytes.removeSubrange(m.count...)
        while tableLog.count > m.log { table[tableLog.removeLast()] = nil }
    }
}
