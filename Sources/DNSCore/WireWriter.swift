/// Builds DNS wire data, compressing names against those already written.
///
/// `mark()` and `rollback(to:)` let a message builder try a record and take it back when it does
/// not fit its size limit, compression table included.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8]
    /// Offsets of the labels written uncompressed so far, which later names may point at
    /// (pointers reach 0x3FFF at most). Searched linearly: messages hold few names, and this
    /// keeps building free of per-name allocations.
    private var targets: [UInt16] = []

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
    /// Labels written here are remembered either way, so later names can point at them.
    public mutating func name(_ name: DNSName, compress: Bool) {
        let w = name.wire
        // Only names already finished may be matched: this name's own labels are not yet
        // terminated, and comparing against them would read past the end of `bytes`.
        let finished = targets.count
        var i = 0
        while w[i] != 0 {
            if compress, let ptr = findSuffix(w, from: i, among: finished) {
                u16(0xC000 | ptr)
                return
            }
            if bytes.count <= 0x3FFF { targets.append(UInt16(bytes.count)) }
            let n = Int(w[i])
            bytes.append(contentsOf: w[i...(i + n)])
            i += n + 1
        }
        bytes.append(0)
    }

    /// An earlier offset holding the same name as `w[from...]` (ignoring ASCII case).
    private func findSuffix(_ w: [UInt8], from: Int, among n: Int) -> UInt16? {
        for t in targets[..<n] where equalsName(at: Int(t), w, from: from) { return t }
        return nil
    }

    /// Compares the name written at `off` (following this writer's own backward pointers) with
    /// `w[from...]`.
    private func equalsName(at off: Int, _ w: [UInt8], from: Int) -> Bool {
        var p = off, i = from
        while true {
            var len = bytes[p]
            while len & 0xC0 == 0xC0 {
                p = Int(len & 0x3F) << 8 | Int(bytes[p + 1])
                len = bytes[p]
            }
            guard len == w[i] else { return false }
            if len == 0 { return true }
            for k in 1...Int(len) where asciiLower(bytes[p + k]) != asciiLower(w[i + k]) { return false }
            p += Int(len) + 1
            i += Int(len) + 1
        }
    }

    /// A point to return to.
    public struct Mark: Sendable {
        let count: Int
        let targets: Int
    }

    public func mark() -> Mark { Mark(count: bytes.count, targets: targets.count) }

    /// Forgets everything written since `m`, including compression targets.
    public mutating func rollback(to m: Mark) {
        bytes.removeSubrange(m.count...)
        targets.removeSubrange(m.targets...)
    }
}
