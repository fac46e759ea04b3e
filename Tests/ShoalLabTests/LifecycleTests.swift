import Foundation
import ShoalLab
import Testing

/// Start, stop, crash recovery and failure paths, on a small lab of its own (prefix 127.55)
/// so it never disturbs the shared one.
@Suite(.serialized) struct Lifecycle {
    static func config(_ name: String, zones: Int = 20) -> LabConfig {
        let tmp = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        return LabConfig(directory: "\(tmp)/shoal-lab-tests-\(name)", addressPrefix: "127.55", secondLevelZones: zones)
    }

    @Test func staleServersOfACrashedRunAreReplaced() throws {
        let config = Self.config("lifecycle")
        let first = try Lab.start(config)
        let before = Lab.status(directory: config.directory)
        #expect(before.isUp)
        first.detach()  // as if the process had died: the servers keep running

        let second = try Lab.start(config)
        defer { try? second.stop() }
        let after = Lab.status(directory: config.directory)
        #expect(after.isUp)
        let oldPids = Set(before.processes.map(\.pid)), newPids = Set(after.processes.map(\.pid))
        #expect(oldPids.isDisjoint(with: newPids), "the first run's processes were stopped")

        // No server inherited the directory lock (it would hold it forever).
        for p in after.processes {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(p.pid)/fd")) ?? []
            for fd in fds {
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(p.pid)/fd/\(fd)")) ?? ""
                #expect(!target.hasSuffix("lab.lock"), "pid \(p.pid) holds \(target)")
            }
        }
    }

    @Test func withLabStopsEvenWhenTheBodyThrows() throws {
        struct Boom: Error {}
        let config = Self.config("lifecycle")
        #expect(throws: Boom.self) {
            try withLab(config) { lab in
                #expect(Lab.status(directory: lab.config.directory).isUp)
                throw Boom()
            }
        }
        let status = Lab.status(directory: config.directory)
        #expect(status.processes.isEmpty)
        #expect(!status.isUp)
        // Its black hole is gone too: the address refuses now instead of swallowing.
        let hole = try LabHierarchy(config).plan.blackholeAddresses[0]
        #expect(throws: DNSProbe.Failure.refused(server: hole, transport: .udp)) {
            _ = try DNSProbe.exchange(DNSProbe.query(name: "lab.", type: 6), server: hole, timeoutMilliseconds: 500)
        }
    }

    @Test func stopByDirectoryFindsEverything() throws {
        let config = Self.config("lifecycle")
        let lab = try Lab.start(config)
        lab.detach()
        #expect(!Lab.status(directory: config.directory).processes.isEmpty)
        let stopped = try Lab.stop(directory: config.directory)
        #expect(stopped.count >= lab.hierarchy.instances.count)
        #expect(Lab.status(directory: config.directory).processes.isEmpty)
    }

    @Test func rejectedConfigurationSaysWhyAndLeavesNothingRunning() throws {
        var config = Self.config("lifecycle")
        config.tools.nsdCheckconf = "/bin/false"
        #expect {
            _ = try Lab.start(config)
        } throws: { error in
            guard case let .nsdConfigRejected(instance, path, _)? = error as? LabError else { return false }
            return instance == "root" && path.hasSuffix("/nsd/root.conf")
        }
        #expect(Lab.status(directory: config.directory).processes.isEmpty)
    }

    @Test func secondStartIsFastBecauseKeysAndSignaturesAreCached() throws {
        let config = Self.config("lifecycle")
        try withLab(config) { _ in }
        let lab = try Lab.start(config)
        defer { try? lab.stop() }
        #expect(lab.buildReport.zonesSigned == 0)
        #expect(lab.startSeconds < 10)
    }
}
