import ArgumentParser
import DNSCore
import ShmCache
import ShoalSystem
import Supervisor
import Worker

/// `shoalctl`: control client. Two kinds of command: those that ask shoald over its control
/// socket (status, restarts, reload, cache wipes), and those that read or manage a shared
/// segment directly (the segment is the state; shoald is not needed to read it).
struct Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shoalctl",
        abstract: "Control client for Shoal: asks shoald, or reads a shared segment's statistics and caches.",
        discussion: """
            status, ping, restart-worker, restart-workers, reload, wipe-cache and nta talk to shoald \
            on its control socket (--control-socket PATH, or --config FILE to read it from \
            shoald's file; default /run/shoal/control). stats and dump-cache attach the segment \
            /shoal.NAME.vN (N: this build's layout version) read-only in effect (they write \
            nothing) and work whether or not workers are running; segment lists, recreates and \
            removes segments.
            """,
        version: ShoalVersion.string,
        subcommands: [Status.self, Ping.self, RestartWorker.self, RestartWorkers.self, Reload.self, WipeCache.self,
                      NTA.self, Stats.self, DumpCache.self, SegmentCommand.self])
}

struct SegmentOption: ParsableArguments {
    @Option(name: .customLong("segment"), help: "Instance name of the shared segment (/shoal.NAME.vN). Default \"default\".")
    var segment = "default"

    func attach() throws -> SharedSegment {
        do {
            return try SharedSegment.attach(name: SegmentName.forInstance(segment))
        } catch {
            throw SegmentError(description: "segment \(SegmentName.forInstance(segment)): \(error)")
        }
    }
}

/// A segment that cannot be read: said in one line, exit status 1.
struct SegmentError: Error, CustomStringConvertible {
    var description: String
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Occupancy of every table, the journal, and the statistics summed over the workers.",
        discussion: """
            Counters: queries, record-hits, negative-hits, packet-hits, misses, inserts, \
            evictions, upstream-queries, timeouts, errors, overload-drops (misses dropped \
            because a worker had max-resolutions in progress). With --per-worker, one line per \
            worker slot that counted anything.
            """)

    @OptionGroup var options: SegmentOption

    @Flag(help: "Also print each worker slot's counters.")
    var perWorker = false

    func run() throws {
        let seg = try options.attach()
        print(seg.summary(), terminator: "")
        guard perWorker else { return }
        for slot in 0..<seg.geometry.workerSlots {
            let s = seg.stats(workerSlot: slot)
            let values = StatCounter.all.map { ($0, s.value($0)) }
            guard values.contains(where: { $0.1 > 0 }) else { continue }
            print("worker \(slot): " + values.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
        }
    }
}

struct DumpCache: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump-cache",
        abstract: "One line per cache entry, close to rec_control dump-cache.",
        discussion: "Owner, TTL left, class, type, data, then after ';' the validation state, rank, origin and hits.")

    enum Table: String, ExpressibleByArgument, CaseIterable {
        case records, negative, packets, nsSpeed = "ns-speed"
        var id: TableID {
            switch self {
            case .records: .records
            case .negative: .negative
            case .packets: .packets
            case .nsSpeed: .nsSpeed
            }
        }
    }

    @OptionGroup var options: SegmentOption

    @Option(help: "Which table: records, negative, packets or ns-speed. Default records.")
    var table: Table = .records

    func run() throws {
        print(try options.attach().dump(table: table.id), terminator: "")
    }
}

struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "List, recreate or remove shared segments.",
        discussion: """
            A segment is never replaced behind the back of the processes attached to it: a \
            worker configured with another segment-size attaches the existing segment as it is \
            (and logs both sizes), and a build with another layout version uses a segment name \
            of its own. These commands are the explicit way to change a segment or clean up.
            """,
        subcommands: [SegmentList.self, SegmentRecreate.self, SegmentRemove.self])
}

struct SegmentList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Every Shoal segment in /dev/shm: name, layout version, size, generation, attached processes.")

    func run() throws {
        let names = KernelFiles.list("/dev/shm").filter { $0.hasPrefix("shoal.") }
        if names.isEmpty { print("no Shoal segment in /dev/shm") }
        for n in names {
            let name = "/" + n
            do {
                let seg = try SharedSegment.attach(name: name)
                let others = seg.otherOwners()
                print("\(name): layout v\(seg.layoutVersion), \(seg.totalSize >> 20) MiB, generation \(seg.generation), "
                      + (others.isEmpty ? "no process attached" : "attached: " + others.map(\.description).joined(separator: ", ")))
            } catch {
                print("\(name): \(error)")
            }
        }
    }
}

struct SegmentRecreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recreate",
        abstract: "Replace a segment by an empty one (the next generation), optionally of another size.",
        discussion: """
            Refuses while other processes are attached, unless --force. With --force, attached \
            workers see the old segment retired within a second and exit (status 75) so that \
            their supervisor restarts them on the new one; their cache is lost.
            """)

    @Argument(help: "Instance name (the segment is /shoal.NAME.vN).")
    var instance: String

    @Option(help: "Size of the new segment in MiB. Default: the current segment's geometry.")
    var size: Int?

    @Flag(help: "Replace it even while processes are attached.")
    var force = false

    func run() throws {
        let name = SegmentName.forInstance(instance)
        do {
            let seg = try SharedSegment.recreate(name: name, geometry: size.map { .sized(megabytes: $0) }, force: force)
            print("\(name): recreated, generation \(seg.generation), \(seg.totalSize >> 20) MiB")
        } catch {
            throw SegmentError(description: "\(error)")
        }
    }
}

struct SegmentRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a segment by its full name (as `segment list` prints it), e.g. one of an earlier layout version after an upgrade.",
        discussion: "Refuses while other processes are attached, or when this build cannot check who is (another layout version), unless --force.")

    @Argument(help: "Full segment name, e.g. /shoal.default.v1.")
    var name: String

    @Flag(help: "Remove it even while processes are attached.")
    var force = false

    func run() throws {
        let full = name.hasPrefix("/") ? name : "/" + name
        do {
            try SharedSegment.remove(name: full, force: force)
            print("\(full): removed")
        } catch {
            throw SegmentError(description: "\(error)")
        }
    }
}

/// Where shoald's control socket is: --control-socket, else the `control-socket` key of
/// --config (the file shoald reads), else /run/shoal/control.
struct ControlOptions: ParsableArguments {
    @Option(help: "Path of shoald's control socket. Default: from --config, else /run/shoal/control.")
    var controlSocket: String?

    @Option(help: "shoald's configuration file, to find the control socket in it.")
    var config: String?

    func path() throws -> String {
        if let controlSocket { return controlSocket }
        if let config {
            guard let text = KernelFiles.read(config) else { throw SegmentError(description: "\(config): cannot read the file") }
            var s = SupervisorSettings()
            try s.apply(SettingsDocument(yaml: text, file: config))
            return s.controlSocket
        }
        return SupervisorSettings().controlSocket
    }

    func send(_ r: ControlRequest) throws {
        do {
            let body = try ControlClient.send(r, to: try path())
            if !body.isEmpty { print(body, terminator: body.hasSuffix("\n") ? "" : "\n") }
        } catch let e as ControlError {
            throw SegmentError(description: "shoald: \(e)")
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "shoald's workers (slot, pid, CPU, node, uptime, restarts, queries/s), segment fill, bridge.")
    @OptionGroup var control: ControlOptions
    @Flag(help: "One JSON document instead of text.")
    var json = false
    func run() throws { try control.send(.status(json: json)) }
}

struct Ping: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check that shoald answers on its control socket.")
    @OptionGroup var control: ControlOptions
    func run() throws { try control.send(.ping) }
}

struct RestartWorker: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restart-worker",
        abstract: "Replace one worker hot: the new one starts on the slot's sockets, then the old one drains. No query is lost.")
    @OptionGroup var control: ControlOptions
    @Argument(help: "Worker slot (see status).")
    var slot: Int
    func run() throws { try control.send(.restartWorker(slot)) }
}

struct RestartWorkers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restart-workers",
        abstract: "Replace every worker hot, one after the other (e.g. after installing a new shoal-worker).")
    @OptionGroup var control: ControlOptions
    func run() throws { try control.send(.restartWorkers) }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-read shoald's configuration file: a valid one replaces the workers one by one; a bad one changes nothing.")
    @OptionGroup var control: ControlOptions
    func run() throws { try control.send(.reload) }
}

struct WipeCache: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wipe-cache",
        abstract: "Remove a name from the record, negative and packet caches (with --subtree, every name below it too).")
    @OptionGroup var control: ControlOptions
    @Argument(help: "Domain name.")
    var name: String
    @Flag(help: "Also every name below it.")
    var subtree = false
    func run() throws { try control.send(.wipeCache(name: name, subtree: subtree)) }
}

struct NTA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nta",
        abstract: "Negative trust anchors (RFC 7646), kept in the segment for every worker: names at and below which nothing is validated.",
        subcommands: [NTAAdd.self, NTARemove.self, NTAList.self])
}

struct NTAAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Stop validating at and below NAME (its answers become insecure); wipes NAME's subtree from the caches.")
    @OptionGroup var control: ControlOptions
    @Argument(help: "Domain name.")
    var name: String
    func run() throws { try control.send(.ntaAdd(name)) }
}

struct NTARemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Validate NAME's subtree again; wipes it from the caches.")
    @OptionGroup var control: ControlOptions
    @Argument(help: "Domain name.")
    var name: String
    func run() throws { try control.send(.ntaRemove(name)) }
}

struct NTAList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "The negative trust anchors added at run time (those of the configuration file are per worker: see its negative-trust-anchors).")
    @OptionGroup var control: ControlOptions
    func run() throws { try control.send(.ntaList) }
}

Command.main()
