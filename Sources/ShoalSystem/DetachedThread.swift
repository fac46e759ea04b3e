import CShoalShims
#if canImport(Glibc)
import Glibc
#endif

/// Starts `body` on a new detached POSIX thread that lives as long as the process (the worker's
/// I/O reactor thread), named `name` (at most 15 bytes: what `top -H` and `ps -L` show).
/// Throws when the thread cannot be created.
public func startDetachedThread(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemCallError) {
    // The box is retained here and taken back exactly once, by the new thread or on failure.
    let box = Unmanaged.passRetained(ThreadBody {
        _ = cshoal_set_thread_name(name)
        body()
    })
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    defer { pthread_attr_destroy(&attr) }
    pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
    var tid = pthread_t()
    do {
        try sysCallReturningError("pthread_create", name) {
            pthread_create(&tid, &attr, { arg in
                let body = Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue()
                body.run()
                return nil
            }, box.toOpaque())
        }
    } catch {
        box.release()
        throw error
    }
}

/// The calling thread's pthread_t as a number (to tell one thread from another).
@inline(__always)
public func currentThreadID() -> UInt {
    UInt(bitPattern: Int(bitPattern: pthread_self()))
}

/// A thread's entry point, boxed for pthread_create.
private final class ThreadBody {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
