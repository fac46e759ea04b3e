import DNSCore
import NIOCore
import ShoalSystem
import SystemPackage

/// One question to one server, with the fallbacks a server may need: UDP with EDNS first,
/// TCP when the reply is truncated, no EDNS when the server rejects it (remembered in the
/// speed table); 0x20 case randomisation when configured. Every attempt counts against the
/// client query's upstream budget, and every reply and timeout feeds the speed table.
struct UpstreamFallbacks: Sendable {
    let upstream: any UpstreamSender
    let cache: any ResolverCache
    let selection: ServerSelection
    let limits: ResolverLimits

    /// Why an exchange gave no reply.
    enum Failure: Error, Equatable {
        /// The client query's upstream budget is spent: nothing was sent.
        case budget
        /// Sent, and no usable reply: timeout, network error, a reply that did not parse.
        case upstream(UpstreamError)
    }

    /// The reply of `server` to `q`, or why there is none.
    func exchange(_ q: Question, server: ServerAddress, _ ctx: inout ResolutionContext) async -> Result<UpstreamReply, Failure> {
        guard let address = try? server.socketAddress(port: limits.upstreamPort) else {
            return .failure(.upstream(.network(SystemCallError(call: "address", errno: .invalidArgument, detail: "\(server)"))))
        }
        // With 0x20 the name goes out in random case; the reply must echo it exactly (the
        // upstream client compares the question byte for byte), then gets our spelling back.
        let sent = limits.use0x20 ? Question(name: q.name.randomizingCase(), type: q.type, qclass: q.qclass) : q
        var uq = UpstreamQuery(question: sent, server: address)
        if cache.rejectsEDNS(server) { uq.ednsPayloadSize = nil }
        uq.timeout = .milliseconds(Int64(selection.timeoutMillis(for: server)))
        for _ in 0..<3 {
            guard ctx.upstreamQueries < limits.maxUpstreamQueries else { return .failure(.budget) }
            ctx.upstreamQueries += 1
            do {
                let reply = try await upstream.send(uq)
                cache.recordRTT(server, micros: UInt32(clamping: reply.rtt.nanoseconds / 1000))
                if reply.message.header.truncated && !uq.overTCP {
                    ctx.trace("\(server): truncated, retrying over TCP")
                    uq.overTCP = true
                    uq.timeout = .milliseconds(Int64(limits.maxTimeoutMillis))
                    continue
                }
                if uq.ednsPayloadSize != nil, reply.message.edns == nil,
                   [RCode.formErr, .notImp].contains(reply.message.rcode) {
                    ctx.trace("\(server): rejects EDNS, retrying without")
                    cache.recordEDNSRejected(server)
                    uq.ednsPayloadSize = nil
                    continue
                }
                return .success(limits.use0x20 ? reply.respelling(sent.name, as: q.name) : reply)
            } catch {
                if error == .timeout { cache.recordTimeout(server) }
                ctx.trace("\(server): \(error)")
                return .failure(.upstream(error))
            }
        }
        return .failure(.budget)
    }
}

extension DNSName {
    /// The same name with each ASCII letter's case chosen at random.
    func randomizingCase() -> DNSName {
        var w = wire
        var i = 0
        var rng = PooledRandom()
        while w[i] != 0 {
            let n = Int(w[i])
            for k in (i + 1)...(i + n) where (w[k] | 0x20) >= 0x61 && (w[k] | 0x20) <= 0x7A {
                w[k] = Bool.random(using: &rng) ? w[k] | 0x20 : w[k] & ~0x20
            }
            i += n + 1
        }
        return (try? DNSName(wire: w)) ?? self
    }
}

extension UpstreamReply {
    /// The reply with every owner name spelled `from` (exact case) written as `to`, so the
    /// random case of a 0x20 query does not leak into the cache or to clients.
    func respelling(_ from: DNSName, as to: DNSName) -> UpstreamReply {
        func fix(_ rrs: [ResourceRecord]) -> [ResourceRecord] {
            rrs.map { rr in
                guard rr.name.wire == from.wire else { return rr }
                var r = rr
                r.name = to
                return r
            }
        }
        var r = self
        r.message.questions = r.message.questions.map { $0.name.wire == from.wire ? Question(name: to, type: $0.type, qclass: $0.qclass) : $0 }
        r.message.answers = fix(r.message.answers)
        r.message.authority = fix(r.message.authority)
        r.message.additional = fix(r.message.additional)
        return r
    }
}

extension ServerAddress {
    /// The NIO socket address of this server at `port`.
    func socketAddress(port: UInt16) throws -> SocketAddress {
        var packed = ByteBuffer()
        if isIPv4 {
            packed.writeInteger(UInt32(truncatingIfNeeded: low))
        } else {
            packed.writeInteger(high)
            packed.writeInteger(low)
        }
        return try SocketAddress(packedIPAddress: packed, port: Int(port))
    }
}
