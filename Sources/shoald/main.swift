import ArgumentParser
import DNSCore
import Supervisor

/// `shoald`: the Shoal supervisor: configuration, sockets, privileges, workers, control socket.
///
/// Only `--help` and `--version` work so far; running it says so and exits with status 2.
struct Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shoald",
        abstract: "the Shoal supervisor: configuration, sockets, privileges, workers, control socket.",
        discussion: "Not implemented yet: see the Status section of README.md.",
        version: ShoalVersion.string)

    func run() throws {
        print("shoald \(ShoalVersion.string): not implemented yet (see README.md, Status).")
        throw ExitCode(2)
    }
}

Command.main()
