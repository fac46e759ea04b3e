/// Everything that can go wrong while generating, signing, starting or stopping a lab.
///
/// Each case names the part that failed and carries the text a person needs to fix it (the
/// tool's own output, the path, the address).
public enum LabError: Error, CustomStringConvertible, Sendable {
    /// A `LabConfig` field has a value the lab cannot work with.
    case invalidConfig(field: String, reason: String)
    /// An external tool could not be launched at all (missing binary, bad working directory).
    case launchFailed(tool: String, reason: String)
    /// An external tool ran and exited unsuccessfully.
    case toolFailed(tool: String, arguments: [String], status: Int32, output: String)
    /// `nsd-checkconf` rejected the configuration written for an instance.
    case nsdConfigRejected(instance: String, path: String, output: String)
    /// An nsd instance did not start or stopped answering.
    case nsdFailed(instance: String, output: String)
    /// An nsd instance answers, but not authoritatively for one of its zones.
    case zoneNotServed(zone: String, instance: String, detail: String)
    /// The black-hole responder could not bind or did not come up.
    case blackholeFailed(address: String, reason: String)
    /// A file in the lab directory could not be read or written.
    case io(path: String, reason: String)
    /// A generated key, DS or signed zone did not have the expected form.
    case malformedToolOutput(path: String, reason: String)
    /// Another process kept the lab directory locked for longer than the wait allowed.
    case busy(directory: String, holder: String)
    /// A process from this lab directory survived SIGKILL.
    case processWouldNotDie(pid: Int32, commandLine: String)

    public var description: String {
        switch self {
        case let .invalidConfig(field, reason):
            "invalid lab configuration: \(field): \(reason)"
        case let .launchFailed(tool, reason):
            "could not launch \(tool): \(reason)"
        case let .toolFailed(tool, arguments, status, output):
            "\(tool) \(arguments.joined(separator: " ")) exited with status \(status):\n\(output)"
        case let .nsdConfigRejected(instance, path, output):
            "nsd-checkconf rejected the configuration of instance \(instance) (\(path)):\n\(output)"
        case let .nsdFailed(instance, output):
            "nsd instance \(instance) failed:\n\(output)"
        case let .zoneNotServed(zone, instance, detail):
            "nsd instance \(instance) does not serve zone \(zone): \(detail)"
        case let .blackholeFailed(address, reason):
            "black hole on \(address) failed: \(reason)"
        case let .io(path, reason):
            "\(path): \(reason)"
        case let .malformedToolOutput(path, reason):
            "\(path): unexpected content: \(reason)"
        case let .busy(directory, holder):
            "lab directory \(directory) stayed locked by pid \(holder) (another test run or lab?)"
        case let .processWouldNotDie(pid, commandLine):
            "process \(pid) (\(commandLine)) survived SIGKILL"
        }
    }
}
