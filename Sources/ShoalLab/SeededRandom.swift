/// SplitMix64: a small, fast generator whose sequence depends only on its seed.
///
/// The lab needs the same zones for the same seed on every machine and Swift version, which
/// `SystemRandomNumberGenerator` cannot give.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in `range`, drawn from this generator only.
    mutating func int(_ range: ClosedRange<Int>) -> Int {
        Int.random(in: range, using: &self)
    }

    /// True with probability `p`.
    mutating func chance(_ p: Double) -> Bool {
        Double(next() >> 11) / Double(1 << 53) < p
    }

    /// Lower-case hex of `count` random bytes.
    mutating func hex(_ count: Int) -> String {
        let digits = Array("0123456789abcdef")
        var s = ""
        for _ in 0..<count {
            let b = Int(next() & 0xFF)
            s.append(digits[b >> 4])
            s.append(digits[b & 0xF])
        }
        return s
    }
}
