import CShoalShims
import ShoalSystem
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// shoald's control socket: a Unix stream socket (mode 0660) whose clients each send one
/// request line and get one reply. Served from shoald's single thread without ever blocking
/// it: every socket is non-blocking, a client that is slow, oversized, malformed or of the
/// wrong uid gets an error line (when it can take one) and is closed, and shoald goes on.
public final class ControlServer {
    /// One connected client.
    public final class Client {
        let socket: OwnedDescriptor
        let uid: uid_t
        let since: Double
        var buffer: [UInt8] = []
        /// A request is being served (a hot replace): no more reading, no timeout.
        var awaiting = false

        init(socket: consuming OwnedDescriptor, uid: uid_t, since: Double) {
            self.socket = socket; self.uid = uid; self.since = since
        }
    }

    public let path: String
    let listener: OwnedDescriptor
    /// uids allowed to send requests: root and shoald's own.
    let allowed: Set<uid_t>
    private var clients: [Int32: Client] = [:]
    /// Requests refused or malformed, for status and tests.
    public private(set) var rejected = 0

    /// Binds `path` (its directory must exist), mode 0660, owned by `owner` when given. A
    /// stale socket file is replaced; one a live shoald answers on is an error.
    public init(path: String, owner: (uid: uid_t, gid: gid_t)?) throws(SystemCallError) {
        self.path = path
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            throw SystemCallError(call: "control socket", errno: Errno(rawValue: ENAMETOOLONG), detail: path)
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
            p[bytes.count] = 0
        }
        let len = socklen_t(MemoryLayout<sockaddr_un>.size)
        // Someone answering there already?
        let probe = try OwnedDescriptor.socket(family: AF_UNIX, type: Int32(SOCK_STREAM.rawValue), path)
        let live = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(probe.rawValue, $0, len) == 0 }
        }
        if live {
            throw SystemCallError(call: "control socket", errno: .addressInUse, detail: "\(path): a running shoald answers there")
        }
        unlink(path)
        let s = try OwnedDescriptor.socket(family: AF_UNIX, type: Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), path)
        let old = umask(0o117)
        defer { umask(old) }
        var bindError: SystemCallError? = nil
        withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                do throws(SystemCallError) { try s.descriptor.bind(sa, len, path) } catch { bindError = error }
            }
        }
        if let bindError { throw bindError }
        let fd = s.rawValue
        _ = try sysCall("listen", path) { Glibc.listen(fd, 16) }
        if let owner { _ = try sysCall("chown", path) { chown(path, owner.uid, owner.gid) } }
        _ = try sysCall("chmod", path) { chmod(path, 0o660) }
        listener = s
        allowed = [0, geteuid(), owner?.uid].reduce(into: Set<uid_t>()) { if let u = $1 { $0.insert(u) } }
    }

    deinit { unlink(path) }

    /// Descriptors to poll for reading: the listener, and clients still sending.
    public var pollDescriptors: [Int32] {
        [listener.rawValue] + clients.values.filter { !$0.awaiting }.map { $0.socket.rawValue }
    }

    /// Handles readiness of `fd`; returns the requests that became complete, with their client
    /// (answer them with ``reply(_:_:)``). Errors are answered here.
    public func readable(_ fd: Int32, now: Double) -> [(Client, ControlRequest)] {
        if fd == listener.rawValue {
            acceptAll(now: now)
            return []
        }
        guard let c = clients[fd], !c.awaiting else { return [] }
        var chunk = [UInt8](repeating: 0, count: 512)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n > 0 {
                c.buffer += chunk[0..<n]
                if c.buffer.count > ControlProtocol.maxRequestBytes {
                    // One line is all a client may send: past the limit, the first line (if
                    // any) is served and the rest ignored, so nothing grows without bound.
                    guard c.buffer.prefix(ControlProtocol.maxRequestBytes + 1).contains(UInt8(ascii: "\n")) else {
                        fail(c, "request longer than \(ControlProtocol.maxRequestBytes) bytes")
                        return []
                    }
                    break
                }
                continue
            }
            if n == 0 && !c.buffer.contains(UInt8(ascii: "\n")) {
                close(c)   // gone before finishing a line: nothing to answer
                return []
            }
            break   // EAGAIN, or EOF after a full line
        }
        guard let nl = c.buffer.firstIndex(of: UInt8(ascii: "\n")) else { return [] }
        let lineBytes = c.buffer[..<nl]
        guard let line = String(validating: lineBytes, as: UTF8.self),
              line.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) else {
            fail(c, "request is not printable ASCII")
            return []
        }
        do {
            let request = try ControlRequest(line: line)
            c.awaiting = true
            return [(c, request)]
        } catch {
            fail(c, "\(error)")
            return []
        }
    }

    /// Closes clients that took longer than the request timeout to send their line.
    public func expire(now: Double) {
        for c in clients.values where !c.awaiting && now - c.since > ControlProtocol.requestTimeoutSeconds {
            fail(c, "no request within \(Int(ControlProtocol.requestTimeoutSeconds)) s")
        }
    }

    /// Sends `text` (which starts with `ok` or `error:`) and closes the connection.
    public func reply(_ c: Client, _ text: String) {
        var bytes = Array((text.hasSuffix("\n") ? text : text + "\n").utf8)
        // Blocking for this one write: replies are small, and a client that does not read
        // them gets at most a 1 s send timeout.
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(c.socket.rawValue, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let flags = fcntl(c.socket.rawValue, F_GETFL)
        _ = fcntl(c.socket.rawValue, F_SETFL, flags & ~O_NONBLOCK)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.send(c.socket.rawValue, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
        close(c)
    }

    private func fail(_ c: Client, _ why: String) {
        rejected += 1
        reply(c, "error: \(why)")
    }

    private func close(_ c: Client) {
        clients[c.socket.rawValue] = nil
    }

    private func acceptAll(now: Double) {
        while true {
            let fd = accept(listener.rawValue, nil, nil)
            guard fd >= 0 else { return }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var uid: uid_t = .max
            let permitted = cshoal_peer_uid(fd, &uid) == 0 && allowed.contains(uid)
            let c = Client(socket: OwnedDescriptor(adopting: fd), uid: uid, since: now)
            clients[fd] = c
            if !permitted {
                fail(c, "permission denied: uid \(uid == .max ? "unknown" : "\(uid)") may not control shoald")
            }
        }
    }
}
