/// Where each worker slot runs: one CPU, and the NUMA node whose memory it should use.
public struct WorkerPlacement: Hashable, Sendable, CustomStringConvertible {
    public var slot: Int
    public var cpu: Int
    public var node: Int
    public var description: String { "slot \(slot): cpu \(cpu), node \(node)" }
}

/// What the configuration asks for (the `workers`, `cpus` and `numa` keys).
public struct PlacementRequest: Hashable, Sendable {
    /// Worker count; nil: one per allowed CPU.
    public var workers: Int?
    /// CPUs the workers may use; nil: every CPU this process is allowed to run on.
    public var cpus: CPUList?
    /// Spread workers over NUMA nodes (true, the default), or fill CPUs in numeric order.
    public var spreadOverNodes: Bool

    public init(workers: Int? = nil, cpus: CPUList? = nil, spreadOverNodes: Bool = true) {
        self.workers = workers
        self.cpus = cpus
        self.spreadOverNodes = spreadOverNodes
    }
}

/// The placement of every worker slot, the nodes in use (the segment is interleaved over
/// them), and what an operator should be told.
public struct PlacementPlan: Hashable, Sendable {
    public var workers: [WorkerPlacement]
    public var nodesInUse: [Int]
    public var warnings: [String]

    /// Plans `request` on `topology` for a process allowed to run on `allowed` (its affinity:
    /// a cpuset, `taskset`).
    ///
    /// - Only CPUs that are online, allowed, and (when `cpus` is given) listed are used; none
    ///   left is an error.
    /// - Spreading takes CPUs from the nodes in turn (node 0's first, node 1's first, node 0's
    ///   second, …), so N workers use every node with usable CPUs before doubling up on one;
    ///   a node without a usable CPU (a cpuset that excludes it) gets no worker.
    /// - More workers than usable CPUs share CPUs (slot i on the (i mod n)-th CPU) with a
    ///   warning, rather than refusing to start.
    public static func make(_ request: PlacementRequest, topology: Topology, allowed: CPUList) throws(PlacementError) -> PlacementPlan {
        var warnings: [String] = []
        var usable = topology.online.intersection(allowed)
        if let wanted = request.cpus {
            let missing = CPUList(wanted.members.filter { !usable.contains($0) })
            if !missing.isEmpty {
                warnings.append("cpus \(missing) are offline or outside this process's affinity (\(allowed)): not used")
            }
            usable = usable.intersection(wanted)
        }
        guard !usable.isEmpty else {
            throw PlacementError("no usable CPU: online \(topology.online), allowed \(allowed)"
                                 + (request.cpus.map { ", configured cpus \($0)" } ?? ""))
        }
        if let w = request.workers, w < 1 { throw PlacementError("workers must be at least 1, not \(w)") }
        let count = request.workers ?? usable.count

        // The order CPUs are handed out in.
        var order: [(cpu: Int, node: Int)] = []
        let byNode = topology.nodes.keys.sorted().map { n in
            (n, topology.nodes[n]!.members.filter(usable.contains))
        }.filter { !$0.1.isEmpty }
        let unplaced = usable.members.filter { topology.node(of: $0) == nil }
        if request.spreadOverNodes {
            let longest = byNode.map(\.1.count).max() ?? 0
            for i in 0..<longest {
                for (n, cpus) in byNode where i < cpus.count { order.append((cpus[i], n)) }
            }
        } else {
            for cpu in usable.members { if let n = topology.node(of: cpu) { order.append((cpu, n)) } }
        }
        // CPUs sysfs puts in no node (it happens on odd firmware): node 0's memory.
        order += unplaced.map { ($0, 0) }

        if count > order.count {
            warnings.append("\(count) workers on \(order.count) usable CPU(s) (\(usable)): workers share CPUs")
        }
        let workers = (0..<count).map { slot in
            let (cpu, node) = order[slot % order.count]
            return WorkerPlacement(slot: slot, cpu: cpu, node: node)
        }
        return PlacementPlan(workers: workers, nodesInUse: Array(Set(workers.map(\.node))).sorted(), warnings: warnings)
    }
}

/// A placement that cannot be made.
public struct PlacementError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}
