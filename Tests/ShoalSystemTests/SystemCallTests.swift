import CShoalShims
import Glibc
import ShoalSystem
import SystemPackage
import Testing

@Suite struct SystemCallTests {
    @Test func mapsErrnoToATypedError() {
        do {
            _ = try sysCall("close", "fd -1") { close(-1) }
            Issue.record("close(-1) succeeded")
        } catch {
            #expect(error.call == "close")
            #expect(error.errno == .badFileDescriptor)
            #expect(error.detail == "fd -1")
            #expect("\(error)".contains("close (fd -1): Bad file descriptor (errno 9)"))
        }
    }

    @Test func retriesInterruptedCalls() throws {
        var calls = 0
        let r = try sysCall("fake") { () -> Int32 in
            calls += 1
            if calls < 3 { errno = EINTR; return -1 }
            return 7
        }
        #expect(r == 7 && calls == 3)
    }

    @Test func interruptedIsAnErrorWhenNotRetried() {
        var calls = 0
        #expect(throws: SystemCallError(call: "close", errno: .interrupted, detail: "")) {
            _ = try sysCall("close", retryingInterrupts: false) { () -> Int32 in
                calls += 1
                errno = EINTR
                return -1
            }
        }
        #expect(calls == 1)
    }

    @Test func detailIsBuiltOnlyOnFailure() throws {
        var built = 0
        func detail() -> String { built += 1; return "x" }
        _ = try sysCall("getpid", detail()) { getpid() }
        #expect(built == 0)
    }

    @Test func wouldBlockIsNil() throws {
        let r = try sysCallUnlessWouldBlock("fake") { () -> Int in errno = EAGAIN; return -1 }
        #expect(r == nil)
        #expect(throws: SystemCallError.self) {
            _ = try sysCallUnlessWouldBlock("fake") { () -> Int in errno = ECONNREFUSED; return -1 }
        }
    }

    @Test func callsThatReturnTheirError() throws {
        var calls = 0
        try sysCallReturningError("posix_fallocate") { calls += 1; return calls < 2 ? EINTR : 0 }
        #expect(calls == 2)
        #expect(throws: SystemCallError(call: "posix_spawn", errno: .noSuchFileOrDirectory, detail: "/nonexistent")) {
            try sysCallReturningError("posix_spawn", "/nonexistent") { ENOENT }
        }
    }

    @Test func namedConstantsFromTheShim() {
        #expect(CSHOAL_SO_RCVBUFFORCE == 33)
        #expect(CSHOAL_MADV_HUGEPAGE == 14)
        #expect(CSHOAL_MADV_POPULATE_WRITE == 23)
    }
}
