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
        case starting = 0, connecting, warmingUp, running, stopped
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

    /// Why ``run()`` returned.
    public enum End: Equatable, Sendable {
        /// ``stop()`` was called.
        case stopped
        /// The segment was retired, removed or replaced (`shoalctl segment`, a layout change):
        /// the bridge must be restarted on the current one (exit status 75, as a worker's).
        case segmentReplaced(String)
    }

    /// Exit status of a bridge whose segment was replaced (EX_TEMPFAIL: restart me).
    public static let segmentReplacedExitCode: Int32 = 75

    /// Why the last ``run()`` ended (nil while it runs or if it threw).
    public var end: End? { endReason.withLock { $0 } }
    let endReason = Mutex<End?>(nil)

    /// Connects (retrying until connected or stopped), then publishes and applies until
    /// ``stop()`` or until the segment is replaced. Throws only errors retrying cannot fix
    /// (libnats refused the options).
    @discardableResult
    public func run() throws(NATSError) -> End {
        defer { state.store(BridgeState.stopped.rawValue, ordering: .releasing) }
        state.store(BridgeState.connecting.rawValue, ordering: .releasing)
        let connection: NATSConnection
        do {
            connection = try NATSConnection.connect(settings, logger: logger, counters: counters, attempted: { _, error in
                counters.connectFailures.wrappingAdd(1, ordering: .relaxed)
                counters.lastConnectError.withLock { $0 = error.description }
            }, shouldStop: { shouldStop })
        } catch {
            if error.permanent { logger.error("NATS: \(error)") }
            if shouldStop && !error.permanent { return finish(.stopped) }
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
        let puller = SnapshotPuller(connection: connection, applier: applier, settings: settings, maxPayload: maxPayload,
                                    counters: counters, logger: { [logger] in logger.notice("\($0)") },
                                    shouldStop: { [self] in shouldStop })
        state.store(BridgeState.warmingUp.rawValue, ordering: .releasing)
        warmUp(puller)
        // A donor only once warm itself (a requester never gets its own request: no-echo).
        let donorSubs = [
            try connection.subscribe(MeshSubjects.snapshot(cluster: settings.cluster), queue: MeshSubjects.donorQueue),
            try connection.subscribe(MeshSubjects.snapshot(cluster: settings.cluster, donor: settings.nodeID)),
        ]
        let donorThread = try? startDonor(donorSubs, connection: connection, maxPayload: maxPayload)
        defer { donorThread?.stop() }
        state.store(BridgeState.running.rawValue, ordering: .releasing)
        var dropped: UInt64 = 0
        var catchUp = CatchUpSchedule()
        let startedAt = Clock.wallSeconds()
        var nextServerSync = Clock.monotonicNanos()
        var nextSegmentCheck = Clock.monotonicNanos()
        var ending = End.stopped
        while !shouldStop {
            if Clock.monotonicNanos() >= nextSegmentCheck {
                nextSegmentCheck = Clock.monotonicNanos() + 1_000_000_000
                if let why = segment.replacedReason() {
                    logger.critical("\(why): exiting so that a restart attaches the current segment")
                    ending = .segmentReplaced(why)
                    break
                }
            }
            publisher.pump(to: connection, canResync: connection.isConnected)
            if settings.serverSyncSeconds > 0, Clock.monotonicNanos() >= nextServerSync {
                publisher.publishServers(to: connection, learnt: applier.learntServers)
                nextServerSync = Clock.monotonicNanos() + UInt64(settings.serverSyncSeconds) * 1_000_000_000
            }
            // Up to 256 messages per turn; the first wait paces the loop when idle, and bounds
            // how long a store waits before it is published (2 ms: 500 cheap turns a second).
            var wait = 2
            for _ in 0..<256 {
                guard let m = try? subscription.next(timeoutMillis: wait) else { break }
                wait = 0
                applier.apply(m.data, subject: m.subject, nowMillis: UInt64(max(nats_Now(), 0)))
            }
            if let since = applier.takeMissedSince() {
                logger.warning("updates from peers were lost (\(counters.lostBatches.load(ordering: .relaxed)) batches so far); pulling what was stored since then")
                catchUp.request(since: since &- 5)
            }
            if settings.warmUp, let since = catchUp.due(connected: connection.isConnected, reconnects: connection.reconnects) {
                counters.catchUps.wrappingAdd(1, ordering: .relaxed)
                let outcome = puller.pull(since: since)
                catchUp.finished(outcome)
                switch outcome {
                case let .complete(n, donor): logger.notice("catch-up: \(n) entries from \(donor)")
                case .noPeer: if !catchUp.pending { logger.notice("catch-up: no peer answered") }
                case let .incomplete(n, why): logger.warning("catch-up incomplete (\(n) entries): \(why)")
                case .stopped: break
                }
            }
            let d = subscription.dropped
            if d > dropped {
                // Dropped updates may have been the last ones their peers sent (no later batch
                // would show the gap): pull what was stored since the last update we decoded.
                logger.warning("NATS: \(d - dropped) message(s) dropped (this bridge fell behind); pulling what they held")
                counters.slowConsumerDrops.wrappingAdd(d - dropped, ordering: .relaxed)
                dropped = d
                catchUp.request(since: (applier.lastUpdateSentAt ?? startedAt) &- 5)
            }
        }
        if case .stopped = ending { publisher.pump(to: connection, canResync: false) }
        try? connection.flush(timeoutMillis: 1000)
        logger.notice("stopping")
        return finish(ending)
    }

    func finish(_ e: End) -> End {
        endReason.withLock { $0 = e }
        return e
    }

    /// The name of the marker of a warm-up in progress for this segment's generation: a tiny
    /// shared-memory object, created when a warm-up starts and removed when it ends, so that a
    /// bridge killed mid-warm-up (its segment no longer empty) pulls again when restarted.
    var warmUpMarker: String { "\(segment.name).warmup.\(segment.generation)" }

    /// Pulls a snapshot when the segment is empty (new, wiped, or a changed layout), or when a
    /// warm-up of this segment was interrupted.
    func warmUp(_ puller: SnapshotPuller) {
        guard settings.warmUp else {
            counters.warmUpState.store(WarmUpState.notNeeded.rawValue, ordering: .relaxed)
            return
        }
        let now = shmNow()
        let held = segment.records.count(now: now).entries + segment.negative.count(now: now).entries
        let interrupted = (try? SharedMemory.open(warmUpMarker, readOnly: true)) != nil
        guard held == 0 || interrupted else {
            logger.info("warm-up: the segment holds \(held) entries; not needed")
            counters.warmUpState.store(WarmUpState.notNeeded.rawValue, ordering: .relaxed)
            return
        }
        if interrupted { logger.notice("warm-up: an earlier warm-up of this segment was interrupted; pulling again") }
        _ = try? SharedMemory.open(warmUpMarker, create: true)
        counters.warmUpState.store(WarmUpState.pulling.rawValue, ordering: .relaxed)
        let started = Clock.monotonicNanos()
        let outcome = puller.pull(since: 0)
        let ms = (Clock.monotonicNanos() - started) / 1_000_000
        let state: WarmUpState
        switch outcome {
        case let .complete(n, donor):
            state = .complete
            logger.notice("warm-up: \(n) entries from \(donor) in \(ms) ms")
        case .noPeer:
            state = .cold
            logger.notice("warm-up: no peer answered; starting cold")
        case let .incomplete(n, why):
            state = .incomplete
            logger.warning("warm-up: incomplete after \(n) entries in \(ms) ms: \(why)")
        case .stopped:
            state = .incomplete
        }
        // Stopped on purpose: the next start resumes (pulls again); otherwise it is over.
        if case .stopped = outcome {} else { try? SharedMemory.unlink(warmUpMarker) }
        counters.warmUpState.store(state.rawValue, ordering: .relaxed)
    }

    /// The donor side runs on a thread of its own: this loop blocks in a pull (a warm-up or a
    /// catch-up) for up to `warm-up-timeout-ms`, and two bridges that reconnect together pull
    /// from each other at once; had each served requests only between its own pulls, both
    /// would wait out every attempt (a catch-up lost for ten seconds in one test run of ten).
    final class DonorThread: Sendable {
        private let stopping = Atomic<Bool>(false)
        private let done = Atomic<Bool>(false)
        var shouldStop: Bool { stopping.load(ordering: .relaxed) }
        func finished() { done.store(true, ordering: .releasing) }
        /// Asks the thread to end and waits for it (at most a second: it polls every 10 ms).
        func stop() {
            stopping.store(true, ordering: .relaxed)
            for _ in 0..<200 where !done.load(ordering: .acquiring) { nats_Sleep(5) }
        }
    }

    /// Starts the thread that answers snapshot requests on `subs` (its ``SnapshotDonor``, with
    /// its sessions and rate limit, is that thread's alone).
    func startDonor(_ subs: [NATSSubscription], connection: NATSConnection, maxPayload: Int) throws(SystemCallError) -> DonorThread {
        let control = DonorThread()
        let (segment, settings) = (segment, settings)
        try startDetachedThread(name: "bridge-donor") { [self] in
            defer { control.finished() }
            let donor = SnapshotDonor(segment: segment, settings: settings, maxPayload: maxPayload)
            var lastServed: UInt64 = 0
            while !control.shouldStop && !shouldStop {
                var served = false
                for sub in subs {
                    for _ in 0..<16 {
                        guard let m = try? sub.next(timeoutMillis: 0) else { break }
                        serve(m, donor: donor, connection: connection)
                        served = true
                    }
                }
                if !served {
                    // Idle: wait where the next request is likely. A session's later chunks are
                    // asked on this node's own subject (`subs[1]`) right after the last; a new
                    // session starts on the queue group's (`subs[0]`).
                    let inSession = Clock.monotonicNanos() &- lastServed < 1_000_000_000
                    let (sub, wait) = inSession ? (subs[1], 2) : (subs[0], 10)
                    if let m = try? sub.next(timeoutMillis: wait) {
                        serve(m, donor: donor, connection: connection)
                        served = true
                    }
                }
                if served { lastServed = Clock.monotonicNanos() }
            }
        }
        return control
    }

    /// Answers one snapshot request.
    func serve(_ m: NATSMessage, donor: SnapshotDonor, connection: NATSConnection) {
        guard let reply = m.reply else { return }
        switch donor.answer(m.data) {
        case let .success(bytes):
            do {
                try connection.publish(subject: reply, bytes)
                if SnapshotWire.isChunk(bytes) { counters.chunksServed.wrappingAdd(1, ordering: .relaxed) }
            } catch {
                logger.warning("snapshot reply not sent: \(error)")
            }
        case let .failure(e):
            counters.reject(e.reason)
            logger.warning("snapshot request refused: \(e)")
        }
    }
}

/// When to pull what was missed: core NATS keeps nothing for an absent subscriber, so after
/// each reconnect the bridge asks a donor for what was stored since five seconds before the
/// connection was lost, and after lost batches (gaps in a peer's numbers) for what was stored
/// since the last batch before the gap; with no peer answering yet (they may be reconnecting
/// too) it asks again with back-off, five times.
struct CatchUpSchedule {
    var seenReconnects: UInt64 = 0
    var lastConnected = Clock.wallSeconds()
    var since: UInt32 = 0
    var attempt = 0
    var at: UInt64? = nil

    var pending: Bool { at != nil }

    /// The `since` of a pull to make now, if one is due.
    mutating func due(connected: Bool, reconnects: UInt64, now: UInt64 = Clock.monotonicNanos()) -> UInt32? {
        guard connected else { return nil }
        if reconnects > seenReconnects {
            since = lastConnected &- 5
            attempt = 0
            at = now + 200_000_000
        }
        seenReconnects = reconnects
        lastConnected = Clock.wallSeconds()
        guard let at, now >= at else { return nil }
        self.at = nil
        return since
    }

    /// A pull of what was stored since `since` (lost batches), merged with one already due.
    mutating func request(since s: UInt32, now: UInt64 = Clock.monotonicNanos()) {
        if pending {
            since = min(since, s)
        } else {
            since = s
            attempt = 0
            at = now + 200_000_000
        }
    }

    mutating func finished(_ outcome: PullOutcome, now: UInt64 = Clock.monotonicNanos()) {
        guard case .noPeer = outcome, attempt < 5 else { return }
        at = now + UInt64(250 << attempt) * 1_000_000
        attempt += 1
    }
}
