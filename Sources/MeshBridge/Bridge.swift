import CNATS
import Logging
import ShmCache
import ShoalSystem
import Synchronization

/// The bridge's loop: one NATS connection, one subscription to every node's batches of the
/// cluster, a ``Publisher`` on the segment's journal and an ``Applier`` for what arrives.
///
/// One thread runs it (``run()``); ``stop()`` may be called from any thread. NATS being down
/// only delays publishing (libnats buffers, then a resync follows a failed publish): the
/// workers never wait for the bridge.
public final class Bridge: Sendable {
    public let settings: BridgeSettings
    public let counters = BridgeCounters()
    let segment: SharedSegment
    let logger: Logger
    let stopping = Atomic<Bool>(false)
    let state = Atomic<UInt8>(0)   // BridgeState raw value

    /// Where the loop is.
    public enum BridgeState: UInt8, Sendable {
        case starting = 0, connecting, running, stopped
    }

    public init(settings: BridgeSettings, segment: SharedSegment, logger: Logger) {
        self.settings = settings
        self.segment = segment
        self.logger = logger
    }

    public var currentState: BridgeState { BridgeState(rawValue: state.load(ordering: .acquiring)) ?? .stopped }

    /// Asks ``run()`` to return (within about 50 ms, or one connection attempt's timeout).
    public func stop() { stopping.store(true, ordering: .relaxed) }
    var shouldStop: Bool { stopping.load(ordering: .relaxed) }

    /// Connects (retrying until connected or stopped), then publishes and applies until
    /// ``stop()``. Throws only errors retrying cannot fix (libnats refused the options).
    public func run() throws(NATSError) {
        defer { state.store(BridgeState.stopped.rawValue, ordering: .releasing) }
        state.store(BridgeState.connecting.rawValue, ordering: .releasing)
        let connection: NATSConnection
        do {
            connection = try NATSConnection.connect(settings, logger: logger, attempted: { _, error in
                counters.connectFailures.wrappingAdd(1, ordering: .relaxed)
                counters.lastConnectError.withLock { $0 = error.description }
            }, shouldStop: { shouldStop })
        } catch {
            if error.permanent { logger.error("NATS: \(error)") }
            if shouldStop && !error.permanent { return }
            throw error
        }
        let maxPayload = min(settings.maxPayload, connection.maxPayload)
        logger.notice("connected to NATS (server max_payload \(connection.maxPayload), batches up to \(maxPayload) bytes); \(settings)")
        let subscription = try connection.subscribe(MeshSubjects.allUpdates(cluster: settings.cluster))
        try? connection.flush(timeoutMillis: settings.connectTimeoutMillis)
        let publisher = Publisher(segment: segment, settings: settings, maxPayload: maxPayload, counters: counters,
                                  logger: logger)
        let applier = Applier(segment: segment, settings: settings, maxPayload: maxPayload, counters: counters,
                              logger: logger)
        state.store(BridgeState.running.rawValue, ordering: .releasing)
        var dropped: UInt64 = 0
        while !shouldStop {
            publisher.pump(to: connection, canResync: connection.isConnected)
            // Up to 256 messages per turn; the first wait is what paces the loop when idle.
            var wait = 20
            for _ in 0..<256 {
                guard let m = try? subscription.next(timeoutMillis: wait) else { break }
                wait = 0
                applier.apply(m.data, subject: m.subject, nowMillis: UInt64(max(nats_Now(), 0)))
            }
            counters.disconnects.store(connection.disconnects, ordering: .relaxed)
            counters.reconnects.store(connection.reconnects, ordering: .relaxed)
            let d = subscription.dropped
            if d > dropped {
                logger.warning("NATS: \(d - dropped) message(s) dropped (this bridge fell behind)")
                dropped = d
            }
        }
        publisher.pump(to: connection, canResync: false)
        try? connection.flush(timeoutMillis: 1000)
        logger.notice("stopping")
    }
}
