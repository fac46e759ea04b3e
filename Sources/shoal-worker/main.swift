import ArgumentParser
import DNSCore
import Worker

/// `shoal-worker`: one Shoal resolver worker process.
///
/// Only `--help` and `--version` work so far; running it says so and exits with status 2.
struct Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shoal-worker",
        abstract: "one Shoal resolver worker process.",
        discussion: "Not implemented yet: see the Status section of README.md.",
        version: ShoalVersion.string)

    func run() throws {
        print("shoal-worker \(ShoalVersion.string): not implemented yet (see README.md, Status).")
        throw ExitCode(2)
    }
}

Command.main()
