import CShoalShims
#if canImport(Glibc)
import Glibc
#endif

/// Starts `body` on a new detached POSIX thread that lives as long as the process (the worker's
/// I/O reactor thread), named `name` (at most 15 bytes: what `top -H` and `ps -L` show). Fatal
/// if the thread cannot be created: the worker cannot serve without it, and this happens at
/// start-up only.
func startDetachedThread(_ what: String, name: String, _ body: @escaping @Sendable () -> Void) {
    // The box is retained here and taken back exactly once, by the new thread.
    let box = Unmanaged.passRetained(ThreadBody {
        _ = cshoal_set_thread_name(name)
        body()
    })
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    defer { pthread_attr_destroy(&attr) }
    pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
    var tid = pthread_t()
    let r = pthread_create(&tid, &attr, { arg in
        let body = Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue()
        body.run()
        return nil
    }, box.toOpaque())
    guard r == 0 else {
        box.release()
        fatalError("pthread_create for the \(what) failed: \(String(cString: strerror(r)))")
    }
}

/// A thread's entry point, boxed for pthread_create.
private final class ThreadBody {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
