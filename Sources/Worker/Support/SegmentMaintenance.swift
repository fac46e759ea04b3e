import Logging
import ShmCache
import ShoalSystem

/// The worker's periodic housekeeping of the shared segment: reclaims slots that dead writers
/// left claimed (a bounded walk per tick, so a tick costs microseconds whatever the segment's
/// size) and notices when the segment it serves from has been replaced.
public struct SegmentMaintenance: Sendable {
    public let segment: SharedSegment
    /// Slot words looked at per tick: the whole 64 MiB default segment (about 420 k slots) is
    /// covered in under a minute at one tick a second.
    public let budget: Int
    /// The worker's statistics slot, where each tick writes the heartbeat shoald checks.
    let heartbeat: WorkerStatistics?
    let logger: Logger

    public init(segment: SharedSegment, budget: Int = 8192, heartbeat: WorkerStatistics? = nil, logger: Logger) {
        self.segment = segment
        self.budget = budget
        self.heartbeat = heartbeat
        self.logger = logger
        beat()
        // Created once the worker listens: its slot's replacement may proceed.
        heartbeat?.set(.readyPID, UInt64(ProcessIdentity.current.pid))
    }

    func beat() { heartbeat?.set(.heartbeat, UInt64(Clock.bootSeconds())) }

    /// What the worker should do after a tick.
    public enum Verdict: Equatable, Sendable {
        case carryOn(reclaimed: Int)
        /// The segment was retired or replaced: stop serving from it (the worker exits with
        /// `exitCode` so its supervisor starts a replacement on the current segment).
        case segmentReplaced(String)
    }

    /// Exit status of a worker whose segment was replaced (EX_TEMPFAIL: restart me).
    public static let exitCode: Int32 = 75

    public func tick() -> Verdict {
        beat()
        if let why = segment.replacedReason() { return .segmentReplaced(why) }
        let n = segment.reclaimStale(budget: budget)
        if n > 0 {
            logger.notice("reclaimed \(n) cache slot(s) left half-written by a dead process (\(segment.reclaimedSlots) in all)")
        }
        return .carryOn(reclaimed: n)
    }
}
