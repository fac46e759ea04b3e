import DNSCore
#if canImport(Glibc)
import Glibc   // exp2
#endif
import Synchronization

/// What a server did with EDNS (RFC 6891) the last time we tried.
public struct EDNSStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let unknown = EDNSStatus(rawValue: 0)
    public static let ok = EDNSStatus(rawValue: 1)
    public static let noEDNS = EDNSStatus(rawValue: 2)
    public static let ignorant = EDNSStatus(rawValue: 3)
    public var description: String {
        switch rawValue {
        case 0: "unknown"
        case 1: "ok"
        case 2: "no-edns"
        case 3: "ignorant"
        default: "edns\(rawValue)"
        }
    }
}

/// What a server did with DNS cookies (RFC 7873).
public struct CookieStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let unknown = CookieStatus(rawValue: 0)
    public static let supported = CookieStatus(rawValue: 1)
    public static let unsupported = CookieStatus(rawValue: 2)
    public static let bad = CookieStatus(rawValue: 3)
    public var description: String {
        switch rawValue {
        case 0: "unknown"
        case 1: "supported"
        case 2: "unsupported"
        case 3: "bad"
        default: "cookie\(rawValue)"
        }
    }
}

/// The arithmetic of the NS speed table.
public struct NSSpeedPolicy: Hashable, Sendable {
    /// A server's smoothed RTT halves for every this many seconds without a measurement, so an
    /// unused (or once slow) server slowly looks better again and gets retried.
    public var halfLifeSeconds: Double = 60
    /// Weight of a new sample in the moving average.
    public var sampleWeight: Double = 0.3
    /// A timeout counts as at least this RTT (and doubles the current estimate).
    public var timeoutMicros: UInt32 = 1_000_000
    /// The estimate never exceeds this.
    public var maxMicros: UInt32 = 10_000_000
    /// After this many consecutive timeouts a server is throttled ...
    public var throttleAfterTimeouts: UInt16 = 3
    /// ... for this long, doubling for every further timeout, up to the maximum.
    public var throttleSeconds: UInt32 = 10
    public var maxThrottleSeconds: UInt32 = 300

    public init() {}

    /// `srtt` decayed over `elapsed` seconds.
    public func decayed(_ srtt: UInt32, elapsed: UInt32) -> UInt32 {
        guard elapsed > 0, srtt > 0 else { return srtt }
        return UInt32((Double(srtt) * exp2(-Double(elapsed) / halfLifeSeconds)).rounded())
    }
}

/// One server's entry.
public struct NSSpeedEntry: Hashable, Sendable {
    public var address: ServerAddress
    /// Smoothed RTT as last stored, microseconds.
    public var srttMicros: UInt32
    /// When it was last updated (wall-clock seconds).
    public var lastUpdate: UInt32
    public var consecutiveTimeouts: UInt16
    /// Do not query before this second (0: not throttled).
    public var throttledUntil: UInt32
    public var edns: EDNSStatus
    public var cookie: CookieStatus

    public func isThrottled(now: UInt32) -> Bool { throttledUntil > now }
}

/// Per authoritative server: smoothed RTT with decay, consecutive timeouts, throttling, EDNS and
/// cookie status. Each entry is two 64-bit words updated by compare-and-swap, so every worker
/// updates it without a lock and a reader never sees half an update.
///
/// Word A: last update second (high 32) | smoothed RTT in µs (low 32).
/// Word B: throttled-until second (high 32) | timeouts (16) | EDNS status (8) | cookie status (8).
public final class NSSpeedTable: Sendable {
    let table: SlotTable
    public let policy = NSSpeedPolicy()

    /// Slot header, 16-byte key, two words.
    public static let slotBytes = SlotLayout.headerBytes + 16 + 16

    init(table: SlotTable) { self.table = table }

    @inline(__always)
    func withAddressKey<R>(_ a: ServerAddress, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(byteCount: 16, alignment: 8) { buf in
            buf.baseAddress!.storeBytes(of: a.high.bigEndian, toByteOffset: 0, as: UInt64.self)
            buf.baseAddress!.storeBytes(of: a.low.bigEndian, toByteOffset: 8, as: UInt64.self)
            return body(UnsafeRawBufferPointer(buf))
        }
    }

    static func unpack(_ a: ServerAddress, _ wa: UInt64, _ wb: UInt64) -> NSSpeedEntry {
        NSSpeedEntry(address: a, srttMicros: UInt32(truncatingIfNeeded: wa), lastUpdate: UInt32(wa >> 32),
                     consecutiveTimeouts: UInt16(truncatingIfNeeded: wb >> 16),
                     throttledUntil: UInt32(wb >> 32), edns: EDNSStatus(rawValue: UInt8(truncatingIfNeeded: wb >> 8)),
                     cookie: CookieStatus(rawValue: UInt8(truncatingIfNeeded: wb)))
    }

    static func pack(_ e: NSSpeedEntry) -> (UInt64, UInt64) {
        (UInt64(e.lastUpdate) << 32 | UInt64(e.srttMicros),
         UInt64(e.throttledUntil) << 32 | UInt64(e.consecutiveTimeouts) << 16 | UInt64(e.edns.rawValue) << 8
            | UInt64(e.cookie.rawValue))
    }

    /// The entry's two words live right after its key in the slot. Every process updates them
    /// by CAS (acquiring-and-releasing), outside the slot's sequence protocol; the sequence word
    /// only says which server owns the slot.
    @inline(__always)
    func words(_ v: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt64>> {
        v.assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// The stored entry, or nil for an unknown server.
    public func lookup(_ address: ServerAddress) -> NSSpeedEntry? {
        withAddressKey(address) { key -> NSSpeedEntry? in
            guard let (v, s, slot) = table.locate(key: key, hash: table.hash(key)) else { return nil }
            let wa = words(v)[0].load(ordering: .acquiring), wb = words(v)[1].load(ordering: .acquiring)
            guard table.stillHolds(slot: slot, seq: s) else { return nil }
            return Self.unpack(address, wa, wb)
        }
    }

    /// The decayed RTT estimate in µs at `now`, or nil for an unknown server.
    public func estimate(_ address: ServerAddress, now: UInt32) -> UInt32? {
        guard let e = lookup(address) else { return nil }
        return policy.decayed(e.srttMicros, elapsed: now > e.lastUpdate ? now - e.lastUpdate : 0)
    }

    /// Folds in a measured RTT: decay the estimate to `now`, mix in the sample, clear timeouts
    /// and throttling.
    public func recordRTT(_ address: ServerAddress, microseconds: UInt32, now: UInt32) {
        let sample = min(microseconds, policy.maxMicros)
        update(address, now: now) { e in
            if e.lastUpdate == 0 && e.srttMicros == 0 {
                e.srttMicros = max(1, sample)
            } else {
                let base = Double(policy.decayed(e.srttMicros, elapsed: now > e.lastUpdate ? now - e.lastUpdate : 0))
                let w = policy.sampleWeight
                e.srttMicros = max(1, UInt32((base * (1 - w) + Double(sample) * w).rounded()))
            }
            e.lastUpdate = now
            e.consecutiveTimeouts = 0
            e.throttledUntil = 0
        }
    }

    /// Counts a timeout: the estimate doubles (at least `timeoutMicros`), and after
    /// `throttleAfterTimeouts` in a row the server is throttled with exponential back-off.
    public func recordTimeout(_ address: ServerAddress, now: UInt32) {
        update(address, now: now) { e in
            let base = policy.decayed(e.srttMicros, elapsed: now > e.lastUpdate ? now - e.lastUpdate : 0)
            e.srttMicros = min(policy.maxMicros, max(policy.timeoutMicros, base > UInt32.max / 2 ? UInt32.max : base * 2))
            e.lastUpdate = now
            if e.consecutiveTimeouts < .max { e.consecutiveTimeouts += 1 }
            if e.consecutiveTimeouts >= policy.throttleAfterTimeouts {
                let extra = min(16, Int(e.consecutiveTimeouts - policy.throttleAfterTimeouts))
                let secs = min(UInt64(policy.maxThrottleSeconds), UInt64(policy.throttleSeconds) << UInt64(extra))
                e.throttledUntil = now + UInt32(secs)
            }
        }
    }

    public func setEDNSStatus(_ address: ServerAddress, _ s: EDNSStatus, now: UInt32) {
        update(address, now: now) { $0.edns = s }
    }

    public func setCookieStatus(_ address: ServerAddress, _ s: CookieStatus, now: UInt32) {
        update(address, now: now) { $0.cookie = s }
    }

    /// Read-modify-CAS of the entry, creating it when absent. Lock-free: a failed CAS means
    /// another process updated it, so recompute from its value (bounded; a lost update of a
    /// speed estimate is harmless).
    func update(_ address: ServerAddress, now: UInt32, _ change: (inout NSSpeedEntry) -> Void) {
        withAddressKey(address) { key in
            let h = table.hash(key)
            for _ in 0..<8 {
                if let (v, s, slot) = table.locate(key: key, hash: h) {
                    let w = words(v)
                    let wa = w[0].load(ordering: .acquiring), wb = w[1].load(ordering: .acquiring)
                    guard table.stillHolds(slot: slot, seq: s) else { continue }
                    var e = Self.unpack(address, wa, wb)
                    change(&e)
                    let (na, nb) = Self.pack(e)
                    if na != wa {
                        guard w[0].compareExchange(expected: wa, desired: na, ordering: .acquiringAndReleasing).exchanged
                        else { continue }
                    }
                    if nb != wb {
                        // Word B after word A: if B changed meanwhile, redo only B's part from
                        // the fresh value (the RTT update is already in).
                        if !w[1].compareExchange(expected: wb, desired: nb, ordering: .acquiringAndReleasing).exchanged {
                            let cur = w[1].load(ordering: .acquiring)
                            var e2 = Self.unpack(address, wa, cur)
                            change(&e2)
                            _ = w[1].compareExchange(expected: cur, desired: Self.pack(e2).1, ordering: .acquiringAndReleasing)
                        }
                    }
                    table.touch(slot: slot, now: now)
                    return
                }
                var e = NSSpeedEntry(address: address, srttMicros: 0, lastUpdate: 0, consecutiveTimeouts: 0,
                                     throttledUntil: 0, edns: .unknown, cookie: .unknown)
                change(&e)
                let (na, nb) = Self.pack(e)
                let o = table.write(key: key, hash: h, valueLen: 16, expiry: .max, now: now,
                                    admit: { _, _ in false },   // present after all: CAS it instead
                                    fill: { p in
                                        p.storeBytes(of: na, toByteOffset: 0, as: UInt64.self)
                                        p.storeBytes(of: nb, toByteOffset: 8, as: UInt64.self)
                                    })
                switch o {
                case .inserted, .replaced, .droppedBusy, .tooLarge: return
                case .rejected: continue
                }
            }
        }
    }

    /// Visits every server; return false to stop.
    public func forEach(_ body: (NSSpeedEntry) -> Bool) {
        table.scan { snap in
            guard snap.key.count == 16, snap.value.count == 16 else { return .keep }
            let k = snap.key, v = snap.value
            var hi: UInt64 = 0, lo: UInt64 = 0
            for i in 0..<8 { hi = hi << 8 | UInt64(k[i]); lo = lo << 8 | UInt64(k[8 + i]) }
            var wa: UInt64 = 0, wb: UInt64 = 0
            for i in (0..<8).reversed() { wa = wa << 8 | UInt64(v[i]); wb = wb << 8 | UInt64(v[8 + i]) }
            var a = ServerAddress(IPv4Address(0)); a.high = hi; a.low = lo
            return body(Self.unpack(a, wa, wb)) ? .keep : .stop
        }
    }

    public func count() -> Int {
        var n = 0
        table.scan { _ in n += 1; return .keep }
        return n
    }

    public var capacity: Int { table.geometry.slots }
}
