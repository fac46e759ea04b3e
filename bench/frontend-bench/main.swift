// Front-end benchmark (issue #4): the worker's cache-hit path behind two UDP front ends, NIO's
// DatagramChannel with vector reads (what shoal-worker ran first) and the worker's recvmmsg/
// sendmmsg front end (`UDPFrontEnd`, what it runs now), on the same WorkerEngine and an already
// warm shared segment. Pin it with taskset. Driven by bench/frontend.sh, which warms the
// segment and runs dnsperf.
//
//   frontend-bench --mode nio|mmsg --listen 127.0.59.2:53 --segment NAME [--seconds S]
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
    case nio, mmsg
}

struct FrontendBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "frontend-bench",
        abstract: "Serves packet-cache hits from a warm shared segment through NIO vector reads or recvmmsg/sendmmsg.",
        discussion: """
            Attaches the existing segment /shoal.NAME.vN (warm it first with shoal-worker), builds a \
            WorkerEngine as shoal-worker does, and answers UDP on --listen: in nio mode on NIO's \
            event loop thread, in mmsg mode on the worker's own UDP front end (its I/O reactor thread); the main \
            thread only waits. Queries that miss the packet cache are answered SERVFAIL (nio: by \
            the bench at once; mmsg: by the resolver, which has no upstream here) and counted. On \
            SIGINT, SIGTERM or after --seconds it prints one line: mode, datagrams received, \
            answered, misses, dropped, send failures, flushes (nio only: read batches handed to \
            the kernel as one send), seconds.
            """)

    @Option(help: "nio: a NIO DatagramChannel with vector reads; mmsg: the worker's UDP front end (recvmmsg/sendmmsg on its own thread).")
    var mode: Mode

    @Option(help: "Address to answer on, ADDR[:PORT] or [IPV6][:PORT].")
    var listen: String

    @Option(help: "Instance name of the existing shared segment (/shoal.NAME.vN).")
    var segment: String

    @Option(help: "Statistics slot of the segment the engine counts in.")
    var workerSlot = 0

    @Option(help: "Datagrams per read in nio mode (NIO's datagramVectorReadMessageCount); mmsg mode uses the worker's own (32).")
    var batch = 32

    @Option(help: "Stop after this many seconds (0: only on SIGINT/SIGTERM).")
    var seconds: Double = 0

    func validate() throws {
        guard (1...1024).contains(batch) else { throw ValidationError("--batch \(batch): expected 1...1024") }
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
        let seg = try SharedSegment.attach(name: SegmentName.forInstance(segment))
        guard (0..<seg.geometry.workerSlots).contains(workerSlot) else {
            throw ValidationError("--worker-slot \(workerSlot): the segment has slots 0..<\(seg.geometry.workerSlots)")
        }
        // As Sources/shoal-worker/main.swift builds it, with the defaults of WorkerSettings.
        let s = WorkerSettings()
        let stats = seg.stats(workerSlot: workerSlot)
        let cache = SegmentCache(segment: seg, stats: stats, serveStaleSeconds: s.limits.serveStaleSeconds)
        let resolver = Resolver(cache: cache, upstream: NoUpstream(), hints: .iana, limits: s.limits,
                                executor: WorkerExecutors.ioReactor, logger: logger)
        let engine = WorkerEngine(segment: seg, resolver: resolver, acl: .localDefault, stats: stats, logger: logger)

        installStopHandlers()
        let start = monotonicSeconds()
        let deadline = seconds > 0 ? start + seconds : .infinity
        let ready = { (where_: String) in
            FileHandleStderr.write("frontend-bench: \(mode.rawValue) mode, batch \(batch), answering on \(where_), pid \(getpid())\n")
        }
        let counts: Counts
        switch mode {
        case .nio:
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            defer { try? group.syncShutdownGracefully() }
            counts = try runNIO(engine: engine, group: group, address: address, batch: batch, deadline: deadline, ready: ready)
        case .mmsg:
            counts = try runMMsg(engine: engine, address: address, deadline: deadline, logger: logger, ready: ready)
        }
        print("mode=\(mode.rawValue) received=\(counts.received) answered=\(counts.answered) misses=\(counts.misses) "
              + "dropped=\(counts.dropped) send-failures=\(counts.sendFailures) flushes=\(counts.flushes) "
              + "seconds=\(Double(Int((monotonicSeconds() - start) * 100)) / 100)")
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
