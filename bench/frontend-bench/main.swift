// Front-end benchmark (issue #4): the worker's cache-hit path behind two UDP front ends, NIO's
// DatagramChannel with vector reads (what shoal-worker ran first) and the worker's recvmmsg/
// sendmmsg front end (`UDPFrontEnd`, what it runs now), on the same WorkerEngine and an already
// warm shared segment; and (issue #14) the floor under both, a bare recvmmsg/sendmmsg loop that
// echoes each query's header as the answer. Pin it with taskset. Driven by bench/frontend.sh,
// which warms the segment and runs dnsperf, and (bare mode) by bench/resolver.sh --only bare.
//
//   frontend-bench --mode nio|mmsg --listen 127.0.59.2:53 --segment NAME [--seconds S]
//   frontend-bench --mode bare --listen 127.0.58.6:53 [--batch 64] [--seconds S]
import ArgumentParser
import CShoalShims
import DNSCore
import Logging
import NIOCore
import NIOPosix
import ShmCache
import Worker
#if canImport(Glibc)
import Glibc
#endif

/// The engine never reaches an authoritative server here, so a miss ends in SERVFAIL: the
/// resolver gets an upstream that refuses everything.
struct NoUpstream: UpstreamSender {
    func send(_ q: UpstreamQuery) async throws(UpstreamError) -> UpstreamReply {
        throw .connectionClosed   // frontend-bench sends no upstream queries
    }
}

enum Mode: String, ExpressibleByArgument, CaseIterable {
    case nio, mmsg, bare
}

struct FrontendBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "frontend-bench",
        abstract: "Serves packet-cache hits from a warm shared segment through NIO vector reads or recvmmsg/sendmmsg, or echoes queries with a bare recvmmsg/sendmmsg loop.",
        discussion: """
            Attaches the existing segment /shoal.NAME.vN (warm it first with shoal-worker), builds a \
            WorkerEngine as shoal-worker does, and answers UDP on --listen: in nio mode on NIO's \
            event loop thread, in mmsg mode on the worker's own UDP front end (its I/O reactor thread); the main \
            thread only waits. Queries that miss the packet cache are answered SERVFAIL (nio: by \
            the bench at once; mmsg: by the resolver, which has no upstream here) and counted. \
            In bare mode (no --segment) it answers on the calling thread with a blocking loop, \
            one recvmmsg of up to --batch datagrams (MSG_WAITFORONE) and one sendmmsg per round, \
            each answer the query with QR and RA set and RCODE 0: the cost of the socket work \
            alone. On SIGINT, SIGTERM or after --seconds it prints one line: mode, datagrams \
            received, answered, misses, dropped, send failures, flushes (nio: read batches \
            handed to the kernel as one send; bare: sendmmsg calls; mmsg: not counted), seconds.
            """)

    @Option(help: "nio: a NIO DatagramChannel with vector reads; mmsg: the worker's UDP front end (recvmmsg/sendmmsg on its own thread); bare: a recvmmsg/sendmmsg loop that echoes headers, no engine.")
    var mode: Mode

    @Option(help: "Address to answer on, ADDR[:PORT] or [IPV6][:PORT].")
    var listen: String

    @Option(help: "Instance name of the existing shared segment (/shoal.NAME.vN); nio and mmsg modes only.")
    var segment: String?

    @Option(help: "Statistics slot of the segment the engine counts in.")
    var workerSlot = 0

    @Option(help: "Datagrams per read: in nio mode NIO's datagramVectorReadMessageCount (default 32), in bare mode per recvmmsg and per sendmmsg (default 64); mmsg mode uses the worker's own (32).")
    var batch: Int?

    @Option(help: "Stop after this many seconds (0: only on SIGINT/SIGTERM).")
    var seconds: Double = 0

    func validate() throws {
        if let batch, !(1...1024).contains(batch) { throw ValidationError("--batch \(batch): expected 1...1024") }
        if mode != .bare && segment == nil { throw ValidationError("--segment is needed in \(mode.rawValue) mode") }
        guard seconds >= 0 else { throw ValidationError("--seconds \(seconds): expected 0 or more") }
    }

    func run() throws {
        let address = try parseListenAddress(listen)
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .warning
            return h
        }
        let logger = Logger(label: "frontend-bench")
        installStopHandlers()
        let start = monotonicSeconds()
        let deadline = seconds > 0 ? start + seconds : .infinity
        let slots = batch ?? (mode == .bare ? 64 : 32)
        let ready = { (where_: String) in
            FileHandleStderr.write("frontend-bench: \(mode.rawValue) mode, batch \(slots), answering on \(where_), pid \(getpid())\n")
        }
        let counts: Counts
        switch mode {
        case .nio:
            let engine = try makeEngine(logger: logger)
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            defer { try? group.syncShutdownGracefully() }
            counts = try runNIO(engine: engine, group: group, address: address, batch: slots, deadline: deadline, ready: ready)
        case .mmsg:
            counts = try runMMsg(engine: try makeEngine(logger: logger), address: address, deadline: deadline,
                                 logger: logger, ready: ready)
        case .bare:
            counts = try runBare(address: address, slots: slots, deadline: deadline, ready: ready)
        }
        print("mode=\(mode.rawValue) received=\(counts.received) answered=\(counts.answered) misses=\(counts.misses) "
              + "dropped=\(counts.dropped) send-failures=\(counts.sendFailures) flushes=\(counts.flushes) "
              + "seconds=\(Double(Int((monotonicSeconds() - start) * 100)) / 100)")
    }

    /// Attaches the segment and builds a WorkerEngine on it as Sources/shoal-worker/main.swift
    /// does, with the defaults of WorkerSettings (nio and mmsg modes).
    func makeEngine(logger: Logger) throws -> WorkerEngine {
        let seg = try SharedSegment.attach(name: SegmentName.forInstance(segment ?? ""))
        guard (0..<seg.geometry.workerSlots).contains(workerSlot) else {
            throw ValidationError("--worker-slot \(workerSlot): the segment has slots 0..<\(seg.geometry.workerSlots)")
        }
        let s = WorkerSettings()
        let stats = seg.stats(workerSlot: workerSlot)
        let cache = SegmentCache(segment: seg, stats: stats, serveStaleSeconds: s.limits.serveStaleSeconds)
        let resolver = Resolver(cache: cache, upstream: NoUpstream(), hints: .iana, limits: s.limits,
                                executor: WorkerExecutors.ioReactor, logger: logger)
        return WorkerEngine(segment: seg, resolver: resolver, acl: .localDefault, stats: stats, logger: logger)
    }
}

/// Unbuffered progress lines on stderr (stdout carries the result line).
enum FileHandleStderr {
    static func write(_ s: String) {
        var s = s
        s.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

// Signals as a daemon expects them, whatever mask the spawning shell or thread had.
cshoal_reset_signals()
FrontendBench.main()
