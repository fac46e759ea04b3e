import DNSCore
import Foundation
import ShoalLab
import Testing

/// The running lab of the current test (set by the `.workerLab` trait).
enum WorkerLab {
    @TaskLocal static var current: Lab?

    static func lab(sourceLocation: SourceLocation = #_sourceLocation) throws -> Lab {
        try #require(current, "suite is missing the .workerLab trait", sourceLocation: sourceLocation)
    }

    /// A root hints file whose only root server is the lab's black hole: a worker started with
    /// it can answer only from the shared cache.
    static func blackholeHints(_ lab: Lab) throws -> String {
        let path = "\(lab.paths.directory)/blackhole.hints"
        let hole = try #require(lab.hierarchy.plan.blackholeAddresses.first)
        try ".                3600000 NS a.root.lab.\na.root.lab.      3600000 A  \(hole)\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Runs `body` with a fresh worker of its own segment on lab host `host` (e.g. ".201.1"),
    /// resolving from the lab's root and validating with the lab's trust anchor (`extra` may
    /// turn validation off); stops the worker and unlinks the segment afterwards.
    static func withWorker<T>(_ tag: String, host: String, extra: [String] = [],
                              _ body: (WorkerProcess, Lab) throws -> T) throws -> T {
        let lab = try lab()
        let segment = uniqueSegment(tag)
        defer { unlinkSegment(segment) }
        let worker = try WorkerProcess(address: lab.listenAddress(lab.hierarchy.plan.prefix + host),
                                       segment: segment, rootHints: lab.paths.rootHints, validation: .lab(lab), extra: extra)
        defer { worker.stop() }
        return try body(worker, lab)
    }

    /// One expected answer per kind of case (kind × features), so every case the hierarchy
    /// generates is asked once.
    static func corpus(_ lab: Lab) -> [ExpectedAnswer] {
        var seen = Set<String>()
        return lab.hierarchy.expectedAnswers.filter { e in
            seen.insert("\(e.kind) \(e.qtype) \(e.features.sorted())").inserted
        }
    }
}

/// Runs a suite inside the lab shared by every suite of the test process.
struct WorkerLabTrait: SuiteTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable () async throws -> Void) async throws {
        try await withSharedLab(.testing) { lab in
            try await WorkerLab.$current.withValue(lab) { try await function() }
        }
    }
}

extension Trait where Self == WorkerLabTrait {
    static var workerLab: Self { Self() }
}
