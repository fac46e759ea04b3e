import ArgumentParser
import DNSCore
import ShmCache
import Supervisor

/// `shoalctl`: control client. What needs no daemon works now: reading a shared segment's
/// statistics and caches (the segment is the state; shoald is not needed to read it). Commands
/// that talk to shoald (restarting workers, reloading) come with the supervisor.
struct Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shoalctl",
        abstract: "Control client for Shoal: reads a shared segment's statistics and caches.",
        discussion: """
            stats and dump-cache attach the segment /shoal.NAME read-only in effect (they write \
            nothing) and work whether or not workers are running. Commands that talk to shoald \
            are not implemented yet: see the Status section of README.md.
            """,
        version: ShoalVersion.string,
        subcommands: [Stats.self, DumpCache.self])
}

struct SegmentOption: ParsableArguments {
    @Option(name: .customLong("segment"), help: "Instance name of the shared segment (/shoal.NAME). Default \"default\".")
    var segment = "default"

    func attach() throws -> SharedSegment {
        do {
            return try SharedSegment.attach(name: SegmentName.forInstance(segment))
        } catch {
            throw SegmentError(description: "segment /shoal.\(segment): \(error)")
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

Command.main()
