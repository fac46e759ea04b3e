import DNSCore

extension SharedSegment {
    /// A text dump of one table for operators, one entry per line, close to
    /// `rec_control dump-cache`: owner, TTL left, class, type, data, then `;` and the validation
    /// state, rank, origin and hit count. Expired entries are marked `(stale)`.
    public func dump(table: TableID, now: UInt32 = shmNow()) -> String {
        var out: [String] = []
        switch table {
        case .records:
            out.append("; record cache: \(records.capacity) slots")
            records.forEach(now: now) { e in
                let meta = "; \(e.validation) rank=\(e.rank) origin=\(e.origin) hits=\(e.hits)\(e.isStale ? " (stale)" : "")"
                let rdata = e.rdata
                if rdata.isEmpty { out.append("\(e.name.presentation) \(e.ttl) \(e.rrclass) \(e.type) ; empty \(meta)") }
                for d in rdata {
                    out.append("\(e.name.presentation) \(e.ttl) \(e.rrclass) \(e.type) \(present(d, e.type)) \(meta)")
                }
                for s in e.signatures {
                    out.append("\(e.name.presentation) \(e.ttl) \(e.rrclass) RRSIG \(present(s, .rrsig)) \(meta)")
                }
                return true
            }
        case .negative:
            out.append("; negative cache: \(negative.capacity) slots")
            negative.forEach(now: now) { e in
                let what = e.kind == .nxDomain ? "NXDOMAIN" : "NODATA \(e.type)"
                var soa = ""
                if let rrs = try? e.records(), let s = rrs.first {
                    soa = " SOA \(s.name.presentation) \(s.rdata.presentation(type: s.type)) proofs=\(rrs.count - 1)"
                }
                out.append("\(e.name.presentation) \(e.ttl) \(e.rrclass) \(what) ;\(soa) \(e.validation) origin=\(e.origin)\(e.isStale ? " (stale)" : "")")
                return true
            }
        case .packets:
            out.append("; packet cache: \(packets.capacity) slots")
            packets.forEach(now: now) { k, p in
                out.append("\(k.name.presentation) \(p.ttl) \(k.rrclass) \(k.type) ; do=\(k.dnssecOK ? 1 : 0) cd=\(k.checkingDisabled ? 1 : 0) stored=\(p.storedAt) bytes=\(p.response.count)")
                return true
            }
        case .nsSpeed:
            out.append("; ns speed: \(nsSpeed.capacity) slots")
            let ns = nsSpeed
            ns.forEach { e in
                let est = ns.policy.decayed(e.srttMicros, elapsed: now > e.lastUpdate ? now - e.lastUpdate : 0)
                let throttle = e.isThrottled(now: now) ? "\(e.throttledUntil - now)s" : "no"
                out.append("\(e.address) srtt=\(e.srttMicros)us decayed=\(est)us age=\(now > e.lastUpdate ? now - e.lastUpdate : 0)s timeouts=\(e.consecutiveTimeouts) throttled=\(throttle) edns=\(e.edns) cookie=\(e.cookie)")
                return true
            }
        default:
            out.append("; unknown table \(table)")
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// A summary of the segment (header, occupancy, journal, summed statistics).
    public func summary(now: UInt32 = shmNow()) -> String {
        var out = ["segment \(name): \(totalSize) bytes, layout v\(layoutVersion), generation \(generation), created \(createdAt)"]
        let r = records.count(now: now), n = negative.count(now: now), p = packets.count(now: now)
        out.append("records: \(r.entries)/\(records.capacity) (\(r.expired) expired)")
        out.append("negative: \(n.entries)/\(negative.capacity) (\(n.expired) expired)")
        out.append("packets: \(p.entries)/\(packets.capacity) (\(p.expired) expired)")
        out.append("ns-speed: \(nsSpeed.count())/\(nsSpeed.capacity)")
        out.append("journal: head \(journal.head), capacity \(journal.capacity), overflows \(journal.overflows), overruns \(journal.overruns), holes \(journal.holes)")
        let others = otherOwners()
        out.append("attached: \(others.isEmpty ? "no other process" : others.map(\.description).joined(separator: ", ")); reclaimed-slots=\(reclaimedSlots)")
        let s = totalStatistics()
        out.append(StatCounter.all.map { "\($0)=\(s[$0])" }.joined(separator: " "))
        return out.joined(separator: "\n") + "\n"
    }
}

/// RDATA in presentation form, or RFC 3597's `\# len hex` when it does not parse as its type.
func present(_ d: [UInt8], _ t: RRType) -> String {
    var r = WireReader(d)
    if let rd = try? RData.parse(type: t, length: d.count, from: &r) { return rd.presentation(type: t) }
    let hex = d.map { b -> String in let s = String(b, radix: 16); return s.count == 1 ? "0" + s : s }.joined()
    return "\\# \(d.count) \(hex)"
}
