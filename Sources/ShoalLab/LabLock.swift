import Foundation
import Glibc

/// An exclusive `flock` on `<lab>/lab.lock`, held while a `Lab` of this process uses the
/// directory, so two test runs sharing a directory take turns instead of killing each other's
/// servers. The kernel drops it when the holder dies, so a crash never leaves it stuck.
final class LabLock: Sendable {
    private let fd: Int32

    /// Waits up to `timeout` seconds for the lock; `progress` hears once that it is waiting.
    init(directory: String, timeout: Double, progress: (String) -> Void) throws {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = "\(directory)/lab.lock"
        // Close-on-exec: an nsd inheriting this descriptor would hold the lock forever.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw LabError.io(path: path, reason: "cannot open lock file: \(String(cString: strerror(errno)))")
        }
        let deadline = Date().addingTimeInterval(timeout)
        var told = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            guard errno == EWOULDBLOCK || errno == EINTR, Date() < deadline else {
                close(fd)
                throw LabError.busy(directory: directory, holder: holder)
            }
            if !told { progress("waiting for \(path), held by pid \(holder)"); told = true }
            usleep(100_000)
        }
        _ = ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
        self.fd = fd
    }

    deinit { close(fd) }
}
