/// A set of CPU (or NUMA node) numbers in the kernel's list format, `0-3,8,10-11`, as
/// `/sys/devices/system/node/*/cpulist`, cpusets and `taskset -c` write it.
public struct CPUList: Hashable, Sendable, CustomStringConvertible {
    /// The numbers, ascending, without duplicates.
    public private(set) var members: [Int]

    public init<S: Sequence>(_ numbers: S) where S.Element == Int {
        members = Array(Set(numbers)).sorted()
    }

    /// Parses the list format; whitespace and a trailing newline are ignored, an empty string
    /// is the empty set.
    public init(parsing text: String) throws(CPUListError) {
        var out: [Int] = []
        let trimmed = text.filter { !$0.isWhitespace }
        guard !trimmed.isEmpty else { members = []; return }
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), let lo = Int(bounds[0]), lo >= 0,
                  let hi = bounds.count == 2 ? Int(bounds[1]) : lo, hi >= lo, hi < 1 << 16 else {
                throw CPUListError(text: text, part: String(part))
            }
            out.append(contentsOf: lo...hi)
        }
        members = Array(Set(out)).sorted()
    }

    public var isEmpty: Bool { members.isEmpty }
    public var count: Int { members.count }
    public func contains(_ n: Int) -> Bool { members.contains(n) }
    public func intersection(_ o: CPUList) -> CPUList { CPUList(members.filter(o.contains)) }

    /// The list format, ranges folded: `0-3,8`.
    public var description: String {
        var parts: [String] = []
        var i = 0
        while i < members.count {
            var j = i
            while j + 1 < members.count && members[j + 1] == members[j] + 1 { j += 1 }
            parts.append(j == i ? "\(members[i])" : "\(members[i])-\(members[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }
}

/// A CPU list that does not parse, with the part that does not.
public struct CPUListError: Error, Hashable, Sendable, CustomStringConvertible {
    public var text: String
    public var part: String
    public var description: String { "\"\(text)\" is not a CPU list (at \"\(part)\"; expected e.g. 0-3,8,10-11)" }
}
