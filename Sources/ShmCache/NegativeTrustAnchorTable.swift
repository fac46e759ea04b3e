import DNSCore
import Synchronization

/// Negative trust anchors (RFC 7646) added and removed at run time (`shoalctl nta`), kept in
/// the segment so that every worker sees them.
///
/// A small fixed table in the header page, whose bytes from 504 on layout 2 leaves unused (zero
/// in every segment ever created, i.e. an empty table): no new layout version is needed, an
/// existing segment keeps its cache, and a worker of an earlier build on the same segment simply
/// does not see the table. `recreate` starts a new segment with an empty table.
///
/// Writers are serialised by their caller (shoald, one request at a time); every process reads.
/// Each entry has its own sequence word (bit 0: being written; bit 1: holds a name; the rest a
/// counter bumped by every change), so a reader copies an entry, re-checks its word, and skips
/// one that is busy or changed: it never waits. A writer killed in the middle of a change leaves
/// its entry busy; the next writer takes it over (there is one writer at a time). A table-wide
/// change counter, bumped after every change, lets a reader keep its last copy while nothing
/// changed (``changeCount``).
public struct NegativeTrustAnchorTable: @unchecked Sendable {
    /// Byte offsets in the header page.
    static let changesOffset = 504          // Atomic<UInt64>
    static let entriesOffset = 512
    static let entryBytes = 272             // seq (8) · added-at (8) · length (1) · name (255)
    /// Names the table holds at most.
    public static let capacity = 13

    /// Keeps the mapping alive while the table value exists.
    let region: MappedRegion
    var base: UnsafeMutableRawPointer { region.base }

    init(region: MappedRegion) {
        self.region = region
        assert(Self.entriesOffset + Self.capacity * Self.entryBytes <= SegmentLayout.headerBytes)
    }

    /// A name in the table and when it was added (wall-clock seconds).
    public struct Entry: Hashable, Sendable {
        public var name: DNSName
        public var addedAt: UInt64
    }

    /// Why an add failed.
    public enum AddError: Error, Hashable, Sendable, CustomStringConvertible {
        case full
        public var description: String { "the negative trust anchor table is full (\(NegativeTrustAnchorTable.capacity) names)" }
    }

    private var changes: UnsafeMutablePointer<Atomic<UInt64>> {
        (base + Self.changesOffset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    private func entry(_ i: Int) -> UnsafeMutableRawPointer { base + Self.entriesOffset + i * Self.entryBytes }
    private func seq(_ i: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        entry(i).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    static let busy: UInt64 = 1, occupied: UInt64 = 2

    /// Bumped after every change: equal values mean an unchanged table.
    public var changeCount: UInt64 { changes.pointee.load(ordering: .acquiring) }

    /// Every name in the table, lowercased, with the change count it was read at. `complete` is
    /// false when an entry was busy or changing (the caller should read again later).
    public func read() -> (entries: [Entry], changeCount: UInt64, complete: Bool) {
        let count = changeCount
        var out: [Entry] = [], complete = true
        for i in 0..<Self.capacity {
            switch read(i) {
            case let .some(e?): out.append(e)
            case .some(nil): break
            case nil: complete = false
            }
        }
        return (out, count, complete)
    }

    /// Entry `i`: .some(nil) when empty, nil when busy or changed while read.
    private func read(_ i: Int) -> Entry?? {
        let p = entry(i), sq = seq(i)
        for _ in 0..<3 {
            let s1 = sq.pointee.load(ordering: .acquiring)
            if s1 & Self.busy != 0 { continue }
            if s1 & Self.occupied == 0 { return .some(nil) }
            let added = p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            let length = min(Int(p.load(fromByteOffset: 16, as: UInt8.self)), 255)
            let bytes = [UInt8](UnsafeRawBufferPointer(start: p + 17, count: length))
            atomicMemoryFence(ordering: .acquiring)
            guard sq.pointee.load(ordering: .relaxed) == s1 else { continue }
            guard let name = try? DNSName(wire: bytes) else { return .some(nil) }
            return .some(Entry(name: name, addedAt: added))
        }
        return nil
    }

    /// Adds `name` (stored lowercased). Returns false when it is there already.
    @discardableResult
    public func add(_ name: DNSName, now: UInt64) throws(AddError) -> Bool {
        let n = name.lowercased
        var free: Int?
        for i in 0..<Self.capacity {
            let s = seq(i).pointee.load(ordering: .acquiring)
            if s & Self.busy == 0, s & Self.occupied != 0 {
                if case let .some(e?) = read(i), e.name == n { return false }
            } else if free == nil {
                free = i   // empty, or left busy by a writer that died
            }
        }
        guard let i = free else { throw .full }
        change(i) { p in
            p.storeBytes(of: now, toByteOffset: 8, as: UInt64.self)
            p.storeBytes(of: UInt8(n.wire.count), toByteOffset: 16, as: UInt8.self)
            n.wire.withUnsafeBytes { (p + 17).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            return true
        }
        return true
    }

    /// Removes `name`. Returns false when it was not there.
    @discardableResult
    public func remove(_ name: DNSName) -> Bool {
        let n = name.lowercased
        var removed = false
        for i in 0..<Self.capacity {
            guard case let .some(e?) = read(i), e.name == n else { continue }
            change(i) { p in
                p.storeBytes(of: UInt8(0), toByteOffset: 16, as: UInt8.self)
                return false
            }
            removed = true
        }
        return removed
    }

    /// Marks entry `i` busy, lets `body` write it (returning whether it holds a name), then
    /// publishes it with the next counter, and bumps the table's change count.
    private func change(_ i: Int, _ body: (UnsafeMutableRawPointer) -> Bool) {
        let sq = seq(i)
        let s = sq.pointee.load(ordering: .relaxed)
        let counter = (s >> 2) &+ 1
        sq.pointee.store(counter << 2 | Self.busy | (s & Self.occupied), ordering: .relaxed)
        // The busy word must be visible before any byte below (pairs with the reader's fence).
        atomicMemoryFence(ordering: .releasing)
        let holds = body(entry(i))
        sq.pointee.store((counter &+ 1) << 2 | (holds ? Self.occupied : 0), ordering: .releasing)
        changes.pointee.wrappingAdd(1, ordering: .releasing)
    }
}

/// A process-local copy of the table, read again only when its change count moved: what a
/// worker asks on every validation.
public final class NegativeTrustAnchorView: Sendable {
    let table: NegativeTrustAnchorTable
    private let cached = Mutex<(count: UInt64, names: Set<DNSName>)?>(nil)

    public init(_ table: NegativeTrustAnchorTable) { self.table = table }

    /// The names in the table (lowercased).
    public var names: Set<DNSName> {
        let now = table.changeCount
        if let c = cached.withLock({ $0 }), c.count == now { return c.names }
        let r = table.read()
        let names = Set(r.entries.map(\.name))
        // An entry busy while read: keep nothing, read again next time.
        cached.withLock { $0 = r.complete && r.changeCount == now ? (now, names) : nil }
        return names
    }

    /// The table's name at or above `name` (lowercased), the closest, if any.
    public func covering(_ name: DNSName) -> DNSName? {
        let names = self.names
        guard !names.isEmpty else { return nil }
        var n: DNSName? = name.lowercased
        while let cur = n {
            if names.contains(cur) { return cur }
            n = cur.parent
        }
        return nil
    }
}
