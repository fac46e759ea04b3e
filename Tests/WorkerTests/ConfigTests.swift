import DNSCore
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
