import CShoalShims
import ShoalSystem
import Synchronization

/// Unpredictable numbers for upstream query IDs, 0x20 case and server tie-breaks, from the
/// kernel's CSPRNG (`getrandom`) 4 KiB at a time, as arc4random-style generators in other
/// resolvers do. Swift's `SystemRandomNumberGenerator` makes one `getrandom` system call per
/// number, which was about 2 % of a cold resolution's CPU.
final class RandomPool: Sendable {
    static let shared = RandomPool()

    private struct State {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var used = 4096
    }
    private let state = Mutex(State())

    func next() -> UInt64 {
        state.withLock { s in
            if s.used + 8 > s.bytes.count {
                Self.refill(&s.bytes)
                s.used = 0
            }
            let v = s.bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: s.used, as: UInt64.self) }
            s.used += 8
            return v
        }
    }

    private static func refill(_ bytes: inout [UInt8]) {
        var filled = 0
        bytes.withUnsafeMutableBytes { buf in
            while filled < buf.count {
                let (start, count) = (buf.baseAddress! + filled, buf.count - filled)
                let n = (try? sysCall("getrandom") { getrandom(start, count, 0) }) ?? -1
                guard n > 0 else {
                    break   // no getrandom: fall back below
                }
                filled += n
            }
        }
        if filled < bytes.count {
            var g = SystemRandomNumberGenerator()
            for i in filled..<bytes.count { bytes[i] = UInt8.random(in: 0...255, using: &g) }
        }
    }
}

/// ``RandomPool`` as a `RandomNumberGenerator`: `UInt16.random(in: 0...UInt16.max, using: &g)`.
struct PooledRandom: RandomNumberGenerator {
    mutating func next() -> UInt64 { RandomPool.shared.next() }
}
