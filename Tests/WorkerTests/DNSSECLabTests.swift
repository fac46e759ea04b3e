import DNSCore
import Foundation
import ShmCache
import ShoalLab
import Synchronization
import Testing

/// A worker with `--dnssec validate` and the lab's trust anchor against the lab's signed,
/// unsigned and bogus zones: rcode and AD as the answer oracle says (what unbound also says,
/// `UnboundCrossCheck`), each bogus kind with its Extended DNS Error, CD=1, and bogus verdicts
/// cached rather than validated again per query.
@Suite(.workerLab, .serialized)
struct DNSSECLabTests {
    static func validating(_ lab: Lab) -> [String] {
        ["--dnssec", "validate", "--trust-anchor", lab.paths.trustAnchor]
    }

    /// The EDE a bogus answer of the lab carries, from the fault of the zone it touches; nil
    /// when the answer touches several kinds.
    static func expectedEDE(_ e: ExpectedAnswer) -> EDECode? {
        let faults: [(String, EDECode)] = [("bogus-expired", .signatureExpired), ("bogus-ds", .dnskeyMissing),
                                           ("corrupt-rrsig", .dnssecBogus)]
        let present = faults.filter { e.features.contains($0.0) }
        return present.count == 1 ? present[0].1 : nil
    }

    static func ask(_ w: WorkerProcess, _ name: String, _ type: RRType, dnssecOK: Bool, ad: Bool = false,
                    cd: Bool = false) throws -> Message {
        var q = Message.query(id: UInt16.random(in: 0...UInt16.max), name: try DNSName(name), type: type,
                              edns: EDNS(udpPayloadSize: 1232, dnssecOK: dnssecOK))
        q.header.authenticData = ad
        q.header.checkingDisabled = cd
        var r = try Message(wire: DNSProbe.exchange(try q.serialize(), server: w.address, port: w.port,
                                                    timeoutMilliseconds: 15_000))
        if r.header.truncated {
            r = try Message(wire: DNSProbe.exchange(try q.serialize(), server: w.address, port: w.port, transport: .tcp,
                                                    timeoutMilliseconds: 15_000))
        }
        #expect(r.header.id == q.header.id)
        return r
    }

    @Test func everyLabNameHasTheOraclesRcodeADAndEDE() throws {
        let lab = try WorkerLab.lab()
        try WorkerLab.withWorker("dnssec-lab", host: ".210.1", extra: Self.validating(lab)) { worker, lab in
            // Lame zones are left out, as in the unbound cross-check: time spent on the black
            // hole is not what is tested here.
            let cases = lab.hierarchy.expectedAnswers.filter { !$0.features.contains("lame-ns") }
            var bogusKinds = Set<String>()
            for e in cases {
                let type = try #require(RRType(mnemonic: e.qtype))
                let r = try Self.ask(worker, e.qname, type, dnssecOK: true)
                let what = "\(e.qname) \(e.qtype) (\(e.dnssec), \(e.features.sorted()))"
                #expect(r.rcode.description == e.validatingRcode, "\(what)\n\(r.presentation)")
                #expect(r.header.authenticData == (e.dnssec == .secure), "AD for \(what)\n\(r.presentation)")
                if e.dnssec == .bogus {
                    #expect(r.answers.isEmpty, "\(what)")
                    if let code = Self.expectedEDE(e) {
                        bogusKinds.insert("\(code)")
                        #expect(r.edns?.extendedErrors.map(\.code).contains(code) == true,
                                "EDE for \(what)\n\(r.presentation)")
                    }
                } else {
                    let expected = try e.answer.map { try ResourceRecord(presentation: $0) }
                    let got = r.answers.filter { $0.type != .rrsig }
                    #expect(Set(got.map(\.ttlZero)) == Set(expected.map(\.ttlZero)), "\(what)\n\(r.presentation)")
                }
            }
            // All three of the lab's bogus kinds were asked.
            #expect(bogusKinds.count == 3, "\(bogusKinds)")
        }
    }

    @Test func adOnlyForClientsThatSetDOOrAD() throws {
        let lab = try WorkerLab.lab()
        try WorkerLab.withWorker("dnssec-ad", host: ".210.2", extra: Self.validating(lab)) { worker, lab in
            let e = try #require(lab.hierarchy.expectedAnswers.first {
                $0.kind == .answer && $0.qtype == "A" && $0.dnssec == .secure && !$0.features.contains("lame-ns")
            })
            // AD without DO first: the response stored in the packet cache carries AD.
            let withAD = try Self.ask(worker, e.qname, .a, dnssecOK: false, ad: true)
            #expect(withAD.header.authenticData)
            #expect(withAD.answers.allSatisfy { $0.type != .rrsig })
            // The same key (DO clear), from the packet cache: AD only for the client that asks.
            let plain = try Self.ask(worker, e.qname, .a, dnssecOK: false)
            #expect(!plain.header.authenticData)
            #expect(try Self.ask(worker, e.qname, .a, dnssecOK: false, ad: true).header.authenticData)
            let dnssec = try Self.ask(worker, e.qname, .a, dnssecOK: true)
            #expect(dnssec.header.authenticData)
            #expect(dnssec.answers.contains { $0.type == .rrsig })
            // Insecure data: never AD.
            let insecure = try #require(lab.hierarchy.expectedAnswers.first {
                $0.kind == .answer && $0.qtype == "A" && $0.dnssec == .insecure && !$0.features.contains("lame-ns")
            })
            #expect(!(try Self.ask(worker, insecure.qname, .a, dnssecOK: true, ad: true)).header.authenticData)
        }
    }

    @Test func checkingDisabledGetsBogusDataWithSignatures() throws {
        let lab = try WorkerLab.lab()
        try WorkerLab.withWorker("dnssec-cd", host: ".210.3", extra: Self.validating(lab)) { worker, lab in
            let e = try #require(lab.hierarchy.expectedAnswers.first {
                $0.kind == .answer && $0.dnssec == .bogus && $0.qtype == "A" && $0.features.contains("bogus-expired")
            })
            for _ in 0..<2 {   // resolved, then from the caches
                let r = try Self.ask(worker, e.qname, .a, dnssecOK: true, cd: true)
                #expect(r.rcode == .noError, "\(r.presentation)")
                #expect(!r.header.authenticData)
                let expected = try e.answer.map { try ResourceRecord(presentation: $0) }
                #expect(Set(r.answers.filter { $0.type != .rrsig }.map(\.ttlZero)) == Set(expected.map(\.ttlZero)))
                #expect(r.answers.contains { $0.type == .rrsig }, "DO: signatures included\n\(r.presentation)")
            }
            // Without CD the same name is SERVFAIL with its EDE.
            let r = try Self.ask(worker, e.qname, .a, dnssecOK: true)
            #expect(r.rcode == .servFail)
            #expect(r.edns?.extendedErrors.map(\.code) == [.signatureExpired], "\(r.presentation)")
            // A secure name with CD: answered, with signatures.
            let secure = try #require(lab.hierarchy.expectedAnswers.first {
                $0.kind == .answer && $0.qtype == "A" && $0.dnssec == .secure && !$0.features.contains("lame-ns")
            })
            let s = try Self.ask(worker, secure.qname, .a, dnssecOK: true, cd: true)
            #expect(s.rcode == .noError)
            #expect(s.answers.contains { $0.type == .rrsig })
        }
    }

    @Test func aRepeatedBogusQueryIsNotValidatedAgain() throws {
        let lab = try WorkerLab.lab()
        try WorkerLab.withWorker("dnssec-bogus", host: ".210.4", extra: Self.validating(lab) + ["--dnssec-bogus-ttl", "30"]) {
            worker, lab in
            let e = try #require(lab.hierarchy.expectedAnswers.first {
                $0.kind == .answer && $0.dnssec == .bogus && $0.qtype == "A" && $0.features.contains("bogus-ds")
            })
            let marker = "dnssec: validated \(e.qname) A "
            func validations() -> Int { worker.log.components(separatedBy: marker).count - 1 }
            let first = try Self.ask(worker, e.qname, .a, dnssecOK: true)
            #expect(first.rcode == .servFail)
            #expect(first.edns?.extendedErrors.map(\.code) == [.dnskeyMissing], "\(first.presentation)")
            let after = validations()
            #expect(after >= 1, "\(worker.log)")
            for _ in 0..<3 {
                let again = try Self.ask(worker, e.qname, .a, dnssecOK: true)
                #expect(again.rcode == .servFail)
                #expect(again.edns?.extendedErrors.map(\.code) == [.dnskeyMissing], "\(again.presentation)")
            }
            #expect(validations() == after)
        }
    }

    @Test func theVerificationCapHoldsAcrossAResolution() throws {
        let lab = try WorkerLab.lab()
        let config = "\(lab.paths.directory)/dnssec-cap.yaml"
        try "dnssec-max-verifications: 2\n".write(toFile: config, atomically: true, encoding: .utf8)
        try WorkerLab.withWorker("dnssec-cap", host: ".210.8", extra: Self.validating(lab) + ["--config", config]) {
            worker, lab in
            // Root keys, the TLD's DS and keys, the zone's DS and keys, the answer: more than two
            // verifications, spread over several responses of one resolution.
            let e = try #require(lab.hierarchy.expectedAnswers.first {
                $0.kind == .answer && $0.qtype == "A" && $0.dnssec == .secure && !$0.features.contains("lame-ns")
                    && $0.zone.split(separator: ".").count >= 2
            })
            let r = try Self.ask(worker, e.qname, .a, dnssecOK: true)
            #expect(r.rcode == .servFail, "\(r.presentation)")
            let ede = try #require(r.edns?.extendedErrors.first)
            #expect(ede.code == .dnssecBogus)
            #expect(String(decoding: ede.extraText, as: UTF8.self).contains("work limit exceeded"), "\(r.presentation)")
        }
    }

    @Test func anotherWorkerAnswersFromTheCachedVerdicts() throws {
        let lab = try WorkerLab.lab()
        let segment = uniqueSegment("dnssec-shared")
        defer { unlinkSegment(segment) }
        let base = lab.hierarchy.plan.prefix
        let first = try WorkerProcess(address: lab.listenAddress(base + ".210.9"), segment: segment,
                                      rootHints: lab.paths.rootHints, validation: .lab(lab),
                                      extra: Self.validating(lab) + ["--segment-size", "64"])
        defer { first.stop() }
        let cases = lab.hierarchy.expectedAnswers.filter { !$0.features.contains("lame-ns") }
            .enumerated().filter { i, e in i % 8 == 0 || e.dnssec != .secure }.map(\.element)
        for e in cases { _ = try Self.ask(first, e.qname, try #require(RRType(mnemonic: e.qtype)), dnssecOK: true) }
        // Its verdicts are counted in its statistics (shoal_dnssec_results_total).
        let counted = try SharedSegment.attach(name: SegmentName.forInstance(segment)).stats(workerSlot: 0)
        #expect(counted.value(.dnssecSecure) > 0 && counted.value(.dnssecInsecure) > 0 && counted.value(.dnssecBogus) > 0,
                "secure \(counted.value(.dnssecSecure)) insecure \(counted.value(.dnssecInsecure)) bogus \(counted.value(.dnssecBogus))")

        // A second validating worker on the segment whose only root server is a black hole:
        // asked without DO (another packet-cache key), it answers from the record and negative
        // caches, with the verdicts the first worker stored.
        let second = try WorkerProcess(address: lab.listenAddress(base + ".210.10"), segment: segment,
                                       rootHints: try WorkerLab.blackholeHints(lab), validation: .lab(lab),
                                       extra: Self.validating(lab) + ["--worker-slot", "1"])
        defer { second.stop() }
        let seg = try SharedSegment.attach(name: SegmentName.forInstance(segment))
        for e in cases {
            let r = try Self.ask(second, e.qname, try #require(RRType(mnemonic: e.qtype)), dnssecOK: false, ad: true)
            let what = "\(e.qname) \(e.qtype) (\(e.dnssec))"
            #expect(r.rcode.description == e.validatingRcode, "\(what)\n\(r.presentation)")
            #expect(r.header.authenticData == (e.dnssec == .secure), "AD for \(what)\n\(r.presentation)")
            if e.dnssec == .bogus { #expect(r.edns?.extendedErrors.isEmpty == false, "EDE for \(what)") }
        }
        // Most answers come from the segment with their verdicts. Not all: an entry larger than
        // the second-largest way of its table (a signed negative answer with its NSEC/NSEC3
        // proofs often is) has one slot per bucket, so two of them in one bucket evict each
        // other; those few are resolved and validated again.
        let asked = seg.stats(workerSlot: 1).value(.upstreamQueries)
        let validated = second.log.components(separatedBy: "dnssec: validated").count - 1
        #expect(asked * 5 < cases.count, "\(asked) upstream queries for \(cases.count) names")
        #expect(validated * 5 < cases.count, "\(validated) validations for \(cases.count) names")

        // A worker with validation off on the same segment ignores the verdicts: no AD, and the
        // bogus data as it is.
        let off = try WorkerProcess(address: lab.listenAddress(base + ".210.12"), segment: segment,
                                    rootHints: try WorkerLab.blackholeHints(lab), validation: .off,
                                    extra: ["--worker-slot", "2"])
        defer { off.stop() }
        for e in cases.prefix(60) where e.kind == .answer {
            let r = try Self.ask(off, e.qname, try #require(RRType(mnemonic: e.qtype)), dnssecOK: false, ad: true)
            #expect(r.rcode.description == e.rcode && !r.header.authenticData, "\(e.qname)\n\(r.presentation)")
        }
    }

    @Test func aNegativeTrustAnchorTurnsABogusZoneInsecure() throws {
        let lab = try WorkerLab.lab()
        try WorkerLab.withWorker("dnssec-nta", host: ".210.11",
                                 extra: Self.validating(lab) + ["--negative-trust-anchor", "Expired.Internal."]) { worker, lab in
            let under = try #require(lab.hierarchy.expectedAnswers.first {
                $0.kind == .answer && $0.qtype == "A" && $0.features.contains("bogus-expired")
            })
            let r = try Self.ask(worker, under.qname, .a, dnssecOK: true)
            #expect(r.rcode == .noError && !r.header.authenticData, "\(r.presentation)")
            let expected = try under.answer.map { try ResourceRecord(presentation: $0) }
            #expect(Set(r.answers.filter { $0.type != .rrsig }.map(\.ttlZero)) == Set(expected.map(\.ttlZero)))
            // Other bogus zones stay bogus, secure ones secure.
            let other = try #require(lab.hierarchy.expectedAnswers.first {
                $0.kind == .answer && $0.qtype == "A" && $0.features.contains("bogus-ds")
            })
            #expect(try Self.ask(worker, other.qname, .a, dnssecOK: true).rcode == .servFail)
            let secure = try #require(lab.hierarchy.expectedAnswers.first {
                $0.kind == .answer && $0.qtype == "A" && $0.dnssec == .secure && !$0.features.contains("lame-ns")
            })
            #expect(try Self.ask(worker, secure.qname, .a, dnssecOK: true).header.authenticData)
        }
    }

    /// Aggressive NSEC (RFC 8198): once a worker has validated a zone's denials, a second
    /// worker on the segment answers other names they prove absent, other types a name's NSEC
    /// lacks, and names under a cached wildcard, with AD and the proofs, without a query
    /// upstream; NSEC3 spans likewise. A worker with `--aggressive-nsec false`, and names under
    /// a negative trust anchor, ask upstream.
    @Test func validatedDenialsAnswerOtherNamesWithoutAsking() throws {
        let lab = try WorkerLab.lab()
        let segment = uniqueSegment("dnssec-aggressive")
        defer { unlinkSegment(segment) }
        let base = lab.hierarchy.plan.prefix
        let zones = lab.hierarchy.special.wildcardZones
        let nsecZone = zones[0], nsec3Zone = zones[1]
        #expect(lab.hierarchy.zone(nsecZone)?.signing?.denial == .nsec && lab.hierarchy.zone(nsecZone)?.signing?.fault == nil)
        #expect(lab.hierarchy.zone(nsec3Zone)?.signing?.denial == .nsec3 && lab.hierarchy.zone(nsec3Zone)?.signing?.fault == nil)
        func worker(_ host: String, slot: Int, _ extra: [String] = []) throws -> WorkerProcess {
            try WorkerProcess(address: lab.listenAddress(base + host), segment: segment, rootHints: lab.paths.rootHints,
                              validation: .lab(lab), extra: ["--worker-slot", "\(slot)"] + extra)
        }
        func upstream(_ slot: Int) -> UInt64 { seg.stats(workerSlot: slot).value(.upstreamQueries) }

        // The first worker learns the NSEC zone's denials: a missing name, a missing type, a
        // wildcard's data and a type the wildcard lacks.
        let first = try worker(".210.17", slot: 0)
        defer { first.stop() }
        let seg = try SharedSegment.attach(name: SegmentName.forInstance(segment))
        let learn: [(String, RRType)] = [("nx-aaa.\(nsecZone)", .a), ("www.\(nsecZone)", .srv),
                                         ("host-a.wild.\(nsecZone)", .a), ("host-a.wild.\(nsecZone)", .aaaa)]
        for (n, t) in learn {
            let r = try Self.ask(first, n, t, dnssecOK: true)
            #expect(r.header.authenticData && (r.rcode == .nxDomain) == n.hasPrefix("nx-"), "\(n) \(t)\n\(r.presentation)")
        }
        // NSEC3 spans are in hash order: many missing names reveal most of a small zone's.
        for i in 0..<40 { _ = try Self.ask(first, "nx-learn-\(i).\(nsec3Zone)", .a, dnssecOK: true) }
        let wildcardA = try Self.ask(first, "host-a.wild.\(nsecZone)", .a, dnssecOK: false).answers.filter { $0.type == .a }

        let second = try worker(".210.18", slot: 1)
        defer { second.stop() }
        let before = upstream(1)
        let nx = try Self.ask(second, "nx-aaa0.\(nsecZone)", .a, dnssecOK: true)
        #expect(nx.rcode == .nxDomain && nx.header.authenticData, "\(nx.presentation)")
        #expect(nx.authority.contains { $0.type == .soa } && nx.authority.contains { $0.type == .nsec }
                && nx.authority.contains { $0.type == .rrsig }, "\(nx.presentation)")
        let noData = try Self.ask(second, "www.\(nsecZone)", .naptr, dnssecOK: true)
        #expect(noData.rcode == .noError && noData.answers.isEmpty && noData.header.authenticData, "\(noData.presentation)")
        let wild = try Self.ask(second, "host-b.wild.\(nsecZone)", .a, dnssecOK: true)
        #expect(wild.rcode == .noError && wild.header.authenticData, "\(wild.presentation)")
        #expect(Set(wild.answers.filter { $0.type == .a }.map(\.rdata)) == Set(wildcardA.map(\.rdata)) && !wildcardA.isEmpty)
        #expect(wild.answers.allSatisfy { $0.name == (try? DNSName("host-b.wild.\(nsecZone)")) }, "\(wild.presentation)")
        let wildNoData = try Self.ask(second, "host-c.wild.\(nsecZone)", .aaaa, dnssecOK: true)
        #expect(wildNoData.rcode == .noError && wildNoData.answers.isEmpty && wildNoData.header.authenticData,
                "\(wildNoData.presentation)")
        #expect(upstream(1) == before, "\(upstream(1) - before) upstream queries for names the cache proves")

        // NSEC3: most new missing names are proven by the spans the first worker saw.
        let nsec3Before = upstream(1)
        for i in 0..<20 {
            let r = try Self.ask(second, "nx-new-\(i).\(nsec3Zone)", .a, dnssecOK: true)
            #expect(r.rcode == .nxDomain && r.header.authenticData, "\(r.presentation)")
        }
        #expect(upstream(1) - nsec3Before < 10, "\(upstream(1) - nsec3Before) upstream queries for 20 NSEC3-proven names")

        // Turned off, the same kind of name is asked upstream.
        let off = try worker(".210.19", slot: 2, ["--aggressive-nsec", "false"])
        defer { off.stop() }
        let offBefore = upstream(2)
        #expect(try Self.ask(off, "nx-aaa1.\(nsecZone)", .a, dnssecOK: true).rcode == .nxDomain)
        #expect(upstream(2) > offBefore)

        // Under a negative trust anchor nothing is synthesised: asked, and answered insecure.
        #expect(try seg.negativeTrustAnchors.add(try DNSName(nsecZone), now: UInt64(shmNow())))
        let ntaBefore = upstream(1)
        let under = try Self.ask(second, "nx-aaa2.\(nsecZone)", .a, dnssecOK: true)
        #expect(under.rcode == .nxDomain && !under.header.authenticData, "\(under.presentation)")
        #expect(upstream(1) > ntaBefore)
    }

    /// Concurrent resolutions in a few signed zones, none of whose keys is cached, join each
    /// other's DNSKEY and DS fetches: every answer still ends secure, none waits forever, and
    /// the upstream queries stay near one per question. (What the sharing saves depends on how
    /// the resolutions overlap: 45 against 50 queries here; over the whole lab with 32 queries
    /// outstanding, 5213 against 8049, bench/RESULTS.md.)
    @Test func concurrentResolutionsShareTheirKeyFetches() throws {
        try WorkerLab.withWorker("dnssec-shared-fetch", host: ".210.20", extra: Self.validating(WorkerLab.lab())) { worker, lab in
            let secure = lab.hierarchy.expectedAnswers.filter { $0.dnssec == .secure && !$0.features.contains("lame-ns") }
            let zones = Array(Set(secure.filter { $0.zone.split(separator: ".").count == 2 }.map(\.zone)).sorted().prefix(3))
            let cases = secure.filter { zones.contains($0.zone) && $0.kind != .cname && $0.kind != .dname }
            #expect(cases.count >= 24)
            let seg = try SharedSegment.attach(name: SegmentName.forInstance(worker.segment))
            let before = seg.stats(workerSlot: 0).value(.upstreamQueries)
            let ad = Mutex(0)
            DispatchQueue.concurrentPerform(iterations: cases.count) { i in
                let e = cases[i]
                if let t = RRType(mnemonic: e.qtype), let r = try? Self.ask(worker, e.qname, t, dnssecOK: true),
                   r.header.authenticData {
                    ad.withLock { $0 += 1 }
                }
            }
            let asked = seg.stats(workerSlot: 0).value(.upstreamQueries) - before
            #expect(ad.withLock { $0 } == cases.count)
            #expect(asked <= UInt64(cases.count + 30), "\(asked) upstream queries for \(cases.count) questions")
        }
    }

    /// `shoalctl nta add|remove` as shoald does it: the name into the segment's table, its
    /// subtree out of the caches. Two validating workers on one segment both follow it.
    @Test func aNegativeTrustAnchorAddedAtRunTimeInTheSegmentHoldsForEveryWorker() throws {
        let lab = try WorkerLab.lab()
        let segment = uniqueSegment("dnssec-nta-runtime")
        defer { unlinkSegment(segment) }
        let base = lab.hierarchy.plan.prefix
        let workers = try [".210.15", ".210.16"].enumerated().map { slot, host in
            try WorkerProcess(address: lab.listenAddress(base + host), segment: segment, rootHints: lab.paths.rootHints,
                              validation: .lab(lab), extra: ["--worker-slot", "\(slot)"])
        }
        defer { for w in workers { w.stop() } }
        let bogus = try #require(lab.hierarchy.expectedAnswers.first {
            $0.kind == .answer && $0.qtype == "A" && $0.features.contains("bogus-ds") && !$0.features.contains("lame-ns")
        })
        let zone = try DNSName(bogus.zone)
        let expected = Set(try bogus.answer.map { try ResourceRecord(presentation: $0).ttlZero })
        let seg = try SharedSegment.attach(name: SegmentName.forInstance(segment))
        func wipe() {
            _ = seg.records.removeNames(at: zone, subtree: true) + seg.negative.removeNames(at: zone, subtree: true)
                + seg.packets.removeNames(at: zone, subtree: true)
        }
        func expectBogus(_ when: String) throws {
            for w in workers {
                let r = try Self.ask(w, bogus.qname, .a, dnssecOK: true)
                #expect(r.rcode == .servFail && r.edns?.extendedErrors.isEmpty == false, "\(when), \(w.address)\n\(r.presentation)")
            }
        }
        try expectBogus("before the anchor")

        #expect(try seg.negativeTrustAnchors.add(zone, now: UInt64(shmNow())))
        wipe()
        for w in workers {
            for dnssecOK in [true, false] {
                let r = try Self.ask(w, bogus.qname, .a, dnssecOK: dnssecOK, ad: true)
                #expect(r.rcode == .noError && !r.header.authenticData, "\(w.address)\n\(r.presentation)")
                #expect(Set(r.answers.filter { $0.type != .rrsig }.map(\.ttlZero)) == expected, "\(r.presentation)")
            }
        }
        // Only that zone: another bogus zone stays bogus, a secure one secure, on both workers.
        let otherBogus = try #require(lab.hierarchy.expectedAnswers.first {
            $0.kind == .answer && $0.qtype == "A" && $0.features.contains("bogus-expired") && !$0.features.contains("lame-ns")
        })
        let secure = try #require(lab.hierarchy.expectedAnswers.first {
            $0.kind == .answer && $0.qtype == "A" && $0.dnssec == .secure && !$0.features.contains("lame-ns")
        })
        for w in workers {
            #expect(try Self.ask(w, otherBogus.qname, .a, dnssecOK: true).rcode == .servFail)
            #expect(try Self.ask(w, secure.qname, .a, dnssecOK: true).header.authenticData)
        }

        #expect(seg.negativeTrustAnchors.remove(zone))
        wipe()
        try expectBogus("after the anchor was removed")
    }

    @Test func turningValidationOnOverAFilledSegmentValidatesWhatWasCachedWithout() throws {
        let lab = try WorkerLab.lab()
        let segment = uniqueSegment("dnssec-turn-on")
        defer { unlinkSegment(segment) }
        let base = lab.hierarchy.plan.prefix
        let bogus = try #require(lab.hierarchy.expectedAnswers.first {
            $0.kind == .answer && $0.dnssec == .bogus && $0.qtype == "A"
        })
        let secure = try #require(lab.hierarchy.expectedAnswers.first {
            $0.kind == .answer && $0.qtype == "A" && $0.dnssec == .secure && !$0.features.contains("lame-ns")
        })
        do {
            let off = try WorkerProcess(address: lab.listenAddress(base + ".210.13"), segment: segment,
                                        rootHints: lab.paths.rootHints, validation: .off)
            defer { off.stop() }
            for e in [bogus, secure] {
                for dnssecOK in [false, true] {
                    #expect(try Self.ask(off, e.qname, .a, dnssecOK: dnssecOK).rcode == .noError)
                }
            }
        }
        // The same segment (its record and packet caches full of unvalidated answers), now
        // with validation: nothing unvalidated is served as it was.
        let on = try WorkerProcess(address: lab.listenAddress(base + ".210.14"), segment: segment,
                                   rootHints: lab.paths.rootHints, validation: .lab(lab), extra: Self.validating(lab))
        defer { on.stop() }
        for dnssecOK in [false, true] {
            let b = try Self.ask(on, bogus.qname, .a, dnssecOK: dnssecOK)
            #expect(b.rcode == .servFail, "\(b.presentation)")
            let s = try Self.ask(on, secure.qname, .a, dnssecOK: dnssecOK, ad: true)
            #expect(s.rcode == .noError && s.header.authenticData, "\(s.presentation)")
        }
    }

    @Test func offLeavesADClearAndBogusAnswered() throws {
        try WorkerLab.withWorker("dnssec-off", host: ".210.5", extra: ["--dnssec", "off"]) { worker, lab in
            let secure = try #require(lab.hierarchy.expectedAnswers.first {
                $0.kind == .answer && $0.qtype == "A" && $0.dnssec == .secure && !$0.features.contains("lame-ns")
            })
            #expect(!(try Self.ask(worker, secure.qname, .a, dnssecOK: true, ad: true)).header.authenticData)
            let bogus = try #require(lab.hierarchy.expectedAnswers.first {
                $0.kind == .answer && $0.dnssec == .bogus && $0.qtype == "A"
            })
            #expect(try Self.ask(worker, bogus.qname, .a, dnssecOK: true).rcode == .noError)
        }
    }
}

extension ResourceRecord {
    /// The record with TTL 0, for comparing data that went through a cache.
    fileprivate var ttlZero: ResourceRecord {
        var r = self
        r.ttl = 0
        return r
    }
}

/// When unbound is installed (skip with `SHOAL_LAB_UNBOUND=0`): a validating unbound (its
/// default module config, "validator iterator", with the lab's trust anchor) and a validating
/// worker agree on the rcode, the AD bit and the answer records of every non-lame lab name.
@Suite(.workerLab, .serialized,
       .enabled(if: ProcessInfo.processInfo.environment["SHOAL_LAB_UNBOUND"] != "0" && UnboundPeer.installed))
struct DNSSECUnboundAgreementTests {
    @Test func workerAndUnboundAgreeOnADAndSERVFAILForTheWholeLab() throws {
        let lab = try WorkerLab.lab()
        let address = lab.listenAddress(lab.hierarchy.plan.prefix + ".210.6")
        let unbound = try UnboundPeer.start(lab, address: address, name: "unbound-dnssec")
        defer { unbound.terminate(); unbound.waitUntilExit() }
        let peer = WorkerProcess.Client(address: address, port: 53)
        try WorkerLab.withWorker("dnssec-unbound", host: ".210.7", extra: DNSSECLabTests.validating(lab)) { worker, lab in
            let cases = lab.hierarchy.expectedAnswers.filter { !$0.features.contains("lame-ns") }
            var compared = 0
            for e in cases {
                let type = try #require(RRType(mnemonic: e.qtype))
                let ours = try worker.ask(e.qname, type, dnssecOK: true)
                let theirs = try peer.ask(e.qname, type, dnssecOK: true, timeoutMilliseconds: 15_000)
                let what = "\(e.qname) \(e.qtype) (\(e.dnssec))"
                #expect(ours.rcode == theirs.rcode, "rcode for \(what): ours\n\(ours.presentation)\nunbound's\n\(theirs.presentation)")
                #expect(ours.header.authenticData == theirs.header.authenticData,
                        "AD for \(what): ours\n\(ours.presentation)\nunbound's\n\(theirs.presentation)")
                #expect(Set(ours.answers.filter { $0.type != .rrsig }.map(\.comparable))
                        == Set(theirs.answers.filter { $0.type != .rrsig }.map(\.comparable)),
                        "answers for \(what): ours\n\(ours.presentation)\nunbound's\n\(theirs.presentation)")
                compared += 1
            }
            #expect(compared == cases.count && compared > 0)
        }
    }
}
