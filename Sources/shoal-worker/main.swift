import ArgumentParser
import CShoalShims
import DNSCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import ShmCache
import Worker

/// `shoal-worker`: one resolver process with one event loop, attached to the shared segment.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shoal-worker",
        abstract: "One Shoal resolver worker: answers from, and fills, the shared caches.",
        discussion: """
            Runs with no arguments: listens on 127.0.0.1:53 (UDP and TCP), starts from the IANA \
            root hints compiled in, and attaches the segment of instance "default" (/shoal.default), \
            creating it if needed. Normally shoald starts workers with inherited sockets \
            (--udp-fd/--tcp-fd); --listen is for development and tests.
            DNSSEC validation is not implemented yet: records are kept with state "indeterminate".
            """,
        version: ShoalVersion.string)

    @Option(name: .customLong("listen"), help: "Address to listen on, ADDR[:PORT] or [IPV6][:PORT] (repeatable).")
    var listen: [String] = []

    @Option(name: .customLong("udp-fd"), help: "Inherited, bound UDP socket (repeatable).")
    var udpFDs: [Int32] = []

    @Option(name: .customLong("tcp-fd"), help: "Inherited, listening TCP socket (repeatable).")
    var tcpFDs: [Int32] = []

    @Option(name: .customLong("root-hints"), help: "Root hints file (named.root format). Default: built in.")
    var rootHints: String?

    @Option(name: .customLong("trust-anchor"), help: "Trust anchor file (DS or DNSKEY records). Checked and kept for validation, which is not implemented yet.")
    var trustAnchor: String?

    @Option(name: .customLong("segment"), help: "Instance name of the shared segment (/shoal.NAME).")
    var segment = "default"

    @Option(name: .customLong("segment-size"), help: "Size of the shared segment in MiB when it is created.")
    var segmentSize = 64

    @Option(name: .customLong("worker-slot"), help: "This worker's statistics slot in the segment.")
    var workerSlot = 0

    @Option(name: .customLong("allow"), help: "Client address block allowed to query (repeatable; replaces the default loopback and private ranges).")
    var allow: [String] = []

    @Option(name: .customLong("trace"), help: "Log every upstream step of resolutions of this name (repeatable).")
    var trace: [String] = []

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Flag(name: .customLong("no-qname-minimisation"), help: "Send full query names to every server (RFC 9156 off).")
    var noQnameMinimisation = false

    @Option(name: .customLong("upstream-port"), help: ArgumentHelp("Port of authoritative servers.", visibility: .hidden))
    var upstreamPort: UInt16 = 53

    @Flag(name: .customLong("check-config"), help: "Check the options and files, print the result, and exit.")
    var checkConfig = false

    func run() throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level \(logLevel): expected one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "shoal-worker")

        var specs: [ListenSpec] = try listen.map { .bind(try parseListenAddress($0)) }
        specs += udpFDs.map { .inheritedUDP($0) } + tcpFDs.map { .inheritedTCP($0) }
        if specs.isEmpty { specs = [.bind(try parseListenAddress("127.0.0.1:53"))] }

        let hints: RootHints
        if let path = rootHints {
            hints = try loadRootHints(path: path, contents: try readFile(path))
        } else {
            hints = .iana
        }
        if let path = trustAnchor {
            let anchors = try loadTrustAnchors(path: path, contents: try readFile(path))
            logger.notice("trust anchor \(path): \(anchors.count) records; DNSSEC validation is not implemented yet")
        }
        let acl = allow.isEmpty ? AccessControl.localDefault : AccessControl(allowed: try allow.map { try AccessControl.Block($0) })
        var limits = ResolverLimits()
        limits.qnameMinimisation = !noQnameMinimisation
        limits.upstreamPort = upstreamPort
        let traceNames = Set(try trace.map { try DNSName($0) })

        if checkConfig {
            print("shoal-worker: configuration OK: listen \(specs.map(\.description).joined(separator: ", ")); "
                  + "root hints \(rootHints ?? "built in") (\(hints.addresses.count) servers); segment /shoal.\(segment)")
            return
        }

        let (seg, outcome) = try SharedSegment.openOrCreate(name: SegmentName.forInstance(segment),
                                                             geometry: .sized(megabytes: segmentSize))
        logger.info("segment \(seg.name): \(outcome)")
        guard (0..<seg.geometry.workerSlots).contains(workerSlot) else {
            throw ValidationError("--worker-slot \(workerSlot): the segment has slots 0..<\(seg.geometry.workerSlots)")
        }
        let stats = seg.stats(workerSlot: workerSlot)
        let cache = SegmentCache(segment: seg, stats: stats, serveStaleSeconds: limits.serveStaleSeconds)
        let group = MultiThreadedEventLoopGroup.singleton
        let resolver = Resolver(cache: cache, upstream: UpstreamClient(group: group), hints: hints,
                                limits: limits, logger: logger, traceNames: traceNames)
        let engine = WorkerEngine(segment: seg, resolver: resolver, acl: acl, stats: stats, logger: logger)

        let listeners = specs
        let channels = try group.next().makeFutureWithTask {
            try await Frontend.start(listeners, engine: engine, group: group)
        }.wait()
        for ch in channels {
            logger.info("listening on \(ch.localAddress.map { "\($0)" } ?? "?")")
        }
        logger.notice("shoal-worker \(ShoalVersion.string) ready, pid \(getpid())")
        try channels[0].closeFuture.wait()
    }
}

func readFile(_ path: String) throws(ConfigError) -> String {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw ConfigError("\(path): cannot read the file")
    }
    return text
}

// Signals as a daemon expects them, whatever mask the spawning thread had.
cshoal_reset_signals()
// One event loop thread, which also runs Swift concurrency tasks: the worker is single-threaded.
NIOSingletons.groupLoopCountSuggestion = 1
NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
WorkerCommand.main()
