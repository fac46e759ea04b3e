import Testing
@testable import DNSCore

@Suite struct NameTests {
    @Test func presentationRoundTrip() throws {
        let n = try DNSName("Www.Example.COM.")
        #expect(n.presentation == "Www.Example.COM.")
        #expect(n == (try DNSName("www.example.com")))
        #expect(n.labelCount == 3)
    }

    // MARK: Wire form

    @Test func wireRoundTrip() throws {
        let n = try DNSName("mail.Example.org.")
        #expect(n.wire == [4, 0x6D, 0x61, 0x69, 0x6C, 7, 0x45, 0x78, 0x61, 0x6D, 0x70, 0x6C, 0x65, 3, 0x6F, 0x72, 0x67, 0])
        let back = try DNSName(wire: n.wire)
        #expect(back.wire == n.wire)          // case kept byte for byte
        var w = WireWriter()
        w.name(n, compress: true)
        var r = WireReader(w.bytes)
        #expect(try r.name().wire == n.wire)
        #expect(r.atEnd)
        #expect(DNSName.root.wire == [0])
        #expect(try DNSName(wire: [0]) == .root)
    }

    @Test func wireRejectsTrailingBytesAndPointers() {
        #expect(throws: WireError(.trailingBytes(1), at: 5)) { try DNSName(wire: [3, 0x63, 0x6F, 0x6D, 0, 0]) }
        #expect(throws: WireError(.pointerNotAllowed, at: 0)) { try DNSName(wire: [0xC0, 0]) }
        #expect(throws: WireError(.truncated(needed: 1, available: 0), at: 0)) { try DNSName(wire: []) }
        #expect(throws: WireError(.truncated(needed: 1, available: 0), at: 4)) { try DNSName(wire: [3, 0x63, 0x6F, 0x6D]) }
    }

    @Test func labelLengthLimit() throws {
        let l63 = [UInt8](repeating: 0x61, count: 63)
        let n = try DNSName(labels: [l63, Array("example".utf8)])
        #expect(n.labels.first.map(Array.init) == l63)
        #expect(try DNSName(wire: n.wire) == n)
        #expect(throws: PresentationError.self) { try DNSName(labels: [l63 + [0x61]]) }
        #expect(throws: PresentationError.self) { try DNSName(String(repeating: "a", count: 64) + ".example.") }
        #expect(throws: PresentationError.self) { try DNSName(labels: [[UInt8]()]) }
        #expect(throws: PresentationError.self) { try n.prepending(l63 + [0x61]) }
        // On the wire a 64-byte "label" is the reserved label type 0x40.
        #expect(throws: WireError(.badLabelType(64), at: 0)) { try DNSName(wire: [64] + l63 + [0x61, 0]) }
    }

    /// 255 bytes of wire form is the limit: 3×(1+63) + (1+61) + root.
    @Test func nameLengthLimit() throws {
        let l63 = [UInt8](repeating: 0x62, count: 63)
        let max = try DNSName(labels: [l63, l63, l63, [UInt8](repeating: 0x63, count: 61)])
        #expect(max.wire.count == 255)
        #expect(try DNSName(wire: max.wire) == max)
        #expect(try DNSName(max.presentation) == max)
        #expect(throws: PresentationError.self) { try DNSName(labels: [l63, l63, l63, [UInt8](repeating: 0x63, count: 62)]) }
        #expect(throws: PresentationError.self) { try max.prepending([0x61]) }
        #expect(throws: PresentationError.self) { try DNSName("a." + max.presentation) }
        let w256 = Array(max.wire.prefix(192)) + [62] + [UInt8](repeating: 0x63, count: 62) + [0]
        #expect(w256.count == 256)
        #expect(throws: WireError(.nameTooLong, at: 192)) { try DNSName(wire: w256) }
        // 127 one-byte labels: 254 bytes plus root, also exactly 255.
        let many = try DNSName(labels: (0..<127).map { _ in [UInt8(0x78)] })
        #expect(many.wire.count == 255 && many.labelCount == 127)
        #expect(throws: PresentationError.self) { try many.prepending([0x78]) }
    }

    @Test func eightBytesAtATimeLowerCasingMatchesBytewise() throws {
        // Every byte value in every lane, with varied neighbours.
        for lane in 0..<8 {
            for v in 0...255 {
                let bytes = (0..<8).map { $0 == lane ? UInt8(v) : UInt8(truncatingIfNeeded: v &* 31 &+ $0 &* 57) }
                let word = bytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
                let want = bytes.map(asciiLower).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
                #expect(DNSName.lower8(word) == want, "lane \(lane) byte \(v)")
            }
        }
        // Names of every length up to 40 bytes hash alike in any case, and apart from others.
        var rng = SystemRandomNumberGenerator()
        for n in 1...40 {
            let label = (0..<n).map { _ in UInt8.random(in: 0x61...0x7A, using: &rng) }
            let lower = try DNSName(labels: [label, Array("test".utf8)])
            let mixed = try DNSName(labels: [label.map { Bool.random(using: &rng) ? $0 & ~0x20 : $0 }, Array("TeSt".utf8)])
            #expect(lower.hashValue == mixed.hashValue)
            let other = try DNSName(labels: [label + [0x61], Array("test".utf8)])
            #expect(lower.hashValue != other.hashValue)
        }
    }

    @Test func caseInsensitiveEqualityAndHash() throws {
        let a = try DNSName("WWW.Example.COM."), b = try DNSName("www.example.com.")
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(Set([a, b]).count == 1)
        #expect(a.lowercased.wire == b.wire)
        #expect(!(a < b) && !(b < a))
        // Only ASCII letters fold: 0xC4 and 0xE4 (Ä/ä in Latin-1) are different labels.
        let x = try DNSName(labels: [[0xC4]]), y = try DNSName(labels: [[0xE4]])
        #expect(x != y)
        // '@' (0x40) and '`' (0x60) differ from each other and from letters.
        #expect(try DNSName(labels: [[0x40]]) != DNSName(labels: [[0x60]]))
        #expect(try DNSName("a.example.") != DNSName("a.example.com."))
        #expect(try DNSName("ab.example.") != DNSName("a.bexample."))
    }

    /// The sorted example list of RFC 4034 §6.1.
    @Test func canonicalOrderRFC4034() throws {
        let sorted = ["example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.", "zABC.a.EXAMPLE.",
                      "z.example.", "\\001.z.example.", "*.z.example.", "\\200.z.example."]
        let names = try sorted.map { try DNSName($0) }
        for i in names.indices {
            for j in names.indices {
                #expect((names[i] < names[j]) == (i < j), "\(sorted[i]) < \(sorted[j])")
            }
        }
        var rng = SplitMix64(seed: 4034)
        for _ in 0..<20 {
            var shuffled = names
            for k in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(k, rng.int(0...k)) }
            #expect(shuffled.sorted().map(\.presentation) == names.map(\.presentation))
        }
        #expect(DNSName.root < names[0])
    }

    @Test func parentSubdomainAncestor() throws {
        let n = try DNSName("a.b.Example.com.")
        #expect(n.parent == (try DNSName("b.example.com.")))
        #expect(n.parent?.parent?.parent?.parent == .root)
        #expect(DNSName.root.parent == nil)
        #expect(n.isSubdomain(of: try DNSName("EXAMPLE.com.")))
        #expect(n.isSubdomain(of: n) && !n.isStrictSubdomain(of: n))
        #expect(n.isSubdomain(of: .root) && n.isStrictSubdomain(of: .root))
        #expect(!n.isSubdomain(of: try DNSName("ample.com.")))   // label boundaries, not bytes
        #expect(!(try DNSName("com.")).isSubdomain(of: n))
        #expect(n.commonAncestor(with: try DNSName("x.example.COM.")) == (try DNSName("example.com.")))
        #expect(n.commonAncestor(with: try DNSName("example.org.")) == .root)
        #expect(n.commonAncestor(with: n) == n)
        #expect(n.commonAncestor(with: .root) == .root)
        #expect(n.suffix(labels: 2) == (try DNSName("example.com.")))
        #expect(n.dropping(labels: 3) == (try DNSName("com.")))
        #expect(n.dropping(labels: 9) == .root)
        #expect(try DNSName("*.example.").isWildcard && !(try DNSName("a*.example.")).isWildcard)
        #expect(try DNSName("www", origin: try DNSName("example.com.")) == (try DNSName("www.example.com.")))
        #expect(try DNSName("@", origin: n) == n)
        #expect(throws: PresentationError.self) { try DNSName("@") }
    }

    @Test(arguments: [
        // text, wire labels, canonical presentation
        ("a\\.b.example.", [Array("a.b".utf8), Array("example".utf8)], "a\\.b.example."),
        ("back\\\\slash.", [Array("back\\slash".utf8)], "back\\\\slash."),
        ("\\065\\066c.", [Array("ABc".utf8)], "ABc."),
        ("\\000\\255.x.", [[0, 255], Array("x".utf8)], "\\000\\255.x."),
        ("sp\\032ace.", [Array("sp ace".utf8)], "sp\\032ace."),
        ("q\\\"\\(\\)\\;\\@\\$.", [Array("q\"();@$".utf8)], "q\\\"\\(\\)\\;\\@\\$."),
        ("\\X.", [Array("X".utf8)], "X."),
    ])
    func escapes(text: String, labels: [[UInt8]], presentation: String) throws {
        let n = try DNSName(text)
        #expect(n.labels.map(Array.init) == labels)
        #expect(n.presentation == presentation)
        #expect(try DNSName(n.presentation).wire == n.wire)
    }

    @Test(arguments: ["a..b.", ".a.", "a\\", "a\\25.", "a\\256.", "a\\2x5.", "", ".."])
    func badPresentation(text: String) {
        #expect(throws: PresentationError.self) { try DNSName(text) }
    }

    /// Every byte value survives presentation and parsing.
    @Test func presentationRoundTripAllBytes() throws {
        for start in stride(from: 0, to: 256, by: 32) {
            let label = (start..<(start + 32)).map { UInt8($0) }
            let n = try DNSName(labels: [label, Array("test".utf8)])
            #expect(try DNSName(n.presentation).wire == n.wire)
        }
    }
}
