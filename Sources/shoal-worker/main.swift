import ArgumentParser
import CShoalShims
import DNSCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import ShmCache
import ShoalSystem
import Worker

/// `shoal-worker`: one resolver process, attached to the shared segment: UDP and resolution on
/// the I/O reactor's thread, TCP on one NIO event loop.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shoal-worker",
        abstract: "One Shoal resolver worker: answers from, and fills, the shared caches.",
        discussion: """
            Runs with no arguments: listens on 127.0.0.1:53 (UDP and TCP), starts from the IANA \
            root hints compiled in, and attaches the segment of instance "default" (/shoal.default.v2), \
            creating it if needed. Normally shoald starts workers with inherited sockets \
            (--udp-fd/--tcp-fd); --listen is for development and tests.
            DNSSEC: with --dnssec validate, answers are validated from the trust anchors \
            (--trust-anchor, default the IANA root anchors): secure ones carry AD for clients that \
            set DO or AD, bogus ones are SERVFAIL with an Extended DNS Error, cached bogus for \
            --dnssec-bogus-ttl seconds; CD=1 clients get the data unvalidated; names a validated \
            NSEC/NSEC3 record in the cache proves absent are answered from it (RFC 8198, \
            --aggressive-nsec). On by default; with --dnssec off, records are kept with state \
            "indeterminate" and AD is never set.
            """,
        version: ShoalVersion.string)

    @Option(name: .customLong("config"), help: "YAML configuration file (keys as the long options below; see README).")
    var config: String?

    @Option(name: .customLong("listen"), help: "Address to listen on, ADDR[:PORT] or [IPV6][:PORT] (repeatable). Default 127.0.0.1:53.")
    var listen: [String] = []

    @Option(name: .customLong("udp-fd"), help: "Inherited, bound UDP socket (repeatable).")
    var udpFDs: [Int32] = []

    @Option(name: .customLong("tcp-fd"), help: "Inherited, listening TCP socket (repeatable).")
    var tcpFDs: [Int32] = []

    @Option(name: .customLong("root-hints"), help: "Root hints file (named.root format). Default: built in.")
    var rootHints: String?

    @Option(name: .customLong("trust-anchor"), help: "Trust anchor file (DS or DNSKEY records). Default: the IANA root anchors, built in. Used with --dnssec validate.")
    var trustAnchor: String?

    @Option(name: .customLong("segment"), help: "Instance name of the shared segment (/shoal.NAME.vN, N the layout version). Default \"default\".")
    var segment: String?

    @Option(name: .customLong("segment-size"), help: "Size of the shared segment in MiB when it is created. Default 64.")
    var segmentSize: Int?

    @Option(name: .customLong("worker-slot"), help: "This worker's statistics slot in the segment. Default 0.")
    var workerSlot: Int?

    @Option(name: .customLong("allow"), help: "Client address block allowed to query (repeatable; replaces the default loopback and private ranges).")
    var allow: [String] = []

    @Option(name: .customLong("trace"), help: "Log every upstream step of resolutions of this name (repeatable).")
    var trace: [String] = []

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical. Default info.")
    var logLevel: String?

    @Flag(name: .customLong("no-qname-minimisation"), help: "Send full query names to every server (RFC 9156 off).")
    var noQnameMinimisation = false

    @Option(name: .customLong("upstream-port"), help: ArgumentHelp("Port of authoritative servers.", visibility: .hidden))
    var upstreamPort: UInt16?

    @Option(name: .customLong("do-not-query-localhost"), help: "true (default): never send queries to 127.0.0.0/8 or ::1; false for labs on loopback.")
    var doNotQueryLocalhost: Bool?

    @Option(name: .customLong("do-not-query"), help: "Address block never sent queries (repeatable; replaces the file's list).")
    var doNotQuery: [String] = []

    @Option(name: .customLong("dnssec"), help: "validate (the default) or off: DNSSEC validation.")
    var dnssec: String?

    @Option(name: .customLong("dnssec-bogus-ttl"), help: "Seconds a bogus DNSSEC verdict is cached. Default 60.")
    var dnssecBogusTTL: Int?

    @Option(name: .customLong("aggressive-nsec"), help: "true (the default) or false: answer names that validated NSEC/NSEC3 records in the cache prove absent without asking (RFC 8198).")
    var aggressiveNSEC: Bool?

    @Option(name: .customLong("negative-trust-anchor"), help: "Name at and below which DNSSEC is not validated (RFC 7646; repeatable; replaces the file's list).")
    var negativeTrustAnchors: [String] = []

    @Flag(name: .customLong("check-config"), help: "Check the configuration and files, print the result, and exit.")
    var checkConfig = false

    @Option(name: .customLong("cpu"), help: "Pin this worker (every thread) to this CPU. shoald sets it.")
    var cpu: Int?

    @Option(name: .customLong("numa-node"), help: "Prefer memory of this NUMA node. shoald sets it.")
    var numaNode: Int?

    @Flag(name: .customLong("supervised"), help: "Started by shoald: drop every capability, exit when shoald dies, write a heartbeat.")
    var supervised = false

    /// Defaults, then the file, then the command line.
    func settings() throws -> WorkerSettings {
        var s = WorkerSettings()
        if let path = config { try s.apply(yaml: try readFile(path), file: path) }
        if !listen.isEmpty { s.listen = listen }
        if let v = rootHints { s.rootHints = v }
        if let v = trustAnchor { s.trustAnchor = v }
        if let v = segment { s.segment = v }
        if let v = segmentSize { s.segmentSizeMiB = v }
        if let v = workerSlot { s.workerSlot = v }
        if !allow.isEmpty { s.allow = allow }
        if !trace.isEmpty { s.trace = trace }
        if let v = logLevel { s.logLevel = v }
        if noQnameMinimisation { s.limits.qnameMinimisation = false }
        if let v = upstreamPort { s.limits.upstreamPort = v }
        if let v = doNotQueryLocalhost { s.limits.doNotQueryLocalhost = v }
        if !doNotQuery.isEmpty { s.limits.doNotQuery = try WorkerSettings.addressBlocks(doNotQuery) }
        if let v = dnssec {
            guard let mode = WorkerSettings.DNSSECMode(rawValue: v) else {
                throw ValidationError("--dnssec \(v): expected validate or off")
            }
            s.dnssec = mode
        }
        if !negativeTrustAnchors.isEmpty { s.negativeTrustAnchors = negativeTrustAnchors }
        if let v = aggressiveNSEC { s.aggressiveNSEC = v }
        if let v = dnssecBogusTTL {
            guard (1...86_400).contains(v) else { throw ValidationError("--dnssec-bogus-ttl \(v): expected 1...86400 seconds") }
            s.dnssecBogusTTL = UInt32(v)
        }
        return s
    }

    func run() throws {
        // Before any thread starts: capabilities and affinity are per thread, and threads
        // started later inherit what this one has.
        if supervised {
            try Privileges.dropAll()
            // shoald gone (SIGKILL) → this worker goes too; the next shoald adopts the segment.
            _ = cshoal_set_pdeathsig(SIGTERM)
            if getppid() == 1 { throw ValidationError("the supervisor exited before this worker started") }
        }
        // SIGTERM and SIGINT are taken by this thread with sigwait (a graceful drain), so every
        // thread started from here on must block them.
        _ = Self.stopSignals.withUnsafeBufferPointer { cshoal_block_signals($0.baseAddress!) }
        if let cpu { try ProcessPlacement.pin(cpu: cpu) }
        if let numaNode { ProcessPlacement.preferMemory(ofNode: numaNode) }
        let s = try settings()
        let level: Logger.Level
        do { level = try StandardErrorLogging.level(s.logLevel, what: "log-level") } catch { throw ValidationError(error.message) }
        StandardErrorLogging.bootstrap(level)
        let logger = Logger(label: "shoal-worker")

        var specs: [ListenSpec] = udpFDs.map { .inheritedUDP($0) } + tcpFDs.map { .inheritedTCP($0) }
        if specs.isEmpty || !listen.isEmpty { specs += try s.listen.map { .bind(try parseListenAddress($0)) } }

        let hints: RootHints
        if let path = s.rootHints {
            hints = try loadRootHints(path: path, contents: try readFile(path))
        } else {
            hints = .iana
        }
        let anchors: [ResourceRecord]
        let dnssecSettings: DNSSECSettings
        if let path = s.trustAnchor {
            let text = try readFile(path)
            anchors = try loadTrustAnchors(path: path, contents: text)
            dnssecSettings = try s.dnssecSettings(trustAnchorText: text)
        } else {
            anchors = try loadTrustAnchors(path: "built-in root anchors", contents: ianaRootTrustAnchors)
            dnssecSettings = try s.dnssecSettings(trustAnchorText: nil)
        }
        let acl = s.allow.isEmpty ? AccessControl.localDefault : AccessControl(allowed: try s.allow.map { try AccessControl.Block($0) })
        let traceNames = Set(try s.trace.map { try DNSName($0) })

        if checkConfig {
            print("shoal-worker: configuration OK: listen \(specs.map(\.description).joined(separator: ", ")); "
                  + "root hints \(s.rootHints ?? "built in") (\(hints.addresses.count) servers); "
                  + "trust anchors \(s.trustAnchor ?? "built in") (\(anchors.count)); dnssec \(s.dnssec.rawValue)"
                  + (s.dnssec == .validate ? " (bogus TTL \(s.dnssecBogusTTL) s, at most \(s.dnssecLimits.verificationsPerResolution) verifications per resolution)" : "") + "; segment \(SegmentName.forInstance(s.segment)); "
                  + "allow \(acl.allowed.map(\.description).joined(separator: " "))")
            return
        }
        logger.notice("trust anchors: \(anchors.count) records; DNSSEC validation \(s.dnssec == .validate ? "on" : "off")")

        let (seg, outcome) = try SharedSegment.openOrCreate(name: SegmentName.forInstance(s.segment),
                                                             geometry: .sized(megabytes: s.segmentSizeMiB))
        switch outcome {
        case let .attachedOtherGeometry(found, configured):
            logger.warning("segment \(seg.name) exists with another geometry (\(found.records.slots) record slots, \(seg.totalSize >> 20) MiB) than configured (\(configured.records.slots) record slots, segment-size \(s.segmentSizeMiB) MiB): attached it as it is; `shoalctl segment recreate \(s.segment) --size N` changes it")
        default:
            logger.info("segment \(seg.name): \(outcome), generation \(seg.generation)")
        }
        if seg.earlierBootOwnersCleared > 0 {
            logger.notice("segment \(seg.name) outlived a reboot: reclaimed \(seg.earlierBootOwnersCleared) slot(s) of that boot's writers")
        }
        guard (0..<seg.geometry.workerSlots).contains(s.workerSlot) else {
            throw ValidationError("worker-slot \(s.workerSlot): the segment has slots 0..<\(seg.geometry.workerSlots)")
        }
        let stats = seg.stats(workerSlot: s.workerSlot)
        let cache = SegmentCache(segment: seg, stats: stats, serveStaleSeconds: s.limits.serveStaleSeconds,
                                 ednsReprobeSeconds: s.limits.ednsReprobeSeconds)
        let group = MultiThreadedEventLoopGroup.singleton
        // Negative trust anchors added at run time (`shoalctl nta`) live in the segment.
        var validation = dnssecSettings
        let runtimeAnchors = NegativeTrustAnchorView(seg.negativeTrustAnchors)
        validation.runtimeNegativeAnchor = { runtimeAnchors.covering($0) }
        let resolver = Resolver(cache: cache, upstream: UpstreamClient(group: group), hints: hints,
                                limits: s.limits,
                                dnssec: s.dnssec == .validate ? validation : nil,
                                executor: WorkerExecutors.ioReactor, logger: logger,
                                traceNames: traceNames)
        let engine = WorkerEngine(segment: seg, resolver: resolver, acl: acl, stats: stats, logger: logger,
                                  maxResolutions: s.maxResolutions, pendingSlot: s.workerSlot)

        let listeners = specs
        let tcpLimits = s.tcp
        let listening = try group.next().makeFutureWithTask {
            try await Frontend.start(listeners, engine: engine, group: group, tcpLimits: tcpLimits, logger: logger)
        }.wait()
        for d in listening.descriptions { logger.info("listening on \(d)") }
        // What a dead predecessor of this slot was resolving is answered now, from the same sockets.
        UDPFrontEnd.adoptOrphans(listeners: listening.udp, engine: engine, logger: logger)
        // The root's own NS set, unless the segment has it already (RFC 8109 priming).
        Task(executorPreference: WorkerExecutors.ioReactor) {
            let r = await resolver.primeRoot()
            if r.rcode != .noError { logger.warning("root priming: \(r.rcode); resolutions start from the hints and prime again") }
        }
        logger.notice("shoal-worker \(ShoalVersion.string) ready, pid \(getpid())")
        let maintenance = SegmentMaintenance(segment: seg, heartbeat: stats, logger: logger)
        group.next().scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            if case let .segmentReplaced(why) = maintenance.tick() {
                logger.critical("\(why): exiting so that a restart attaches the current segment")
                Glibc.exit(SegmentMaintenance.exitCode)
            }
        }
        // The reactor and the event loop threads do the work; this thread waits for SIGTERM or
        // SIGINT (from shoald, a hot replace, the parent-death signal, or a person), then
        // drains: no new query is read (the socket's queue stays for the other readers of the
        // same socket, such as a replacement worker), resolutions in progress answer, and the
        // worker exits 0.
        let signo = Self.stopSignals.withUnsafeBufferPointer { cshoal_wait_signal($0.baseAddress!) }
        let started = Clock.monotonicSeconds()
        logger.notice("signal \(signo): draining (\(engine.resolutionsInProgress) resolution(s) in progress)")
        try? group.next().makeFutureWithTask { await listening.stopAccepting() }.wait()
        while engine.resolutionsInProgress > 0 && Clock.monotonicSeconds() - started < Self.drainSeconds {
            usleep(5_000)
        }
        let left = engine.resolutionsInProgress
        logger.notice("drained in \(Int((Clock.monotonicSeconds() - started) * 1000)) ms\(left > 0 ? ", \(left) resolution(s) abandoned" : ""); exiting")
        Glibc.exit(0)
    }

    static let stopSignals: [Int32] = [SIGTERM, SIGINT, 0]
    /// At most this long for resolutions in progress when draining (shoald waits longer).
    static let drainSeconds = 5.0
}

/// The IANA root zone trust anchors (KSK-2017 and KSK-2024), as DS records
/// (https://data.iana.org/root-anchors/root-anchors.xml).
let ianaRootTrustAnchors = """
    . IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
    . IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
    """

func readFile(_ path: String) throws(ConfigError) -> String {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw ConfigError("\(path): cannot read the file")
    }
    return text
}

// Signals as a daemon expects them, whatever mask the spawning thread had.
cshoal_reset_signals()
// Freed heap stays mapped (up to 64 MiB above the top): upstream replies and messages are
// allocated and freed thousands of times a second, and each regrowth would fault and clear pages.
_ = cshoal_malloc_keep_heap(64 << 20, 4 << 20)
// One NIO event loop thread (TCP), which also runs Swift concurrency tasks that prefer no
// executor; UDP queries and every resolution run on the I/O reactor's thread.
NIOSingletons.groupLoopCountSuggestion = 1
NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
WorkerCommand.main()
