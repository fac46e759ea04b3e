import CNuma

/// Where the segment's pages should live: interleaved over the NUMA nodes of the CPUs the
/// workers are pinned to, so no worker pays remote-memory latency for every access.
public struct NUMAPlacement: Hashable, Sendable {
    /// CPUs the workers run on (from configuration); empty means "all nodes".
    public var cpus: [Int]
    public init(cpus: [Int]) { self.cpus = cpus }
    /// Leave placement to the kernel.
    public static let none = NUMAPlacement?.none
}

/// What the placement hook did.
public enum NUMAOutcome: Hashable, Sendable {
    /// libnuma reports no NUMA support (`numa_available() < 0`).
    case unavailable
    /// One node only: nothing to interleave (the call is still made).
    case singleNode(Int)
    /// Interleaved over these nodes.
    case interleaved([Int])
    /// No placement was asked for.
    case notRequested
}

enum NUMA {
    /// The nodes of `cpus` (all configured nodes when empty), without duplicates, ascending.
    static func nodes(ofCPUs cpus: [Int]) -> [Int] {
        guard numa_available() >= 0 else { return [] }
        if cpus.isEmpty { return Array(0..<Int(numa_num_configured_nodes())) }
        var set = Set<Int>()
        for c in cpus {
            let n = numa_node_of_cpu(Int32(c))
            if n >= 0 { set.insert(Int(n)) }
        }
        return set.sorted()
    }

    /// Sets an interleave policy on `[base, base+size)` before its pages are allocated.
    static func interleave(_ base: UnsafeMutableRawPointer, _ size: Int, _ placement: NUMAPlacement) -> NUMAOutcome {
        guard numa_available() >= 0 else { return .unavailable }
        var nodes = nodes(ofCPUs: placement.cpus)
        if nodes.isEmpty { nodes = [0] }
        guard let mask = numa_allocate_nodemask() else { return .unavailable }
        defer { numa_bitmask_free(mask) }
        for n in nodes { numa_bitmask_setbit(mask, UInt32(n)) }
        numa_interleave_memory(base, size, mask)
        return nodes.count == 1 ? .singleNode(nodes[0]) : .interleaved(nodes)
    }
}
