import CShoalShims
import Glibc
import ShoalSystem
import SystemPackage
import Testing

/// Whether `fd` is open in this process, as the kernel lists it.
func isOpen(_ fd: Int32) -> Bool {
    access("/proc/self/fd/\(fd)", F_OK) == 0
}

func openDevNull() -> Int32 {
    let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
    precondition(fd >= 0)
    return fd
}

// Serialized: descriptor numbers are reused, and other tests in this process open files.
@Suite(.serialized) struct OwnedDescriptorTests {
    @Test func closesWhenDropped() {
        let fd = openDevNull()
        do {
            let owner = OwnedDescriptor(adopting: fd)
            #expect(owner.rawValue == fd)
            #expect(isOpen(fd))
        }
        #expect(!isOpen(fd))
    }

    @Test func closesExactlyOnce() throws {
        let fd = openDevNull()
        let owner = OwnedDescriptor(adopting: fd)
        try owner.close()
        #expect(!isOpen(fd))
        // The lowest free number comes back: a second close by the owner would close this one.
        let reused = openDevNull()
        #expect(reused == fd)
        // `owner` was consumed; nothing closes `reused` when this scope ends.
        #expect(isOpen(reused))
        close(reused)
    }

    @Test func handoverDoesNotClose() {
        let fd = openDevNull()
        var handedOver: FileDescriptor?
        do {
            let owner = OwnedDescriptor(adopting: fd)
            handedOver = owner.take()
        }
        #expect(handedOver?.rawValue == fd)
        #expect(isOpen(fd))
        // The new owner closes it.
        do { _ = OwnedDescriptor(adopting: handedOver!) }
        #expect(!isOpen(fd))
    }

    @Test func lendingDoesNotClose() {
        let owner = OwnedDescriptor(adopting: openDevNull())
        let fd = owner.withDescriptor { $0.rawValue }
        #expect(fd == owner.descriptor.rawValue)
        #expect(isOpen(fd))
        _ = consume owner
        #expect(!isOpen(fd))
    }

    @Test func ownedSocketsAndEvents() throws {
        let s = try OwnedDescriptor.socket(family: AF_INET, type: Int32(SOCK_DGRAM.rawValue | SOCK_NONBLOCK.rawValue))
        // Close-on-exec always.
        #expect(fcntl(s.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        #expect(try s.descriptor.socketOption(SOL_SOCKET, SO_TYPE) == Int32(SOCK_DGRAM.rawValue))
        var buffer = [UInt8](repeating: 0, count: 16)
        // Nothing queued: nil, not an error.
        #expect(try buffer.withUnsafeMutableBytes { b throws(SystemCallError) in try s.descriptor.receive(into: b) } == nil)
        let e = try OwnedDescriptor.eventFD()
        e.descriptor.signalEvent()
        e.descriptor.drainEvent()
        e.descriptor.drainEvent()   // empty: no error
    }
}
