#if canImport(Glibc)
import Glibc
#endif
import Logging
import ShoalSystem
import Synchronization

/// The UDP front end: each client socket is read with `recvmmsg` and answered with `sendmmsg`
/// on a thread of its own, which does nothing else.
///
/// Cache hits (and the errors the engine answers at once) are answered in the same round: a
/// batch of queries in, the engine's synchronous part on each, a batch of answers out. A miss
/// starts a resolution task on the ``IOReactor``, which sends its answer on the same socket when
/// it completes; its upstream exchanges are on the reactor too.
///
/// Why a thread per socket and not the reactor's epoll (issue #14, bench/RESULTS.md): a socket
/// in an epoll set keeps the epoll entry on its wait queue, and the kernel walks that queue
/// after every datagram sent from it (the write-space wake-up), about 0.2 µs per answer; and
/// each round cost an `epoll_wait` more. This thread waits in `recvmmsg` itself, as the bare
/// loop of `frontend-bench` does: a round is one blocking read (`MSG_WAITFORONE`) and one
/// send, and the socket has a waiter only while the thread sleeps, never while it sends.
/// Measured against NIO's vector reads on the hit path (bench/RESULTS.md, "Front end"), the
/// recvmmsg/sendmmsg loop spends about half the user-space time per query.
public enum UDPFrontEnd {
    /// Datagrams taken per `recvmmsg`; each slot has 2 KiB, so no EDNS query is cut.
    public static let receiveSlots = 32
    /// Answers gathered before one `sendmmsg`: up to four reads while more are queued, since
    /// each send also wakes the clients' readers, and fewer, larger sends cost the kernel less.
    public static let sendSlots = 128
    public static let bufferSize = 2048
    /// `recvmmsg` calls per round at most, whatever came of the datagrams (answers, drops or
    /// misses), before the answers are sent.
    public static let maxReadsPerWake = sendSlots / receiveSlots

    /// Queries of a dead worker older than this are not answered any more (their clients have
    /// retried or given up; dig's first timeout is 5 s).
    public static let adoptionMaxAgeMillis: UInt64 = 4000

    /// A read waits this long for a first datagram (`SO_RCVTIMEO`) before the thread looks
    /// whether it is asked to stop: the most ``stop(_:)`` waits for an idle socket's thread.
    static let idleWakeMillis = 100

    /// The servers running, by listener.
    private static let servers = Mutex<[ObjectIdentifier: Server]>([:])

    /// Starts serving `listener` (the `index`-th UDP socket of the worker, the same index in
    /// every worker of a slot) on a thread of its own, until ``stop(_:)``.
    public static func start(_ listener: UDPListener, index: Int = 0, engine: WorkerEngine, logger: Logger) throws(SystemCallError) {
        let server = Server(listener: listener, index: index, engine: engine, logger: logger)
        let added = servers.withLock { s -> Bool in
            guard s[ObjectIdentifier(listener)] == nil else { return false }
            s[ObjectIdentifier(listener)] = server
            return true
        }
        guard added else { return }   // served already
        do {
            try startDetachedThread(name: "shoal-udp-\(index)") { server.serve() }
        } catch {
            _ = servers.withLock { $0.removeValue(forKey: ObjectIdentifier(listener)) }
            throw error
        }
    }

    /// Stops reading `listener` (the worker drains before it exits): returns once its thread
    /// has left its loop (after the round in progress is answered), so nothing more is read
    /// from the socket; what is queued there stays for the socket's other readers. Answers of
    /// resolutions in progress are still sent on it.
    public static func stop(_ listener: UDPListener) {
        servers.withLock { $0.removeValue(forKey: ObjectIdentifier(listener)) }?.stop()
    }

    /// Answers the queries a dead worker of this slot was resolving (its pending-query
    /// entries), from the same sockets. Returns how many were adopted and how many dropped (too
    /// old, or never completely recorded).
    @discardableResult
    public static func adoptOrphans(listeners: [UDPListener], engine: WorkerEngine, logger: Logger) -> (adopted: Int, dropped: Int) {
        guard let slot = engine.pendingSlot else { return (0, 0) }
        let (orphans, dropped) = engine.segment.pending.adopt(slot: slot, maxAgeMillis: adoptionMaxAgeMillis)
        for o in orphans {
            guard o.listener < listeners.count, let client = ClientAddress(bytes: o.address) else {
                engine.segment.pending.clear(slot: slot, entry: o.entry)
                continue
            }
            let listener = listeners[o.listener]
            switch engine.receive(o.query, clientAllowed: true, overTCP: false) {
            case let .respond(b):
                _ = listener.send(b, to: client)
                engine.segment.pending.clear(slot: slot, entry: o.entry)
            case .drop:
                engine.segment.pending.clear(slot: slot, entry: o.entry)
            case let .resolve(q):
                resolveAndAnswer(q, client: client, on: listener, engine: engine, pendingEntry: o.entry)
            }
        }
        if !orphans.isEmpty || dropped > 0 {
            logger.notice("adopted \(orphans.count) query(ies) a dead worker of slot \(slot) was resolving\(dropped > 0 ? "; \(dropped) too old or incomplete, dropped" : "")")
        }
        return (orphans.count, dropped)
    }

    /// Resolves a miss on the resolver's executor, answers the client on `listener`, then frees
    /// the query's pending entry (if it got one).
    static func resolveAndAnswer(_ q: ClientQuery, client: ClientAddress, on listener: UDPListener,
                                 engine: WorkerEngine, pendingEntry: Int?) {
        Task(executorPreference: engine.resolver.executor) {
            listener.send(await engine.resolve(q), to: client)
            if let pendingEntry, let slot = engine.pendingSlot { engine.segment.pending.clear(slot: slot, entry: pendingEntry) }
        }
    }

    /// One socket's server. Its counter of failures is touched only by its own thread
    /// (`serve`), which is what makes the unchecked Sendable sound; the flags are atomic.
    final class Server: @unchecked Sendable {
        let listener: UDPListener
        let index: Int
        let engine: WorkerEngine
        let logger: Logger
        private let stopping = Atomic<Bool>(false)
        private let running = Atomic<Bool>(true)
        private var failures = 0

        init(listener: UDPListener, index: Int, engine: WorkerEngine, logger: Logger) {
            self.listener = listener
            self.index = index
            self.engine = engine
            self.logger = logger
        }

        /// The thread's loop: rounds until stopped. The batch is this thread's own, a local, so
        /// that its uses need no exclusivity checks.
        func serve() {
            defer { running.store(false, ordering: .releasing) }
            let fd = listener.socket.descriptor
            do {
                try fd.setSocketOption(SOL_SOCKET, SO_RCVTIMEO, timeval(tv_sec: 0, tv_usec: Int(idleWakeMillis) * 1000),
                                       "SO_RCVTIMEO on \(listener.name)")
            } catch {
                logger.warning("UDP front end: \(error); stopping this socket's reader may take until its next datagram")
            }
            var batch = DatagramBatch(receiveSlots: receiveSlots, sendSlots: sendSlots, bufferSize: bufferSize)
            // A batch's plain queries, screened and hashed, between the prefetch and the
            // answers: on this thread's stack for as long as it serves.
            withUnsafeTemporaryAllocation(of: WorkerEngine.PrefetchedHit?.self, capacity: receiveSlots) { hits in
                hits.initialize(repeating: nil)
                while !stopping.load(ordering: .relaxed) {
                    if answerRound(&batch, hits) > 0 { continue }
                    // Nothing came within the read's timeout; or the socket does not block (an
                    // inherited one whose description has O_NONBLOCK), and the read returned
                    // at once: then wait here, at most as long, rather than spin.
                    if fd.isNonBlocking { _ = try? fd.waitReadable(timeoutMillis: Int32(idleWakeMillis)) }
                }
            }
        }

        /// Asks the thread to stop and waits (at most 2 s; it looks every ``idleWakeMillis``
        /// when idle) until it has left its loop.
        func stop() {
            stopping.store(true, ordering: .relaxed)
            let deadline = Clock.monotonicSeconds() + 2
            while running.load(ordering: .acquiring) && Clock.monotonicSeconds() < deadline { usleep(1000) }
        }

        private func noteFailure(_ error: SystemCallError) {
            failures += 1
            if failures <= 10 || failures % 10_000 == 0 {
                logger.warning("UDP front end on \(listener.name): \(error) (\(failures) so far)")
            }
            usleep(1000)   // not spinning on a socket that keeps failing
        }

        /// One round: a read that waits for the first datagram, more reads while full batches
        /// keep coming (up to ``maxReadsPerWake``), then the answers sent all at once and the
        /// misses handed to the reactor. Returns the datagrams read. (Internal, not private:
        /// the allocation test runs rounds on its own thread.)
        func answerRound(_ batch: inout DatagramBatch, _ hits: UnsafeMutableBufferPointer<WorkerEngine.PrefetchedHit?>) -> Int {
            var misses: [(ClientQuery, ClientAddress, Int?)] = []
            var read = 0
            for r in 0..<maxReadsPerWake {
                let n: Int
                do { n = try batch.receive(from: listener, waitingForOne: r == 0) } catch {
                    noteFailure(error)
                    break
                }
                read += n
                // The packet cache's lines for the whole batch first, so that their misses
                // overlap (hints: the answers are the same without).
                for i in 0..<n { hits[i] = engine.prefetchHit(batch.payloadBytes(i)) }
                for i in 0..<n { if let h = hits[i] { engine.prefetchHitSlot(h) } }
                for i in 0..<n {
                    let allowed = batch.senderAllowed(i, by: engine.acl)
                    // The hit path: read in place, answered straight into the send batch.
                    if allowed {
                        let datagram = batch.payloadBytes(i), prefetched = hits[i]
                        if batch.queueReply(toSenderOf: i, { engine.answerHit(datagram, prefetched: prefetched, into: $0) }) { continue }
                    }
                    let query = batch.payload(i)
                    switch engine.receive(query, clientAllowed: allowed, overTCP: false) {
                    case let .respond(b):
                        if !batch.queueReply(b, toSenderOf: i) { listener.send(b, to: batch.sender(i)) }
                    case .drop:
                        break
                    case let .resolve(q):
                        let client = batch.sender(i)
                        // Recorded for adoption: if this worker dies before answering, the next
                        // one of its slot answers from the same socket.
                        let entry = engine.pendingSlot.flatMap { slot in
                            client.bytes.withUnsafeBytes { a in
                                query.withUnsafeBytes { q in
                                    engine.segment.pending.record(slot: slot, listener: index, address: a, query: q)
                                }
                            }
                        }
                        misses.append((q, client, entry))
                    }
                }
                if n < receiveSlots { break }
            }
            if batch.queued > 0 { _ = batch.send(on: listener) }
            for (q, client, entry) in misses {
                UDPFrontEnd.resolveAndAnswer(q, client: client, on: listener, engine: engine, pendingEntry: entry)
            }
            return read
        }
    }
}
