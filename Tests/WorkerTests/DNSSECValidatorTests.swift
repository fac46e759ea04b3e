import DNSCore
import DNSSEC
import Foundation
import Glibc
import ShmCache
import Synchronization
import Testing
@testable import Worker

/// The resolver's DNSSEC seam with the chain validator over a cache: zones signed here by
/// ldns-signzone, their DNSKEY and DS sets put in an in-memory cache.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/ldns-signzone"), "needs ldnsutils"))
struct DNSSECValidatorTests {
    /// Just enough of a ``ResolverCache``: RRsets and negative answers by name and type.
    final class MemoryCache: ResolverCache {
        let sets = Mutex<[String: RRSet]>([:])
        func key(_ n: DNSName, _ t: RRType) -> String { "\(n.lowercased.presentation)/\(t)" }
        func rrset(_ name: DNSName, _ type: RRType, allowStale: Bool) -> RankedRRSet? {
            sets.withLock { $0[key(name, type)] }.map { RankedRRSet(set: $0, rank: .authoritativeAnswer) }
        }
        func store(_ set: RRSet, rank: Rank) { sets.withLock { $0[key(set.name, set.type)] = set } }
        func negative(_ name: DNSName, _ type: RRType) -> NegativeAnswer? { nil }
        func storeNegative(_ name: DNSName, _ type: RRType, _ negative: NegativeAnswer) {}
        func serverEstimate(_ address: ServerAddress) -> (rttMicros: UInt32, throttled: Bool) { (0, false) }
        func recordRTT(_ address: ServerAddress, micros: UInt32) {}
        func recordTimeout(_ address: ServerAddress) {}
        func rejectsEDNS(_ address: ServerAddress) -> Bool { false }
        func recordEDNSRejected(_ address: ServerAddress) {}
    }

    /// Signs `records` for `origin` with a new ECDSA key; returns the signed RRsets and the DS.
    static func sign(_ origin: String, _ records: String) throws -> (sets: [RRSet], ds: DS) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("validator-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // posix_spawn and waitpid with the output in a file, not `Process` and pipes: lab tests
        // running beside this start nsd, which inherits open descriptors and would keep a pipe
        // (or `Process`'s own exit descriptor) open forever.
        func run(_ tool: String, _ args: [String]) throws -> String {
            let outPath = dir + "/.out-\(UUID().uuidString)"
            defer { unlink(outPath) }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            // (posix_spawn_file_actions_addchdir_np is not visible from Swift: sh changes directory.)
            let argv = (["/bin/sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh", dir, tool] + args).map { strdup($0) } + [nil]
            defer { for p in argv { free(p) } }
            var pid: pid_t = 0
            #expect(posix_spawn(&pid, "/bin/sh", &actions, nil, argv, environ) == 0)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            #expect(status == 0, "\(tool) \(args)")
            return ((try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let base = try run("/usr/bin/ldns-keygen", ["-a", "13", "-k", "-r", "/dev/urandom", origin])
        try records.write(toFile: dir + "/zone", atomically: true, encoding: .utf8)
        let now = Int(Date().timeIntervalSince1970)
        _ = try run("/usr/bin/ldns-signzone", ["-i", String(now - 3600), "-e", String(now + 86400), "-o", origin,
                                               "-f", dir + "/signed", dir + "/zone", base])
        let sets = RRSet.group(try ZoneFileParser.records(in: String(contentsOfFile: dir + "/signed", encoding: .utf8),
                                                          origin: .root, defaultTTL: 3600))
        let dsRR = try ZoneFileParser.records(in: String(contentsOfFile: dir + "/\(base).ds", encoding: .utf8),
                                              origin: .root, defaultTTL: 3600)
        guard case let .ds(ds)? = dsRR.first?.rdata else { throw CancellationError() }
        return (sets, ds)
    }

    @Test("indeterminate until the chain is cached, then secure; a stripped RRSIG is bogus; lame responses are not judged")
    func seam() async throws {
        let example = try Self.sign("example.", """
            example. 3600 IN SOA ns.example. host.example. 1 3600 600 86400 300
            example. 3600 IN NS ns.example.
            www.example. 3600 IN A 192.0.2.1

            """)
        let d = example.ds
        let root = try Self.sign(".", """
            . 86400 IN SOA a.root. host.root. 1 3600 600 86400 300
            . 86400 IN NS a.root.
            example. 3600 IN NS ns.example.
            example. 3600 IN DS \(d.keyTag) \(d.algorithm.rawValue) \(d.digestType.rawValue) \(Hex.encode(d.digest))

            """)
        var anchors = TrustAnchors()
        anchors.add(.root, root.ds)
        let cache = MemoryCache()
        let validator = DNSSECValidator(anchors: anchors, cache: cache)
        let q = Question(name: try DNSName("www.example."), type: .a)
        var r = UpstreamResponse(kind: .answer)
        r.answers = [try #require(example.sets.first { $0.type == .a })]
        r.finalName = q.name
        let zone = try DNSName("example.")

        #expect(await validator.validate(r, question: q, zone: zone) == .indeterminate)
        for s in root.sets + example.sets where s.type == .dnskey || s.type == .ds { cache.store(s, rank: .authoritativeAnswer) }
        #expect(await validator.validate(r, question: q, zone: zone) == .secure)
        var stripped = r
        stripped.answers[0].signatures = []
        #expect(await validator.validate(stripped, question: q, zone: zone) == .bogus)
        #expect(await validator.validate(UpstreamResponse(kind: .lame("test")), question: q, zone: zone) == .indeterminate)
        // The built-in IANA anchors do not lead to this test root: bogus, not secure.
        #expect(await DNSSECValidator(cache: cache).validate(r, question: q, zone: zone) == .bogus)
    }
}
