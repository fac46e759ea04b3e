import Testing
import Worker
@testable import MeshBridge

@Suite struct BridgeConfigTests {
    let files: [String: String] = ["/etc/pw": "hunter2\n", "/etc/token": "tok\n", "/etc/empty": "\n", "/etc/seed": "SU...\n"]
    func load(_ yaml: String) throws(ConfigError) -> BridgeSettings {
        try BridgeSettings.load(yaml: yaml, file: "shoal.yaml", readFile: { files[$0] }, hostName: "db1.example.com\n")
    }

    @Test func fullSection() throws {
        let s = try load("""
            segment: edge
            max-ttl: 3600
            workers: 2
            bridge:
              servers: [nats://127.0.0.1:4222, nats://127.0.0.2:4222]
              cluster: prod
              user: shoal
              password-file: /etc/pw
              max-payload: 100000
            """)
        #expect(s.servers == ["nats://127.0.0.1:4222", "nats://127.0.0.2:4222"])
        #expect(s.cluster.description == "prod")
        #expect(s.nodeID.description == "db1-example-com")
        #expect(s.segment == "edge")
        #expect(s.maxTTL == 3600)
        #expect(s.maxPayload == 100_000)
        #expect(s.auth == .userPassword(user: "shoal", password: "hunter2"))
        #expect(!"\(s)".contains("hunter2"))
        #expect(!"\(s.auth)".contains("hunter2"))
        #expect(!String(reflecting: s.auth).contains("hunter2"))
    }

    @Test(arguments: [
        // (yaml, what the message must say)
        ("bridge:\n  cluster: x\n", "shoal.yaml:1: 'bridge' needs 'servers'"),
        ("segment: a\nbridge:\n  servers: [nats://127.0.0.1:4222]\n  password: hunter2\n",
         "shoal.yaml:4: 'password' must not hold a secret"),
        ("bridge:\n  servers: [nats://127.0.0.1:4222]\n  colour: blue\n", "shoal.yaml:3: unknown key 'colour'"),
        ("bridge:\n  servers: [nats://127.0.0.1:4222]\n  user: shoal\n  password-file: /etc/nothing\n",
         "shoal.yaml:4: 'password-file' names '/etc/nothing', which cannot be read"),
        ("bridge:\n  servers: [nats://127.0.0.1:4222]\n  token-file: /etc/empty\n", "shoal.yaml:3: 'token-file' names '/etc/empty', which is empty"),
        ("bridge:\n  servers: [nats://127.0.0.1:4222]\n  user: shoal\n  password-file: /etc/pw\n  token-file: /etc/token\n",
         "conflicts with 'user'"),
        ("bridge:\n  servers: [127.0.0.1:4222]\n", "shoal.yaml:2: 'servers' has '127.0.0.1:4222'"),
        ("bridge:\n  servers: [nats://127.0.0.1:4222]\n  cluster: a.b\n", "shoal.yaml:3: 'cluster' must be"),
        ("bridge:\n  servers: [nats://127.0.0.1:4222]\n  max-payload: 2000000\n", "shoal.yaml:3: 'max-payload' must be an integer"),
        ("bridge:\n  servers: [nats://127.0.0.1:4222]\n  nkey-seed-file: /etc/seed\n", "needs 'nkey'"),
        ("segment: a\n", "no 'bridge:' section"),
        ("bridge:\n  servers: [nats://127.0.0.1:4222]\n  dnssec-from-peers: always\n", "shoal.yaml:3: 'dnssec-from-peers' must be one of trust, insecure-only, revalidate"),
        ("bridge:\n  servers: [nats://127.0.0.1:4222]\nfrobnicate: 1\n", "shoal.yaml:3: unknown key 'frobnicate'"),
    ])
    func errorsNameTheLine(_ yaml: String, _ message: String) {
        do {
            let s = try load(yaml)
            Issue.record("accepted: \(s)")
        } catch {
            #expect(error.message.contains(message), "\(error.message)")
            #expect(!error.message.contains("hunter2"))
        }
    }
}
