import ShoalSystem
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// shoalctl's side of the control socket: one request, one reply.
public enum ControlClient {
    /// The reply to `request` from the shoald listening on `path`: the body when the first line
    /// is `ok`; a ``ControlError`` with shoald's message, or saying why it could not be asked.
    public static func send(_ request: ControlRequest, to path: String, timeoutSeconds: Int = 60) throws(ControlError) -> String {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw ControlError("\(path): path too long") }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
            p[bytes.count] = 0
        }
        let s: OwnedDescriptor
        do { s = try OwnedDescriptor.socket(family: AF_UNIX, type: Int32(SOCK_STREAM.rawValue), path) } catch {
            throw ControlError("\(error)")
        }
        let fd = s.rawValue
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let e = errno
            throw ControlError("cannot reach shoald at \(path): \(String(cString: strerror(e)))"
                               + (e == ENOENT || e == ECONNREFUSED ? " (is shoald running? see --control-socket)" : ""))
        }
        var line = Array((request.line + "\n").utf8)
        _ = line.withUnsafeMutableBytes { Glibc.send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
        var reply: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while reply.count < 1 << 22 {
            let n = buf.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { break }
            reply += buf[0..<n]
        }
        let text = String(decoding: reply, as: UTF8.self)
        if text.hasPrefix("ok\n") { return String(text.dropFirst(3)).trimmingCharacters(in: "\n") }
        if text == "ok" || text == "ok\n" { return "" }
        if text.hasPrefix("error: ") {
            throw ControlError(String(text.dropFirst(7)).trimmingCharacters(in: "\n"))
        }
        throw ControlError(text.isEmpty ? "shoald closed the connection without a reply" : "unexpected reply: \(text.prefix(200))")
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.last == set { s.removeLast() }
        return String(s)
    }
}
