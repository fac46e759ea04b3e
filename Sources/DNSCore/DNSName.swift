/// A domain name as label bytes: its uncompressed wire form, ending with the root label.
///
/// Equality and hashing ignore ASCII case (RFC 4343); the original case is kept for output.
/// Ordering (`<`) is the canonical DNS order of RFC 4034 §6.1.
public struct DNSName: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Uncompressed wire form: length-prefixed labels, then a zero byte. At most 255 bytes.
    public private(set) var wire: [UInt8]

    /// The root name ".".
    public static let root = DNSName(uncheckedWire: [0])

    /// Wraps wire bytes already known to be a valid uncompressed name.
    init(uncheckedWire wire: [UInt8]) {
        self.wire = wire
    }

    /// Validates and wraps an uncompressed wire-form name.
    public init(wire: [UInt8]) throws(WireError) {
        var r = WireReader(wire)
        let n = try r.name(allowCompression: false)
        if !r.atEnd { throw WireError(.trailingBytes(r.remaining), at: r.offset) }
        self = n
    }

    /// Builds a name from labels (without the root label).
    public init<S: Sequence>(labels: S) throws(PresentationError) where S.Element == [UInt8] {
        var w: [UInt8] = []
        for l in labels {
            guard !l.isEmpty else { throw PresentationError("empty label") }
            guard l.count <= 63 else { throw PresentationError("label of \(l.count) bytes (limit 63)") }
            w.append(UInt8(l.count))
            w.append(contentsOf: l)
        }
        w.append(0)
        guard w.count <= 255 else { throw PresentationError("name of \(w.count) bytes (limit 255)") }
        wire = w
    }

    public var isRoot: Bool { wire.count == 1 }

    /// Number of labels, not counting the root label.
    public var labelCount: Int {
        var n = 0, i = 0
        while wire[i] != 0 { n += 1; i += Int(wire[i]) + 1 }
        return n
    }

    /// Labels from the leftmost, without the root label.
    public var labels: [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        var i = 0
        while wire[i] != 0 {
            let n = Int(wire[i])
            out.append(wire[(i + 1)..<(i + 1 + n)])
            i += n + 1
        }
        return out
    }

    /// The name with its leftmost label removed, or nil for the root.
    public var parent: DNSName? {
        guard !isRoot else { return nil }
        return DNSName(uncheckedWire: Array(wire[(Int(wire[0]) + 1)...]))
    }

    /// Drops the `n` leftmost labels (n ≤ labelCount).
    public func dropping(labels n: Int) -> DNSName {
        var i = 0
        for _ in 0..<n where wire[i] != 0 { i += Int(wire[i]) + 1 }
        return DNSName(uncheckedWire: Array(wire[i...]))
    }

    /// The ancestor with `count` labels (the rightmost `count` labels).
    public func suffix(labels count: Int) -> DNSName {
        dropping(labels: max(0, labelCount - count))
    }

    /// Prepends one label. Throws when the label or the result is too long.
    public func prepending(_ label: [UInt8]) throws(PresentationError) -> DNSName {
        guard !label.isEmpty, label.count <= 63 else { throw PresentationError("bad label length \(label.count)") }
        guard wire.count + label.count + 1 <= 255 else { throw PresentationError("name too long") }
        return DNSName(uncheckedWire: [UInt8(label.count)] + label + wire)
    }

    /// Concatenates a relative name (given as this name's labels) onto `origin`.
    public func appending(_ origin: DNSName) throws(PresentationError) -> DNSName {
        let w = Array(wire.dropLast()) + origin.wire
        guard w.count <= 255 else { throw PresentationError("name too long after appending origin") }
        return DNSName(uncheckedWire: w)
    }

    /// True when self equals `other` or lies below it.
    public func isSubdomain(of other: DNSName) -> Bool {
        let d = labelCount - other.labelCount
        guard d >= 0 else { return false }
        return dropping(labels: d) == other
    }

    /// True when self lies strictly below `other`.
    public func isStrictSubdomain(of other: DNSName) -> Bool {
        self != other && isSubdomain(of: other)
    }

    /// Whether the leftmost label is `*`.
    public var isWildcard: Bool { wire.count >= 2 && wire[0] == 1 && wire[1] == 0x2A }

    /// ASCII-lower-cased copy (RFC 4034 §6.2 canonical form of a name).
    public var lowercased: DNSName {
        DNSName(uncheckedWire: wire.map(asciiLower))
    }

    /// The deepest name both share.
    public func commonAncestor(with other: DNSName) -> DNSName {
        let a = labels.reversed(), b = other.labels.reversed()
        var n = 0
        for (x, y) in zip(a, b) {
            guard x.count == y.count, zip(x, y).allSatisfy({ asciiLower($0) == asciiLower($1) }) else { break }
            n += 1
        }
        return suffix(labels: n)
    }

    // MARK: Equality, hashing, ordering

    public static func == (a: DNSName, b: DNSName) -> Bool {
        // Length bytes are 0...63, below "A", so folding the whole wire form is safe.
        guard a.wire.count == b.wire.count else { return false }
        for i in 0..<a.wire.count where asciiLower(a.wire[i]) != asciiLower(b.wire[i]) {
            return false
        }
        return true
    }

    /// Hashes the lower-cased wire form eight bytes at a time (names are hashed on every cache
    /// and dictionary lookup; a byte at a time was a visible share of a resolution's CPU).
    public func hash(into h: inout Hasher) {
        wire.withUnsafeBytes { raw in
            var i = 0
            while i + 8 <= raw.count {
                h.combine(Self.lower8(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
                i += 8
            }
            var tail: UInt64 = 0
            for (k, b) in raw[i...].enumerated() { tail |= UInt64(b) << (8 * k) }
            h.combine(Self.lower8(tail))
            h.combine(raw.count)
        }
    }

    /// ASCII lower-casing of eight bytes at once (SWAR): bytes in "A"..."Z" get 0x20 added,
    /// every other byte (length octets, digits, bytes ≥ 0x80) is left as it is.
    @inline(__always)
    static func lower8(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        let low7 = w & ~high
        let atLeastA = (low7 &+ ones &* (0x80 - 0x41)) & high   // low 7 bits ≥ 0x41
        let aboveZ = (low7 &+ ones &* (0x80 - 0x5B)) & high     // low 7 bits ≥ 0x5B
        let upper = atLeastA & ~aboveZ & ~w & high              // and the top bit clear
        return w | (upper >> 2)
    }

    /// Canonical order (RFC 4034 §6.1): compare label by label from the right, each label as
    /// lower-cased octets, a missing label sorting first.
    public static func < (a: DNSName, b: DNSName) -> Bool {
        let la = a.labels, lb = b.labels
        var i = la.count - 1, j = lb.count - 1
        while i >= 0 && j >= 0 {
            let x = la[i], y = lb[j]
            for (p, q) in zip(x, y) {
                let lp = asciiLower(p), lq = asciiLower(q)
                if lp != lq { return lp < lq }
            }
            if x.count != y.count { return x.count < y.count }
            i -= 1; j -= 1
        }
        return la.count < lb.count
    }

    public var description: String { presentation }
}

@inline(__always)
func asciiLower(_ b: UInt8) -> UInt8 {
    (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b
}

// MARK: Presentation format

extension DNSName {
    /// Text form with a trailing dot; `.`, `\`, and bytes outside printable ASCII are escaped
    /// (`\.`, `\\`, `\DDD`).
    public var presentation: String {
        if isRoot { return "." }
        var s: [UInt8] = []
        s.reserveCapacity(wire.count + 4)
        var i = 0
        while wire[i] != 0 {
            let n = Int(wire[i])
            for b in wire[(i + 1)...(i + n)] { appendEscaped(b, to: &s) }
            s.append(0x2E)
            i += n + 1
        }
        return String(decoding: s, as: UTF8.self)
    }

    /// Parses text like `www.example.com.`, `@`, or a relative name completed with `origin`.
    ///
    /// Accepts `\.`, `\\`, `\X` and `\DDD` escapes. Without an origin, a name without a trailing
    /// dot is taken as absolute.
    public init(_ text: String, origin: DNSName? = nil) throws(PresentationError) {
        let u = Array(text.utf8)
        if u == [0x40] {  // "@"
            guard let origin else { throw PresentationError("'@' without an origin") }
            self = origin
            return
        }
        if u == [0x2E] { self = .root; return }
        guard !u.isEmpty else { throw PresentationError("empty name") }
        var labels: [[UInt8]] = []
        var cur: [UInt8] = []
        var i = 0
        var absolute = false
        while i < u.count {
            let c = u[i]
            if c == 0x5C {  // backslash
                guard i + 1 < u.count else { throw PresentationError("dangling '\\' in name \(text)") }
                let d = u[i + 1]
                if d >= 0x30 && d <= 0x39 {
                    guard i + 3 < u.count,
                          (0x30...0x39).contains(u[i + 2]), (0x30...0x39).contains(u[i + 3]) else {
                        throw PresentationError("bad \\DDD escape in name \(text)")
                    }
                    let v = Int(d - 0x30) * 100 + Int(u[i + 2] - 0x30) * 10 + Int(u[i + 3] - 0x30)
                    guard v <= 255 else { throw PresentationError("\\DDD value \(v) above 255 in name \(text)") }
                    cur.append(UInt8(v))
                    i += 4
                } else {
                    cur.append(d)
                    i += 2
                }
            } else if c == 0x2E {
                guard !cur.isEmpty else { throw PresentationError("empty label in name \(text)") }
                labels.append(cur)
                cur = []
                i += 1
                if i == u.count { absolute = true }
            } else {
                cur.append(c)
                i += 1
            }
        }
        if !cur.isEmpty { labels.append(cur) }
        let n: DNSName
        do { n = try DNSName(labels: labels) } catch { throw PresentationError("\(error.message) in name \(text)") }
        if absolute || origin == nil {
            self = n
        } else {
            self = try n.appending(origin!)
        }
    }
}

/// Appends one name byte in presentation form.
@inline(__always)
func appendEscaped(_ b: UInt8, to s: inout [UInt8]) {
    switch b {
    case 0x2E, 0x5C, 0x22, 0x28, 0x29, 0x3B, 0x40, 0x24:  // . \ " ( ) ; @ $
        s.append(0x5C); s.append(b)
    case 0x21...0x7E:
        s.append(b)
    default:
        s.append(0x5C)
        s.append(0x30 + b / 100)
        s.append(0x30 + (b / 10) % 10)
        s.append(0x30 + b % 10)
    }
}
