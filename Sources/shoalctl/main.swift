import ArgumentParser
import DNSCore
import Supervisor

/// `shoalctl`: control client for a running shoald.
///
/// Only `--help` and `--version` work so far; running it says so and exits with status 2.
struct Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shoalctl",
        abstract: "control client for a running shoald.",
        discussion: "Not implemented yet: see the Status section of README.md.",
        version: ShoalVersion.string)

    func run() throws {
        print("shoalctl \(ShoalVersion.string): not implemented yet (see README.md, Status).")
        throw ExitCode(2)
    }
}

Command.main()
