import DNSCore

/// Whole-table operations every cache table offers the same way.
extension SlotTable {
    /// Removes every entry whose key holds, from byte `nameOffset` on, a name at or below
    /// `name` (a full scan). Returns how many.
    func removeSubtree(nameOffset: Int, at name: DNSName) -> Int {
        let target = name.wire.map(lowerByte)
        var n = 0
        scan { snap in
            guard snap.key.count > nameOffset, nameIsAtOrBelow(snap.key, from: nameOffset, target) else { return .keep }
            n += 1
            return .remove
        }
        return n
    }

    /// Removes every entry whose key holds, from byte `nameOffset` on, exactly `name` (with
    /// `subtree`, also every name below it). Returns how many.
    func removeNames(nameOffset: Int, at name: DNSName, subtree: Bool) -> Int {
        if subtree { return removeSubtree(nameOffset: nameOffset, at: name) }
        let target = name.wire.map(lowerByte)
        var n = 0
        scan { snap in
            guard snap.key.count == nameOffset + target.count, Array(snap.key[nameOffset...]) == target else { return .keep }
            n += 1
            return .remove
        }
        return n
    }

    /// Entries and how many of them have expired at `now` (a full scan).
    func count(now: UInt32) -> (entries: Int, expired: Int) {
        var n = 0, e = 0
        scan { snap in
            n += 1
            if snap.expiry <= now { e += 1 }
            return .keep
        }
        return (n, e)
    }
}
