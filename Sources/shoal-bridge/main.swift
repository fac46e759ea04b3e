import ArgumentParser
import DNSCore
import MeshBridge

/// `shoal-bridge`: syncs the shared cache with other Shoal instances over NATS.
///
/// Only `--help` and `--version` work so far; running it says so and exits with status 2.
struct Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shoal-bridge",
        abstract: "syncs the shared cache with other Shoal instances over NATS.",
        discussion: "Not implemented yet: see the Status section of README.md.",
        version: ShoalVersion.string)

    func run() throws {
        print("shoal-bridge \(ShoalVersion.string): not implemented yet (see README.md, Status).")
        throw ExitCode(2)
    }
}

Command.main()
