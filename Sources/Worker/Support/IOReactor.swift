import CShoalShims
import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The worker's I/O loop for UDP, outside NIO: upstream exchanges, client sockets, and the
/// resolution tasks themselves.
///
/// One thread waits on one epoll instance for three kinds of work:
/// - upstream queries: each gets its own socket (a kernel-chosen random ephemeral port,
///   connected to the server so the kernel drops datagrams from any other address or port);
///   replies are read, matched (ID, question, exact case), and the waiting task resumed;
/// - client UDP sockets watched with ``watch(_:_:)`` (the UDP front end);
/// - jobs: the reactor is a `TaskExecutor`, and tasks created with it as their preference
///   (`Task(executorPreference: IOReactor.shared)`) run here, between `epoll_wait` calls.
/// So a UDP query, its resolution and every upstream exchange it needs stay on this thread:
/// no wake-up of another thread per step, as a single-threaded resolver works. NIO cannot watch
/// foreign file descriptors, hence this loop beside NIO's (which keeps TCP).
///
/// Ownership of a socket: the pending table owns it from registration on; whoever removes the
/// entry (the reactor, on a reply, an error or the deadline) closes it, under the table lock,
/// so a descriptor number is never reused while an entry still names it.
final class IOReactor: TaskExecutor, Sendable {
    /// One reactor per process, started on first use.
    static let shared = IOReactor()

    /// What came of one exchange.
    enum Outcome: Sendable {
        case reply([UInt8])
        case failed(UpstreamError)
    }

    private struct Pending {
        let fd: Int32
        let matcher: ReplyMatcher
        let deadline: NIODeadline
        let done: CheckedContinuation<Outcome, Never>
    }

    private struct State {
        var pending: [UInt64: Pending] = [:]
        var nextToken: UInt64 = 1
        /// The reactor is blocked in epoll_wait with no timeout (nothing was outstanding).
        var sleeping = false
    }

    private let epollFD: Int32
    /// Written to wake the reactor when the first query after a quiet spell arrives (its
    /// deadline must be watched).
    private let wakeFD: Int32
    private let state = Mutex(State())
    /// Jobs of tasks that prefer this executor, run in order by the reactor thread.
    private let jobs = Mutex<[UnownedJob]>([])
    /// Handlers of watched client sockets, by token (``watchTokenBit`` set).
    private let watchers = Mutex<[UInt64: @Sendable () -> Void]>([:])
    private static let watchTokenBit: UInt64 = 1 << 62
    /// The reactor thread's pthread_t, once it runs.
    private let thread = Atomic<UInt>(0)
    /// Deadlines are checked this often while anything is outstanding; a timeout fires at most
    /// this late.
    static let tick = TimeAmount.milliseconds(10)

    private init() {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        precondition(epollFD >= 0 && wakeFD >= 0, "epoll_create1/eventfd failed: errno \(errno)")
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.u64 = 0   // token 0: the wake descriptor
        precondition(epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &ev) == 0, "epoll_ctl(wake) failed: errno \(errno)")
        startDetachedThread("I/O reactor", name: "shoal-io") { [self] in run() }
    }

    /// Sends `wire` to `server` from a fresh socket and waits for a reply that `matcher`
    /// accepts, an error on the socket, or `timeout`.
    func exchange(_ wire: [UInt8], to server: SocketAddress, matcher: ReplyMatcher,
                  timeout: TimeAmount) async -> Outcome {
        let fd = socket(Int32(server.protocol.rawValue), Int32(SOCK_DGRAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failed(.network(Self.describe("socket", errno))) }
        // connect() binds a random ephemeral port (the kernel picks it at random) and makes the
        // kernel drop datagrams from anyone but the server's address and port.
        let connected = server.withSockAddr { sa, len in connect(fd, sa, socklen_t(len)) }
        guard connected == 0 else {
            let e = errno
            close(fd)
            return .failed(.network(Self.describe("connect", e)))
        }
        let sent = wire.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == wire.count else {
            let e = errno
            close(fd)
            return .failed(.network(Self.describe("send", e)))
        }
        let deadline = NIODeadline.now() + timeout
        return await withCheckedContinuation { (done: CheckedContinuation<Outcome, Never>) in
            // Entry and registration under one lock: the reactor can neither miss the entry
            // when the reply (which may already be there: level-triggered) is reported, nor
            // end the exchange and close the socket before it is registered.
            let registered = state.withLock { s -> Result<Bool, UpstreamError> in
                let t = s.nextToken
                var ev = epoll_event()
                ev.events = EPOLLIN.rawValue
                ev.data.u64 = t
                guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &ev) == 0 else {
                    return .failure(.network(Self.describe("epoll_ctl", errno)))
                }
                s.nextToken &+= 1
                s.pending[t] = Pending(fd: fd, matcher: matcher, deadline: deadline, done: done)
                defer { s.sleeping = false }
                return .success(s.sleeping)
            }
            switch registered {
            case let .success(wake):
                if wake { Self.signal(wakeFD) }
            case let .failure(e):
                close(fd)
                done.resume(returning: .failed(e))
            }
        }
    }

    // MARK: TaskExecutor

    func enqueue(_ job: consuming ExecutorJob) {
        let j = UnownedJob(job)
        let first = jobs.withLock { q in
            q.append(j)
            return q.count == 1
        }
        // From this thread the loop sees the queue before it waits again; from another, it may
        // be in epoll_wait already. Later jobs find the queue non-empty: already signalled.
        if first && !onReactorThread { Self.signal(wakeFD) }
    }

    var onReactorThread: Bool { thread.load(ordering: .relaxed) == UInt(bitPattern: Int(bitPattern: pthread_self())) }

    // MARK: Client sockets

    /// Calls `onReadable` on the reactor thread whenever `fd` has data (level-triggered: a
    /// handler that leaves datagrams queued is called again on the next round).
    func watch(_ fd: Int32, _ onReadable: @escaping @Sendable () -> Void) throws(SocketError) {
        try watchers.withLock { w throws(SocketError) in
            let token = Self.watchTokenBit | UInt64(w.count + 1)
            var ev = epoll_event()
            ev.events = EPOLLIN.rawValue
            ev.data.u64 = token
            guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &ev) == 0 else {
                throw SocketError(syscall: "epoll_ctl", errno: errno, detail: "watching fd \(fd)")
            }
            w[token] = onReadable
        }
    }

    /// Exchanges waiting for a reply (each holds one open socket).
    var outstanding: Int { state.withLock { $0.pending.count } }

    // MARK: The reactor thread

    private func run() {
        thread.store(UInt(bitPattern: Int(bitPattern: pthread_self())), ordering: .relaxed)
        let capacity = 64
        var events = [epoll_event](repeating: epoll_event(), count: capacity)
        var buffer = [UInt8](repeating: 0, count: 65535)
        var nextScan = NIODeadline.now() + Self.tick
        var finished: [(CheckedContinuation<Outcome, Never>, Outcome)] = []
        let me = asUnownedTaskExecutor()
        while true {
            let busy = jobs.withLock { !$0.isEmpty }
            let wait: Int32 = state.withLock { s in
                if busy { return 0 }
                if s.pending.isEmpty { s.sleeping = true; return -1 }
                return Int32(clamping: max(0, (nextScan - .now()).nanoseconds / 1_000_000) + 1)
            }
            let n = events.withUnsafeMutableBufferPointer { epoll_wait(epollFD, $0.baseAddress, Int32(capacity), wait) }
            if n < 0 && errno != EINTR { fatalError("I/O reactor: epoll_wait failed: errno \(errno)") }
            if wait < 0 { state.withLock { $0.sleeping = false } }
            for i in 0..<max(0, Int(n)) {
                let token = events[i].data.u64
                if token == 0 {
                    Self.drain(wakeFD)
                } else if token & Self.watchTokenBit != 0 {
                    watchers.withLock { $0[token] }?()
                } else {
                    readReplies(token, &buffer, into: &finished)
                }
            }
            let now = NIODeadline.now()
            if now >= nextScan {
                expire(now, into: &finished)
                nextScan = now + Self.tick
            }
            // Resuming queues each task on its preferred executor: for the worker's UDP
            // resolutions, this very queue.
            for (done, outcome) in finished { done.resume(returning: outcome) }
            finished.removeAll(keepingCapacity: true)
            // The jobs queued so far; those they queue run in the next round, after I/O.
            let batch = jobs.withLock { q in
                let b = q
                q.removeAll(keepingCapacity: true)
                return b
            }
            for job in batch { job.runSynchronously(on: me) }
        }
    }

    /// Reads every datagram waiting on the token's socket; ends the exchange on a match or an
    /// error. Mismatched datagrams (forged or stale) are ignored and the wait goes on.
    private func readReplies(_ token: UInt64, _ buffer: inout [UInt8],
                             into finished: inout [(CheckedContinuation<Outcome, Never>, Outcome)]) {
        guard let (fd, matcher) = state.withLock({ s in s.pending[token].map { ($0.fd, $0.matcher) } }) else { return }
        while true {
            let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if got < 0 {
                let e = errno
                if e == EAGAIN || e == EWOULDBLOCK || e == EINTR { return }
                finish(token, .failed(.network(Self.describe("recv", e))), into: &finished)
                return
            }
            let bytes = Array(buffer[0..<got])
            if matcher.matches(bytes) {
                finish(token, .reply(bytes), into: &finished)
                return
            }
        }
    }

    private func expire(_ now: NIODeadline, into finished: inout [(CheckedContinuation<Outcome, Never>, Outcome)]) {
        let due = state.withLock { s in s.pending.filter { $0.value.deadline <= now }.map(\.key) }
        for t in due { finish(t, .failed(.timeout), into: &finished) }
    }

    /// Removes the entry, closes its socket (which also takes it out of the epoll set) and
    /// queues its task for resumption.
    private func finish(_ token: UInt64, _ outcome: Outcome,
                        into finished: inout [(CheckedContinuation<Outcome, Never>, Outcome)]) {
        guard let p = state.withLock({ s -> Pending? in
            guard let p = s.pending.removeValue(forKey: token) else { return nil }
            close(p.fd)
            return p
        }) else { return }
        finished.append((p.done, outcome))
    }

    private static func signal(_ fd: Int32) {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    private static func drain(_ fd: Int32) {
        var v: UInt64 = 0
        _ = read(fd, &v, 8)
    }

    private static func describe(_ call: String, _ e: Int32) -> String {
        "\(call): \(String(cString: strerror(e)))"
    }
}
