import DNSCore
import ShmCache

/// The packet cache as the worker uses it, and its one writer: whole responses, keyed by
/// question and the flags that change them, answered to a client by rewriting the ID, the
/// name's spelling, RD and OPT, and aging the TTLs.
///
/// Its policy (what is stored, for how long) lives here with its writes: the engine hands it
/// every response it builds and this type decides. The entries live in the shared segment, so
/// what one worker stores every worker answers from.
public struct PacketAnswers: Sendable {
    let packets: PacketCache
    /// This worker validates DNSSEC. Responses it stores are marked validated (the header's Z
    /// bit, cleared before any client sees it): the segment outlives a restart with
    /// validation turned on, and the entries a non-validating worker stored (AD clear, bogus
    /// data as NOERROR) must not be served as validated; such an entry is a miss here.
    let validating: Bool

    public init(_ packets: PacketCache, validating: Bool = false) {
        self.packets = packets
        self.validating = validating
    }

    /// The cached response for `q`, personalised (ID, name spelling, RD, AD, OPT), aged and cut
    /// to the client's size; nil on a miss. No message is parsed or built.
    func answer(_ q: PacketQuery) -> [UInt8]? {
        withUnsafeTemporaryAllocation(byteCount: 65535 + PacketAging.optBytes, alignment: 8) { buf -> [UInt8]? in
            let out = UnsafeMutableRawBufferPointer(buf)
            guard let n = q.wireName.withUnsafeBytes({ write(q.hit, name: $0, into: out) }) else { return nil }
            return [UInt8](out[0..<n])
        }
    }

    /// The hit path, allocating nothing: writes the cached response for the query `q` whose
    /// name (as the client spelled it) is `name` into `out`, personalised, aged, and cut to
    /// `q.maxResponseSize` with TC as the full path cuts (`PacketAging.truncate`). Returns its
    /// length, or nil: a miss, or an entry this worker may not serve.
    /// `hash` is what ``prefetch(_:name:)`` returned for the same query, if it was called.
    func write(_ q: HitQuery, name: UnsafeRawBufferPointer, hash: UInt64? = nil, into out: UnsafeMutableRawBufferPointer) -> Int? {
        guard var n = packets.copyResponse(name: name, type: q.type, dnssecOK: q.dnssecOK,
                                           checkingDisabled: q.checkingDisabled, now: shmNow(), hash: hash, into: out),
              n >= 12 else { return nil }
        let wire = UnsafeMutableRawBufferPointer(rebasing: out[0..<n])
        PacketAging.personalize(wire, id: q.id, queryName: name)
        PacketAging.setRecursionDesired(wire, q.recursionDesired)
        if validating && wire[3] & 0x40 == 0 { return nil }   // stored without validation
        wire[3] &= ~0x40
        // Stored with AD as validation says; only clients that set DO or AD see it (RFC 6840
        // §5.8), and never from a worker that does not validate.
        if !validating || (!q.dnssecOK && !q.authenticData) { wire[3] &= ~0x20 }
        // Too large for this client (UDP without EDNS, or a small EDNS size): whole RRsets
        // that fit, TC when answer or authority records had to go; room left for the OPT.
        let room = q.maxResponseSize - (q.hasEDNS ? PacketAging.optBytes : 0)
        if n > room {
            guard let cut = PacketAging.truncate(wire, length: n, to: room) else { return nil }
            n = cut
        }
        if q.hasEDNS {
            guard let m = PacketAging.appendOPT(out, length: n, udpPayloadSize: QueryScreen.ednsPayloadSize,
                                                dnssecOK: q.dnssecOK) else { return nil }
            n = m
        }
        return n
    }

    /// The first prefetch step of ``write(_:name:hash:into:)`` for `q` (see
    /// `PacketCache.prefetchBucket`); returns the key's hash for the second step and the write.
    func prefetch(_ q: HitQuery, name: UnsafeRawBufferPointer) -> UInt64? {
        packets.prefetchBucket(name: name, type: q.type, dnssecOK: q.dnssecOK, checkingDisabled: q.checkingDisabled)
    }

    /// The second prefetch step.
    func prefetchSlot(hash: UInt64) { packets.prefetchSlot(hash: hash) }

    /// Stores `response`, the answer to `q` that `resolution` produced, when it may be served
    /// to others: NOERROR or NXDOMAIN (a bogus answer to a client without CD is SERVFAIL, never
    /// stored; a CD client's is stored under the CD key), nothing stale, for the lowest TTL of its answer and
    /// authority records (none at 0). Stored without OPT, which is added per client.
    func store(_ response: Message, for q: ClientQuery, resolution: Resolution) {
        guard (response.rcode == .noError || response.rcode == .nxDomain) && !resolution.stale else { return }
        var stored = response
        stored.edns = nil
        stored.header.authenticData = validating && resolution.isSecure
        stored.header.zero = validating   // "validated": see `validating`
        let ttl = (stored.answers + stored.authority).map(\.ttl).min() ?? 0
        guard ttl > 0, let full = try? stored.serialize() else { return }
        // The cache lower-cases the name in its key itself.
        let key = PacketKey(name: q.question.name, type: q.question.type, class: q.question.qclass,
                            dnssecOK: q.dnssecOK, checkingDisabled: q.message.header.checkingDisabled)
        _ = packets.insert(key, response: full, ttl: ttl, now: shmNow())
    }
}
