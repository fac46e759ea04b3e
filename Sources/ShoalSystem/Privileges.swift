import CCap
import CNuma
import CShoalShims
#if canImport(Glibc)
import Glibc
#endif

/// A Linux capability number (an open struct: any number the kernel knows).
public struct Capability: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    /// Binding ports below 1024: what shoald keeps, to bind a new listen address on reload.
    public static let netBindService = Capability(rawValue: 10)
    public static let setpcap = Capability(rawValue: 8)
    public var description: String { rawValue == 10 ? "CAP_NET_BIND_SERVICE" : "cap\(rawValue)" }
}

/// The user and groups to run as.
public struct Account: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public var uid: uid_t
    public var gid: gid_t

    public init(name: String, uid: uid_t, gid: gid_t) { self.name = name; self.uid = uid; self.gid = gid }

    /// Looks up `user` (and `group`, else the user's primary group) in the system databases.
    public static func lookup(user: String, group: String? = nil) throws(PrivilegeError) -> Account {
        guard let pw = getpwnam(user) else { throw PrivilegeError("user \"\(user)\" does not exist") }
        var gid = pw.pointee.pw_gid
        if let group {
            guard let gr = getgrnam(group) else { throw PrivilegeError("group \"\(group)\" does not exist") }
            gid = gr.pointee.gr_gid
        }
        return Account(name: user, uid: pw.pointee.pw_uid, gid: gid)
    }

    public var description: String { "\(name) (uid \(uid), gid \(gid))" }
}

/// A privilege change that failed, with the step and errno.
public struct PrivilegeError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
    static func sys(_ step: String) -> PrivilegeError {
        let e = errno
        return PrivilegeError("\(step): \(String(cString: strerror(e))) (errno \(e))")
    }
}

/// What /proc says of a process's (or thread's) privileges.
public struct PrivilegeStatus: Hashable, Sendable, CustomStringConvertible {
    public var uids: [UInt32] = []        // real, effective, saved, filesystem
    public var gids: [UInt32] = []
    public var groups: [UInt32] = []
    public var effective: UInt64 = 0, permitted: UInt64 = 0, inheritable: UInt64 = 0
    public var bounding: UInt64 = 0, ambient: UInt64 = 0
    public var noNewPrivs = false

    /// Parses the text of /proc/PID/status or /proc/PID/task/TID/status.
    public init(statusText: String) {
        for line in statusText.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let v = parts[1].trimmingWhitespace
            switch parts[0] {
            case "Uid": uids = v.split(whereSeparator: \.isWhitespace).compactMap { UInt32($0) }
            case "Gid": gids = v.split(whereSeparator: \.isWhitespace).compactMap { UInt32($0) }
            case "Groups": groups = v.split(whereSeparator: \.isWhitespace).compactMap { UInt32($0) }
            case "CapEff": effective = UInt64(v, radix: 16) ?? 0
            case "CapPrm": permitted = UInt64(v, radix: 16) ?? 0
            case "CapInh": inheritable = UInt64(v, radix: 16) ?? 0
            case "CapBnd": bounding = UInt64(v, radix: 16) ?? 0
            case "CapAmb": ambient = UInt64(v, radix: 16) ?? 0
            case "NoNewPrivs": noNewPrivs = v == "1"
            default: break
            }
        }
    }

    /// The status of `/proc/<pid>[/task/<tid>]/status`, or nil when it cannot be read.
    public static func read(pid: Int32, tid: Int32? = nil) -> PrivilegeStatus? {
        let path = tid.map { "/proc/\(pid)/task/\($0)/status" } ?? "/proc/\(pid)/status"
        return KernelFiles.read(path).flatMap { $0.isEmpty ? nil : PrivilegeStatus(statusText: $0) }
    }

    public static func mask(_ caps: [Capability]) -> UInt64 { caps.reduce(0) { $0 | 1 << UInt64($1.rawValue) } }

    public var description: String {
        func hex(_ v: UInt64) -> String { String(v, radix: 16) }
        return "uid \(uids) gid \(gids) groups \(groups) CapEff \(hex(effective)) CapPrm \(hex(permitted)) "
            + "CapInh \(hex(inheritable)) CapBnd \(hex(bounding)) CapAmb \(hex(ambient)) NoNewPrivs \(noNewPrivs ? 1 : 0)"
    }
}

extension Substring {
    var trimmingWhitespace: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

/// Dropping privileges, in the order the kernel requires (DESIGN.md, "Dropping privileges").
/// Capabilities and keep-caps are per thread: this must run while the process has one thread,
/// before NIO, Dispatch or libnats start theirs; it checks and refuses otherwise.
public enum Privileges {
    /// Threads of this process (entries of /proc/self/task).
    public static func threadCount() -> Int {
        KernelFiles.list("/proc/self/task").count
    }

    /// Reduces this process to `account` (nil: stay the same user) with only `keep` in its
    /// permitted and effective sets, nothing inheritable or ambient, the bounding set cut to
    /// `keep` where permitted (it needs CAP_SETPCAP, which an unprivileged start under systemd
    /// lacks: its unit's CapabilityBoundingSet does that job there), and no_new_privs set.
    /// Children exec'ed afterwards (workers, the bridge) get no capability at all unless they
    /// run as root; they call `dropAll()` first thing to be sure. Returns the status after.
    @discardableResult
    public static func drop(to account: Account?, keeping keep: [Capability]) throws(PrivilegeError) -> PrivilegeStatus {
        let threads = threadCount()
        guard threads == 1 else {
            throw PrivilegeError("privileges must be dropped while the process has one thread (it has \(threads))")
        }
        // 1. The bounding set: every capability not kept, so nothing can come back through
        //    exec of a setuid or file-capability binary either.
        let last = Int32(KernelFiles.read("/proc/sys/kernel/cap_last_cap").flatMap {
            Int($0.filter(\.isNumber))
        } ?? 40)
        if cap_get_bound(Capability.setpcap.rawValue) == 1 && hasEffective(.setpcap) {
            for c in 0...last where !keep.contains(Capability(rawValue: c)) {
                if cap_drop_bound(cap_value_t(c)) != 0 && errno != EINVAL { throw .sys("cap_drop_bound(\(c))") }
            }
        }
        if let account, account.uid != getuid() || account.gid != getgid() {
            // 2. Keep the permitted set across the uid change, then change groups and ids.
            guard cshoal_set_keepcaps(1) == 0 else { throw .sys("prctl(PR_SET_KEEPCAPS)") }
            var groups = [account.gid]
            guard setgroups(1, &groups) == 0 else { throw .sys("setgroups([\(account.gid)])") }
            guard cshoal_setresgid(account.gid, account.gid, account.gid) == 0 else { throw .sys("setresgid(\(account.gid))") }
            guard cshoal_setresuid(account.uid, account.uid, account.uid) == 0 else { throw .sys("setresuid(\(account.uid))") }
            guard cshoal_set_keepcaps(0) == 0 else { throw .sys("prctl(PR_SET_KEEPCAPS, 0)") }
        }
        // 3. Exactly `keep`, permitted and effective; nothing inheritable.
        try setProcessCapabilities(keep)
        // 4. No ambient capability (they would pass to children across exec).
        if cap_reset_ambient() != 0 && errno != EINVAL { throw .sys("cap_reset_ambient") }
        // 5. Nothing gained through exec from here on.
        guard cshoal_set_no_new_privs() == 0 else { throw .sys("prctl(PR_SET_NO_NEW_PRIVS)") }
        guard let after = PrivilegeStatus.read(pid: getpid()) else { throw PrivilegeError("/proc/self/status: cannot be read") }
        let want = PrivilegeStatus.mask(keep)
        guard after.effective == want, after.permitted == want, after.ambient == 0, after.noNewPrivs,
              account.map({ a in after.uids.allSatisfy { $0 == a.uid } && after.gids.allSatisfy { $0 == a.gid } }) ?? true
        else { throw PrivilegeError("privileges not as intended after the drop: \(after)") }
        return after
    }

    /// Drops every capability this process holds (workers and the bridge: they need none) and
    /// sets no_new_privs. Allowed to any process; must run before threads start.
    @discardableResult
    public static func dropAll() throws(PrivilegeError) -> PrivilegeStatus {
        try drop(to: nil, keeping: [])
    }

    static func hasEffective(_ c: Capability) -> Bool {
        (PrivilegeStatus.read(pid: getpid())?.effective ?? 0) & PrivilegeStatus.mask([c]) != 0
    }

    static func setProcessCapabilities(_ keep: [Capability]) throws(PrivilegeError) {
        guard let caps = cap_init() else { throw .sys("cap_init") }
        defer { cap_free(UnsafeMutableRawPointer(caps)) }
        if !keep.isEmpty {
            var values = keep.map { cap_value_t($0.rawValue) }
            for flag in [CAP_PERMITTED, CAP_EFFECTIVE] {
                guard cap_set_flag(caps, flag, Int32(values.count), &values, CAP_SET) == 0 else { throw .sys("cap_set_flag") }
            }
        }
        guard cap_set_proc(caps) == 0 else { throw .sys("cap_set_proc(\(keep))") }
    }
}

/// Where this process runs: CPU affinity and NUMA memory policy, set before threads start so
/// that every thread inherits them.
public enum ProcessPlacement {
    /// Pins the calling thread (and the threads it starts from now on) to `cpu`.
    public static func pin(cpu: Int) throws(SystemCallError) {
        _ = try sysCall("sched_setaffinity", "cpu \(cpu)") { cshoal_pin_to_cpu(Int32(cpu)) }
    }

    /// Prefers memory of NUMA node `node` for this process's allocations (libnuma). Returns
    /// false where NUMA is unavailable (nothing to do).
    @discardableResult
    public static func preferMemory(ofNode node: Int) -> Bool {
        guard numa_available() >= 0 else { return false }
        numa_set_preferred(Int32(node))
        return true
    }

    /// The CPUs this thread may run on (`Cpus_allowed_list`).
    public static func allowedCPUs(pid: Int32, tid: Int32? = nil) -> String? {
        let path = tid.map { "/proc/\(pid)/task/\($0)/status" } ?? "/proc/\(pid)/status"
        return KernelFiles.read(path)?.split(separator: "\n")
            .first { $0.hasPrefix("Cpus_allowed_list:") }
            .map { String($0.dropFirst("Cpus_allowed_list:".count)).filter { !$0.isWhitespace } }
    }
}
