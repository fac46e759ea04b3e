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
