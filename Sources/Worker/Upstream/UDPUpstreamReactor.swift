import CShoalShims
import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Upstream UDP exchanges on plain sockets, outside NIO.
///
/// A cold resolution is dominated by upstream queries, and a NIO channel per query (bootstrap,
/// pipeline, options, futures, a 64 KiB receive buffer) cost more CPU than the syscalls it
/// wraps. Here each query still gets its own socket — a kernel-chosen random ephemeral port,
/// connected to the server so the kernel drops datagrams from any other address or port — but
/// the caller's thread only does `socket`, `connect`, `send` and `epoll_ctl`; one reactor
/// thread per process waits on an epoll instance, reads replies, matches them (ID, question,
/// exact case), closes the socket and resumes the waiting task. NIO cannot watch foreign file
/// descriptors, hence the thread; it shares the worker's CPU and sleeps when nothing is
/// outstanding.
///
/// Ownership of a socket: the pending table owns it from registration on; whoever removes the
/// entry (the reactor, on a reply, an error or the deadline) closes it, under the table lock,
/// so a descriptor number is never reused while an entry still names it.
final class UDPUpstreamReactor: Sendable {
    /// One reactor per process, started on first use.
    static let shared = UDPUpstreamReactor()

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
    /// The event loop that runs the waiting tasks, when there is one (the worker's only loop).
    private let deliveryLoop = Mutex<(any EventLoop)?>(nil)
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
        startDetachedThread("upstream reactor") { [self] in run() }
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

    /// Resumes finished exchanges on `loop`, in batches (see `deliver`). Set once by the
    /// worker; without it each task is resumed from the reactor thread.
    func deliver(on loop: any EventLoop) {
        deliveryLoop.withLock { $0 = loop }
    }

    /// Exchanges waiting for a reply (each holds one open socket).
    var outstanding: Int { state.withLock { $0.pending.count } }

    // MARK: The reactor thread

    private func run() {
        let capacity = 64
        var events = [epoll_event](repeating: epoll_event(), count: capacity)
        var buffer = [UInt8](repeating: 0, count: 65535)
        var nextScan = NIODeadline.now() + Self.tick
        var finished: [(CheckedContinuation<Outcome, Never>, Outcome)] = []
        while true {
            let wait: Int32 = state.withLock { s in
                if s.pending.isEmpty { s.sleeping = true; return -1 }
                return Int32(clamping: max(0, (nextScan - .now()).nanoseconds / 1_000_000) + 1)
            }
            let n = events.withUnsafeMutableBufferPointer { epoll_wait(epollFD, $0.baseAddress, Int32(capacity), wait) }
            if n < 0 && errno != EINTR { fatalError("upstream reactor: epoll_wait failed: errno \(errno)") }
            for i in 0..<max(0, Int(n)) {
                let token = events[i].data.u64
                if token == 0 { Self.drain(wakeFD); continue }
                readReplies(token, &buffer, into: &finished)
            }
            let now = NIODeadline.now()
            if now >= nextScan {
                expire(now, into: &finished)
                nextScan = now + Self.tick
            }
            deliver(&finished)
        }
    }

    /// Resumes the tasks whose exchanges ended in this round. With a delivery loop, all of
    /// them in one task on that loop: resumed from its own thread they are queued without
    /// waking it again, where resuming each from here would wake it (and switch threads)
    /// once per reply.
    private func deliver(_ finished: inout [(CheckedContinuation<Outcome, Never>, Outcome)]) {
        guard !finished.isEmpty else { return }
        let batch = finished
        finished.removeAll(keepingCapacity: true)
        if let loop = deliveryLoop.withLock({ $0 }) {
            loop.execute { for (done, outcome) in batch { done.resume(returning: outcome) } }
        } else {
            for (done, outcome) in batch { done.resume(returning: outcome) }
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
