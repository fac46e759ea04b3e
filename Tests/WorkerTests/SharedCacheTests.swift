import DNSCore
import Foundation
import ShmCache
import ShoalLab
import Testing

/// Everything a worker learns is in the shared segment: a second worker, or the next one after
/// a SIGKILL, answers from it without asking any authoritative server.
@Suite(.workerLab, .serialized)
struct SharedCacheTests {
    @Test func repeatedQueryIsAPacketCacheHitAndTTLsAge() throws {
        try WorkerLab.withWorker("packet", host: ".202.1") { worker, lab in
            let e = try #require(lab.hierarchy.expectedAnswers.first { $0.kind == .answer && $0.qtype == "A" && $0.features.contains("nsec") })
            let first = try worker.ask(e.qname, .a)
            let seg = try SharedSegment.attach(name: SegmentName.forInstance(worker.segment))
            let hitsBefore = seg.stats(workerSlot: 0).value(.packetHits)
            let second = try worker.ask(e.qname, .a)
            #expect(seg.stats(workerSlot: 0).value(.packetHits) == hitsBefore + 1)
            #expect(Set(second.answers.map(\.comparable)) == Set(first.answers.map(\.comparable)))
            // Two seconds later the cached TTLs are lower than the first answer's.
            Thread.sleep(forTimeInterval: 2.1)
            let third = try worker.ask(e.qname, .a)
            let ttl1 = try #require(first.answers.first?.ttl), ttl3 = try #require(third.answers.first?.ttl)
            #expect(ttl3 < ttl1 && ttl3 + 5 >= ttl1, "TTL \(ttl1) then \(ttl3)")
        }
    }

    @Test func secondWorkerAndTheNextAfterSIGKILLAnswerFromTheSegment() throws {
        let lab = try WorkerLab.lab()
        let segment = uniqueSegment("shared")
        defer { unlinkSegment(segment) }
        let base = lab.hierarchy.plan.prefix
        let first = try WorkerProcess(address: lab.listenAddress(base + ".202.2"), segment: segment,
                                      rootHints: lab.paths.rootHints, validation: .lab(lab))
        let names = lab.hierarchy.expectedAnswers.filter { $0.kind == .answer || $0.kind == .nxdomain || $0.kind == .cname }
            .prefix(40)
        var answers: [String: Message] = [:]
        for e in names { answers[e.qname + e.qtype] = try first.ask(e.qname, try #require(RRType(mnemonic: e.qtype))) }

        // A second worker on the same segment whose only root server is a black hole: every
        // answer must come from the segment, and it sends nothing upstream.
        let hints = try WorkerLab.blackholeHints(lab)
        let second = try WorkerProcess(address: lab.listenAddress(base + ".202.3"), segment: segment,
                                       rootHints: hints, validation: .lab(lab), extra: ["--worker-slot", "1"])
        try expectSameAnswers(second, names, answers)
        let seg = try SharedSegment.attach(name: SegmentName.forInstance(segment))
        #expect(seg.stats(workerSlot: 1).value(.upstreamQueries) == 0)
        second.stop()

        // Kill the first worker mid-life; its replacement (again blind upstream) still answers.
        first.kill()
        let third = try WorkerProcess(address: lab.listenAddress(base + ".202.4"), segment: segment,
                                      rootHints: hints, validation: .lab(lab), extra: ["--worker-slot", "2"])
        defer { third.stop() }
        try expectSameAnswers(third, names, answers)
        #expect(seg.stats(workerSlot: 2).value(.upstreamQueries) == 0)
    }

    private func expectSameAnswers(_ w: WorkerProcess, _ names: some Sequence<ExpectedAnswer>,
                                   _ answers: [String: Message]) throws {
        for e in names {
            let r = try w.ask(e.qname, try #require(RRType(mnemonic: e.qtype)))
            let before = try #require(answers[e.qname + e.qtype])
            #expect(r.rcode == before.rcode, "\(e.qname) \(e.qtype)\n\(r.presentation)")
            #expect(Set(r.answers.map(\.comparable)) == Set(before.answers.map(\.comparable)),
                    "\(e.qname) \(e.qtype)\n\(r.presentation)")
        }
    }

    @Test func recursionNotDesiredIsAnsweredFromCacheOnly() throws {
        try WorkerLab.withWorker("rd0", host: ".202.5") { worker, lab in
            let e = try #require(lab.hierarchy.expectedAnswers.first { $0.kind == .answer && $0.qtype == "TXT" })
            let cold = try worker.ask(e.qname, .txt, recursionDesired: false)
            #expect(cold.rcode == .servFail)
            #expect(cold.answers.isEmpty)
            _ = try worker.ask(e.qname, .txt)
            let warm = try worker.ask(e.qname, .txt, recursionDesired: false)
            #expect(warm.rcode == .noError)
            #expect(!warm.answers.isEmpty)
        }
    }
}

/// Identical questions that arrive while one is being resolved share that resolution: twenty
/// copies cost the upstream queries of one.
@Suite(.workerLab, .serialized)
struct InflightSharingTests {
    @Test func concurrentIdenticalQueriesShareOneResolution() throws {
        let lab = try WorkerLab.lab()
        let e = try #require(lab.hierarchy.expectedAnswers.first {
            $0.kind == .cname && $0.features.contains("cross-zone")
        })
        let base = lab.hierarchy.plan.prefix
        func upstreamCount(copies: Int, address: String) throws -> UInt64 {
            let segment = uniqueSegment("inflight\(copies)")
            defer { unlinkSegment(segment) }
            let worker = try WorkerProcess(address: lab.listenAddress(address), segment: segment,
                                           rootHints: lab.paths.rootHints, validation: .lab(lab))
            defer { worker.stop() }
            let responses = try burst(e.qname, copies: copies, address: worker.address, port: worker.port)
            #expect(responses.count == copies)
            #expect(responses.allSatisfy { $0.rcode == .noError && $0.answers.count >= 2 })
            let seg = try SharedSegment.attach(name: SegmentName.forInstance(worker.segment))
            return seg.stats(workerSlot: 0).value(.upstreamQueries)
        }
        let one = try upstreamCount(copies: 1, address: base + ".205.1")
        let twenty = try upstreamCount(copies: 20, address: base + ".205.2")
        #expect(one > 0)
        #expect(twenty == one, "one query cost \(one) upstream queries, twenty identical ones \(twenty)")
    }

    /// Names in ten different cold zones of one TLD asked at once: the steps they have in common
    /// (the root's referral to the TLD, and the TLD's for the same zone; validating, the root's
    /// DNSKEY set and the TLD's DS and DNSKEY sets) are sent once, not once per name.
    @Test func concurrentResolutionsShareCommonUpstreamSteps() throws {
        let lab = try WorkerLab.lab()
        var perZone: [String: String] = [:]
        for e in lab.hierarchy.expectedAnswers where e.kind == .answer && e.qtype == "A" && e.zone.hasSuffix(".lab.")
            && !e.features.contains("lame-ns") && !e.features.contains("glueless") && e.zone.split(separator: ".").count == 2
            && e.dnssec != .bogus {
            perZone[e.zone] = perZone[e.zone] ?? e.qname
        }
        let names = Array(perZone.values.sorted().prefix(10))
        try #require(names.count == 10)
        try WorkerLab.withWorker("steps", host: ".205.3") { worker, _ in
            let responses = try udpBurst(names, address: worker.address, port: worker.port)
            #expect(responses.count == names.count)
            #expect(responses.allSatisfy { $0.rcode == .noError && !$0.answers.isEmpty })
            let seg = try SharedSegment.attach(name: SegmentName.forInstance(worker.segment))
            let upstream = seg.stats(workerSlot: 0).value(.upstreamQueries)
            // Alone, each name costs the root's referral, the TLD's, one or two queries at its
            // zone, and to validate the root's DNSKEY set, the TLD's DS and DNSKEY sets and the
            // zone's (at most two more): 80 or more for ten. Shared, the root's and the TLD's are
            // paid once.
            #expect(upstream <= UInt64(1 + 1 + 3 + 4 * names.count), "\(names.count) names cost \(upstream) upstream queries")
        }
    }

    /// Sends `copies` queries for `name` at once from one UDP socket and collects the replies.
    func burst(_ name: String, copies: Int, address: String, port: UInt16) throws -> [Message] {
        try udpBurst([String](repeating: name, count: copies), address: address, port: port)
    }
}

/// RFC 8767: when every server fails, expired data is served (TTL 30, EDE "Stale Answer")
/// rather than SERVFAIL, and never stored as fresh.
@Suite(.workerLab, .serialized)
struct ServeStaleTests {
    @Test func expiredDataIsServedStaleWhenNoServerAnswers() throws {
        let lab = try WorkerLab.lab()
        let segment = uniqueSegment("stale")
        defer { unlinkSegment(segment) }
        let base = lab.hierarchy.plan.prefix
        // TTLs capped at 2 s, so the data is expired a few seconds later.
        let config = "\(lab.paths.directory)/stale-\(segment).yaml"
        try "max-ttl: 2\nmax-negative-ttl: 2\n".write(toFile: config, atomically: true, encoding: .utf8)
        let e = try #require(lab.hierarchy.expectedAnswers.first { $0.kind == .answer && $0.qtype == "A" && $0.zone.hasSuffix("lab.") })
        let fresh: Message
        do {
            let first = try WorkerProcess(address: lab.listenAddress(base + ".206.1"), segment: segment,
                                          rootHints: lab.paths.rootHints, validation: .lab(lab), extra: ["--config", config])
            defer { first.stop() }
            fresh = try first.ask(e.qname, .a)
        }
        #expect(fresh.rcode == .noError && !fresh.answers.isEmpty)
        #expect(fresh.answers.allSatisfy { $0.ttl <= 2 })
        Thread.sleep(forTimeInterval: 3.2)

        // Every server now unreachable: the answer is the stale one, marked as such.
        let blind = try WorkerProcess(address: lab.listenAddress(base + ".206.2"), segment: segment,
                                      rootHints: try WorkerLab.blackholeHints(lab), validation: .lab(lab),
                                      extra: ["--config", config, "--worker-slot", "1"])
        defer { blind.stop() }
        let stale = try blind.ask(e.qname, .a)
        #expect(stale.rcode == .noError)
        #expect(Set(stale.answers.map(\.comparable)) == Set(fresh.answers.map(\.comparable)))
        #expect(stale.answers.allSatisfy { $0.ttl == 30 })
        #expect(stale.edns?.extendedErrors.contains { $0.code == .staleAnswer } == true, "\(stale.presentation)")
        // A name never resolved has nothing stale: SERVFAIL saying no server was reachable.
        let none = try blind.ask("never-resolved." + e.zone, .a)
        #expect(none.rcode == .servFail)
        #expect(none.edns?.extendedErrors.contains { $0.code == .noReachableAuthority } == true, "\(none.presentation)")
    }
}
