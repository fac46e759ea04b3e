import CNATS
import Logging
import ShoalSystem
import Synchronization

/// A libnats status code. An open struct: a code from a newer libnats prints as its number.
public struct NATSStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: natsStatus.RawValue
    public init(rawValue: natsStatus.RawValue) { self.rawValue = rawValue }
    init(_ s: natsStatus) { rawValue = s.rawValue }

    public static let ok = NATSStatus(NATS_OK)
    public static let timeout = NATSStatus(NATS_TIMEOUT)
    public static let slowConsumer = NATSStatus(NATS_SLOW_CONSUMER)
    public static let authFailed = NATSStatus(NATS_CONNECTION_AUTH_FAILED)
    public static let notPermitted = NATSStatus(NATS_NOT_PERMITTED)
    public static let noServer = NATSStatus(NATS_NO_SERVER)
    public static let noResponders = NATSStatus(NATS_NO_RESPONDERS)

    public var description: String { String(cString: natsStatus_GetText(natsStatus(rawValue: rawValue))) }
}

/// A libnats call that failed: which call, its status, and libnats' own text for it (which
/// carries the server's reason, e.g. "Authorization Violation").
public struct NATSError: Error, Hashable, Sendable, CustomStringConvertible {
    public var call: String
    public var status: NATSStatus
    public var detail: String
    /// Retrying cannot help (the options themselves were refused).
    public var permanent = false

    public var description: String {
        "\(call): \(status)\(detail.isEmpty || detail == status.description ? "" : " (\(detail))")"
    }
}

/// Runs a libnats call; throws its status with the thread's last-error text.
@inline(__always)
func natsCheck(_ call: String, permanent: Bool = false, _ body: () -> natsStatus) throws(NATSError) {
    let s = body()
    guard s != NATS_OK else { return }
    var detail = ""
    if let text = nats_GetLastError(nil) { detail = String(cString: text) }
    throw NATSError(call: call, status: NATSStatus(s), detail: detail, permanent: permanent)
}

/// Exponential back-off with jitter: `min`, doubling per attempt up to `max`, plus up to a
/// quarter of that at random so that a fleet does not reconnect in step.
public struct Backoff: Sendable, Hashable {
    public var minMillis: Int
    public var maxMillis: Int
    public init(minMillis: Int, maxMillis: Int) { self.minMillis = minMillis; self.maxMillis = max(minMillis, maxMillis) }

    /// The wait before attempt `attempt + 1` (`attempt` ≥ 1 failures so far).
    public func delay<G: RandomNumberGenerator>(afterAttempt attempt: Int, using g: inout G) -> Int {
        let shift = min(max(attempt - 1, 0), 30)
        let base = min(maxMillis, minMillis << shift)
        return base + Int.random(in: 0...max(base / 4, 0), using: &g)
    }

    public func delay(afterAttempt attempt: Int) -> Int {
        var g = SystemRandomNumberGenerator()
        return delay(afterAttempt: attempt, using: &g)
    }
}

/// What libnats reports from its own threads: counted here, logged once each.
///
/// Shared with libnats' callback thread through the closure pointer; every field is immutable
/// or atomic.
final class ConnectionEvents: Sendable {
    let logger: Logger
    let backoff: Backoff
    let disconnects = Atomic<UInt64>(0)
    let reconnects = Atomic<UInt64>(0)
    let asyncErrors = Atomic<UInt64>(0)
    let slowConsumer = Atomic<UInt64>(0)
    let closed = Atomic<Bool>(false)
    /// The bridge's counters, kept live from here (nil for other connections).
    let counters: BridgeCounters?

    init(logger: Logger, backoff: Backoff, counters: BridgeCounters?) {
        self.logger = logger; self.backoff = backoff; self.counters = counters
    }

    static func from(_ closure: UnsafeMutableRawPointer?) -> ConnectionEvents? {
        guard let closure else { return nil }
        return Unmanaged<ConnectionEvents>.fromOpaque(closure).takeUnretainedValue()
    }
}

// libnats callbacks: global functions (DESIGN.md platform notes: a closure handed to C from
// top-level code is inferred @MainActor and traps on libnats' threads). Each receives the
// ConnectionEvents the connection retained for it.

func natsOnDisconnected(_ nc: OpaquePointer?, _ closure: UnsafeMutableRawPointer?) {
    guard let ev = ConnectionEvents.from(closure), !ev.closed.load(ordering: .relaxed) else { return }
    ev.disconnects.wrappingAdd(1, ordering: .relaxed)
    ev.counters?.disconnects.wrappingAdd(1, ordering: .relaxed)
    ev.logger.warning("NATS: disconnected; reconnecting with back-off")
}

func natsOnReconnected(_ nc: OpaquePointer?, _ closure: UnsafeMutableRawPointer?) {
    guard let ev = ConnectionEvents.from(closure) else { return }
    ev.reconnects.wrappingAdd(1, ordering: .relaxed)
    ev.counters?.reconnects.wrappingAdd(1, ordering: .relaxed)
    var buf = [CChar](repeating: 0, count: 256)
    let url = nc.map { natsConnection_GetConnectedUrl($0, &buf, buf.count) == NATS_OK } == true
        ? String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
    ev.logger.notice("NATS: reconnected to \(url)")
}

/// The last callback of a connection: gives back the reference the connection took for libnats.
func natsOnClosed(_ nc: OpaquePointer?, _ closure: UnsafeMutableRawPointer?) {
    guard let closure else { return }
    let ev = Unmanaged<ConnectionEvents>.fromOpaque(closure)
    ev.takeUnretainedValue().closed.store(true, ordering: .relaxed)
    ev.release()
}

func natsOnError(_ nc: OpaquePointer?, _ sub: OpaquePointer?, _ status: natsStatus, _ closure: UnsafeMutableRawPointer?) {
    guard let ev = ConnectionEvents.from(closure) else { return }
    if status == NATS_SLOW_CONSUMER {
        ev.slowConsumer.wrappingAdd(1, ordering: .relaxed)
    } else {
        ev.asyncErrors.wrappingAdd(1, ordering: .relaxed)
        ev.logger.warning("NATS: \(NATSStatus(status))")
    }
}

func natsReconnectDelay(_ nc: OpaquePointer?, _ attempts: Int32, _ closure: UnsafeMutableRawPointer?) -> Int64 {
    guard let ev = ConnectionEvents.from(closure) else { return 1000 }
    return Int64(ev.backoff.delay(afterAttempt: Int(attempts)))
}

/// A connection to NATS (libnats' `natsConnection`), owned: closed and freed in `deinit`.
///
/// libnats reconnects by itself once connected (every server of the list, forever, with this
/// bridge's back-off and jitter); the first connection is retried by ``connect(_:logger:counters:attempted:shouldStop:)``.
/// Publishes never block longer than the write deadline; our own publishes never come back
/// (no-echo).
public final class NATSConnection: @unchecked Sendable {   // libnats handles are thread-safe; nothing mutable here
    /// The libnats connection; used by any thread (libnats locks inside).
    let handle: OpaquePointer
    let events: ConnectionEvents
    let pendingMessages: Int
    let pendingBytes: Int

    private init(handle: OpaquePointer, events: ConnectionEvents, settings: BridgeSettings) {
        self.handle = handle
        self.events = events
        self.pendingMessages = settings.pendingMessages
        self.pendingBytes = settings.pendingBytes
    }

    deinit {
        // Closing on purpose: the disconnect that follows is not news.
        events.closed.store(true, ordering: .relaxed)
        natsConnection_Destroy(handle)
    }

    /// Connects, retrying with back-off and jitter until connected or `shouldStop()` says so
    /// (then throws the last error). `attempted` hears of every failure. Errors retrying cannot
    /// fix (options libnats refuses, such as an unreadable certificate) are thrown at once.
    public static func connect(_ settings: BridgeSettings, logger: Logger, counters: BridgeCounters? = nil,
                               attempted: (Int, NATSError) -> Void = { _, _ in },
                               shouldStop: () -> Bool) throws(NATSError) -> NATSConnection {
        let backoff = Backoff(minMillis: settings.reconnectMinMillis, maxMillis: settings.reconnectMaxMillis)
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try connectOnce(settings, logger: logger, backoff: backoff, counters: counters)
            } catch {
                if error.permanent { throw error }
                attempted(attempt, error)
                let wait = backoff.delay(afterAttempt: attempt)
                logger.warning("NATS: cannot connect to \(settings.servers.joined(separator: ",")): \(error); attempt \(attempt), next in \(wait) ms")
                let until = Clock.monotonicNanos() + UInt64(wait) * 1_000_000
                while Clock.monotonicNanos() < until {
                    if shouldStop() { throw error }
                    nats_Sleep(min(50, Int64(wait)))
                }
                if shouldStop() { throw error }
            }
        }
    }

    static func connectOnce(_ s: BridgeSettings, logger: Logger, backoff: Backoff,
                            counters: BridgeCounters?) throws(NATSError) -> NATSConnection {
        var opts: OpaquePointer? = nil
        try natsCheck("natsOptions_Create", permanent: true) { natsOptions_Create(&opts) }
        guard let opts else { throw NATSError(call: "natsOptions_Create", status: NATSStatus(NATS_NO_MEMORY), detail: "") }
        defer { natsOptions_Destroy(opts) }
        try configure(opts, s)
        let events = ConnectionEvents(logger: logger, backoff: backoff, counters: counters)
        // One reference for libnats' callbacks, given back by natsOnClosed (or below if no
        // connection is made).
        let closure = Unmanaged.passRetained(events).toOpaque()
        try natsCheck("natsOptions_SetDisconnectedCB", permanent: true) { natsOptions_SetDisconnectedCB(opts, natsOnDisconnected, closure) }
        try natsCheck("natsOptions_SetReconnectedCB", permanent: true) { natsOptions_SetReconnectedCB(opts, natsOnReconnected, closure) }
        try natsCheck("natsOptions_SetClosedCB", permanent: true) { natsOptions_SetClosedCB(opts, natsOnClosed, closure) }
        try natsCheck("natsOptions_SetErrorHandler", permanent: true) { natsOptions_SetErrorHandler(opts, natsOnError, closure) }
        try natsCheck("natsOptions_SetCustomReconnectDelay", permanent: true) {
            natsOptions_SetCustomReconnectDelay(opts, natsReconnectDelay, closure)
        }
        var nc: OpaquePointer? = nil
        do {
            try natsCheck("natsConnection_Connect") { natsConnection_Connect(&nc, opts) }
        } catch {
            if let nc { natsConnection_Destroy(nc) } else { Unmanaged<ConnectionEvents>.fromOpaque(closure).release() }
            throw error
        }
        return NATSConnection(handle: nc!, events: events, settings: s)
    }

    /// Applies everything but the callbacks. Failures here are configuration errors.
    static func configure(_ opts: OpaquePointer, _ s: BridgeSettings) throws(NATSError) {
        func set(_ call: String, _ body: () -> natsStatus) throws(NATSError) {
            try natsCheck(call, permanent: true, body)
        }
        // libnats splits a comma-separated URL list itself.
        try set("natsOptions_SetURL") { natsOptions_SetURL(opts, s.servers.joined(separator: ",")) }
        try set("natsOptions_SetName") { natsOptions_SetName(opts, "shoal-bridge \(s.nodeID)") }
        try set("natsOptions_SetNoRandomize") { natsOptions_SetNoRandomize(opts, false) }
        try set("natsOptions_SetTimeout") { natsOptions_SetTimeout(opts, Int64(s.connectTimeoutMillis)) }
        try set("natsOptions_SetNoEcho") { natsOptions_SetNoEcho(opts, true) }
        try set("natsOptions_SetWriteDeadline") { natsOptions_SetWriteDeadline(opts, Int64(s.writeDeadlineMillis)) }
        try set("natsOptions_SetAllowReconnect") { natsOptions_SetAllowReconnect(opts, true) }
        try set("natsOptions_SetMaxReconnect") { natsOptions_SetMaxReconnect(opts, -1) }
        try set("natsOptions_SetMaxPendingMsgs") { natsOptions_SetMaxPendingMsgs(opts, Int32(s.pendingMessages)) }
        try set("natsOptions_SetPingInterval") { natsOptions_SetPingInterval(opts, 10_000) }
        try set("natsOptions_SetMaxPingsOut") { natsOptions_SetMaxPingsOut(opts, 3) }
        switch s.auth {
        case .none: break
        case let .userPassword(user, password):
            try set("natsOptions_SetUserInfo") { natsOptions_SetUserInfo(opts, user, password) }
        case let .token(t):
            try set("natsOptions_SetToken") { natsOptions_SetToken(opts, t) }
        case let .nkey(pub, seedFile):
            try set("natsOptions_SetNKeyFromSeed") { natsOptions_SetNKeyFromSeed(opts, pub, seedFile) }
        case let .credentials(file):
            try set("natsOptions_SetUserCredentialsFromFiles") { natsOptions_SetUserCredentialsFromFiles(opts, file, nil) }
        }
        if let tls = s.tls {
            try set("natsOptions_SetSecure") { natsOptions_SetSecure(opts, true) }
            if let ca = tls.caFile {
                try set("natsOptions_LoadCATrustedCertificates") { natsOptions_LoadCATrustedCertificates(opts, ca) }
            }
            if let cert = tls.certFile, let key = tls.keyFile {
                try set("natsOptions_LoadCertificatesChain") { natsOptions_LoadCertificatesChain(opts, cert, key) }
            }
        }
    }

    /// Publishes `bytes` on `subject` (buffered; written by libnats' flusher within the write
    /// deadline). Fails while the reconnect buffer is full, never blocks for long.
    public func publish(subject: String, _ bytes: [UInt8]) throws(NATSError) {
        try natsCheck("natsConnection_Publish") {
            bytes.withUnsafeBytes { natsConnection_Publish(handle, subject, $0.baseAddress, Int32($0.count)) }
        }
    }

    /// Flushes buffered publishes and waits for the server's answer, at most `timeoutMillis`.
    public func flush(timeoutMillis: Int) throws(NATSError) {
        try natsCheck("natsConnection_FlushTimeout") { natsConnection_FlushTimeout(handle, Int64(timeoutMillis)) }
    }

    /// The server's max_payload.
    public var maxPayload: Int { Int(natsConnection_GetMaxPayload(handle)) }

    public var isConnected: Bool { natsConnection_Status(handle) == NATS_CONN_STATUS_CONNECTED }

    public var disconnects: UInt64 { events.disconnects.load(ordering: .relaxed) }
    public var reconnects: UInt64 { events.reconnects.load(ordering: .relaxed) }
    public var asyncErrors: UInt64 { events.asyncErrors.load(ordering: .relaxed) }

    /// Sends a request and waits at most `timeoutMillis` for the reply. Throws `.noResponders`
    /// at once when nobody subscribes to `subject`, `.timeout` when nobody answered in time.
    public func request(subject: String, _ bytes: [UInt8], timeoutMillis: Int) throws(NATSError) -> NATSMessage {
        var reply: OpaquePointer? = nil
        try natsCheck("natsConnection_Request") {
            bytes.withUnsafeBytes {
                natsConnection_Request(&reply, handle, subject, $0.baseAddress, Int32($0.count), Int64(timeoutMillis))
            }
        }
        guard let reply else { throw NATSError(call: "natsConnection_Request", status: .timeout, detail: "no reply") }
        defer { natsMsg_Destroy(reply) }
        return NATSMessage(reply)
    }

    /// A queue subscription: each message goes to one member of `queue`.
    public func subscribe(_ subject: String, queue: String) throws(NATSError) -> NATSSubscription {
        var sub: OpaquePointer? = nil
        try natsCheck("natsConnection_QueueSubscribeSync") { natsConnection_QueueSubscribeSync(&sub, handle, subject, queue) }
        let s = NATSSubscription(handle: sub!, connection: self)
        try natsCheck("natsSubscription_SetPendingLimits") {
            natsSubscription_SetPendingLimits(sub, Int32(pendingMessages), Int32(clamping: pendingBytes))
        }
        return s
    }

    /// A subscription whose messages are taken with ``NATSSubscription/next(timeoutMillis:)``,
    /// with this connection's pending limits.
    public func subscribe(_ subject: String) throws(NATSError) -> NATSSubscription {
        var sub: OpaquePointer? = nil
        try natsCheck("natsConnection_SubscribeSync") { natsConnection_SubscribeSync(&sub, handle, subject) }
        let s = NATSSubscription(handle: sub!, connection: self)
        try natsCheck("natsSubscription_SetPendingLimits") {
            natsSubscription_SetPendingLimits(sub, Int32(pendingMessages), Int32(clamping: pendingBytes))
        }
        return s
    }
}

/// A message as the bridge needs it: its subject, reply subject and a copy of its payload.
public struct NATSMessage: Sendable {
    public var subject: String
    public var reply: String?
    public var data: [UInt8]

    /// Copies what the bridge needs out of a libnats message (which the caller still owns).
    init(_ msg: OpaquePointer) {
        let n = Int(natsMsg_GetDataLength(msg))
        if n > 0, let p = natsMsg_GetData(msg) {
            // libnats owns these n bytes until natsMsg_Destroy (after this copy); they are
            // plain bytes, so reading the C chars as UInt8 is sound.
            data = p.withMemoryRebound(to: UInt8.self, capacity: n) { Array(UnsafeBufferPointer(start: $0, count: n)) }
        } else {
            data = []
        }
        subject = natsMsg_GetSubject(msg).map { String(cString: $0) } ?? ""
        reply = natsMsg_GetReply(msg).map { String(cString: $0) }
    }
}

/// A synchronous subscription, owned: unsubscribed and freed in `deinit`, before its connection
/// (which it keeps alive).
public final class NATSSubscription: @unchecked Sendable {   // used by one thread at a time; libnats locks inside
    let handle: OpaquePointer
    let connection: NATSConnection

    init(handle: OpaquePointer, connection: NATSConnection) { self.handle = handle; self.connection = connection }
    deinit {
        natsSubscription_Unsubscribe(handle)
        natsSubscription_Destroy(handle)
    }

    /// The next message, or nil after `timeoutMillis` without one. Messages the client dropped
    /// because this subscriber fell behind are counted in ``dropped``, not thrown.
    public func next(timeoutMillis: Int) throws(NATSError) -> NATSMessage? {
        var msg: OpaquePointer? = nil
        let s = natsSubscription_NextMsg(&msg, handle, Int64(timeoutMillis))
        if s == NATS_TIMEOUT || s == NATS_SLOW_CONSUMER { return nil }
        try natsCheck("natsSubscription_NextMsg") { s }
        guard let msg else { return nil }
        defer { natsMsg_Destroy(msg) }
        return NATSMessage(msg)
    }

    /// Messages libnats dropped for this subscription (slow consumer).
    public var dropped: UInt64 {
        var n: Int64 = 0
        return natsSubscription_GetDropped(handle, &n) == NATS_OK ? UInt64(max(n, 0)) : 0
    }
}
