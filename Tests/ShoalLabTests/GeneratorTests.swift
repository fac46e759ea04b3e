import DNSCore
import ShoalLab
import Testing

/// The generated hierarchy and its expected answers, without starting anything.
@Suite struct GeneratorTests {
    static let config = LabConfig(directory: "/nonexistent/never-written", addressPrefix: "127.59")
    static let hierarchy = try! LabHierarchy(config)

    @Test func sameSeedSameLab() throws {
        let again = try LabHierarchy(Self.config)
        #expect(again.zones == Self.hierarchy.zones)
        #expect(again.expectedAnswers == Self.hierarchy.expectedAnswers)
        #expect(again.special == Self.hierarchy.special)
    }

    @Test func otherSeedOtherLab() throws {
        var config = Self.config
        config.seed = 2
        let other = try LabHierarchy(config)
        #expect(other.zones.map(\.origin) != Self.hierarchy.zones.map(\.origin))
    }

    @Test func defaultSizeAndLayout() {
        let h = Self.hierarchy
        #expect(h.zones.count == 1 + LabHierarchy.tlds.count + 300 + 6)
        #expect(h.zones[0].origin == ".")
        #expect(h.instances.map(\.name) == ["root", "tld", "sld0", "sld1", "sld2"])
        // Every zone is served by exactly one instance.
        let served = h.instances.flatMap(\.zones)
        #expect(served.count == h.zones.count)
        #expect(Set(served) == Set(h.zones.map(\.origin)))
        #expect(h.plan.rootAddresses == ["127.59.0.1", "127.59.0.2"])
    }

    @Test(arguments: [
        LabConfig(addressPrefix: "10.53"), LabConfig(addressPrefix: "127.53.1"), LabConfig(addressPrefix: "127.300"),
        LabConfig(secondLevelZones: 5), LabConfig(sldInstances: 0), LabConfig(addressesPerInstance: 1),
    ])
    func rejectsUnusableConfig(_ config: LabConfig) {
        #expect(throws: LabError.self) { try LabHierarchy(config) }
    }

    @Test func smallLabStillHasEveryFeature() throws {
        let h = try LabHierarchy(LabConfig(secondLevelZones: 20))
        let algorithms = Set(h.zones.compactMap { $0.signing?.algorithm })
        #expect(algorithms == [8, 10, 13, 14, 15])
        #expect(Set(h.expectedAnswers.map(\.dnssec)) == [.secure, .insecure, .bogus])
        #expect(Set(h.expectedAnswers.map(\.kind)) == [.answer, .cname, .dname, .wildcard, .nodata, .nxdomain])
    }

    @Test func signingMix() {
        let zones = Self.hierarchy.zones
        let signed = zones.filter { $0.signing != nil }
        #expect(Set(signed.compactMap { $0.signing?.algorithm }) == [8, 10, 13, 14, 15])
        #expect(signed.contains { $0.signing?.denial == .nsec })
        #expect(signed.contains { $0.signing?.denial == .nsec3 && $0.signing?.nsec3Salt == "" })
        #expect(signed.contains { $0.signing?.denial == .nsec3 && $0.signing?.nsec3Salt != "" })
        // Mostly the fast algorithms.
        let fast = signed.filter { [13, 15].contains($0.signing!.algorithm) }
        #expect(fast.count * 2 > signed.count)
        let unsigned = zones.filter { $0.signing == nil }
        #expect(unsigned.count >= 3)
        #expect(zones.filter { $0.origin == "." || $0.features.contains("tld") }.allSatisfy { $0.signing != nil })
        let faults = zones.compactMap { $0.signing?.fault }
        #expect(faults.count == 3)
        #expect(faults.contains(.expiredSignatures))
        #expect(faults.contains(.dsMatchesNoKey))
        #expect(faults.contains(.corruptSignature(owner: "www.corrupt.zz.", type: "A")))
    }

    @Test func gluelessDelegationsHaveNoGlue() throws {
        let h = Self.hierarchy
        #expect(h.special.gluelessZones.count >= 2)
        for origin in h.special.gluelessZones + [h.special.deepGluelessZone] {
            let zone = try #require(h.zone(origin))
            let ns = zone.records.filter { $0.owner == origin && $0.type == "NS" }.map(\.rdata)
            #expect(!ns.isEmpty)
            #expect(ns.allSatisfy { !$0.hasSuffix("." + origin) }, "NS names of \(origin) must lie in other zones")
            let parent = try #require(h.zone(tld(of: origin)))
            #expect(!parent.records.contains { r in r.type == "A" && ns.contains(r.owner) }, "no glue for \(origin)")
        }
        // Two levels: the deep zone's name servers live inside a glueless zone.
        let deep = try #require(h.zone(h.special.deepGluelessZone))
        let deepNS = deep.records.filter { $0.type == "NS" }.map(\.rdata)
        #expect(deepNS.allSatisfy { name in h.special.gluelessZones.contains { name.hasSuffix("." + $0) } })
    }

    @Test func lameZonesPointAtTheBlackHole() throws {
        let h = Self.hierarchy
        #expect(h.special.lameZones.count >= 2)
        for origin in h.special.lameZones {
            let zone = try #require(h.zone(origin))
            #expect(zone.serverAddresses.contains(h.plan.blackholeAddresses[0]))
            #expect(h.answeringServers(for: origin).count == 2)
        }
    }

    @Test func cnameChainsCrossZones() throws {
        let heads = Self.hierarchy.special.cnameChainHeads
        #expect(heads.count >= 6)
        let answers = Self.hierarchy.expectedAnswers.filter { heads.contains($0.qname) && $0.qtype == "A" }
        #expect(answers.count == heads.count)
        for a in answers {
            let cnames = a.answerRecords.filter { $0.type == "CNAME" }
            #expect(cnames.count >= 3, "\(a.qname)")
            #expect(a.features.contains("cross-zone"))
            let zones = Set(cnames.map { Self.hierarchy.zone(for: $0.owner) })
            #expect(zones.count >= 3, "\(a.qname) spans \(zones)")
        }
        // One chain per outcome.
        #expect(Set(answers.map(\.dnssec)) == [.secure, .insecure, .bogus])
        #expect(answers.contains { $0.rcode == "NXDOMAIN" })
        #expect(answers.contains { $0.features.contains("wildcard") })
        #expect(answers.contains { $0.features.contains("dname") })
    }

    @Test func dnameAnswersCarryTheSynthesisedCNAME() throws {
        let owner = try #require(Self.hierarchy.special.dnameOwners.first)
        let a = try #require(Self.hierarchy.expectedAnswers.first { $0.qname == "www." + owner && $0.qtype == "A" })
        let records = a.answerRecords
        #expect(records[0].type == "DNAME" && records[0].owner == owner)
        #expect(records[1].type == "CNAME" && records[1].owner == "www." + owner && records[1].ttl == records[0].ttl)
        #expect(records[1].rdata == "www." + records[0].rdata)
        #expect(records.last?.type == "A")
    }

    @Test func largeRRsetsAreMarked() {
        let h = Self.hierarchy
        for name in h.special.largeTXTNames + h.special.largeANames {
            let a = h.expectedAnswers.first { $0.qname == name }
            #expect(a?.features.contains("large") == true, "\(name)")
        }
        #expect(h.expectedAnswers.filter { $0.features.contains("large") }.count == 6)
    }

    @Test func bogusAnswers() {
        let h = Self.hierarchy
        func status(_ name: String, _ type: String) -> ExpectedAnswer.DNSSECStatus? {
            h.expectedAnswers.first { $0.qname == name && $0.qtype == type }?.dnssec
        }
        #expect(status("www.\(h.special.expiredZone)", "A") == .bogus)
        #expect(status("www.\(h.special.badDSZone)", "A") == .bogus)
        #expect(status(h.special.corruptName, "A") == .bogus)
        #expect(status(h.special.corruptName, "AAAA") == .secure)
        #expect(status("www.\(h.special.unsignedZone)", "A") == .insecure)
        #expect(status("www.\(h.special.secureNSEC3Zone)", "A") == .secure)
        #expect(h.expectedAnswers.first { $0.dnssec == .bogus }?.validatingRcode == "SERVFAIL")
    }

    @Test func negativeAnswers() {
        let answers = Self.hierarchy.expectedAnswers
        let nx = answers.filter { $0.kind == .nxdomain }
        let nodata = answers.filter { $0.kind == .nodata }
        #expect(nx.count > 300 && nx.allSatisfy { $0.rcode == "NXDOMAIN" && $0.answer.isEmpty })
        #expect(nodata.count > 300 && nodata.allSatisfy { $0.rcode == "NOERROR" && $0.answer.isEmpty })
        #expect(nodata.contains { $0.features.contains("ent") })
        #expect(nx.contains { $0.zone == "." })
    }

    @Test func expectedRecordsReadBackWithDNSCore() throws {
        for a in Self.hierarchy.expectedAnswers {
            for line in a.answer {
                let rr = try ResourceRecord(presentation: line)
                #expect(rr.rdata.presentation(type: rr.type).isEmpty == false)
            }
        }
    }

    @Test func zoneRecordsReadBackWithDNSCore() throws {
        for zone in Self.hierarchy.zones {
            for r in zone.records { _ = try ResourceRecord(presentation: r.presentation) }
        }
    }

    @Test func jsonLinesRoundTrip() throws {
        let answers = Self.hierarchy.expectedAnswers
        let text = ExpectedAnswer.jsonLines(answers)
        #expect(text.split(separator: "\n").count == answers.count)
        #expect(try ExpectedAnswer.parse(jsonLines: text) == answers)
        #expect(text.hasPrefix("{\"answer\":"))
    }

    @Test func listenPrefixMovesOnlyTheBinding() throws {
        var config = Self.config
        config.listenPrefix = "127.99"
        let h = try LabHierarchy(config)
        #expect(h.plan.rootAddresses == ["127.59.0.1", "127.59.0.2"])
        #expect(h.plan.listenAddress("127.59.10.3") == "127.99.10.3")
        #expect(h.plan.listenAddress("198.18.0.1") == "198.18.0.1")
        #expect(h.zones == Self.hierarchy.zones)
    }

    @Test func rootHintsFormat() {
        let lines = Self.hierarchy.rootHints.split(separator: "\n").filter { !$0.hasPrefix(";") }
        #expect(lines.count == 4)
        #expect(lines[0].split(separator: " ", omittingEmptySubsequences: true) == [".", "3600000", "NS", "a.root.lab."])
        #expect(lines[1].split(separator: " ", omittingEmptySubsequences: true) == ["a.root.lab.", "3600000", "A", "127.59.0.1"])
    }
}

extension LabHierarchy {
    /// The origin of the deepest zone holding `name`.
    func zone(for name: String) -> String {
        var n = Substring(name)
        while true {
            if zone(String(n)) != nil { return String(n) }
            guard let dot = n.firstIndex(of: "."), n != "." else { return "." }
            n = n[n.index(after: dot)...]
            if n.isEmpty { return "." }
        }
    }
}
