import CShoalShims
import DNSCore
import Foundation
import ShmCache
import ShoalSystem
import Supervisor
import Testing

/// A stand-in for systemd's notify socket: a datagram socket in the test that records what
/// shoald says (and keeps the descriptors it stores, as systemd's fd store does).
final class FakeNotifySocket: @unchecked Sendable {
    struct Message {
        var text: String
        var fds: [Int32]
        var fields: [String: String] {
            var out: [String: String] = [:]
            for line in text.split(separator: "\n") {
                guard let eq = line.firstIndex(of: "=") else { continue }
                out[String(line[..<eq])] = String(line[line.index(after: eq)...])
            }
            return out
        }
    }

    let directory: String
    let path: String
    let fd: Int32
    private(set) var messages: [Message] = []

    /// A socket in a directory of its own (removed with it).
    init(tag: String) throws {
        directory = NSTemporaryDirectory() + "\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/notify"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { b in
            for (i, c) in path.utf8.enumerated() where i < b.count - 1 { b[i] = c }
        }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(r == 0, "bind \(path): \(errno)")
    }

    /// Reads what arrived within `milliseconds`.
    func drain(milliseconds: Int32) {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var wait = milliseconds
        while poll(&p, 1, wait) > 0 {
            var buf = [UInt8](repeating: 0, count: 4096)
            var fds = [Int32](repeating: -1, count: 16)
            var n: Int32 = 0
            let len = cshoal_recv_with_fds(fd, &buf, buf.count, &fds, 16, &n)
            guard len >= 0 else { break }
            messages.append(Message(text: String(decoding: buf[0..<len], as: UTF8.self), fds: Array(fds[0..<Int(n)])))
            wait = 0
        }
    }

    /// Waits (up to `seconds`) for a message after `index` that `matches`; its index.
    func wait(after index: Int = -1, seconds: Double = 20, _ matches: (Message) -> Bool) -> Int? {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if let i = messages.indices.first(where: { $0 > index && matches(messages[$0]) }) { return i }
            guard Date() < deadline else { return nil }
            drain(milliseconds: 100)
        }
    }

    var transcript: String { messages.map { $0.text.replacingOccurrences(of: "\n", with: " ") + ($0.fds.isEmpty ? "" : " fds \($0.fds)") }.joined(separator: "\n") }

    deinit {
        for m in messages { for f in m.fds { close(f) } }
        close(fd)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A UDP client socket for queries that must wait in a socket nobody reads yet.
struct UDPClient: ~Copyable {
    let fd: Int32
    init() { fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0) }
    func send(_ query: [UInt8], to address: String) {
        _ = withSockaddr(ipv4(address)) { a, l in query.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, a, l) } }
    }
    func receive(milliseconds: Int32) -> [UInt8]? {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, milliseconds) > 0 else { return nil }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buf, buf.count, 0)
        return n > 0 ? Array(buf[0..<n]) : nil
    }
    deinit { close(fd) }
}

/// shoald speaking the notify protocol to a fake systemd (a datagram socket in the test), and
/// taking sockets back as systemd hands them over. Under a real systemd: SystemdServiceTests.
@Suite("Systemd protocol: notify messages, the fd store, handed-over sockets", .serialized)
struct SystemdProtocolTests {
    @Test("READY once the workers answer, the sockets stored with stable names, STATUS, WATCHDOG, RELOADING…READY, STOPPING; the workers see none of it")
    func notifyMessages() throws {
        let sd = try FakeNotifySocket(tag: "notify")
        let d = try ShoaldProcess(tag: "notify", address: "127.59.20.1", workers: 2,
                                  environment: ["NOTIFY_SOCKET": sd.path, "WATCHDOG_USEC": "600000"])
        let ready = try #require(sd.wait { $0.fields["READY"] == "1" }, "no READY=1:\n\(sd.transcript)\n\(d.log)")
        #expect(sd.messages[ready].fields["STATUS"]?.hasPrefix("2/2 workers up") == true, "\(sd.transcript)")

        // Every socket went to the store before READY, once, with its name, FDPOLL=0 and the socket itself.
        let stored = sd.messages[..<ready].filter { $0.fields["FDSTORE"] == "1" }
        let names = stored.compactMap { $0.fields["FDNAME"] }
        #expect(Set(names) == ["shoal-tcp-127.59.20.1-53", "shoal-udp-127.59.20.1-53-s0", "shoal-udp-127.59.20.1-53-s1"],
                "\(sd.transcript)")
        #expect(names.count == 3)
        for m in stored {
            #expect(m.fields["FDPOLL"] == "0" && m.fds.count == 1, "\(m.text)")
            let key = try #require(m.fds.first.flatMap { SocketKey(descriptor: $0) })
            #expect(key.host == "127.59.20.1" && key.port == 53)
            #expect(key.isUDP == m.fields["FDNAME"]!.hasPrefix("shoal-udp"), "\(m.text): \(key)")
        }

        // The watchdog is fed (every 0.3 s for WATCHDOG_USEC=0.6 s), and STATUS follows the service.
        let first = try #require(sd.wait(after: ready) { $0.fields["WATCHDOG"] == "1" }, "\(sd.transcript)")
        #expect(sd.wait(after: first) { $0.fields["WATCHDOG"] == "1" } != nil, "\(sd.transcript)")

        // Nothing of systemd's reaches the workers.
        for w in d.workerPIDs() {
            let env = try #require(KernelFiles.read("/proc/\(w)/environ"))
            #expect(!env.contains("NOTIFY_SOCKET") && !env.contains("WATCHDOG_USEC"), "worker \(w)")
        }

        // A reload: RELOADING=1, then READY=1 when every worker has been replaced.
        let mark = sd.messages.count - 1
        kill(d.pid, SIGHUP)
        let reloading = try #require(sd.wait(after: mark) { $0.fields["RELOADING"] == "1" }, "\(sd.transcript)\n\(d.log)")
        #expect(sd.messages[reloading].fields["MONOTONIC_USEC"] != nil)
        let again = try #require(sd.wait(after: reloading) { $0.fields["READY"] == "1" }, "\(sd.transcript)\n\(d.log)")
        #expect(d.log.contains("reload: configuration valid"))
        #expect(sd.messages[again].fields["STATUS"]?.hasPrefix("2/2 workers up") == true, "\(sd.transcript)")

        // A reload that fails changes nothing and says no RELOADING.
        let before = sd.messages.count - 1
        try "workers: many\n".write(toFile: d.directory + "/shoal.yaml", atomically: true, encoding: .utf8)
        kill(d.pid, SIGHUP)
        #expect(sd.wait(after: before, seconds: 2) { $0.fields["RELOADING"] != nil } == nil, "\(sd.transcript)")

        d.terminate()
        #expect(sd.wait(after: before) { $0.fields["STOPPING"] == "1" } != nil, "\(sd.transcript)")
        #expect(d.waitForExit() == 0, "\(d.log)")
    }

    @Test("a reload to 3 workers stores the new slot's socket; back to 1, the removed slots leave the store")
    func reloadChangesTheStore() throws {
        let sd = try FakeNotifySocket(tag: "reload-store")
        let d = try ShoaldProcess(tag: "reload-store", address: "127.59.23.1", workers: 2,
                                  environment: ["NOTIFY_SOCKET": sd.path])
        let ready = try #require(sd.wait { $0.fields["READY"] == "1" }, "\(sd.transcript)")
        let config = try String(contentsOfFile: d.directory + "/shoal.yaml", encoding: .utf8)
        func reload(to workers: Int, after mark: Int) throws -> Int {
            try config.replacingOccurrences(of: "workers: 2", with: "workers: \(workers)")
                .write(toFile: d.directory + "/shoal.yaml", atomically: true, encoding: .utf8)
            kill(d.pid, SIGHUP)
            return try #require(sd.wait(after: mark) { $0.fields["READY"] == "1" }, "\(sd.transcript)\n\(d.log)")
        }
        let grown = try reload(to: 3, after: ready)
        let added = sd.messages[(ready + 1)...grown].filter { $0.fields["FDSTORE"] == "1" }
        #expect(added.map { $0.fields["FDNAME"] } == ["shoal-udp-127.59.23.1-53-s2"], "\(sd.transcript)")
        #expect(added.first?.fds.count == 1)
        let shrunk = try reload(to: 1, after: grown)
        let removed = sd.messages[(grown + 1)...shrunk].filter { $0.fields["FDSTOREREMOVE"] == "1" }.compactMap { $0.fields["FDNAME"] }
        #expect(Set(removed) == ["shoal-udp-127.59.23.1-53-s1", "shoal-udp-127.59.23.1-53-s2"], "\(sd.transcript)")
        for _ in 0..<100 where d.workerPIDs().count != 1 { usleep(50_000) }   // the removed workers drain
        #expect(d.workerPIDs().count == 1)
        d.stop()
    }

    @Test("the next shoald takes the stored sockets back: a query sent while no shoald ran is answered; a socket no longer configured leaves the store")
    func restartThroughTheStore() throws {
        let sd = try FakeNotifySocket(tag: "store")
        let first = try ShoaldProcess(tag: "store", address: "127.59.21.1", workers: 2,
                                      environment: ["NOTIFY_SOCKET": sd.path])
        try first.cacheKept(address: 21)
        _ = try #require(sd.wait { $0.fields["READY"] == "1" }, "\(sd.transcript)")
        let stored = sd.messages.filter { $0.fields["FDSTORE"] == "1" }.map { (fd: $0.fds[0], name: $0.fields["FDNAME"]!) }
        #expect(stored.count == 3)
        first.terminate()
        #expect(first.waitForExit() == 0)

        // Only the "store" (this test) holds the sockets now: the query waits in the kernel.
        let client = UDPClient()
        let query = Message.query(id: 0x5D5D, name: try DNSName("kept.example."), type: .a, recursionDesired: true, edns: nil)
        client.send(try query.serialize(), to: "127.59.21.1")
        let early = client.receive(milliseconds: 300)
        #expect(early == nil)

        // A stale entry as the store would keep it: slot 7 is not configured.
        var stale: SlotSockets? = try Listeners.open(["127.59.21.1:53"], slots: 7..<8, sharingTCP: DescriptorGroup())[0]
        let mark = sd.messages.count - 1
        let second = try ShoaldProcess(tag: "store", address: "127.59.21.1", workers: 2,
                                       environment: ["NOTIFY_SOCKET": sd.path],
                                       descriptors: stored + [(fd: stale!.udp.rawValues[0], name: "shoal-udp-127.59.21.1-53-s7")],
                                       directory: first.directory, waitUntilAnswering: false)
        stale = nil   // shoald closed its copy (a socket of the SO_REUSEPORT group that nobody reads takes its share of queries)
        try second.awaitAnswering(workers: 2)
        let reply = client.receive(milliseconds: 5000)
        let answer = try Message(wire: try #require(reply, "no answer\n\(second.log)"))
        #expect(answer.header.id == 0x5D5D && answer.rcode == .noError && answer.answers.first?.rdata == .a(IPv4Address(192, 0, 2, 21)),
                "\(answer)")
        #expect(second.log.contains("sockets from systemd: "), "\(second.log)")
        _ = try #require(sd.wait(after: mark) { $0.fields["READY"] == "1" }, "\(sd.transcript)")
        let after = sd.messages[(mark + 1)...]
        #expect(!after.contains { $0.fields["FDSTORE"] == "1" }, "stored again:\n\(sd.transcript)")
        #expect(after.contains { $0.fields["FDSTOREREMOVE"] == "1" && $0.fields["FDNAME"] == "shoal-udp-127.59.21.1-53-s7" },
                "\(sd.transcript)")
        second.stop()
    }

    @Test("a socket unit's UDP socket is shared by every slot, its TCP listener taken as is; nothing is stored for them")
    func socketActivation() throws {
        let sd = try FakeNotifySocket(tag: "activation")
        // What systemd binds for shoald.socket (one UDP socket and one TCP listener).
        let unit = try Listeners.open(["127.59.22.1:53"], slots: 1)[0]
        let handed = [(fd: unit.udp.rawValues[0], name: "shoald.socket"), (fd: unit.tcp.rawValues[0], name: "shoald.socket")]
        let d = try ShoaldProcess(tag: "activation", address: "127.59.22.1", workers: 2,
                                  environment: ["NOTIFY_SOCKET": sd.path], descriptors: handed)
        try d.cacheKept(address: 22)
        _ = try #require(sd.wait { $0.fields["READY"] == "1" }, "\(sd.transcript)")
        #expect(!sd.messages.contains { $0.fields["FDSTORE"] == "1" }, "\(sd.transcript)")
        #expect(d.log.contains("shared by every slot"), "\(d.log)")
        // Both workers hold the unit's very socket (one inode), and answer.
        let inode = try #require(socketInodes(getpid())[unit.udp.rawValues[0]])
        for w in d.workerPIDs() { #expect(socketInodes(w).values.contains(inode), "worker \(w)") }
        for _ in 0..<4 {
            let r = try d.ask("kept.example.", .a)
            #expect(r.answers.first?.rdata == .a(IPv4Address(192, 0, 2, 22)), "\(r)")
        }
        d.stop()
    }
}
