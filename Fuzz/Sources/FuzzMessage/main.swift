import DNSCore

// libFuzzer target for the message parser (built with -sanitize=fuzzer and -parse-as-library;
// libFuzzer supplies `main`). Any trap is a finding:
//
// - Message(wire:) must return a message or a WireError whose offset lies inside the input;
// - a parsed message must re-encode stably, and size-limited output must follow the truncation
//   rules (`stabilityProblem`, `truncationProblem`, shared with the unit tests through the
//   symbolic link TestSupport.swift → Tests/DNSCoreTests/TestSupport.swift);
// - every name in it must survive presentation format and back, byte for byte;
// - the typed EDNS views, canonical RDATA and the dig-style text must not trap on whatever
//   arrived;
// - the packet cache's in-place edits (PacketAging: aging, truncation), which the hit path runs
//   on stored bytes, must not trap on any bytes, and a cut never exceeds its limit; on what the
//   cache actually stores (a message as Shoal serializes it, without OPT) aged and cut in place,
//   the result still parses, with the questions it had. (On arbitrary input it need not: a
//   hostile name may point into a TTL or the header's counts, which the edits change.)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMessage(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let cutLimit = 12 + (size > 1 ? Int(bytes[1]) << 3 : 0)
    var edited = bytes
    let cut = edited.withUnsafeMutableBytes { w -> Int? in
        _ = PacketAging.age(w, by: 17)
        return PacketAging.truncate(w, length: w.count, to: cutLimit)
    }
    if let cut, cut > cutLimit { fatalError("truncate to \(cutLimit) gave \(cut) bytes") }
    let m: Message
    do throws(WireError) {
        m = try Message(wire: bytes)
    } catch {
        if error.offset < 0 || error.offset > size {
            fatalError("error offset outside a \(size)-byte input: \(error)")
        }
        return 0
    }

    var stored = m
    stored.edns = nil
    if var own = try? stored.serialize() {
        let length = own.count
        let ownCut = own.withUnsafeMutableBytes { w -> Int? in
            _ = PacketAging.age(w, by: 17)
            return PacketAging.truncate(w, length: length, to: cutLimit)
        }
        if let ownCut {
            if ownCut > cutLimit { fatalError("truncate to \(cutLimit) gave \(ownCut) bytes") }
            do throws(WireError) {
                let back = try Message(wire: Array(own[0..<ownCut]))
                if back.questions != stored.questions { fatalError("truncate to \(cutLimit) changed the questions") }
            } catch {
                fatalError("aged and cut to \(cutLimit), a serialized message does not parse: \(error)")
            }
        }
    }

    if let problem = stabilityProblem(m) {
        fatalError("unstable message: \(problem)")
    }
    // Size-limited output, at a limit the input chooses (its ID) so the fuzzer can steer it.
    let limit = 12 + Int(m.header.id % 2048)
    if let problem = truncationProblem(m, limit: limit) {
        fatalError("serialize(maxSize: \(limit)): \(problem)")
    }

    for q in m.questions { checkPresentation(q.name) }
    for rr in m.answers + m.authority + m.additional {
        checkPresentation(rr.name)
        _ = rr.rdata.wire(type: rr.type, canonical: true)
    }
    if let e = m.edns {
        do throws(WireError) {
            if let c = try e.cookie(), c.client.count != 8 || (!c.server.isEmpty && !(8...32).contains(c.server.count)) {
                fatalError("cookie of \(c.client.count)+\(c.server.count) bytes accepted")
            }
        } catch {
            // Malformed cookie: the resolver answers FORMERR.
        }
        _ = e.extendedErrors
    }
    // dig-style text of whatever arrived (logs print it): must not trap either.
    _ = m.presentation
    return 0
}

/// A name printed and parsed again is the same name, case included.
func checkPresentation(_ n: DNSName) {
    let text = n.presentation
    do {
        let back = try DNSName(text)
        if back.wire != n.wire { fatalError("presentation round trip changed \(n.wire) into \(back.wire) via \(text)") }
    } catch {
        fatalError("presentation \(text) of \(n.wire) does not parse: \(error)")
    }
}
