import CShoalShims
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

extension OwnedDescriptor {
    /// A new socket (`SOCK_CLOEXEC` always added): `socket(2)`.
    public static func socket(family: Int32, type: Int32, protocol proto: Int32 = 0,
                              _ detail: @autoclosure () -> String = "") throws(SystemCallError) -> OwnedDescriptor {
        let fd = try sysCall("socket", detail()) { Glibc.socket(family, type | Int32(SOCK_CLOEXEC.rawValue), proto) }
        return OwnedDescriptor(adopting: fd)
    }

    /// A new epoll instance (close-on-exec).
    public static func epoll() throws(SystemCallError) -> OwnedDescriptor {
        OwnedDescriptor(adopting: try sysCall("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) })
    }

    /// A new non-blocking, close-on-exec eventfd counter starting at 0.
    public static func eventFD() throws(SystemCallError) -> OwnedDescriptor {
        OwnedDescriptor(adopting: try sysCall("eventfd") { eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK)) })
    }
}

/// Calls on a lent descriptor; none of them closes it.
extension FileDescriptor {
    /// `setsockopt(2)` with `value` as the option's bytes.
    public func setSocketOption<V: BitwiseCopyable>(_ level: Int32, _ name: Int32, _ value: V,
                                                    _ detail: @autoclosure () -> String = "") throws(SystemCallError) {
        var v = value
        _ = try sysCall("setsockopt", detail()) {
            setsockopt(rawValue, level, name, &v, socklen_t(MemoryLayout<V>.size))
        }
    }

    /// `getsockopt(2)` of an `int` option (`SO_TYPE`, `SO_RCVBUF`).
    public func socketOption(_ level: Int32, _ name: Int32,
                             _ detail: @autoclosure () -> String = "") throws(SystemCallError) -> Int32 {
        var v: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        _ = try sysCall("getsockopt", detail()) { getsockopt(rawValue, level, name, &v, &len) }
        return v
    }

    /// `bind(2)` to the address `body` lends.
    public func bind(_ address: UnsafePointer<sockaddr>, _ length: socklen_t,
                     _ detail: @autoclosure () -> String = "") throws(SystemCallError) {
        _ = try sysCall("bind", detail()) { Glibc.bind(rawValue, address, length) }
    }

    /// `connect(2)`; for a datagram socket, also what makes the kernel drop datagrams from
    /// any other address or port. Not retried on `EINTR` (a stream connect then goes on alone).
    public func connect(_ address: UnsafePointer<sockaddr>, _ length: socklen_t,
                        _ detail: @autoclosure () -> String = "") throws(SystemCallError) {
        _ = try sysCall("connect", detail(), retryingInterrupts: false) { Glibc.connect(rawValue, address, length) }
    }

    /// `send(2)` on a connected socket: the bytes the kernel took.
    public func send(_ bytes: UnsafeRawBufferPointer, flags: Int32 = 0,
                     _ detail: @autoclosure () -> String = "") throws(SystemCallError) -> Int {
        try sysCall("send", detail()) { Glibc.send(rawValue, bytes.baseAddress, bytes.count, flags) }
    }

    /// `sendto(2)`: one datagram to `address`. The bytes the kernel took.
    public func send(_ bytes: UnsafeRawBufferPointer, to address: UnsafePointer<sockaddr>, _ length: socklen_t,
                     _ detail: @autoclosure () -> String = "") throws(SystemCallError) -> Int {
        try sysCall("sendto", detail()) { sendto(rawValue, bytes.baseAddress, bytes.count, 0, address, length) }
    }

    /// A non-blocking `recv(2)` into `buffer`: the datagram's length, or nil when none is queued.
    public func receive(into buffer: UnsafeMutableRawBufferPointer,
                        _ detail: @autoclosure () -> String = "") throws(SystemCallError) -> Int? {
        try sysCallUnlessWouldBlock("recv", detail()) {
            recv(rawValue, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
        }
    }

    /// Sets `FD_CLOEXEC` (an inherited descriptor must not leak into processes we spawn).
    public func setCloseOnExec() throws(SystemCallError) {
        _ = try sysCall("fcntl", "F_SETFD FD_CLOEXEC on fd \(rawValue)") { fcntl(rawValue, F_SETFD, FD_CLOEXEC) }
    }

    /// `getsockname(2)` into `storage`: the length the kernel wrote.
    public func localAddress(into storage: inout sockaddr_storage) throws(SystemCallError) -> socklen_t {
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try sysCall("getsockname", "fd \(rawValue)") {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(rawValue, $0, &len) }
            }
        }
        return len
    }

    // MARK: epoll and eventfd

    /// Watches `fd` for `events` (`EPOLLIN`…) in this epoll instance, reported with `token`.
    public func epollAdd(_ fd: Int32, events: UInt32, token: UInt64) throws(SystemCallError) {
        var ev = epoll_event()
        ev.events = events
        ev.data.u64 = token
        _ = try sysCall("epoll_ctl", "adding fd \(fd)") { epoll_ctl(rawValue, EPOLL_CTL_ADD, fd, &ev) }
    }

    /// Stops watching `fd` in this epoll instance.
    public func epollDelete(_ fd: Int32) throws(SystemCallError) {
        var ev = epoll_event()
        _ = try sysCall("epoll_ctl", "removing fd \(fd)") { epoll_ctl(rawValue, EPOLL_CTL_DEL, fd, &ev) }
    }

    /// `epoll_wait(2)`: the events ready, at most `events.count`; 0 when interrupted by a signal
    /// (the caller's loop comes back with a fresh timeout).
    public func epollWait(_ events: UnsafeMutableBufferPointer<epoll_event>,
                          timeoutMillis: Int32) throws(SystemCallError) -> Int {
        do {
            return Int(try sysCall("epoll_wait", retryingInterrupts: false) {
                epoll_wait(rawValue, events.baseAddress, Int32(events.count), timeoutMillis)
            })
        } catch where error.errno == .interrupted {
            return 0
        }
    }

    /// Whether the open file description has `O_NONBLOCK` set (`fcntl(F_GETFL)`); false when
    /// that cannot be read.
    public var isNonBlocking: Bool {
        let flags = fcntl(rawValue, F_GETFL)
        return flags >= 0 && flags & O_NONBLOCK != 0
    }

    /// `poll(2)` for input on this descriptor: true when it is readable (or in error), false
    /// after `timeoutMillis` (-1: no limit) or a signal.
    public func waitReadable(timeoutMillis: Int32) throws(SystemCallError) -> Bool {
        var p = pollfd(fd: rawValue, events: Int16(POLLIN), revents: 0)
        do {
            return try sysCall("poll", retryingInterrupts: false) { poll(&p, 1, timeoutMillis) } > 0
        } catch where error.errno == .interrupted {
            return false
        }
    }

    /// Adds 1 to an eventfd counter (wakes whoever waits on it). Full counters are ignored:
    /// the waiter is woken already.
    public func signalEvent() {
        var one: UInt64 = 1
        _ = try? sysCall("write", "eventfd") { Glibc.write(rawValue, &one, 8) }
    }

    /// Resets an eventfd counter (non-blocking: nothing happens when it is 0).
    public func drainEvent() {
        var v: UInt64 = 0
        _ = try? sysCallUnlessWouldBlock("read", "eventfd") { Glibc.read(rawValue, &v, 8) }
    }
}
