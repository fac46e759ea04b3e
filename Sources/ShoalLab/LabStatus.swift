import Foundation

/// What is running from a lab directory, for `shoal-lab status` and scripts.
public struct LabStatus: Sendable {
    public struct Instance: Sendable {
        public var name: String
        /// Listen addresses.
        public var addresses: [String]
        public var zoneCount: Int
        /// Pid from the pidfile, when that process lives.
        public var pid: Int32?
        /// The first address answered the SOA query for the first zone.
        public var answering: Bool
    }

    public var directory: String
    /// The configuration in `lab.json`; nil when the lab was never started here.
    public var config: LabConfig?
    public var instances: [Instance]
    /// Pid of a detached black hole, when one lives.
    public var blackholePid: Int32?
    /// Every live process of this directory (nsd parents and children, the black hole).
    public var processes: [LabProcess]

    /// True when every instance answers.
    public var isUp: Bool { !instances.isEmpty && instances.allSatisfy(\.answering) }

    /// Reads `lab.json`, the pidfiles and `/proc`, and probes each instance once.
    public static func read(directory: String) -> LabStatus {
        let paths = LabPaths(directory: URL(fileURLWithPath: directory).standardizedFileURL.path)
        let processes = LabProcesses.find(paths: paths)
        var status = LabStatus(directory: paths.directory, config: nil, instances: [],
                               blackholePid: LabProcesses.livePid(inPidfile: paths.blackholePidfile), processes: processes)
        guard let data = FileManager.default.contents(atPath: paths.manifest),
              let config = try? JSONDecoder().decode(LabConfig.self, from: data),
              let hierarchy = try? LabHierarchy(config) else { return status }
        status.config = config
        for server in hierarchy.instances {
            let instance = NSDInstance(server: server, hierarchy: hierarchy, paths: paths)
            let answering = server.zones.first.map { LabReadiness.soaProblem($0, at: instance.listenAddresses[0]) == nil } ?? false
            status.instances.append(Instance(name: server.name, addresses: instance.listenAddresses, zoneCount: server.zones.count,
                                             pid: LabProcesses.livePid(inPidfile: instance.pidfile), answering: answering))
        }
        return status
    }
}

extension Lab {
    /// Same as `LabStatus.read(directory:)`.
    public static func status(directory: String) -> LabStatus { LabStatus.read(directory: directory) }
}
