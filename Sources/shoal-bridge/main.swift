import ArgumentParser
import CShoalShims
import DNSCore
import Logging
import MeshBridge
import ShmCache
import ShoalSystem
import Synchronization
import Worker
#if canImport(Glibc)
import Glibc
#endif

/// `shoal-bridge`: syncs the shared cache with other Shoal instances over NATS.
struct Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shoal-bridge",
        abstract: "Syncs this host's Shoal cache with the other nodes of a mesh over NATS.",
        discussion: """
            The bridge attaches the shared segment of the workers (it never creates one), follows \
            its change journal and publishes what the workers cache, in compact versioned batches \
            (docs/mesh-format.md) on shoal.<cluster>.v1.updates.<node-id>, with what they measured \
            of authoritative servers (RTT, EDNS and cookie status). It applies the other nodes' \
            batches to the segment as untrusted input: every field is checked, bogus entries are \
            refused, TTLs are shortened by the time in transit and capped by max-ttl, and a local \
            entry that ranks higher or lives longer is never replaced. Entries from the mesh are \
            never published again.

            Warm-up: when the segment is empty (or an earlier warm-up of it was interrupted), the \
            bridge first pulls a snapshot from a peer, hottest entries first, in chunks; with no \
            peer it starts cold at once. After a reconnect to NATS it pulls what it missed. It \
            answers the same requests from its peers, rate-limited (donor-chunks-per-second).

            It reads the top-level 'segment' and 'max-ttl' of the shared YAML file and its \
            'bridge:' section:
            \(BridgeSettings.keys.map { "  \($0.0): \($0.1)" }.joined(separator: "\n"))

            Example (docs/fleet.md has a two-node one):
              segment: default
              bridge:
                servers: [nats://10.0.0.5:4222, nats://10.0.0.6:4222]
                cluster: prod
                user: shoal
                password-file: /etc/shoal/nats-password

            It connects with back-off and jitter until a server answers (wrong credentials are \
            logged and retried), and reconnects the same way. SIGTERM or SIGINT stops it; the \
            counters (published, applied, rejected by reason, warm-up progress) are printed on \
            standard output at exit and on SIGUSR1. When its segment is retired or replaced it \
            exits with status 75, for its supervisor to restart it on the current one. With \
            --metrics-file, the counters are also written there once a second (Prometheus text): \
            shoald, which runs the bridge when its file has a bridge: section, passes one and \
            serves it in its /metrics and shoalctl status.
            """,
        version: ShoalVersion.string)

    @Option(name: .long, help: "The shared YAML configuration file (needs a 'bridge:' section).")
    var config: String

    @Option(name: .long, help: "The segment's instance name (overrides the file's 'segment').")
    var segment: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    @Option(name: .long, help: "Write the counters here once a second (Prometheus text; replaced atomically).")
    var metricsFile: String?

    func run() throws {
        let level: Logger.Level
        do { level = try StandardErrorLogging.level(logLevel, what: "--log-level") } catch { throw ValidationError(error.message) }
        StandardErrorLogging.bootstrap(level)
        let logger = Logger(label: "shoal-bridge")
        guard let text = KernelFiles.read(config) else {
            throw ValidationError("\(config): cannot read the file")
        }
        var settings: BridgeSettings
        do {
            settings = try BridgeSettings.load(yaml: text, file: config)
        } catch {
            throw ValidationError(error.message)
        }
        if let segment { settings.segment = segment }
        let segmentName = SegmentName.forInstance(settings.segment)
        let seg: SharedSegment
        do {
            seg = try SharedSegment.attach(name: segmentName)
        } catch {
            logger.error("cannot attach the segment \(segmentName): \(error) (shoald or a worker creates it)")
            throw ExitCode(1)
        }
        logger.notice("shoal-bridge \(ShoalVersion.string), libnats \(MeshBridgeStatus.natsClientVersion): segment \(segmentName); \(settings)")

        // SIGTERM and SIGINT are taken by this thread with sigwait; the bridge runs on its own.
        _ = Self.stopSignals.withUnsafeBufferPointer { cshoal_block_signals($0.baseAddress!) }
        let bridge = Bridge(settings: settings, segment: seg, logger: logger)
        let failure = Mutex<NATSError?>(nil)
        try startDetachedThread(name: "shoal-bridge") {
            do { try bridge.run() } catch { let e = error as? NATSError; failure.withLock { $0 = e } }
            // Wake the main thread when the loop ends by itself (an error it cannot retry, or
            // its segment replaced).
            kill(getpid(), SIGTERM)
        }
        if let path = metricsFile {
            // Looked at every 100 ms, written when something changed or a second passed: a
            // warm-up's end reaches shoald (which may hold its workers for it) at once.
            try startDetachedThread(name: "bridge-metrics") {
                var last = "", written = 0.0
                while true {
                    let text = bridge.counters.snapshot().description + "\n"
                    let now = Clock.monotonicSeconds()
                    if text != last || now - written >= 1 {
                        Self.write(text, to: path)
                        last = text
                        written = now
                    }
                    usleep(100_000)
                }
            }
        }
        var signo: Int32
        repeat {
            signo = Self.stopSignals.withUnsafeBufferPointer { cshoal_wait_signal($0.baseAddress!) }
            // SIGUSR1: the counters now, on standard output (until metrics exist).
            if signo == SIGUSR1 { print(bridge.counters.snapshot()); fflush(nil) }
        } while signo == SIGUSR1
        if bridge.currentState != .stopped { logger.notice("signal \(signo): stopping") }
        bridge.stop()
        while bridge.currentState != .stopped { usleep(10_000) }
        print(bridge.counters.snapshot())
        if let e = failure.withLock({ $0 }) {
            logger.error("\(e)")
            throw ExitCode(1)
        }
        if case .segmentReplaced = bridge.end { throw ExitCode(Bridge.segmentReplacedExitCode) }
    }

    static let stopSignals: [Int32] = [SIGTERM, SIGINT, SIGUSR1, 0]

    /// Replaces `path` with `text` (a temporary file renamed over it: a reader never sees half).
    static func write(_ text: String, to path: String) {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let ok = text.utf8.withContiguousStorageIfAvailable { b in Glibc.write(fd, b.baseAddress, b.count) == b.count } ?? false
        close(fd)
        if ok { rename(tmp, path) } else { unlink(tmp) }
    }
}

// Signals as a daemon expects them, whatever mask the spawning thread had.
cshoal_reset_signals()
Command.main()
