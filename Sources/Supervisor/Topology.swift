import ShoalSystem
#if canImport(Glibc)
import Glibc
#endif

/// The machine's CPUs and NUMA nodes as sysfs describes them: which CPUs are online, and which
/// node each belongs to. Read from `/sys/devices/system` on the machine, or from a fixture
/// directory of the same shape in tests (so placement on 2-node machines is tested on a
/// 1-node one).
public struct Topology: Hashable, Sendable {
    /// Node number → its online CPUs.
    public var nodes: [Int: CPUList]
    /// Every online CPU.
    public var online: CPUList

    public init(nodes: [Int: CPUList], online: CPUList) {
        self.nodes = nodes
        self.online = online
    }

    /// The node of `cpu`, or nil when no node lists it.
    public func node(of cpu: Int) -> Int? { nodes.first { $0.value.contains(cpu) }?.key }

    /// Reads `root/cpu/online` and `root/node/node*/cpulist` (root: `/sys/devices/system`).
    /// A machine without NUMA support (no node directory) is one node 0 holding every online
    /// CPU.
    public static func read(root: String = "/sys/devices/system") throws(TopologyError) -> Topology {
        guard let onlineText = KernelFiles.read(root + "/cpu/online") else {
            throw TopologyError("\(root)/cpu/online: cannot be read")
        }
        let online: CPUList
        do { online = try CPUList(parsing: onlineText) } catch { throw TopologyError("\(root)/cpu/online: \(error)") }
        var nodes: [Int: CPUList] = [:]
        for entry in KernelFiles.list(root + "/node") where entry.hasPrefix("node") {
            guard let n = Int(entry.dropFirst(4)) else { continue }
            let path = "\(root)/node/\(entry)/cpulist"
            guard let text = KernelFiles.read(path) else { continue }
            do {
                // Offline CPUs can still be listed under their node: keep the online ones.
                nodes[n] = try CPUList(parsing: text).intersection(online)
            } catch {
                throw TopologyError("\(path): \(error)")
            }
        }
        if nodes.isEmpty { nodes[0] = online }
        return Topology(nodes: nodes, online: online)
    }
}

/// sysfs could not be read or said something that does not parse.
public struct TopologyError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

extension CPUList {
    /// The CPUs this process may run on (`Cpus_allowed_list` of /proc/self/status: its
    /// affinity, narrowed by any cpuset).
    public static func allowedForThisProcess() throws(TopologyError) -> CPUList {
        guard let list = ProcessPlacement.allowedCPUs(pid: getpid()) else {
            throw TopologyError("/proc/self/status: no Cpus_allowed_list")
        }
        do {
            return try CPUList(parsing: list)
        } catch {
            throw TopologyError("/proc/self/status: \(error)")
        }
    }
}
