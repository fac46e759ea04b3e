import DNSCore

/// The lab needs the same zones for the same seed on every machine and Swift version, which
/// `SystemRandomNumberGenerator` cannot give: DNSCore's SplitMix64.
typealias SeededRandom = SplitMix64

extension SplitMix64 {
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
