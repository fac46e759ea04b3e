import Logging
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// The UDP front end: one thread per UDP socket, reading with `recvmmsg` and answering with
/// `sendmmsg`.
///
/// Cache hits (and the errors the engine answers at once) never leave this thread: a batch
/// of queries in, the engine's synchronous part on each, a batch of answers out. Misses are
/// handed to the event loop in one task per batch; each resolution sends its own answer on
/// the same socket when it completes. Measured against NIO's vector reads on the hit path
/// (bench/RESULTS.md, "Front end"), this spends about half the user-space time per query.
public enum UDPFrontEnd {
    /// Datagrams taken per `recvmmsg`; each slot has 2 KiB, so no EDNS query is cut.
    public static let receiveSlots = 32
    /// Answers gathered before one `sendmmsg`: up to four reads while more are queued, since
    /// each send also wakes the clients' readers, and fewer, larger sends cost the kernel less.
    public static let sendSlots = 128
    public static let bufferSize = 2048

    /// A query that missed the packet cache, on its way to the event loop.
    struct Miss: Sendable {
        var query: ClientQuery
        var client: ClientAddress
    }

    /// Starts the thread serving `listener`; it runs for the life of the process.
    public static func start(_ listener: UDPListener, engine: WorkerEngine, loop: any EventLoop, logger: Logger) {
        startDetachedThread("UDP front end on \(listener.name)") {
            serve(listener, engine: engine, loop: loop, logger: logger)
        }
    }

    static func serve(_ listener: UDPListener, engine: WorkerEngine, loop: any EventLoop, logger: Logger) {
        var batch = DatagramBatch(receiveSlots: receiveSlots, sendSlots: sendSlots, bufferSize: bufferSize)
        var misses: [Miss] = []
        var failures = 0
        while true {
            var wait = true
            // Read while datagrams keep coming and the answers fit; then send them all.
            while batch.queued + receiveSlots <= sendSlots {
                let n: Int
                do { n = try batch.receive(from: listener, wait: wait) } catch {
                    failures += 1
                    if failures <= 10 || failures % 10_000 == 0 {
                        logger.warning("UDP front end on \(listener.name): \(error) (\(failures) so far)")
                    }
                    usleep(10_000)   // a socket error that persists must not spin this core
                    break
                }
                wait = false
                for i in 0..<n {
                    switch engine.receive(batch.payload(i), clientAllowed: batch.senderAllowed(i, by: engine.acl),
                                          overTCP: false) {
                    case let .respond(b):
                        if !batch.queueReply(b, toSenderOf: i) { listener.send(b, to: batch.sender(i)) }
                    case .drop:
                        break
                    case let .resolve(q):
                        misses.append(Miss(query: q, client: batch.sender(i)))
                    }
                }
                if n < receiveSlots { break }
            }
            if batch.queued > 0 { _ = batch.send(on: listener) }
            if !misses.isEmpty {
                let handed = misses
                misses.removeAll(keepingCapacity: true)
                loop.execute {
                    for m in handed {
                        Task {
                            let b = await engine.resolve(m.query)
                            listener.send(b, to: m.client)
                        }
                    }
                }
            }
        }
    }
}
