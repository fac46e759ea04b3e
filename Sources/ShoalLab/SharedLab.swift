/// One running lab per directory for the whole process, shared by every test suite that asks.
///
/// swift-testing runs suites (of every test target) in parallel in one process; each would
/// otherwise start and stop the same servers under the others' feet. The first `acquire`
/// starts the lab, later ones get the same `Lab`, and the last `release` stops it.
public actor SharedLab {
    public static let shared = SharedLab()

    private var starts: [String: Task<Lab, any Error>] = [:]
    private var users: [String: Int] = [:]

    /// The running lab for `config.directory`, started if needed. Throws
    /// `LabError.invalidConfig` when this process already runs a different configuration there.
    public func acquire(_ config: LabConfig) async throws -> Lab {
        let key = config.directory
        let start = starts[key] ?? Task { try await Lab.startDetached(config) }
        starts[key] = start
        users[key, default: 0] += 1
        do {
            let lab = try await start.value
            guard lab.config == config else {
                throw LabError.invalidConfig(field: "directory",
                                             reason: "\(key) already serves a lab with another configuration in this process")
            }
            return lab
        } catch {
            await release(directory: key, lab: nil)
            throw error
        }
    }

    /// Gives back a lab from `acquire`; the last user stops it.
    public func release(_ lab: Lab) async {
        await release(directory: lab.config.directory, lab: lab)
    }

    private func release(directory: String, lab: Lab?) async {
        users[directory, default: 1] -= 1
        guard users[directory] == 0 else { return }
        users[directory] = nil
        let start = starts.removeValue(forKey: directory)
        var running = lab
        if running == nil, let start { running = try? await start.value }
        try? running?.stop()
    }
}

/// Runs `body` with the process-wide shared lab for `config` (see `SharedLab`).
public func withSharedLab<T>(_ config: LabConfig = .testing, _ body: (Lab) async throws -> T) async throws -> T {
    let lab = try await SharedLab.shared.acquire(config)
    do {
        let result = try await body(lab)
        await SharedLab.shared.release(lab)
        return result
    } catch {
        await SharedLab.shared.release(lab)
        throw error
    }
}
