import DNSCore
import Logging
import NIOCore
import NIOPosix
import Synchronization
import ShoalSystem
import Worker
#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGINT/SIGTERM; both serving loops poll it. A lock-free atomic, so safe to store from
/// a signal handler.
let stopRequested = Atomic<Bool>(false)

func installStopHandlers() {
    for sig in [SIGINT, SIGTERM] {
        signal(sig) { _ in stopRequested.store(true, ordering: .relaxed) }
    }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// What one run did, per datagram.
struct Counts: Sendable {
    var received = 0
    /// Replies handed to the socket (hits, errors the engine answers at once, SERVFAIL for misses).
    var answered = 0
    /// Queries the packet cache could not answer (SERVFAIL here: the bench does not resolve).
    var misses = 0
    /// Datagrams the engine drops (responses, runts).
    var dropped = 0
    /// Replies the socket refused (mmsg mode: sendmmsg errors, replies too large for a slot).
    var sendFailures = 0
    /// Times the replies of a read batch were handed to the kernel: NIO flushes (one per
    /// readable event, which covers up to maxMessagesPerRead = 4 recvmmsg calls), or mmsg
    /// rounds (one recvmmsg, one sendmmsg). `received / flushes` is the batch size achieved.
    var flushes = 0
}

/// The engine's synchronous answer to one datagram in nio mode: a packet-cache hit
/// (or an error answered at once) as the worker answers it; a miss, which the worker would
/// resolve in a task, answered SERVFAIL at once and counted (the resolver, without upstream,
/// ends it in SERVFAIL at once too).
@inline(__always)
func answer(_ engine: WorkerEngine, _ bytes: [UInt8], clientAllowed: Bool, _ counts: inout Counts) -> [UInt8]? {
    switch engine.receive(bytes, clientAllowed: clientAllowed, overTCP: false) {
    case let .respond(b):
        counts.answered += 1
        return b
    case .drop:
        counts.dropped += 1
        return nil
    case let .resolve(q):
        counts.misses += 1
        counts.answered += 1
        // The engine counts every `.resolve` as a resolution in progress until `resolve(_:)`
        // ends; with no upstream it ends at once in SERVFAIL, as the answer sent here.
        Task { _ = await engine.resolve(q) }
        return QueryScreen.errorResponse(q.message.header, .servFail, q.message)
    }
}

// MARK: NIO

/// The worker's `UDPQueryHandler` (Sources/Worker/Frontend/Servers.swift) line for line, but for
/// the miss branch (see ``answer(_:_:clientAllowed:_:)``) and the counting: each datagram copied
/// out of its ByteBuffer, the reply written into a new ByteBuffer, one flush per read batch so
/// NIO sends the batch with sendmmsg.
final class BenchUDPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    let engine: WorkerEngine
    /// Touched only on the channel's event loop.
    var counts = Counts()

    init(engine: WorkerEngine) { self.engine = engine }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let env = Self.unwrapInboundIn(data)
        let bytes = Array(env.data.readableBytesView)
        let remote = env.remoteAddress
        counts.received += 1
        guard let b = answer(engine, bytes, clientAllowed: remote.allowed(by: engine.acl), &counts) else { return }
        context.write(Self.wrapOutboundOut(AddressedEnvelope(remoteAddress: remote,
                                                             data: context.channel.allocator.buffer(bytes: b))),
                      promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        counts.flushes += 1
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {}
}

/// Serves on one NIO event loop with the worker's UDP channel options until stopped or
/// `deadline`; returns the counts.
func runNIO(engine: WorkerEngine, group: MultiThreadedEventLoopGroup, address: SocketAddress, batch: Int,
            deadline: Double, ready: (String) -> Void) throws -> Counts {
    let handler = BenchUDPHandler(engine: engine)
    // The options of Frontend.udpBootstrap (reusePort true, as for --listen).
    let channel = try DatagramBootstrap(group: group)
        .channelOption(.socketOption(.so_reuseaddr), value: 1)
        .channelOption(ChannelOptions.socket(SocketOptionLevel(SOL_SOCKET), SO_REUSEPORT), value: 1)
        .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
        .channelOption(.datagramVectorReadMessageCount, value: batch)
        .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: batch * 2048))
        .channelInitializer { ch in
            ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(handler) }
        }
        .bind(to: address).wait()
    ready("\(channel.localAddress.map { "\($0)" } ?? "?")")
    // This thread only waits; the event loop thread does the work.
    while !stopRequested.load(ordering: .relaxed) && monotonicSeconds() < deadline {
        usleep(50_000)
    }
    try channel.close().wait()
    return try channel.eventLoop.submit { handler.counts }.wait()
}

// MARK: recvmmsg / sendmmsg: the worker's own UDP front end

/// Serves with the worker's `UDPFrontEnd` (on the worker's I/O reactor thread: recvmmsg, the
/// engine, sendmmsg; misses resolved there too, by the resolver without upstream: SERVFAIL)
/// until stopped or `deadline`. Counts come from the engine's statistics slot.
func runMMsg(engine: WorkerEngine, address: SocketAddress, deadline: Double,
             logger: Logger, ready: (String) -> Void) throws(SystemCallError) -> Counts {
    let listener = try UDPListener(binding: address, reusePort: true)
    let before = (engine.stats.value(.queries), engine.stats.value(.packetHits), engine.stats.value(.misses))
    try UDPFrontEnd.start(listener, engine: engine, logger: logger)
    ready(listener.name)
    while !stopRequested.load(ordering: .relaxed) && monotonicSeconds() < deadline {
        usleep(50_000)
    }
    var counts = Counts()
    counts.received = Int(engine.stats.value(.queries) - before.0)
    counts.misses = Int(engine.stats.value(.misses) - before.2)
    counts.answered = Int(engine.stats.value(.packetHits) - before.1) + counts.misses
    return counts
}

// MARK: bare: the floor under any UDP front end

/// The floor: a blocking loop on one UDP socket that does nothing but the socket work. Each round
/// is one `recvmmsg` of up to `slots` datagrams (`MSG_WAITFORONE`: it blocks for the first, then
/// takes what else is queued) and one `sendmmsg` of the replies, each reply the query itself with
/// QR and RA set and RCODE 0 (no parsing beyond the 12-byte header: no engine, no segment, no
/// ACL). Buffers and vectors are the worker's own `DatagramBatch`, allocated once; the only
/// memory written here is the send slot it lends to `queueReply`. A reply is copied from the
/// receive slot into a send slot (a few dozen bytes) rather than sent from where it arrived,
/// as the worker copies its cached answer into a send slot. Runs on the calling thread until
/// stopped or `deadline`; a helper thread then wakes the blocking read with one short datagram
/// (counted as received and dropped).
func runBare(address: SocketAddress, slots: Int, deadline: Double,
             ready: (String) -> Void) throws(SystemCallError) -> Counts {
    let listener = try UDPListener(binding: address, reusePort: false)
    var batch = DatagramBatch(receiveSlots: slots, sendSlots: slots, bufferSize: UDPFrontEnd.bufferSize)
    try startDetachedThread(name: "bare-stop") { wakeWhenStopped(address, deadline: deadline) }
    ready(listener.name)
    var counts = Counts()
    while !stopRequested.load(ordering: .relaxed) {
        let n = try batch.receive(from: listener, waitingForOne: true)
        counts.received += n
        for i in 0..<n {
            let query = batch.payloadBytes(i)
            guard query.count >= 12 else {   // not a DNS header (or the wake-up datagram)
                counts.dropped += 1
                continue
            }
            // Send slots are as many as receive slots, and as large: this always queues.
            _ = batch.queueReply(toSenderOf: i) { out in
                out.copyMemory(from: query)
                out[2] |= 0x80                     // QR; opcode, AA, TC, RD kept
                out[3] = (out[3] | 0x80) & 0xF0    // RA; Z, AD, CD kept; RCODE 0
                return query.count
            }
        }
        guard batch.queued > 0 else { continue }
        let (sent, failed) = batch.send(on: listener)
        counts.answered += sent
        counts.sendFailures += failed
        counts.flushes += 1
    }
    return counts
}

/// Waits until a signal or `deadline` asks the bare loop to stop, then sends one 1-byte datagram
/// to `address` so that its blocking `recvmmsg` returns and the loop sees the request.
private func wakeWhenStopped(_ address: SocketAddress, deadline: Double) {
    while !stopRequested.load(ordering: .relaxed) && monotonicSeconds() < deadline {
        usleep(50_000)
    }
    stopRequested.store(true, ordering: .relaxed)
    let family: Int32 = if case .v6 = address { AF_INET6 } else { AF_INET }
    guard let socket = try? OwnedDescriptor.socket(family: family, type: Int32(SOCK_DGRAM.rawValue)) else { return }
    let fd = socket.descriptor
    let byte: [UInt8] = [0]
    _ = byte.withUnsafeBytes { b in
        address.withSockAddr { sa, len in try? fd.send(b, to: sa, socklen_t(len)) }
    }
}
