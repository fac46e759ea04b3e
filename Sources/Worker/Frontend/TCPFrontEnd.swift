import CShoalShims
import DNSCore
import NIOCore
import NIOPosix
import Synchronization

/// Limits of the TCP front end.
public struct TCPLimits: Sendable, Equatable {
    public var maxConnections = 256
    public var idleTimeout: TimeAmount = .seconds(10)
    public init() {}
}

extension Frontend {
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

/// TCP: pipelined queries on one connection, answered as each completes (RFC 7766).
final class TCPQueryHandler: ChannelInboundHandler, Sendable {
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
            Task(executorPreference: engine.resolver.executor) {
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
