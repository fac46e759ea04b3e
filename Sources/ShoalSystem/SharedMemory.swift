import CShoalShims
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// POSIX shared-memory objects (`/dev/shm`), by name.
public enum SharedMemory {
    /// What `fstat` says of an open object.
    public struct Status: Hashable, Sendable {
        public var size: Int
        public var inode: UInt64
        /// Wall-clock second of the last change (its creation, for a new object).
        public var modified: Int
    }

    /// Opens the object `name` read-write (`create`: create it, failing with EEXIST when it
    /// exists). Close-on-exec.
    public static func open(_ name: String, create: Bool = false, readOnly: Bool = false,
                            mode: mode_t = 0o600) throws(SystemCallError) -> OwnedDescriptor {
        let flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0)
        return OwnedDescriptor(adopting: try sysCall(create ? "shm_open(create)" : "shm_open", name) {
            shm_open(name, flags, mode)
        })
    }

    /// Removes the name; mappings and open descriptors keep the object.
    public static func unlink(_ name: String) throws(SystemCallError) {
        _ = try sysCall("shm_unlink", name) { shm_unlink(name) }
    }

    public static func status(_ fd: borrowing OwnedDescriptor, _ name: String) throws(SystemCallError) -> Status {
        var st = stat()
        let raw = fd.rawValue
        _ = try sysCall("fstat", name) { fstat(raw, &st) }
        return Status(size: Int(st.st_size), inode: UInt64(st.st_ino), modified: Int(st.st_mtim.tv_sec))
    }

    /// Sets the object's size.
    public static func resize(_ fd: borrowing OwnedDescriptor, to size: Int, _ name: String) throws(SystemCallError) {
        let raw = fd.rawValue
        _ = try sysCall("ftruncate", "\(name) to \(size) bytes") { ftruncate(raw, off_t(size)) }
    }

    /// Reserves every page now, so a full /dev/shm fails here and not as SIGBUS on a later write.
    public static func allocate(_ fd: borrowing OwnedDescriptor, size: Int, _ name: String) throws(SystemCallError) {
        let raw = fd.rawValue
        try sysCallReturningError("posix_fallocate", "\(name), \(size) bytes") { posix_fallocate(raw, 0, off_t(size)) }
    }
}

/// A `MAP_SHARED` mapping of a file or shared-memory object, unmapped exactly once when its
/// owner goes away. Who else sees the memory, and how they coordinate, is the mapper's to say.
public struct MappedMemory: ~Copyable, @unchecked Sendable {
    /// First byte of the mapping; valid while this owner lives.
    public let base: UnsafeMutableRawPointer
    public let size: Int

    /// Maps the first `size` bytes of `fd`.
    public init(_ fd: borrowing OwnedDescriptor, size: Int, writable: Bool = true, detail: String) throws(SystemCallError) {
        let p = mmap(nil, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd.rawValue, 0)
        guard let p, p != MAP_FAILED else {
            throw SystemCallError(call: "mmap", errno: .currentValue, detail: "\(detail), \(size) bytes")
        }
        base = p
        self.size = size
    }

    deinit { munmap(base, size) }

    /// Kernel advice on the mapping's pages.
    public struct Advice: RawRepresentable, Hashable, Sendable {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// Back it with transparent huge pages where shmem THP allows (a no-op otherwise).
        public static let hugePages = Advice(rawValue: CSHOAL_MADV_HUGEPAGE)
        /// Fault every page in writable now (Linux 5.14), without touching the contents.
        public static let populateWrite = Advice(rawValue: CSHOAL_MADV_POPULATE_WRITE)
    }

    /// Applies `advice`; returns whether the kernel took it (advice is best effort).
    @discardableResult
    public func advise(_ advice: Advice) -> Bool {
        madvise(base, size, advice.rawValue) == 0
    }
}

/// Small files of /proc and /sys, read whole.
public enum KernelFiles {
    /// The contents of `path` (at most 64 KiB), or nil when it cannot be opened.
    public static func read(_ path: String) -> String? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        let owner = OwnedDescriptor(adopting: fd)
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while out.count < 1 << 16 {
            let n = buf.withUnsafeMutableBytes { b in
                (try? sysCall("read", path) { Glibc.read(owner.rawValue, b.baseAddress!, b.count) }) ?? 0
            }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The entries of directory `path` but `.` and `..`, sorted; empty when it cannot be read.
    public static func list(_ path: String) -> [String] {
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Inode of `path` (following links), or nil.
    public static func inode(_ path: String) -> UInt64? {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
    }
}

/// Clocks.
public enum Clock {
    /// Seconds since boot (CLOCK_BOOTTIME: never jumps with the wall clock, counts suspend).
    @inline(__always)
    public static func bootSeconds() -> UInt32 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return UInt32(truncatingIfNeeded: ts.tv_sec)
    }

    /// Milliseconds since boot (CLOCK_BOOTTIME).
    @inline(__always)
    public static func bootMillis() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }

    /// Wall-clock seconds (CLOCK_REALTIME).
    @inline(__always)
    public static func wallSeconds() -> UInt32 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt32(truncatingIfNeeded: ts.tv_sec)
    }

    /// Monotonic nanoseconds (CLOCK_MONOTONIC).
    @inline(__always)
    public static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Monotonic seconds (CLOCK_MONOTONIC), for deadlines.
    @inline(__always)
    public static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
