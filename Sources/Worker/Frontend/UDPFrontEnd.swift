import Logging
import ShoalSystem

/// The UDP front end: client sockets read with `recvmmsg` and answered with `sendmmsg` on the
/// ``IOReactor`` thread, where their resolutions run too.
///
/// Cache hits (and the errors the engine answers at once) are answered in the same round: a
/// batch of queries in, the engine's synchronous part on each, a batch of answers out. A miss
/// starts a resolution task on the reactor, which sends its answer on the same socket when it
/// completes; its upstream exchanges are on the reactor too, so a UDP query never waits for
/// another thread. Measured against NIO's vector reads on the hit path (bench/RESULTS.md,
/// "Front end"), this spends about half the user-space time per query.
public enum UDPFrontEnd {
    /// Datagrams taken per `recvmmsg`; each slot has 2 KiB, so no EDNS query is cut.
    public static let receiveSlots = 32
    /// Answers gathered before one `sendmmsg`: up to four reads while more are queued, since
    /// each send also wakes the clients' readers, and fewer, larger sends cost the kernel less.
    public static let sendSlots = 128
    public static let bufferSize = 2048
    /// `recvmmsg` calls per wake-up at most, whatever came of the datagrams (answers, drops or
    /// misses): a flood on one socket leaves its queue to the next round, after the other
    /// sockets and the resolution tasks had their turn (the reactor is level-triggered).
    public static let maxReadsPerWake = sendSlots / receiveSlots

    /// Starts serving `listener` on the reactor; it is served for the life of the process.
    /// Queries of a dead worker older than this are not answered any more (their clients have
    /// retried or given up; dig's first timeout is 5 s).
    public static let adoptionMaxAgeMillis: UInt64 = 4000

    /// Starts serving `listener` (the `index`-th UDP socket of the worker, the same index in
    /// every worker of a slot) on the reactor; it is served for the life of the process.
    public static func start(_ listener: UDPListener, index: Int = 0, engine: WorkerEngine, logger: Logger) throws(SystemCallError) {
        let server = Server(listener: listener, index: index, engine: engine, logger: logger)
        try IOReactor.shared.watch(listener.socket) { server.readable() }
    }

    /// Stops reading `listener` (the worker drains before it exits); answers of resolutions in
    /// progress are still sent on it.
    public static func stop(_ listener: UDPListener) throws(SystemCallError) {
        try IOReactor.shared.unwatch(listener.socket)
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

    /// One socket's state. Touched only on the reactor thread (the `watch` handler), which is
    /// what makes the unchecked Sendable sound: the mutable state is private to that thread
    /// and nothing of it is public.
    final class Server: @unchecked Sendable {
        let listener: UDPListener
        let index: Int
        let engine: WorkerEngine
        let logger: Logger
        private var batch = DatagramBatch(receiveSlots: receiveSlots, sendSlots: sendSlots, bufferSize: bufferSize)
        private var failures = 0

        init(listener: UDPListener, index: Int, engine: WorkerEngine, logger: Logger) {
            self.listener = listener
            self.index = index
            self.engine = engine
            self.logger = logger
        }

        /// Reads while full batches keep coming, up to ``maxReadsPerWake`` batches, then sends
        /// the answers all at once.
        func readable() {
            var misses: [(ClientQuery, ClientAddress, Int?)] = []
            for _ in 0..<maxReadsPerWake {
                let n: Int
                do { n = try batch.receive(from: listener) } catch {
                    failures += 1
                    if failures <= 10 || failures % 10_000 == 0 {
                        logger.warning("UDP front end on \(listener.name): \(error) (\(failures) so far)")
                    }
                    break
                }
                for i in 0..<n {
                    let allowed = batch.senderAllowed(i, by: engine.acl)
                    // The hit path: read in place, answered straight into the send batch.
                    if allowed {
                        let datagram = batch.payloadBytes(i)
                        if batch.queueReply(toSenderOf: i, { engine.answerHit(datagram, into: $0) }) { continue }
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
        }
    }
}
