import ShoalSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// The owner table: who may hold slots of the segment being written, and how another process
// decides that a holder is dead.
//
// A writer takes a slot with one compare-and-swap of the slot's sequence word; that same word
// carries the writer's owner-table index, the generation of that entry and the claim's time
// (see `SeqWord`). Nothing about a claim lives anywhere else, so a reclaimer can never act on
// a half-written claim: either it sees the whole claim or none of it.
//
// Each attached process registers once, at attach, in one entry of this table: pid, process
// start time (/proc/PID/stat field 22, so a reused pid is not the same process), pid-namespace
// inode (so processes in different containers never judge each other's pids) and boot id (so a
// segment kept across a reboot knows every writer of the earlier boot is gone). The entry is
// written while its state says `registering` and published with a release store of `active`;
// claims reference it only after that. It is freed at detach, or by anyone who proves its owner
// dead, and each reuse bumps its generation, so a slot claimed under an old generation is known
// to be abandoned without asking the kernel anything.
//
// Who sees this memory: every attached process. The state word is the only atomic; the other
// fields are written once under `registering` and read only after an acquiring load of
// `active`. The table's offset and entry format are the same in every layout version, so a
// build can tell who is attached to a segment whose tables it cannot read.

/// Identity of a process as the owner table records it.
public struct ProcessIdentity: Hashable, Sendable, CustomStringConvertible {
    public var pid: UInt32
    /// Clock ticks after boot at which the process started (/proc/PID/stat field 22).
    public var startTime: UInt64
    /// Inode of /proc/PID/ns/pid: pids compare only inside one pid namespace.
    public var pidNamespace: UInt64
    /// /proc/sys/kernel/random/boot_id, as 16 bytes.
    public var bootID: BootID

    public init(pid: UInt32, startTime: UInt64, pidNamespace: UInt64, bootID: BootID) {
        self.pid = pid; self.startTime = startTime; self.pidNamespace = pidNamespace; self.bootID = bootID
    }

    /// This process, read once.
    public static let current: ProcessIdentity = {
        let pid = UInt32(truncatingIfNeeded: getpid())
        return ProcessIdentity(pid: pid, startTime: ProcFS.startTime(of: pid)?.startTime ?? 0,
                               pidNamespace: ProcFS.pidNamespace(), bootID: BootID.current)
    }()

    public var description: String { "pid \(pid) (start \(startTime), pidns \(pidNamespace))" }
}

/// The kernel's boot id: changes at every boot.
public struct BootID: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64
    public init(high: UInt64, low: UInt64) { self.high = high; self.low = low }

    /// /proc/sys/kernel/random/boot_id (all zero where it cannot be read).
    public static let current: BootID = {
        guard let text = ProcFS.read("/proc/sys/kernel/random/boot_id") else { return BootID(high: 0, low: 0) }
        var digits: [UInt64] = []
        for c in text.utf8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits.append(UInt64(c - UInt8(ascii: "0")))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digits.append(UInt64(c - UInt8(ascii: "a") + 10))
            default: continue
            }
        }
        guard digits.count == 32 else { return BootID(high: 0, low: 0) }
        return BootID(high: digits[0..<16].reduce(0) { $0 << 4 | $1 }, low: digits[16..<32].reduce(0) { $0 << 4 | $1 })
    }()

    public var description: String {
        let h = String(high, radix: 16), l = String(low, radix: 16)
        return String(repeating: "0", count: 16 - h.count) + h + String(repeating: "0", count: 16 - l.count) + l
    }
}

/// What /proc says of processes (the only place the owner checks look).
enum ProcFS {
    static func read(_ path: String) -> String? { KernelFiles.read(path) }

    /// State letter and start time (field 22) of a process in this pid namespace, or nil when
    /// there is no such process.
    static func startTime(of pid: UInt32) -> (state: UInt8, startTime: UInt64)? {
        guard pid != 0, let text = read("/proc/\(pid)/stat") else { return nil }
        // The command name (field 2) is in parentheses and may hold spaces or ')': fields are
        // counted after the last ')'.
        let bytes = Array(text.utf8)
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state); field 22 is fields[19].
        guard fields.count > 19, let state = fields[0].first,
              let start = UInt64(String(decoding: fields[19], as: UTF8.self)) else { return nil }
        return (state, start)
    }

    /// Inode of this process's pid namespace (0 where /proc does not say).
    static func pidNamespace() -> UInt64 { KernelFiles.inode("/proc/self/ns/pid") ?? 0 }
}

/// What a reclaimer concluded about the owner of a claim.
enum OwnerVerdict: Equatable {
    /// The owner may still be writing: never touch the slot.
    case alive
    /// The owner is certainly gone (freed or reused entry, earlier boot, reaped or zombie
    /// process, pid reused): the slot may be reclaimed.
    case dead
    /// The owner is in another pid namespace: alive until the claim is older than the lease.
    case unknown
}

/// The owner table in the mapping (see the file comment).
struct OwnerTable {
    static let entries = 1024
    static let entryBytes = 64
    static let bytes = entries * entryBytes

    /// Entry fields.
    enum Field {
        static let state = 0        // Atomic<UInt64>: generation << 32 | status << 30 | stamp
        static let pid = 8          // UInt32
        static let startTime = 16   // UInt64
        static let pidNS = 24       // UInt64
        static let bootHigh = 32    // UInt64
        static let bootLow = 40     // UInt64
    }

    enum Status: UInt64 { case free = 0, registering = 1, active = 2 }

    /// The table inside the shared mapping (see the file comment for who sees it).
    let base: UnsafeMutableRawPointer

    @inline(__always) func entry(_ i: Int) -> UnsafeMutableRawPointer { base + i * OwnerTable.entryBytes }
    @inline(__always) func stateWord(_ i: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        entry(i).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    static func pack(generation: UInt32, _ status: Status, stamp: UInt32) -> UInt64 {
        UInt64(generation) << 32 | status.rawValue << 30 | UInt64(stamp & 0x3FFF_FFFF)
    }
    static func generation(_ s: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: s >> 32) }
    static func status(_ s: UInt64) -> Status { Status(rawValue: (s >> 30) & 3) ?? .free }
    static func stamp(_ s: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: s) & 0x3FFF_FFFF }

    /// The identity an active entry records (fields are stable while the state is `active`
    /// with the generation the caller loaded).
    func identity(_ i: Int) -> ProcessIdentity {
        let e = entry(i)
        return ProcessIdentity(pid: e.loadUnaligned(fromByteOffset: Field.pid, as: UInt32.self),
                               startTime: e.loadUnaligned(fromByteOffset: Field.startTime, as: UInt64.self),
                               pidNamespace: e.loadUnaligned(fromByteOffset: Field.pidNS, as: UInt64.self),
                               bootID: BootID(high: e.loadUnaligned(fromByteOffset: Field.bootHigh, as: UInt64.self),
                                              low: e.loadUnaligned(fromByteOffset: Field.bootLow, as: UInt64.self)))
    }

    /// Whether the process `id` is alive, judged from `viewer`'s side.
    static func judge(_ id: ProcessIdentity, from viewer: ProcessIdentity) -> OwnerVerdict {
        if id.bootID != viewer.bootID { return .dead }
        if id.pidNamespace != viewer.pidNamespace { return .unknown }
        if id.pid == viewer.pid { return id.startTime == viewer.startTime ? .alive : .dead }
        guard let (state, start) = ProcFS.startTime(of: id.pid), start == id.startTime else { return .dead }
        // A zombie (killed, not yet reaped) writes nothing any more.
        return state == UInt8(ascii: "Z") || state == UInt8(ascii: "X") ? .dead : .alive
    }

    /// Registers `id` in a free entry (or one whose owner is proved dead). Returns the index and
    /// generation, or nil when all entries hold live processes.
    func register(_ id: ProcessIdentity, now: UInt32) -> (index: Int, generation: UInt32)? {
        for pass in 0..<2 {
            for i in 0..<OwnerTable.entries {
                let w = stateWord(i)
                let s = w.pointee.load(ordering: .acquiring)
                switch OwnerTable.status(s) {
                case .free: break
                case .active:
                    // Second pass only: take over entries of processes proved dead.
                    guard pass == 1, OwnerTable.judge(identity(i), from: id) == .dead,
                          w.pointee.load(ordering: .relaxed) == s else { continue }
                case .registering:
                    // A registration that never finished (its process died inside it).
                    guard pass == 1, now &- OwnerTable.stamp(s) & 0x3FFF_FFFF > 60 else { continue }
                }
                let gen = OwnerTable.generation(s) &+ 1
                guard w.pointee.compareExchange(expected: s, desired: OwnerTable.pack(generation: gen, .registering, stamp: now),
                                                ordering: .acquiring).exchanged else { continue }
                let e = entry(i)
                e.storeBytes(of: id.pid, toByteOffset: Field.pid, as: UInt32.self)
                e.storeBytes(of: id.startTime, toByteOffset: Field.startTime, as: UInt64.self)
                e.storeBytes(of: id.pidNamespace, toByteOffset: Field.pidNS, as: UInt64.self)
                e.storeBytes(of: id.bootID.high, toByteOffset: Field.bootHigh, as: UInt64.self)
                e.storeBytes(of: id.bootID.low, toByteOffset: Field.bootLow, as: UInt64.self)
                // Releasing: the fields above happen-before any acquiring load that sees `active`.
                w.pointee.store(OwnerTable.pack(generation: gen, .active, stamp: now), ordering: .releasing)
                return (i, gen)
            }
        }
        return nil
    }

    /// Frees entry `i` if it is still `active` with `generation` (detach, or an owner proved dead).
    @discardableResult
    func free(_ i: Int, generation: UInt32) -> Bool {
        let w = stateWord(i)
        let s = w.pointee.load(ordering: .acquiring)
        guard OwnerTable.status(s) == .active, OwnerTable.generation(s) == generation else { return false }
        return w.pointee.compareExchange(expected: s, desired: OwnerTable.pack(generation: generation, .free, stamp: 0),
                                         ordering: .acquiringAndReleasing).exchanged
    }

    /// The verdict on the owner of a claim that recorded entry `i` and generation bits `genBits`.
    func verdict(index i: Int, generationBits genBits: UInt32, viewer: ProcessIdentity) -> OwnerVerdict {
        guard i < OwnerTable.entries else { return .dead }
        let s = stateWord(i).pointee.load(ordering: .acquiring)
        // A freed or reused entry: the claim's process detached or was proved dead.
        guard OwnerTable.status(s) == .active, OwnerTable.generation(s) & SeqWord.generationMask == genBits else {
            return .dead
        }
        let id = identity(i)
        // The fields must still belong to the generation we judged (not reused meanwhile).
        guard stateWord(i).pointee.load(ordering: .acquiring) == s else { return .alive }
        return OwnerTable.judge(id, from: viewer)
    }

    /// Every active entry with its identity, for status and refusal messages.
    func active() -> [(index: Int, generation: UInt32, identity: ProcessIdentity)] {
        var out: [(Int, UInt32, ProcessIdentity)] = []
        for i in 0..<OwnerTable.entries {
            let s = stateWord(i).pointee.load(ordering: .acquiring)
            guard OwnerTable.status(s) == .active else { continue }
            let id = identity(i)
            if stateWord(i).pointee.load(ordering: .acquiring) == s { out.append((i, OwnerTable.generation(s), id)) }
        }
        return out
    }
}

/// Seconds since boot, which time claims and registrations. Claims from an earlier boot are
/// judged by boot id, not time.
@inline(__always)
func bootSeconds() -> UInt32 { Clock.bootSeconds() }
