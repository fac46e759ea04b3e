import DNSCore
import ShmCache
import Synchronization

/// Why recent bogus verdicts were bogus, by question, for the Extended DNS Error of an answer
/// read back from the cache (the segment keeps the state, ``ValidationState/bogus``, not the
/// reason). Process-local and bounded: a bogus entry written by another worker, or one whose
/// reason was forgotten, is answered with EDE 6 (DNSSEC Bogus).
final class BogusReasons: Sendable {
    private let table = Mutex<[Question: ExtendedDNSError]>([:])
    static let limit = 4096

    func remember(_ q: Question, finalName: DNSName?, _ reason: ExtendedDNSError) {
        table.withLock { t in
            if t.count >= Self.limit { t.removeAll() }
            t[Self.key(q.name, q.type)] = reason
            if let f = finalName, f != q.name { t[Self.key(f, q.type)] = reason }
        }
    }

    /// The reason for a cached bogus entry of `name`/`type`.
    func reason(_ name: DNSName, _ type: RRType) -> ExtendedDNSError {
        table.withLock { $0[Self.key(name, type)] } ?? ede(.dnssecBogus, "cached bogus verdict")
    }

    private static func key(_ n: DNSName, _ t: RRType) -> Question { Question(name: n.lowercased, type: t, qclass: .in) }
}
