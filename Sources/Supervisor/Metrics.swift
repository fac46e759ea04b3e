import NIOCore
import NIOHTTP1
import NIOPosix
import ShmCache
import ShoalSystem
import Synchronization

/// The Prometheus text exposition (format 0.0.4) of a Shoal node: the segment's statistics,
/// summed over worker slots, and shoald's own counters. Built on each scrape from shared
/// memory, so it costs nothing between scrapes and is never stale.
public enum PrometheusText {
    /// What shoald contributes besides the segment.
    public struct Supervision: Sendable {
        public var workersRunning = 0
        /// (slot, reason) → restarts.
        public var restarts: [WorkerRestartKey: Int] = [:]
        public init() {}
    }

    public struct WorkerRestartKey: Hashable, Sendable {
        public var slot: Int
        public var reason: String
    }

    public static func render(segment: SharedSegment, supervision: Supervision) -> String {
        var out = ""
        let s = segment.totalStatistics()
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (l, v) in samples { out += l.isEmpty ? "\(name) \(v)\n" : "\(name){\(l)} \(v)\n" }
        }
        func one(_ name: String, _ type: String, _ help: String, _ v: UInt64) { family(name, type, help, [("", "\(v)")]) }

        one("shoal_queries_total", "counter", "Client queries received (UDP and TCP).", s[.queries])
        family("shoal_answers_total", "counter", "Answers sent, by response code.", [
            ("rcode=\"NOERROR\"", "\(s[.answersNoError])"), ("rcode=\"NXDOMAIN\"", "\(s[.answersNXDomain])"),
            ("rcode=\"SERVFAIL\"", "\(s[.answersServFail])"), ("rcode=\"REFUSED\"", "\(s[.answersRefused])"),
            ("rcode=\"FORMERR\"", "\(s[.answersFormErr])"), ("rcode=\"other\"", "\(s[.answersOther])"),
        ])
        family("shoal_cache_hits_total", "counter", "Cache hits, by cache.", [
            ("cache=\"packet\"", "\(s[.packetHits])"), ("cache=\"record\"", "\(s[.recordHits])"),
            ("cache=\"negative\"", "\(s[.negativeHits])"),
        ])
        one("shoal_cache_misses_total", "counter", "Queries that missed the packet cache.", s[.misses])
        family("shoal_cache_entries", "gauge", "Occupied slots, by cache.", [
            ("cache=\"record\"", "\(segment.occupiedSlots(.records))"),
            ("cache=\"negative\"", "\(segment.occupiedSlots(.negative))"),
            ("cache=\"packet\"", "\(segment.occupiedSlots(.packets))"),
            ("cache=\"ns-speed\"", "\(segment.occupiedSlots(.nsSpeed))"),
        ])
        family("shoal_cache_capacity", "gauge", "Slots, by cache.", [
            ("cache=\"record\"", "\(segment.records.capacity)"), ("cache=\"negative\"", "\(segment.negative.capacity)"),
            ("cache=\"packet\"", "\(segment.packets.capacity)"), ("cache=\"ns-speed\"", "\(segment.nsSpeed.capacity)"),
        ])
        one("shoal_upstream_queries_total", "counter", "Queries sent to authoritative servers.", s[.upstreamQueries])
        one("shoal_upstream_timeouts_total", "counter", "Upstream queries that timed out.", s[.timeouts])
        family("shoal_dnssec_results_total", "counter", "DNSSEC verdicts reached by validating responses, by result.", [
            ("result=\"secure\"", "\(s[.dnssecSecure])"), ("result=\"insecure\"", "\(s[.dnssecInsecure])"),
            ("result=\"bogus\"", "\(s[.dnssecBogus])"),
        ])
        one("shoal_overload_drops_total", "counter", "Misses dropped because a worker had max-resolutions in progress.", s[.overloadDrops])
        one("shoal_reclaimed_slots_total", "counter", "Cache slots reclaimed from writers that died mid-write.", segment.reclaimedSlots)
        one("shoal_workers", "gauge", "Worker processes serving.", UInt64(supervision.workersRunning))
        family("shoal_worker_restarts_total", "counter", "Worker restarts, by slot and reason (exit, signal, heartbeat, spawn, replace).",
               supervision.restarts.keys.sorted { ($0.slot, $0.reason) < ($1.slot, $1.reason) }.map { k in
                   ("slot=\"\(k.slot)\",reason=\"\(k.reason)\"", "\(supervision.restarts[k]!)")
               })
        // Histogram: cumulative buckets from the per-bucket counters.
        var cumulative: UInt64 = 0
        var samples: [(String, String)] = []
        for (i, c) in StatCounter.latencyBuckets.enumerated() {
            cumulative &+= s[c]
            let le = i < StatCounter.latencyBoundsMicros.count
                ? String(Double(StatCounter.latencyBoundsMicros[i]) / 1e6) : "+Inf"
            samples.append(("le=\"\(le)\"", "\(cumulative)"))
        }
        out += "# HELP shoal_answer_latency_seconds Time from the start of a query's handling to its answer (cache hits answered within their receive batch count in the first bucket).\n"
        out += "# TYPE shoal_answer_latency_seconds histogram\n"
        for (l, v) in samples { out += "shoal_answer_latency_seconds_bucket{\(l)} \(v)\n" }
        out += "shoal_answer_latency_seconds_sum \(Double(s[.latencySumMicros]) / 1e6)\n"
        out += "shoal_answer_latency_seconds_count \(cumulative)\n"
        return out
    }
}

/// shoald's part of the metrics, written by its loop and read by the metrics thread.
public final class SupervisionMetrics: Sendable {
    private let state = Mutex(PrometheusText.Supervision())
    private let current: Mutex<SharedSegment?> = Mutex(nil)
    public init() {}
    /// The segment the endpoint reads (shoald's current one).
    public var segment: SharedSegment? {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
    /// Where the bridge shoald runs writes its counters (nil: no bridge).
    public var bridgeFile: String? {
        get { bridge.withLock { $0 } }
        set { bridge.withLock { $0 = newValue } }
    }
    private let bridge: Mutex<String?> = Mutex(nil)

    /// The text exposition now, or an empty page before the segment is known; the bridge's
    /// counters follow shoald's, as the bridge last wrote them.
    public func render() -> String {
        guard let s = segment else { return "" }
        let mesh = bridgeFile.flatMap { KernelFiles.read($0) } ?? ""
        return PrometheusText.render(segment: s, supervision: snapshot) + mesh
    }
    public func update(_ body: (inout PrometheusText.Supervision) -> Void) { state.withLock { body(&$0) } }
    public var snapshot: PrometheusText.Supervision { state.withLock { $0 } }
}

/// The metrics endpoint: `GET /metrics` over HTTP/1.1 on NIO (one event-loop thread), anything
/// else 404. Started after privileges are dropped.
public final class MetricsServer: Sendable {
    let group: MultiThreadedEventLoopGroup
    let channel: any Channel
    public var localAddress: SocketAddress? { channel.localAddress }

    public init(address: SocketAddress, render: @escaping @Sendable () -> String) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { ch in
                ch.pipeline.configureHTTPServerPipeline().flatMap {
                    ch.pipeline.addHandler(Handler(render: render))
                }
            }
            .bind(to: address).wait()
    }

    final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let render: @Sendable () -> String
        init(render: @escaping @Sendable () -> String) { self.render = render }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case let .head(head) = unwrapInboundIn(data) else { return }
            let (status, body, type): (HTTPResponseStatus, String, String) =
                head.method == .GET && (head.uri == "/metrics" || head.uri.hasPrefix("/metrics?"))
                ? (.ok, render(), "text/plain; version=0.0.4; charset=utf-8")
                : (.notFound, "not found: GET /metrics\n", "text/plain; charset=utf-8")
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: type)
            headers.add(name: "Content-Length", value: "\(body.utf8.count)")
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
        }
    }
}
