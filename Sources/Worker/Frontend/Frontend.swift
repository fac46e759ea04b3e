import Logging
import NIOCore
import NIOPosix
import ShoalSystem

/// Where the worker listens: an address to bind, or a socket inherited from the supervisor.
public enum ListenSpec: Sendable, CustomStringConvertible {
    case bind(SocketAddress)
    /// A descriptor number inherited across exec; the front end adopts (owns) it from ``Frontend/start``.
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

/// Starts the UDP and TCP listeners that feed a ``WorkerEngine``.
public enum Frontend {
    /// What is listening: TCP channels on the event loop, UDP sockets served by the
    /// ``UDPFrontEnd``, each on a thread of its own.
    public struct Listening: Sendable {
        public var tcp: [any Channel]
        public var udp: [UDPListener]

        /// One line per socket, for the log.
        /// Stops taking new queries: UDP sockets are no longer read (their queues stay for the
        /// other readers of the same socket: a replacement worker) and TCP listeners close;
        /// resolutions in progress still answer.
        public func stopAccepting() async {
            for l in udp { UDPFrontEnd.stop(l) }
            for c in tcp { try? await c.close() }
        }

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
                listening.udp.append(try UDPListener(adopting: OwnedDescriptor(adopting: fd)))
            case let .inheritedTCP(fd):
                // NIO takes the descriptor over: handed to it, not closed here.
                let socket = OwnedDescriptor(adopting: fd).take()
                listening.tcp.append(try await tcpBootstrap(engine, group, tcpLimits, connections, false)
                    .withBoundSocket(socket.rawValue).get())
            }
        }
        for (i, l) in listening.udp.enumerated() { try UDPFrontEnd.start(l, index: i, engine: engine, logger: logger) }
        return listening
    }
}
