import CShoalShims
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Starting a child program with exactly the descriptors it should have.
///
/// posix_spawn, never fork without exec: a Swift process with threads may only exec in a
/// forked child (DESIGN.md, platform notes). The child gets stdin, stdout and stderr, then
/// `descriptors` as 3, 4, … in order, and nothing else: every other descriptor is closed in
/// the child whatever its close-on-exec flag. Its signal mask is empty and every signal has
/// its default action.
public enum Spawn {
    /// Starts `executable` with `arguments` (argv[1...]) and `environment`; returns its pid.
    /// With `output`, the child's standard output and error are that descriptor (then none of
    /// `descriptors` may be 1 or 2).
    public static func start(_ executable: String, arguments: [String], descriptors: [Int32],
                             environment: [String], output: Int32? = nil) throws(SystemCallError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let output {
            for target: Int32 in [1, 2] {
                try sysCallReturningError("posix_spawn_file_actions_adddup2", "fd \(output)") {
                    posix_spawn_file_actions_adddup2(&actions, output, target)
                }
            }
        }
        // Two steps, so that a source that is also a target number is never overwritten before
        // it is copied: first above every source and target, then into place.
        let n = Int32(descriptors.count)
        let parking = max(descriptors.max() ?? 0, 2 + n) + 1
        for (i, fd) in descriptors.enumerated() {
            try sysCallReturningError("posix_spawn_file_actions_adddup2", "fd \(fd)") {
                posix_spawn_file_actions_adddup2(&actions, fd, parking + Int32(i))
            }
        }
        for i in 0..<n {
            try sysCallReturningError("posix_spawn_file_actions_adddup2", "fd \(parking + i)") {
                posix_spawn_file_actions_adddup2(&actions, parking + i, 3 + i)
            }
        }
        try sysCallReturningError("posix_spawn_file_actions_addclosefrom_np", "from \(3 + n)") {
            cshoal_spawn_addclosefrom(&actions, 3 + n)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let envp = environment.map { strdup($0) } + [nil]
        defer { for p in envp { free(p) } }
        var pid: pid_t = 0
        try sysCallReturningError("posix_spawn", executable) {
            posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        }
        return pid
    }
}

/// How a child ended, from a `waitpid` status.
public enum ExitStatus: Hashable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    public init(waitStatus s: Int32) {
        if s & 0x7F == 0 { self = .exited((s >> 8) & 0xFF) } else { self = .signaled(s & 0x7F) }
    }

    /// As a shell reports it: the exit status, or 128 + the signal.
    public var code: Int32 {
        switch self {
        case let .exited(c): c
        case let .signaled(s): 128 + s
        }
    }

    public var description: String {
        switch self {
        case let .exited(c): "exit status \(c)"
        case let .signaled(s): "signal \(s) (\(String(cString: strsignal(s))))"
        }
    }
}
