/// Seeded, fast, non-cryptographic hash of key bytes (keys are stored lower-cased, so the hash
/// is case-insensitive for names). The seed is random per segment and kept in its header, so an
/// attacker who chooses names cannot predict which bucket they land in.
@inline(__always)
func shmHash(_ p: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
    @inline(__always) func mum(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let r = a.multipliedFullWidth(by: b)
        return r.high ^ r.low
    }
    let k0: UInt64 = 0xA076_1D64_78BD_642F, k1: UInt64 = 0xE703_7ED1_A0B4_28DB
    var h = seed ^ k0 ^ UInt64(p.count)
    let n = p.count
    var i = 0
    while i + 8 <= n {
        h = mum(h ^ p.loadUnaligned(fromByteOffset: i, as: UInt64.self), k1)
        i += 8
    }
    if i < n {
        var tail: UInt64 = 0, shift: UInt64 = 0
        while i < n { tail |= UInt64(p[i]) << shift; shift += 8; i += 1 }
        h = mum(h ^ tail, k1)
    }
    return mum(h ^ k1, k0 ^ seed)
}
