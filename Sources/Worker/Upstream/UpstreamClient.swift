import DNSCore
import NIOCore
import NIOPosix
import ShoalSystem
import SystemPackage

/// One question for one authoritative server.
public struct UpstreamQuery: Sendable {
    public var question: Question
    public var server: SocketAddress
    /// Ask for DNSSEC records (DO) — the worker always keeps RRSIG/NSEC/NSEC3.
    public var dnssecOK = true
    /// EDNS payload size to advertise, or nil to send no OPT record (EDNS fallback).
    public var ednsPayloadSize: UInt16? = 1232
    public var overTCP = false
    public var timeout: TimeAmount = .milliseconds(1500)

    public init(question: Question, server: SocketAddress) {
        self.question = question
        self.server = server
    }
}

/// Why an upstream exchange produced no usable message.
public enum UpstreamError: Error, Sendable, Equatable {
    /// Nothing matching arrived in time.
    case timeout
    /// A call on the exchange's socket failed: ICMP unreachable reported on a connected UDP
    /// socket (`ECONNREFUSED`), a refused or reset TCP connection, no route…
    case network(SystemCallError)
    /// The TCP connection ended before a reply came.
    case connectionClosed
    /// A reply arrived but did not parse.
    case malformed(WireError)

    /// The typed error for what NIO reported on a TCP exchange.
    static func fromTCP(_ error: any Error, timeout: TimeAmount) -> UpstreamError {
        switch error {
        case let e as UpstreamError:
            return e
        case let e as IOError:
            return .network(SystemCallError(call: "tcp", errno: Errno(rawValue: e.errnoCode), detail: "\(e)"))
        case let e as NIOConnectionError:
            for attempt in e.connectionErrors {
                if let io = attempt.error as? IOError {
                    return .network(SystemCallError(call: "connect", errno: Errno(rawValue: io.errnoCode),
                                                    detail: "\(attempt.target)"))
                }
            }
            return .connectionClosed
        case let e as ChannelError where e == .connectTimeout(timeout):
            return .timeout
        default:
            return .connectionClosed
        }
    }
}

/// A reply to an ``UpstreamQuery``.
public struct UpstreamReply: Sendable {
    public var message: Message
    public var rtt: TimeAmount
    public var overTCP: Bool
}

/// Sends queries to authoritative servers with the hygiene DESIGN.md asks for.
///
/// Each UDP query gets its own socket, bound to a kernel-chosen random ephemeral port and
/// connected to the server, so the kernel drops datagrams from any other address or port; the
/// ID is random; a reply is accepted only if its ID and question match (with the exact case
/// sent, so 0x20 randomisation can be checked by the caller). Mismatches are ignored, and the
/// socket keeps waiting until the timeout. UDP goes through ``IOReactor`` (plain
/// sockets, no NIO channel); TCP, used when asked (truncation), through a NIO channel, with
/// the same matching.
public final class UpstreamClient: Sendable {
    let group: any EventLoopGroup

    public init(group: any EventLoopGroup) { self.group = group }

    /// Sends `q` once and waits for a matching reply or the timeout.
    public func send(_ q: UpstreamQuery) async throws(UpstreamError) -> UpstreamReply {
        var rng = PooledRandom()
        let id = UInt16.random(in: 0...UInt16.max, using: &rng)
        var msg = Message.query(id: id, name: q.question.name, type: q.question.type, qclass: q.question.qclass,
                                recursionDesired: false,
                                edns: q.ednsPayloadSize.map { EDNS(udpPayloadSize: $0, dnssecOK: q.dnssecOK) })
        msg.header.checkingDisabled = q.dnssecOK
        let wire: [UInt8]
        do { wire = try msg.serialize() } catch { throw .malformed(error) }
        let matcher = ReplyMatcher(id: id, question: q.question)
        let start = NIODeadline.now()
        do {
            let bytes = try await (q.overTCP ? sendTCP(wire, q, matcher) : sendUDP(wire, q, matcher))
            let rtt = NIODeadline.now() - start
            do {
                return UpstreamReply(message: try Message(wire: bytes), rtt: rtt, overTCP: q.overTCP)
            } catch {
                throw UpstreamError.malformed(error)
            }
        } catch {
            throw .fromTCP(error, timeout: q.timeout)
        }
    }

    private func sendUDP(_ wire: [UInt8], _ q: UpstreamQuery, _ matcher: ReplyMatcher) async throws -> [UInt8] {
        switch await IOReactor.shared.exchange(wire, to: q.server, matcher: matcher, timeout: q.timeout) {
        case let .reply(bytes): return bytes
        case let .failed(e): throw e
        }
    }

    private func sendTCP(_ wire: [UInt8], _ q: UpstreamQuery, _ matcher: ReplyMatcher) async throws -> [UInt8] {
        let loop = group.next()
        let promise = loop.makePromise(of: [UInt8].self)
        let channel = try await ClientBootstrap(group: loop)
            .connectTimeout(q.timeout)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(LengthPrefixedDNSDecoder()))
                    try ch.pipeline.syncOperations.addHandler(TCPReplyHandler(matcher: matcher, promise: promise))
                }
            }
            .connect(to: q.server).get()
        let timeout = loop.scheduleTask(in: q.timeout) { promise.fail(UpstreamError.timeout) }
        defer {
            timeout.cancel()
            channel.close(promise: nil)
        }
        var buf = channel.allocator.buffer(capacity: wire.count + 2)
        buf.writeInteger(UInt16(wire.count))
        buf.writeBytes(wire)
        try await channel.writeAndFlush(buf).get()
        return try await promise.futureResult.get()
    }
}

/// Accepts a reply only when its ID and question are the ones sent (case included).
struct ReplyMatcher: Sendable {
    let id: UInt16
    let question: Question

    func matches(_ b: [UInt8]) -> Bool {
        guard b.count >= 12, UInt16(b[0]) << 8 | UInt16(b[1]) == id, b[2] & 0x80 != 0 else { return false }
        // FORMERR and friends may come without a question; the classifier handles those. Data
        // without a question matches nothing: taking it would let a forger who guessed the ID
        // end the wait before the real reply.
        let qd = UInt16(b[4]) << 8 | UInt16(b[5])
        if qd == 0 { return ![RCode.noError, .nxDomain].contains(RCode(UInt16(b[3] & 0x0F))) }
        var r = WireReader(b, offset: 12)
        guard qd == 1, let n = try? r.name(), let t = try? r.u16(), let c = try? r.u16() else { return false }
        return n.wire == question.name.wire && t == question.type.rawValue && c == question.qclass.rawValue
    }
}

final class TCPReplyHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let matcher: ReplyMatcher
    let promise: EventLoopPromise<[UInt8]>

    init(matcher: ReplyMatcher, promise: EventLoopPromise<[UInt8]>) {
        self.matcher = matcher
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Array(Self.unwrapInboundIn(data).readableBytesView)
        if matcher.matches(bytes) { promise.succeed(bytes) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(UpstreamError.connectionClosed)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
    }
}

/// Splits a TCP byte stream into DNS messages (RFC 1035 §4.2.2 two-byte length prefix).
struct LengthPrefixedDNSDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let len = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
              buffer.readableBytes >= Int(len) + 2 else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(len))!))
        return .continue
    }
}
