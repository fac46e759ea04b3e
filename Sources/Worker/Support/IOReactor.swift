import CShoalShims
import NIOCore
import ShoalSystem
import Synchronization

/// The worker's I/O loop for resolutions, outside NIO: upstream exchanges and the resolution
/// tasks themselves.
///
/// One thread waits on one epoll instance for two kinds of work:
/// - upstream queries: each gets its own socket (a kernel-chosen random ephemeral port,
///   connected to the server so the kernel drops datagrams from any other address or port);
///   replies are read, matched (ID, question, exact case), and the waiting task resumed;
/// - jobs: the reactor is a `TaskExecutor`, and tasks created with it as their preference
///   (`Task(executorPreference: IOReactor.shared)`) run here, between `epoll_wait` calls.
/// So a resolution and every upstream exchange it needs stay on this thread: no wake-up of
/// another thread per step, as a single-threaded resolver works. NIO cannot watch foreign file
/// descriptors, hence this loop beside NIO's (which keeps TCP). Client UDP sockets are read
/// by the ``UDPFrontEnd``'s own threads, which hand misses over here.
///
/// Fairness: each wake-up reads at most ``maxDatagramsPerWake`` datagrams from one upstream
/// socket; epoll is level-triggered, so what is left is reported again in the next round, after
/// every other ready socket and the queued jobs had their turn. A flood on one socket (forged
/// replies) cannot starve the others.
///
/// Ownership of a socket: an exchange's entry in the pending table owns it from registration
/// on (``PendingExchange``); it is closed when the entry is removed (on a reply, an error or the
/// deadline) and no read holds it any more, so a descriptor number is never reused while an
/// entry still names it.
final class IOReactor: TaskExecutor, Sendable {
    /// One reactor per process, started on first use.
    static let shared = IOReactor()

    /// What came of one exchange.
    enum Outcome: Sendable {
        case reply([UInt8])
        case failed(UpstreamError)
    }

    /// Datagrams read from one upstream socket per wake-up at most.
    static let maxDatagramsPerWake = 16
    /// Reads of an upstream socket that stopped at ``maxDatagramsPerWake`` (the rest waits
    /// for the next round): how often a flood was cut short, for tests and diagnosis.
    let readsCutShort = Atomic<Int>(0)

    /// One exchange's socket (owned: closed with the last reference) and how to tell its reply.
    private final class ExchangeSocket: Sendable {
        let socket: OwnedDescriptor
        let matcher: ReplyMatcher

        init(_ socket: consuming OwnedDescriptor, matcher: ReplyMatcher) {
            self.socket = socket
            self.matcher = matcher
        }
    }

    /// An exchange waiting for its reply.
    private struct Pending {
        let exchange: ExchangeSocket
        let deadline: NIODeadline
        let done: CheckedContinuation<Outcome, Never>
    }

    private struct State {
        var pending: [UInt64: Pending] = [:]
        var nextToken: UInt64 = 1
        /// The reactor is blocked in epoll_wait with no timeout (nothing was outstanding).
        var sleeping = false
    }

    private let epoll: OwnedDescriptor
    /// Written to wake the reactor when the first query after a quiet spell arrives (its
    /// deadline must be watched).
    private let wake: OwnedDescriptor
    private let state = Mutex(State())
    /// Jobs of tasks that prefer this executor, run in order by the reactor thread.
    private let jobs = Mutex<[UnownedJob]>([])
    /// The reactor thread's pthread_t, once it runs.
    private let thread = Atomic<UInt>(0)
    /// Deadlines are checked this often while anything is outstanding; a timeout fires at most
    /// this late.
    static let tick = TimeAmount.milliseconds(10)

    /// Fatal when the loop cannot be set up: the worker cannot serve without it, and this
    /// happens at start-up only.
    private init() {
        do {
            epoll = try OwnedDescriptor.epoll()
            wake = try OwnedDescriptor.eventFD()
            try epoll.descriptor.epollAdd(wake.rawValue, events: EPOLLIN.rawValue, token: 0)   // token 0: the wake descriptor
        } catch {
            fatalError("I/O reactor: \(error)")
        }
        do {
            try startDetachedThread(name: "shoal-io") { [self] in run() }
        } catch {
            fatalError("I/O reactor: \(error)")
        }
    }

    /// Sends `wire` to `server` from a fresh socket and waits for a reply that `matcher`
    /// accepts, an error on the socket, or `timeout`.
    func exchange(_ wire: [UInt8], to server: SocketAddress, matcher: ReplyMatcher,
                  timeout: TimeAmount) async -> Outcome {
        let exchange: ExchangeSocket
        do throws(SystemCallError) {
            let socket = try Self.connectedSocket(to: server)
            let fd = socket.descriptor
            let sent = try wire.withUnsafeBytes { b in
                Result { () throws(SystemCallError) in try fd.send(b, "to \(server)") }
            }.get()
            guard sent == wire.count else {
                return .failed(.network(SystemCallError(call: "send", errno: .messageTooLong, detail: "to \(server): short send")))
            }
            exchange = ExchangeSocket(socket, matcher: matcher)
        } catch {
            return .failed(.network(error))
        }
        let deadline = NIODeadline.now() + timeout
        let epoll = self.epoll.descriptor
        return await withCheckedContinuation { (done: CheckedContinuation<Outcome, Never>) in
            // Entry and registration under one lock: the reactor can neither miss the entry
            // when the reply (which may already be there: level-triggered) is reported, nor
            // end the exchange and close the socket before it is registered.
            let registered = state.withLock { s -> Result<Bool, SystemCallError> in
                let t = s.nextToken
                do throws(SystemCallError) {
                    try epoll.epollAdd(exchange.socket.rawValue, events: EPOLLIN.rawValue, token: t)
                } catch {
                    return .failure(error)
                }
                s.nextToken &+= 1
                s.pending[t] = Pending(exchange: exchange, deadline: deadline, done: done)
                defer { s.sleeping = false }
                return .success(s.sleeping)
            }
            switch registered {
            case let .success(asleep):
                if asleep { wake.descriptor.signalEvent() }
            case let .failure(e):
                done.resume(returning: .failed(.network(e)))   // the entry closes the socket
            }
        }
    }

    /// A non-blocking UDP socket connected to `server`: connect() binds a random ephemeral
    /// port (the kernel picks it at random) and makes the kernel drop datagrams from anyone
    /// but the server's address and port.
    private static func connectedSocket(to server: SocketAddress) throws(SystemCallError) -> OwnedDescriptor {
        let socket = try OwnedDescriptor.socket(family: Int32(server.protocol.rawValue),
                                                type: Int32(SOCK_DGRAM.rawValue | SOCK_NONBLOCK.rawValue), "to \(server)")
        let fd = socket.descriptor
        try server.withSockAddr { sa, len in
            Result { () throws(SystemCallError) in try fd.connect(sa, socklen_t(len), "\(server)") }
        }.get()
        return socket
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
        if first && !onReactorThread { wake.descriptor.signalEvent() }
    }

    var onReactorThread: Bool { thread.load(ordering: .relaxed) == currentThreadID() }

    /// Exchanges waiting for a reply (each holds one open socket).
    var outstanding: Int { state.withLock { $0.pending.count } }

    // MARK: The reactor thread

    private func run() {
        thread.store(currentThreadID(), ordering: .relaxed)
        let capacity = 64
        var events = [epoll_event](repeating: epoll_event(), count: capacity)
        var buffer = [UInt8](repeating: 0, count: 65535)
        var nextScan = NIODeadline.now() + Self.tick
        var finished: [(CheckedContinuation<Outcome, Never>, Outcome)] = []
        var running: [UnownedJob] = []
        running.reserveCapacity(64)
        let me = asUnownedTaskExecutor()
        while true {
            let busy = jobs.withLock { !$0.isEmpty }
            let wait: Int32 = state.withLock { s in
                if busy { return 0 }
                if s.pending.isEmpty { s.sleeping = true; return -1 }
                return Int32(clamping: max(0, (nextScan - .now()).nanoseconds / 1_000_000) + 1)
            }
            let n: Int
            do {
                n = try events.withUnsafeMutableBufferPointer { b throws(SystemCallError) in
                    try epoll.descriptor.epollWait(b, timeoutMillis: wait)
                }
            } catch {
                fatalError("I/O reactor: \(error)")
            }
            if wait < 0 { state.withLock { $0.sleeping = false } }
            for i in 0..<n {
                let token = events[i].data.u64
                if token == 0 {
                    wake.descriptor.drainEvent()
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
            // Swapped with an array kept for it, not copied: a round allocates nothing.
            jobs.withLock { swap(&$0, &running) }
            for job in running { job.runSynchronously(on: me) }
            running.removeAll(keepingCapacity: true)
        }
    }

    /// Reads the datagrams waiting on the token's socket, at most ``maxDatagramsPerWake``; ends
    /// the exchange on a match or an error. Mismatched datagrams (forged or stale) are ignored
    /// and the wait goes on; what is left is read in a later round.
    private func readReplies(_ token: UInt64, _ buffer: inout [UInt8],
                             into finished: inout [(CheckedContinuation<Outcome, Never>, Outcome)]) {
        // The entry (and so its socket) stays alive while it is read, even if removed meanwhile.
        guard let entry = state.withLock({ $0.pending[token]?.exchange }) else { return }
        let fd = entry.socket.descriptor
        for _ in 0..<Self.maxDatagramsPerWake {
            let got: Int?
            do throws(SystemCallError) {
                got = try buffer.withUnsafeMutableBytes { b in
                    Result { () throws(SystemCallError) in try fd.receive(into: b) }
                }.get()
            } catch {
                finish(token, .failed(.network(error)), into: &finished)
                return
            }
            guard let got else { return }
            let bytes = Array(buffer[0..<got])
            if entry.matcher.matches(bytes) {
                finish(token, .reply(bytes), into: &finished)
                return
            }
        }
        readsCutShort.add(1, ordering: .relaxed)
    }

    private func expire(_ now: NIODeadline, into finished: inout [(CheckedContinuation<Outcome, Never>, Outcome)]) {
        let due = state.withLock { s in s.pending.filter { $0.value.deadline <= now }.map(\.key) }
        for t in due { finish(t, .failed(.timeout), into: &finished) }
    }

    /// Removes the entry and queues its task for resumption. The socket closes (which also
    /// takes it out of the epoll set) with the entry's last reference, here or in the read
    /// that holds it.
    private func finish(_ token: UInt64, _ outcome: Outcome,
                        into finished: inout [(CheckedContinuation<Outcome, Never>, Outcome)]) {
        guard let p = state.withLock({ $0.pending.removeValue(forKey: token) }) else { return }
        finished.append((p.done, outcome))
    }
}

/// The executors a worker injects where it builds its parts (``Resolver``).
public enum WorkerExecutors {
    /// The I/O reactor's thread: UDP queries, their resolutions and upstream exchanges run
    /// there, one thread for all of it.
    public static var ioReactor: any TaskExecutor { IOReactor.shared }
}
