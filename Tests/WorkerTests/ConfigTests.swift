import DNSCore
import Foundation
import DNSSEC
import ShoalLab
import Testing
@testable import Worker

/// Configuration files and options: values land where they should, and every mistake names the
/// key and the file.
@Suite struct ConfigTests {
    @Test func yamlOverridesDefaults() throws {
        var s = WorkerSettings()
        try s.apply(yaml: """
            listen: ["127.0.0.2:5300", "[::1]:5300"]
            segment: edge
            segment-size: 128
            allow: 10.1.0.0/16
            qname-minimisation: false
            max-upstream-queries: 32
            tcp-idle-timeout: 5
            max-resolutions: 100
            """, file: "w.yaml")
        #expect(s.listen == ["127.0.0.2:5300", "[::1]:5300"])
        #expect(s.segment == "edge" && s.segmentSizeMiB == 128)
        #expect(s.allow == ["10.1.0.0/16"])
        #expect(!s.limits.qnameMinimisation && s.limits.maxUpstreamQueries == 32)
        #expect(s.tcp.idleTimeout == .seconds(5))
        #expect(s.maxResolutions == 100 && WorkerSettings().maxResolutions == 2048)
        #expect(s.rootHints == nil)
    }

    @Test func dnssecKeys() throws {
        // Validation is on by default (issue #13), with the IANA anchors built in.
        #expect(WorkerSettings().dnssec == .validate && WorkerSettings().dnssecBogusTTL == 60)
        #expect(WorkerSettings().trustAnchor == nil)
        var s = WorkerSettings()
        try s.apply(yaml: "dnssec: off\n", file: "w.yaml")
        #expect(s.dnssec == .off)
        try s.apply(yaml: "dnssec: validate\ndnssec-bogus-ttl: 15\ntrust-anchor: /etc/shoal/root.ds\n", file: "w.yaml")
        #expect(s.dnssec == .validate && s.dnssecBogusTTL == 15 && s.trustAnchor == "/etc/shoal/root.ds")
        try s.apply(yaml: "dnssec-max-verifications: 32\ndnssec-max-keys-per-signature: 2\n"
                    + "dnssec-max-signatures-per-rrset: 3\ndnssec-max-nsec3-hashes: 50\n", file: "w.yaml")
        #expect(s.dnssecLimits == WorkLimits(keysPerSignature: 2, signaturesPerRRset: 3, verificationsPerResolution: 32,
                                             nsec3HashesPerAnswer: 50))
        #expect(try s.dnssecSettings(trustAnchorText: nil).policy.limits.verificationsPerResolution == 32)
        try s.apply(yaml: "negative-trust-anchors: [Broken.Example., other.test.]\n", file: "w.yaml")
        #expect(try s.dnssecSettings(trustAnchorText: nil).negativeAnchors.covering(try DNSName("www.broken.example."))
                == (try DNSName("broken.example.")))
        try s.apply(yaml: "dnssec: off\n", file: "w.yaml")
        #expect(s.dnssec == .off)
    }

    @Test("shoal-worker --check-config reads the trust-anchor file and says whether it validates")
    func workerCheckConfigDNSSEC() throws {
        let exe = try #require(BuildProducts.executable("shoal-worker"))
        let dir = NSTemporaryDirectory() + "worker-check-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func run(_ args: [String]) throws -> (Int32, String) {
            try runProgram(exe, ["--check-config", "--listen", "127.59.9.9:5300"] + args)
        }
        // The lab's kind of anchor file: a DS record of the root.
        let anchor = dir + "/root.ds"
        try ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n"
            .write(toFile: anchor, atomically: true, encoding: .utf8)
        let (ok, out) = try run(["--dnssec", "validate", "--trust-anchor", anchor, "--dnssec-bogus-ttl", "20"])
        #expect(ok == 0, "\(out)")
        #expect(out.contains("dnssec validate (bogus TTL 20 s, at most 64 verifications per resolution)"), "\(out)")
        // The default: validate, with the built-in IANA anchors.
        let (byDefault, defaultOut) = try run([])
        #expect(byDefault == 0 && defaultOut.contains("trust anchors built in") && defaultOut.contains("dnssec validate ("),
                "\(defaultOut)")
        let (off, offOut) = try run(["--dnssec", "off"])
        #expect(off == 0 && offOut.contains("dnssec off"), "\(offOut)")
        let (bad, badOut) = try run(["--dnssec", "maybe"])
        #expect(bad != 0 && badOut.contains("expected validate or off"), "\(badOut)")
        try ". IN DS not-a-digest\n".write(toFile: anchor, atomically: true, encoding: .utf8)
        let (broken, brokenOut) = try run(["--dnssec", "validate", "--trust-anchor", anchor])
        #expect(broken != 0 && brokenOut.contains(anchor), "\(brokenOut)")
    }

    @Test func doNotQueryKeys() throws {
        #expect(WorkerSettings().limits.doNotQueryLocalhost && WorkerSettings().limits.doNotQuery.isEmpty)
        var s = WorkerSettings()
        try s.apply(yaml: "do-not-query-localhost: false\ndo-not-query: [192.0.2.0/24, \"2001:db8::/32\"]\n",
                    file: "w.yaml")
        #expect(!s.limits.doNotQueryLocalhost)
        #expect(s.limits.doNotQuery.map(\.description) == ["192.0.2.0/24", "2001:db8::/32"])
        #expect(throws: ConfigError.self) { try s.apply(yaml: "do-not-query: 300.1.1.1\n", file: "w.yaml") }
    }

    @Test(arguments: [
        ("listn: 1", "unknown key 'listn'"),
        ("segment-size: big", "'segment-size' must be an integer"),
        ("segment-size: 0", "'segment-size' must be an integer in 1"),
        ("qname-minimisation: 3", "'qname-minimisation' must be true or false"),
        ("max-resolutions: 0", "'max-resolutions' must be an integer in 1"),
        ("allow: {a: 1}", "'allow' must be a list of strings"),
        ("- a\n- b", "expected a mapping"),
        ("listen: [", "not valid YAML"),
        ("listen: 127.0.0.1\n\nsegment-size: big", "bad.yaml:3: 'segment-size' must be an integer"),
        ("segment: a\nworkerz: 2", "bad.yaml:2: unknown key 'workerz'"),
        ("dnssec: on", "bad.yaml:1: 'dnssec' must be validate or off"),
        ("dnssec-bogus-ttl: 0", "'dnssec-bogus-ttl' must be an integer in 1"),
        ("negative-trust-anchors: [\"a..b\"]", "'negative-trust-anchors' has an invalid name"),
    ])
    func mistakesNameTheKeyAndFile(yaml: String, message: String) {
        var s = WorkerSettings()
        do {
            try s.apply(yaml: yaml, file: "bad.yaml")
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.message.hasPrefix("bad.yaml:"))
            #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test("the shared file: keys of shoald and the bridge are left to them")
    func sharedFileKeys() throws {
        var s = WorkerSettings()
        try s.apply(yaml: "workers: 4\ncpus: 0-3\nuser: shoal\nbridge: {servers: [nats://127.0.0.1:4222]}\nsegment: edge\n",
                    file: "shoal.yaml")
        #expect(s.segment == "edge")
    }

    @Test func listenAddressesAndACLBlocks() throws {
        #expect(try parseListenAddress("127.0.0.1").port == 53)
        #expect(try parseListenAddress("[::1]:5353").port == 5353)
        #expect(throws: ConfigError.self) { try parseListenAddress("localhost:53") }
        #expect(throws: ConfigError.self) { try parseListenAddress("127.0.0.1:99999") }
        let acl = AccessControl(allowed: [try AccessControl.Block("192.0.2.0/24"), try AccessControl.Block("2001:db8::/32")])
        #expect(acl.allows(ipv4: 0xC000_0205))
        #expect(!acl.allows(ipv4: 0xC000_0305))
        #expect(acl.allows(ipv6: try IPv6Address(presentation: "2001:db8:1::1")))
        #expect(!acl.allows(ipv6: try IPv6Address(presentation: "2001:db9::1")))
        #expect(AccessControl.localDefault.allows(ipv4: 0x7F00_0001))
        #expect(!AccessControl.localDefault.allows(ipv4: 0x0808_0808))
        #expect(throws: ACLError.self) { try AccessControl.Block("10.0.0.0/33") }
    }
}
