/// Computes expected answers from zone data the way an authoritative server and a recursive
/// resolver would: deepest enclosing zone, exact match, CNAME, DNAME, empty non-terminal,
/// wildcard (RFC 4592), else NXDOMAIN.
struct AnswerOracle {
    /// One zone's data indexed by owner, plus every name that exists (including empty
    /// non-terminals) for NODATA-versus-NXDOMAIN and the closest encloser.
    private struct Indexed {
        var zone: LabZone
        var byOwner: [String: [LabRecord]] = [:]
        var existing: Set<String> = []
    }

    private var zones: [String: Indexed] = [:]

    /// Longest CNAME/DNAME chain followed before giving up (the lab has none this long).
    private let maxSteps = 16

    init(zones: [LabZone]) {
        for z in zones {
            var ix = Indexed(zone: z)
            for r in z.records {
                ix.byOwner[r.owner, default: []].append(r)
                var name = r.owner
                while ix.existing.insert(name).inserted, name != z.origin, let up = Self.parent(name) {
                    name = up
                }
            }
            self.zones[z.origin] = ix
        }
    }

    func answers(for questions: [LabQuestion]) -> [ExpectedAnswer] {
        questions.map { answer($0.name, $0.type) }
    }

    func answer(_ qname: String, _ qtype: String) -> ExpectedAnswer {
        var answer: [LabRecord] = []
        var status = ExpectedAnswer.DNSSECStatus.secure
        var features: Set<String> = []
        var touched: [String] = []
        var firstKind: ExpectedAnswer.Kind?
        var rcode = "NOERROR"
        var name = qname

        func note(_ z: Indexed, _ s: ExpectedAnswer.DNSSECStatus) {
            status = max(status, s)
            if !touched.contains(z.zone.origin) { touched.append(z.zone.origin) }
            features.formUnion(z.zone.features)
        }

        steps: for _ in 0..<maxSteps {
            let z = enclosingZone(name)
            if let rrs = z.byOwner[name] {
                let match = rrs.filter { $0.type == qtype }
                if !match.isEmpty {
                    firstKind = firstKind ?? .answer
                    answer += match
                    note(z, recordStatus(z.zone, owner: name, type: qtype))
                    break steps
                }
                if let cname = rrs.first(where: { $0.type == "CNAME" }) {
                    firstKind = firstKind ?? .cname
                    answer.append(cname)
                    features.insert("cname")
                    note(z, recordStatus(z.zone, owner: name, type: "CNAME"))
                    name = cname.rdata
                    continue steps
                }
                firstKind = firstKind ?? .nodata
                note(z, zoneStatus(z.zone.origin))
                break steps
            }
            if let dname = dnameAbove(name, in: z) {
                firstKind = firstKind ?? .dname
                let target = String(name.dropLast(dname.owner.count)) + dname.rdata
                answer.append(dname)
                answer.append(LabRecord(name, dname.ttl, "CNAME", target))
                features.insert("dname")
                note(z, recordStatus(z.zone, owner: dname.owner, type: "DNAME"))
                name = target
                continue steps
            }
            if z.existing.contains(name) {
                firstKind = firstKind ?? .nodata
                features.insert("ent")
                note(z, zoneStatus(z.zone.origin))
                break steps
            }
            let wildcard = "*." + closestEncloser(name, in: z)
            if let rrs = z.byOwner[wildcard] {
                features.insert("wildcard")
                let match = rrs.filter { $0.type == qtype }
                firstKind = firstKind ?? (match.isEmpty ? .nodata : .wildcard)
                answer += match.map { LabRecord(name, $0.ttl, $0.type, $0.rdata) }
                note(z, match.isEmpty ? zoneStatus(z.zone.origin) : recordStatus(z.zone, owner: wildcard, type: qtype))
                break steps
            }
            firstKind = firstKind ?? .nxdomain
            rcode = "NXDOMAIN"
            note(z, zoneStatus(z.zone.origin))
            break steps
        }
        if touched.count > 1 { features.insert("cross-zone") }
        if estimatedWireSize(answer) > 512 { features.insert("large") }
        return ExpectedAnswer(qname: qname, qtype: qtype, rcode: rcode, dnssec: status,
                              answer: answer.map(\.presentation), zone: enclosingZone(qname).zone.origin,
                              kind: firstKind ?? .nxdomain, features: features.sorted())
    }

    // MARK: DNSSEC status

    /// Walks the delegation path from the root: the first unsigned zone makes everything below
    /// insecure, the first zone whose own keys cannot be validated makes it bogus.
    private func zoneStatus(_ origin: String) -> ExpectedAnswer.DNSSECStatus {
        var path: [String] = []
        var name: String? = origin
        while let n = name {
            if zones[n] != nil { path.append(n) }
            name = Self.parent(n)
        }
        for n in path.reversed() {
            guard let signing = zones[n]!.zone.signing else { return .insecure }
            switch signing.fault {
            case .expiredSignatures?, .dsMatchesNoKey?: return .bogus
            default: continue
            }
        }
        return .secure
    }

    /// Status of one RRset: its zone's status, or bogus when it is the RRset with the corrupted
    /// signature.
    private func recordStatus(_ zone: LabZone, owner: String, type: String) -> ExpectedAnswer.DNSSECStatus {
        let s = zoneStatus(zone.origin)
        if s == .secure, case let .corruptSignature(o, t)? = zone.signing?.fault, o == owner, t == type {
            return .bogus
        }
        return s
    }

    // MARK: Name lookups

    private func enclosingZone(_ name: String) -> Indexed {
        var n: String? = name
        while let current = n {
            if let z = zones[current] { return z }
            n = Self.parent(current)
        }
        return zones["."]!
    }

    /// A DNAME owned by a strict ancestor of `name` inside the zone.
    private func dnameAbove(_ name: String, in z: Indexed) -> LabRecord? {
        var n = Self.parent(name)
        while let current = n, current.count >= z.zone.origin.count {
            if let d = z.byOwner[current]?.first(where: { $0.type == "DNAME" }) { return d }
            if current == z.zone.origin { break }
            n = Self.parent(current)
        }
        return nil
    }

    private func closestEncloser(_ name: String, in z: Indexed) -> String {
        var n = Self.parent(name)
        while let current = n {
            if z.existing.contains(current) || current == z.zone.origin { return current }
            n = Self.parent(current)
        }
        return z.zone.origin
    }

    /// `www.foo.lab.` → `foo.lab.` → `lab.` → `.` → nil.
    static func parent(_ name: String) -> String? {
        guard name != "." else { return nil }
        guard let dot = name.firstIndex(of: ".") else { return nil }
        let rest = name[name.index(after: dot)...]
        return rest.isEmpty ? "." : String(rest)
    }

    /// Rough size of a response carrying `records` in its answer section, with compression.
    private func estimatedWireSize(_ records: [LabRecord]) -> Int {
        var size = 12 + 64
        for r in records {
            size += 2 + 10
            switch r.type {
            case "A": size += 4
            case "AAAA": size += 16
            case "TXT":
                // Each quoted string: its characters plus a length byte.
                size += r.rdata.split(separator: "\"", omittingEmptySubsequences: true)
                    .filter { !$0.allSatisfy { $0 == " " } }.reduce(0) { $0 + $1.count + 1 }
            default: size += r.rdata.count + 2
            }
        }
        return size
    }
}
