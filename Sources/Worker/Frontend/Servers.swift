import DNSCore
import Logging
import NIOCore
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where the worker listens: an address to bind, or a socket inherited from the supervisor.
public enum ListenSpec: Sendable, CustomStringConvertible {
    case bind(SocketAddress)
    case inheritedUDP(Int32)
    case inheritedTCP(Int32)

    public var description: String {
        switch self {
        case let .bind(a): "\(a)"
        case let .inheritedUDP(fd): "inherited UDP fd \(fd)"
        case let .inheritedTCP(fd): "inherited TCP fd \(fd)"
        }
    }
}

/// Limits of the TCP front end.
public struct TCPLimits: Sendable, Equatable {
    public var maxConnections = 256
    public var idleTimeout: TimeAmount = .seconds(10)
    public init() {}
}

/// Starts the UDP and TCP listeners that feed a ``WorkerEngine``.
public enum Frontend {
    /// What is listening: TCP channels on the event loop, UDP sockets served by the
    /// ``UDPFrontEnd`` on the I/O reactor.
    public struct Listening: Sendable {
        public var tcp: [any Channel]
        public var udp: [UDPListener]

        /// One line per socket, for the log.
        public var descriptions: [String] {
            udp.map { "UDP \($0.name)" } + tcp.map { "TCP \($0.localAddress.map { "\($0)" } ?? "?")" }
        }
    }

    /// Binds (or adopts) every listener and starts serving it. UDP sockets are watched only
    /// once every listener is bound.
    public static func start(_ specs: [ListenSpec], engine: WorkerEngine, group: any EventLoopGroup,
                             tcpLimits: TCPLimits = TCPLimits(), reusePort: Bool = true,
                             logger: Logger) async throws -> Listening {
        var listening = Listening(tcp: [], udp: [])
        let connections = ConnectionCounter()
        for spec in specs {
            switch spec {
            case let .bind(address):
                listening.udp.append(try UDPListener(binding: address, reusePort: reusePort))
                listening.tcp.append(try await tcpBootstrap(engine, group, tcpLimits, connections, reusePort)
                    .bind(to: address).get())
            case let .inheritedUDP(fd):
                listening.udp.append(try UDPListener(inheritedFD: fd))
            case let .inheritedTCP(fd):
                listening.tcp.append(try await tcpBootstrap(engine, group, tcpLimits, connections, false)
                    .withBoundSocket(fd).get())
            }
        }
        for l in listening.udp { try UDPFrontEnd.start(l, engine: engine, logger: logger) }
        return listening
    }

    static func tcpBootstrap(_ engine: WorkerEngine, _ group: any EventLoopGroup, _ limits: TCPLimits,
                             _ connections: ConnectionCounter, _ reusePort: Bool) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.socket(SocketOptionLevel(SOL_SOCKET), SO_REUSEPORT), value: reusePort ? 1 : 0)
            .serverChannelOption(.backlog, value: 256)
            .childChannelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    guard connections.open(limit: limits.maxConnections) else {
                        throw ChannelError.inputClosed   // refuse: too many connections
                    }
                    ch.closeFuture.whenComplete { _ in connections.close() }
                    try ch.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: limits.idleTimeout))
                    try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(LengthPrefixedDNSDecoder()))
                    try ch.pipeline.syncOperations.addHandler(TCPQueryHandler(engine: engine))
                }
            }
    }
}

/// Open TCP connections across the worker's listeners.
final class ConnectionCounter: Sendable {
    private let count = Mutex(0)

    func open(limit: Int) -> Bool {
        count.withLock { n in
            guard n < limit else { return false }
            n += 1
            return true
        }
    }

    func close() { count.withLock { $0 -= 1 } }
}

extension SocketAddress {
    /// Whether the ACL admits this client.
    public func allowed(by acl: AccessControl) -> Bool {
        switch self {
        case let .v4(a):
            return acl.allows(ipv4: UInt32(bigEndian: a.address.sin_addr.s_addr))
        case let .v6(a):
            var addr = a.address.sin6_addr
            let bytes = withUnsafeBytes(of: &addr) { Array($0) }
            guard let ip = DNSCore.IPv6Address(bytes: bytes) else { return false }
            return acl.allows(ipv6: ip)
        default:
            return false
        }
    }
}

/// TCP: pipelined queries on one connection, answered as each completes (RFC 7766).
final class TCPQueryHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let engine: WorkerEngine

    init(engine: WorkerEngine) { self.engine = engine }

    static func framed(_ b: [UInt8], _ allocator: ByteBufferAllocator) -> ByteBuffer {
        var buf = allocator.buffer(capacity: b.count + 2)
        buf.writeInteger(UInt16(b.count))
        buf.writeBytes(b)
        return buf
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Array(Self.unwrapInboundIn(data).readableBytesView)
        let allowed = context.channel.remoteAddress?.allowed(by: engine.acl) ?? false
        switch engine.receive(bytes, clientAllowed: allowed, overTCP: true) {
        case let .respond(b):
            context.writeAndFlush(Self.wrapOutboundOut(Self.framed(b, context.channel.allocator)), promise: nil)
        case .drop:
            context.close(promise: nil)
        case let .resolve(q):
            let channel = context.channel
            let engine = self.engine
            // Resolved on the reactor with the UDP queries (their upstream exchanges are there);
            // the answer goes back through the channel's own loop.
            Task(executorPreference: IOReactor.shared) {
                let b = await engine.resolve(q)
                channel.writeAndFlush(Self.framed(b, channel.allocator), promise: nil)
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
