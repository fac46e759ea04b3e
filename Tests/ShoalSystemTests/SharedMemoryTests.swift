import Glibc
import ShoalSystem
import SystemPackage
import Testing

/// Whether this process has a mapping starting at `p` (/proc/self/maps).
func isMapped(_ p: UnsafeMutableRawPointer) -> Bool {
    let start = String(UInt(bitPattern: p), radix: 16)
    return (KernelFiles.read("/proc/self/maps") ?? "").split(separator: "\n").contains { $0.hasPrefix(start + "-") }
}

@Suite(.serialized) struct SharedMemoryTests {
    @Test func createMapAdviseUnmapUnlink() throws {
        let name = "/shoal-system-test.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        defer { try? SharedMemory.unlink(name) }
        let fd = try SharedMemory.open(name, create: true)
        #expect(throws: SystemCallError.self) { _ = try SharedMemory.open(name, create: true) }   // EEXIST
        try SharedMemory.resize(fd, to: 1 << 20, name)
        try SharedMemory.allocate(fd, size: 1 << 20, name)
        #expect(try SharedMemory.status(fd, name).size == 1 << 20)
        var base: UnsafeMutableRawPointer? = nil
        do {
            let m = try MappedMemory(fd, size: 1 << 20, detail: name)
            base = m.base
            let advised = m.advise(.populateWrite)
            #expect(advised)
            m.base.storeBytes(of: UInt64(0xABCD), toByteOffset: 4096, as: UInt64.self)
            #expect(isMapped(m.base))
            // A second, read-only mapping of the same object sees the write.
            let other = try MappedMemory(SharedMemory.open(name, readOnly: true), size: 1 << 20, writable: false, detail: name)
            #expect(other.base.load(fromByteOffset: 4096, as: UInt64.self) == 0xABCD)
        }
        #expect(!isMapped(base!))   // unmapped exactly when its owner went
        try SharedMemory.unlink(name)
        do {
            _ = try SharedMemory.open(name)
            Issue.record("opened an unlinked object")
        } catch {
            #expect(error.errno == .noSuchFileOrDirectory && error.call == "shm_open" && error.detail == name)
        }
    }

    @Test func kernelFilesAndClocks() {
        #expect(KernelFiles.read("/proc/self/stat")?.hasPrefix("\(getpid()) ") == true)
        #expect(KernelFiles.read("/nonexistent") == nil)
        #expect(KernelFiles.list("/proc/self/task").contains("\(getpid())"))
        #expect(KernelFiles.inode("/proc/self/ns/pid") != nil)
        #expect(Clock.bootSeconds() > 0 && Clock.wallSeconds() > 1_700_000_000)
        let a = Clock.monotonicNanos(), b = Clock.monotonicNanos()
        #expect(b >= a)
    }
}
