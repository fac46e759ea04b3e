/// Base64 (RFC 4648 §4): the text form of DNSKEY keys, RRSIG signatures and the SVCB `ech`
/// value.
public enum Base64 {
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    /// Byte → 6-bit value, or -1.
    static let values: [Int8] = reverseTable(alphabet, caseInsensitive: false)

    /// Padded base64 text of `bytes`.
    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var it = bytes.makeIterator()
        while let a = it.next() {
            let b = it.next(), c = it.next()
            let v = UInt32(a) << 16 | UInt32(b ?? 0) << 8 | UInt32(c ?? 0)
            out.append(alphabet[Int(v >> 18)])
            out.append(alphabet[Int((v >> 12) & 63)])
            out.append(b == nil ? 0x3D : alphabet[Int((v >> 6) & 63)])
            out.append(c == nil ? 0x3D : alphabet[Int(v & 63)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes padded base64 without whitespace (callers join a record's tokens first).
    ///
    /// The length must be a multiple of 4 and `=` may only pad the last group; any other
    /// character is an error naming it and its position.
    public static func decode<C: Collection>(_ text: C) throws(PresentationError) -> [UInt8] where C.Element == UInt8 {
        let s = Array(text)
        guard s.count % 4 == 0 else {
            throw PresentationError("base64 text of \(s.count) characters is not a multiple of 4")
        }
        var out: [UInt8] = []
        out.reserveCapacity(s.count / 4 * 3)
        var i = 0
        while i < s.count {
            var quad: [UInt32] = [0, 0, 0, 0]
            var pads = 0
            for j in 0..<4 {
                let c = s[i + j]
                if c == 0x3D {  // '='
                    // Padding only in the last group, and only as its last one or two characters.
                    guard i + 4 == s.count, j >= 2 else {
                        throw PresentationError("misplaced '=' at position \(i + j) in base64 text")
                    }
                    pads += 1
                    continue
                }
                guard pads == 0 else {
                    throw PresentationError("base64 character after '=' padding at position \(i + j)")
                }
                let v = values[Int(c)]
                guard v >= 0 else {
                    throw PresentationError("invalid base64 character \(byteForMessage(c)) at position \(i + j)")
                }
                quad[j] = UInt32(v)
            }
            let v = quad[0] << 18 | quad[1] << 12 | quad[2] << 6 | quad[3]
            out.append(UInt8(v >> 16))
            if pads < 2 { out.append(UInt8((v >> 8) & 0xFF)) }
            if pads < 1 { out.append(UInt8(v & 0xFF)) }
            i += 4
        }
        return out
    }

    /// Decodes padded base64 text, with the same rules as the byte form.
    public static func decode(_ text: String) throws(PresentationError) -> [UInt8] {
        try decode(text.utf8)
    }
}

/// Base32 with the extended hex alphabet (RFC 4648 §7) and no padding: NSEC3 hashed owner
/// names (RFC 5155 §3.3).
public enum Base32Hex {
    static let upper: [UInt8] = Array("0123456789ABCDEFGHIJKLMNOPQRSTUV".utf8)
    static let lower: [UInt8] = Array("0123456789abcdefghijklmnopqrstuv".utf8)
    static let values: [Int8] = reverseTable(upper, caseInsensitive: true)

    /// Unpadded base32hex text; `dig` prints NSEC3 hashes upper-case, owner names lower-case.
    public static func encode<C: Collection>(_ bytes: C, uppercase: Bool = true) -> String where C.Element == UInt8 {
        let alphabet = uppercase ? upper : lower
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 8 + 4) / 5)
        var acc: UInt32 = 0
        var bits = 0
        for b in bytes {
            acc = acc << 8 | UInt32(b)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[Int((acc >> UInt32(bits)) & 31)])
            }
            acc &= (1 << UInt32(bits)) - 1
        }
        if bits > 0 { out.append(alphabet[Int((acc << UInt32(5 - bits)) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes unpadded base32hex in either case. Padding (`=`) is refused, as RFC 5155 §3.3
    /// forbids it, and so is a length that leaves a partial byte of 5 bits or more.
    public static func decode<C: Collection>(_ text: C) throws(PresentationError) -> [UInt8] where C.Element == UInt8 {
        let n = text.count
        guard (n * 5) % 8 < 5 else {
            throw PresentationError("base32hex text of \(n) characters has an impossible length")
        }
        var out: [UInt8] = []
        out.reserveCapacity(n * 5 / 8)
        var acc: UInt32 = 0
        var bits = 0
        for (i, c) in text.enumerated() {
            let v = values[Int(c)]
            guard v >= 0 else {
                throw PresentationError("invalid base32hex character \(byteForMessage(c)) at position \(i)")
            }
            acc = acc << 5 | UInt32(v)
            bits += 5
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((acc >> UInt32(bits)) & 0xFF))
                acc &= (1 << UInt32(bits)) - 1
            }
        }
        return out
    }

    /// Decodes unpadded base32hex text in either case.
    public static func decode(_ text: String) throws(PresentationError) -> [UInt8] {
        try decode(text.utf8)
    }
}

/// Base16: DS digests, NSEC3 salts, RFC 3597 generic data.
public enum Hex {
    static let upper: [UInt8] = Array("0123456789ABCDEF".utf8)
    static let lower: [UInt8] = Array("0123456789abcdef".utf8)
    static let values: [Int8] = reverseTable(upper, caseInsensitive: true)

    /// Two hex digits per byte, lower-case unless `uppercase` (dig prints DS digests and RFC 3597
    /// data upper-case).
    public static func encode<C: Collection>(_ bytes: C, uppercase: Bool = false) -> String where C.Element == UInt8 {
        let alphabet = uppercase ? upper : lower
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(alphabet[Int(b >> 4)])
            out.append(alphabet[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes an even number of hex digits in either case, without separators.
    public static func decode<C: Collection>(_ text: C) throws(PresentationError) -> [UInt8] where C.Element == UInt8 {
        guard text.count % 2 == 0 else {
            throw PresentationError("hex text of \(text.count) digits is not an even number")
        }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 2)
        var high: UInt8? = nil
        for (i, c) in text.enumerated() {
            let v = values[Int(c)]
            guard v >= 0 else { throw PresentationError("invalid hex digit \(byteForMessage(c)) at position \(i)") }
            if let h = high {
                out.append(h << 4 | UInt8(v))
                high = nil
            } else {
                high = UInt8(v)
            }
        }
        return out
    }

    /// Decodes hex text in either case.
    public static func decode(_ text: String) throws(PresentationError) -> [UInt8] {
        try decode(text.utf8)
    }
}

/// A 256-entry table from byte to digit value (-1 for bytes outside the alphabet).
private func reverseTable(_ alphabet: [UInt8], caseInsensitive: Bool) -> [Int8] {
    var t = [Int8](repeating: -1, count: 256)
    for (i, c) in alphabet.enumerated() {
        t[Int(c)] = Int8(i)
        if caseInsensitive { t[Int(asciiLower(c))] = Int8(i) }
    }
    return t
}

/// A byte for an error message: quoted when printable, else as `\DDD`.
func byteForMessage(_ b: UInt8) -> String {
    if b >= 0x21 && b <= 0x7E { return "'" + String(UnicodeScalar(b)) + "'" }
    return "\\" + String(b / 100) + String((b / 10) % 10) + String(b % 10)
}
