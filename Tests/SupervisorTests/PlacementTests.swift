import Testing
@testable import Supervisor

/// A fixture topology (a directory shaped like /sys/devices/system) next to this file.
func fixture(_ name: String) throws -> Topology {
    let dir = String(#filePath.prefix(upTo: #filePath.lastIndex(of: "/")!)) + "/Fixtures/" + name
    return try Topology.read(root: dir)
}

func cpus(_ s: String) -> CPUList { try! CPUList(parsing: s) }

@Suite("CPU lists, topology and worker placement")
struct PlacementTests {
    @Test("CPU list format: parse, fold, reject with the bad part named")
    func cpuLists() throws {
        #expect(try CPUList(parsing: "0-3,8,10-11\n").members == [0, 1, 2, 3, 8, 10, 11])
        #expect(try CPUList(parsing: "").isEmpty)
        #expect(CPUList([11, 10, 8, 3, 2, 1, 0, 3]).description == "0-3,8,10-11")
        for bad in ["3-1", "a", "1,,2", "-1", "1-2-3", "70000"] {
            #expect { _ = try CPUList(parsing: bad) } throws: { e in
                (e as? CPUListError)?.description.contains("is not a CPU list") == true
            }
        }
    }

    @Test("two nodes of 8 CPUs: workers spread over both nodes, one per CPU by default")
    func twoNodes() throws {
        let t = try fixture("two-nodes")
        #expect(t.nodes == [0: cpus("0-7"), 1: cpus("8-15")])
        let plan = try PlacementPlan.make(PlacementRequest(), topology: t, allowed: cpus("0-15"))
        #expect(plan.workers.count == 16 && plan.warnings.isEmpty)
        #expect(Set(plan.workers.map(\.cpu)) == Set(0...15))
        #expect(plan.nodesInUse == [0, 1])
        // Four workers: two per node, never two on one CPU, each with its CPU's node.
        let four = try PlacementPlan.make(PlacementRequest(workers: 4), topology: t, allowed: cpus("0-15"))
        #expect(four.workers.map(\.cpu) == [0, 8, 1, 9])
        #expect(four.workers.map(\.node) == [0, 1, 0, 1])
        #expect(four.workers.allSatisfy { t.node(of: $0.cpu) == $0.node })
        // Not spread: numeric order, node 0 first.
        let packed = try PlacementPlan.make(PlacementRequest(workers: 4, spreadOverNodes: false), topology: t,
                                            allowed: cpus("0-15"))
        #expect(packed.workers.map(\.cpu) == [0, 1, 2, 3] && packed.nodesInUse == [0])
    }

    @Test("offline CPUs are never used, even when configured")
    func offline() throws {
        let t = try fixture("offline-cpus")
        #expect(t.nodes[0] == cpus("0-5") && t.nodes[1] == cpus("8-13"))
        let plan = try PlacementPlan.make(PlacementRequest(cpus: cpus("4-9")), topology: t, allowed: cpus("0-15"))
        #expect(Set(plan.workers.map(\.cpu)) == [4, 5, 8, 9])
        #expect(plan.warnings.contains { $0.contains("6-7") && $0.contains("offline") })
    }

    @Test("a cpuset that excludes a node: no worker there; more workers than CPUs share them with a warning")
    func cpusetExcludesNode() throws {
        let t = try fixture("two-nodes")
        let plan = try PlacementPlan.make(PlacementRequest(workers: 10), topology: t, allowed: cpus("0-3"))
        #expect(plan.nodesInUse == [0])
        #expect(plan.workers.count == 10)
        #expect(plan.workers.map(\.cpu) == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
        #expect(plan.warnings.contains { $0.contains("10 workers on 4 usable CPU(s)") })
        // Nothing usable at all is an error naming what was there.
        #expect { _ = try PlacementPlan.make(PlacementRequest(cpus: cpus("8-9")), topology: t, allowed: cpus("0-3")) }
            throws: { e in (e as? PlacementError)?.description.contains("no usable CPU") == true }
        #expect(throws: PlacementError.self) {
            _ = try PlacementPlan.make(PlacementRequest(workers: 0), topology: t, allowed: cpus("0-3"))
        }
    }

    @Test("no NUMA directory: one node 0 with every online CPU; unreadable or garbage sysfs is a clear error")
    func noNUMAAndErrors() throws {
        let t = try fixture("no-numa")
        #expect(t.nodes == [0: cpus("0-3")])
        #expect { _ = try fixture("garbage") } throws: { e in "\(e)".contains("cpu/online") && "\(e)".contains("zero-three") }
        #expect { _ = try fixture("missing") } throws: { e in "\(e)".contains("cannot be read") }
    }

    @Test("this machine: the real topology and affinity plan one worker per allowed CPU")
    func realMachine() throws {
        let t = try Topology.read()
        let allowed = try CPUList.allowedForThisProcess()
        #expect(!allowed.isEmpty && !t.online.isEmpty)
        let plan = try PlacementPlan.make(PlacementRequest(), topology: t, allowed: allowed)
        #expect(plan.workers.count == t.online.intersection(allowed).count)
        #expect(plan.workers.allSatisfy { allowed.contains($0.cpu) && t.nodes[$0.node]?.contains($0.cpu) == true })
    }
}
