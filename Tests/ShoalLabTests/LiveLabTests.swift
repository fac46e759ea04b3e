import DNSCore
import Foundation
import ShoalLab
import Testing

/// Tests against the real nsd servers of the shared lab. Nested suites inherit the lab.
@Suite(.sharedLab) struct LiveLab {}

extension LiveLab {
    /// The "done when" chain: root → TLD → second level, following the glue of each referral.
    @Suite struct Referrals {
        @Test func rootToTLDToSignedZone() throws {
            let lab = try TestLab.lab()
            let zone = lab.hierarchy.special.secureNSECZone
            let qname = "www." + zone
            let tldName = try DNSName(tld(of: zone)), zoneName = try DNSName(zone)

            // The root refers to the TLD, with DS (the TLDs are signed) and glue.
            let root = try Ask.query(qname, .a, at: lab.listenAddress(lab.rootServers[0]))
            #expect(root.rcode == .noError)
            #expect(!root.header.authoritative)
            #expect(root.answers.isEmpty)
            #expect(Set(root.authority(.ns).map(\.name)) == [tldName])
            #expect(root.authority(.ds).allSatisfy { $0.name == tldName } && !root.authority(.ds).isEmpty)
            let tldServer = try #require(root.glue.values.flatMap { $0 }.first, "root referral carries glue")

            // The TLD refers to the zone, with its DS and the DS's signature.
            let tldResponse = try Ask.query(qname, .a, at: lab.listenAddress(tldServer))
            #expect(tldResponse.rcode == .noError)
            #expect(!tldResponse.header.authoritative)
            #expect(Set(tldResponse.authority(.ns).map(\.name)) == [zoneName])
            let ds = tldResponse.authority(.ds)
            #expect(ds.count == 1 && ds[0].name == zoneName)
            let dsSig = tldResponse.signatures(in: tldResponse.authority, covering: .ds)
            #expect(dsSig.count == 1 && dsSig.first?.signerName == tldName)
            let zoneServer = try #require(tldResponse.glue.values.flatMap { $0 }.first, "TLD referral carries glue")

            // The zone answers authoritatively, signed.
            let answer = try Ask.query(qname, .a, at: lab.listenAddress(zoneServer))
            #expect(answer.rcode == .noError)
            #expect(answer.header.authoritative)
            let expected = try #require(lab.hierarchy.expectedAnswers.first { $0.qname == qname && $0.qtype == "A" })
            #expect(Set(answer.answers(.a)) == Set(try expected.answer.map { try ResourceRecord(presentation: $0) }))
            let sigs = answer.signatures(in: answer.answers, covering: .a)
            #expect(sigs.count == 1)
            #expect(sigs.first?.signerName == zoneName)
            #expect(sigs.first?.algorithm.rawValue == lab.hierarchy.zone(zone)?.signing?.algorithm)

            // The DS at the parent names the zone's key.
            let dnskey = try Ask.query(zone, .dnskey, at: lab.listenAddress(zoneServer))
            let keys = dnskey.answers(.dnskey).compactMap { rr -> DNSKEY? in
                if case let .dnskey(k) = rr.rdata { return k } else { return nil }
            }
            guard case let .ds(d) = ds.first?.rdata else { Issue.record("DS did not parse as DS"); return }
            #expect(keys.map(\.keyTag).contains(d.keyTag))
        }

        @Test func unsignedZoneHasNoDSButTheDenialOfIt() throws {
            let lab = try TestLab.lab()
            let zone = lab.hierarchy.special.unsignedZone
            let tldIndex = try #require(LabHierarchy.tlds.firstIndex(of: tld(of: zone)))
            let response = try Ask.query("www." + zone, .a, at: lab.listenAddress(lab.hierarchy.plan.tldAddresses(tldIndex)[0]))
            #expect(!response.authority(.ns).isEmpty)
            #expect(response.authority(.ds).isEmpty)
            // The TLD proves there is no DS (NSEC for lab.).
            #expect(!response.authority(.nsec).isEmpty || !response.authority(.nsec3).isEmpty)
        }

        @Test func gluelessReferralCarriesNoAddresses() throws {
            let lab = try TestLab.lab()
            let zone = try #require(lab.hierarchy.special.gluelessZones.first)
            let tldIndex = try #require(LabHierarchy.tlds.firstIndex(of: tld(of: zone)))
            let response = try Ask.query("www." + zone, .a, at: lab.listenAddress(lab.hierarchy.plan.tldAddresses(tldIndex)[0]))
            let ns = response.authority(.ns)
            #expect(ns.count == 2)
            #expect(response.glue.isEmpty)
            // The name server names resolve in the host zone, where the zone is served.
            for case let .ns(host) in ns.map(\.rdata) {
                let hostZone = lab.hierarchy.special.nsHostZone
                let address = try Ask.query(host.presentation, .a, at: lab.servers(for: hostZone)[0]).answers(.a)
                guard case let .a(ip)? = address.first?.rdata else { Issue.record("no address for \(host)"); continue }
                let direct = try Ask.query("www." + zone, .a, at: lab.listenAddress(ip.presentation))
                #expect(direct.header.authoritative)
            }
        }

        @Test func deDSMismatchAndExpiredZonesAreServedAsBuilt() throws {
            let lab = try TestLab.lab()
            let s = lab.hierarchy.special
            // DS mismatch: the parent's DS names a key the zone does not have.
            let badTLD = try #require(LabHierarchy.tlds.firstIndex(of: tld(of: s.badDSZone)))
            let referral = try Ask.query("www." + s.badDSZone, .a, at: lab.listenAddress(lab.hierarchy.plan.tldAddresses(badTLD)[0]))
            guard case let .ds(ds)? = referral.authority(.ds).first?.rdata else { Issue.record("no DS for \(s.badDSZone)"); return }
            let keys = try Ask.query(s.badDSZone, .dnskey, at: lab.servers(for: s.badDSZone)[0]).answers(.dnskey)
            #expect(!keys.isEmpty)
            for case let .dnskey(k) in keys.map(\.rdata) { #expect(k.keyTag != ds.keyTag) }

            // Expired: every signature ended long ago.
            let expired = try Ask.query("www." + s.expiredZone, .a, at: lab.servers(for: s.expiredZone)[0])
            let sigs = expired.signatures(in: expired.answers, covering: .a)
            #expect(sigs.count == 1)
            let now = UInt32(Date().timeIntervalSince1970)
            #expect(sigs.allSatisfy { $0.expiration < now })
        }
    }

    /// Live responses with every DNSSEC record type parse with DNSCore.
    @Suite struct DNSSECRecords {
        @Test(arguments: [8, 10, 13, 14, 15] as [UInt8])
        func dnskeyOfEachAlgorithm(_ algorithm: UInt8) throws {
            let lab = try TestLab.lab()
            let zone = try #require(lab.hierarchy.zones.first {
                $0.signing?.algorithm == algorithm && $0.signing?.fault == nil && $0.instance.hasPrefix("sld")
            })
            let response = try Ask.query(zone.origin, .dnskey, at: lab.servers(for: zone.origin)[0])
            #expect(response.header.authoritative)
            let keys = response.answers(.dnskey)
            #expect(keys.count == 1)
            guard case let .dnskey(key)? = keys.first?.rdata else { Issue.record("DNSKEY did not parse"); return }
            #expect(key.algorithm.rawValue == algorithm)
            #expect(key.flags == 257 && key.isSEP && key.isZoneKey)
            let sigs = response.signatures(in: response.answers, covering: .dnskey)
            #expect(sigs.count == 1 && sigs.first?.keyTag == key.keyTag)
        }

        @Test func nxdomainInNSECZone() throws {
            let lab = try TestLab.lab()
            let zone = lab.hierarchy.special.secureNSECZone
            let response = try Ask.query("nonexistent-name." + zone, .a, at: lab.servers(for: zone)[0])
            #expect(response.rcode == .nxDomain)
            #expect(response.header.authoritative)
            let nsec = response.authority(.nsec)
            #expect(!nsec.isEmpty)
            for case let .nsec(n) in nsec.map(\.rdata) { #expect(!n.types.types.isEmpty) }
            #expect(response.signatures(in: response.authority, covering: .nsec).count == nsec.count)
            #expect(response.authority(.soa).count == 1)
        }

        @Test func nxdomainInNSEC3Zone() throws {
            let lab = try TestLab.lab()
            let zone = lab.hierarchy.special.secureNSEC3Zone
            let salt = lab.hierarchy.zone(zone)?.signing?.nsec3Salt ?? ""
            let response = try Ask.query("nonexistent-name." + zone, .a, at: lab.servers(for: zone)[0])
            #expect(response.rcode == .nxDomain)
            let nsec3 = response.authority(.nsec3)
            #expect(nsec3.count >= 2)
            for rr in nsec3 {
                guard case let .nsec3(n) = rr.rdata else { Issue.record("NSEC3 did not parse"); continue }
                #expect(n.hashAlgorithm == 1 && n.iterations == 0 && !n.optOut)
                #expect(n.salt == hexBytes(salt))
                #expect(n.nextHashedOwner.count == 20)
                #expect(rr.name.labelCount == (try DNSName(zone)).labelCount + 1)
            }
            #expect(response.signatures(in: response.authority, covering: .nsec3).count == nsec3.count)
        }

        @Test func nodataInNSEC3ZoneWithSalt() throws {
            let lab = try TestLab.lab()
            let zone = try #require(lab.hierarchy.zones.first {
                $0.signing?.denial == .nsec3 && $0.signing?.nsec3Salt.isEmpty == false && $0.signing?.fault == nil
                    && $0.instance.hasPrefix("sld")
            })
            let response = try Ask.query("mail." + zone.origin, .aaaa, at: lab.servers(for: zone.origin)[0])
            #expect(response.rcode == .noError && response.answers.isEmpty)
            let nsec3 = response.authority(.nsec3)
            #expect(nsec3.count == 1)
            guard case let .nsec3(n)? = nsec3.first?.rdata else { Issue.record("NSEC3 did not parse"); return }
            #expect(n.salt == hexBytes(zone.signing!.nsec3Salt))
            #expect(n.types.contains(.a) && !n.types.contains(.aaaa))
        }

        @Test func nsec3paramAtApex() throws {
            let lab = try TestLab.lab()
            let zone = lab.hierarchy.special.secureNSEC3Zone
            let response = try Ask.query(zone, .nsec3param, at: lab.servers(for: zone)[0])
            guard case let .nsec3param(p)? = response.answers(.nsec3param).first?.rdata else {
                Issue.record("NSEC3PARAM did not parse"); return
            }
            #expect(p.iterations == 0)
        }

        @Test func corruptedSignatureStillParses() throws {
            let lab = try TestLab.lab()
            let name = lab.hierarchy.special.corruptName
            let response = try Ask.query(name, .a, at: lab.servers(for: lab.hierarchy.special.corruptZone)[0])
            let sigs = response.signatures(in: response.answers, covering: .a)
            #expect(sigs.count == 1)
            #expect(sigs.first?.signature.count == 128)  // RSA 1024
        }

        private func hexBytes(_ hex: String) -> [UInt8] {
            var out: [UInt8] = []
            var i = hex.startIndex
            while i < hex.endIndex {
                let j = hex.index(i, offsetBy: 2)
                out.append(UInt8(hex[i..<j], radix: 16)!)
                i = j
            }
            return out
        }
    }

    /// What the authoritative servers say matches the expected answers, for names in one zone.
    @Suite struct ExpectedAnswersMatchServers {
        /// Every tenth direct case (answers, NODATA, NXDOMAIN, wildcards), plus every CNAME and
        /// DNAME first step.
        static func sample(_ lab: Lab) -> [ExpectedAnswer] {
            let all = lab.hierarchy.expectedAnswers
            let direct = all.filter { [.answer, .nodata, .nxdomain, .wildcard].contains($0.kind) && !$0.features.contains("large") }
            let steps = all.filter { [.cname, .dname].contains($0.kind) }
            return direct.enumerated().filter { $0.offset % 10 == 0 }.map(\.element) + steps
        }

        @Test func sampledAnswersMatch() throws {
            let lab = try TestLab.lab()
            let sample = Self.sample(lab)
            #expect(sample.count > 300)
            for e in sample {
                let server = try #require(lab.servers(for: e.zone).first)
                let type = try #require(RRType(mnemonic: e.qtype))
                let response = try Ask.query(e.qname, type, at: server)
                let expected = try e.answer.map { try ResourceRecord(presentation: $0) }
                let got = response.answers.filter { $0.type != .rrsig }
                #expect(response.header.authoritative, "\(e.qname) \(e.qtype)")
                switch e.kind {
                case .cname:
                    #expect(response.rcode == .noError || response.rcode == .nxDomain)
                    #expect(got.first == expected.first, "\(e.qname) \(e.qtype): \(response.presentation)")
                case .dname:
                    #expect(Array(got.prefix(2)) == Array(expected.prefix(2)), "\(e.qname) \(e.qtype): \(response.presentation)")
                default:
                    #expect(response.rcode.description == e.rcode, "\(e.qname) \(e.qtype)")
                    #expect(Set(got) == Set(expected), "\(e.qname) \(e.qtype): \(response.presentation)")
                    #expect(got.count == expected.count)
                }
            }
        }

        @Test func signedZonesSignTheirAnswers() throws {
            let lab = try TestLab.lab()
            for e in Self.sample(lab) where e.kind == .answer && e.dnssec == .secure {
                let response = try Ask.query(e.qname, try #require(RRType(mnemonic: e.qtype)), at: lab.servers(for: e.zone)[0])
                #expect(!response.signatures(in: response.answers, covering: response.answers[0].type).isEmpty, "\(e.qname)")
            }
        }

        @Test func unsignedZonesSignNothing() throws {
            let lab = try TestLab.lab()
            for e in Self.sample(lab) where e.dnssec == .insecure && e.kind == .answer {
                let response = try Ask.query(e.qname, try #require(RRType(mnemonic: e.qtype)), at: lab.servers(for: e.zone)[0])
                #expect(!response.answers.contains { $0.type == .rrsig }, "\(e.qname)")
            }
        }
    }

    /// The black hole and truncation: what makes a resolver fall back and time out.
    @Suite struct Transport {
        @Test(arguments: DNSProbe.Transport.allCases)
        func blackHoleNeverAnswers(_ transport: DNSProbe.Transport) throws {
            let lab = try TestLab.lab()
            let query = DNSProbe.query(name: "www." + lab.hierarchy.special.lameZones[0], type: 1)
            let start = Date()
            #expect {
                _ = try DNSProbe.exchange(query, server: lab.blackholeAddresses[0], transport: transport, timeoutMilliseconds: 400)
            } throws: { error in
                guard case .timeout? = error as? DNSProbe.Failure else { return false }
                return true
            }
            #expect(Date().timeIntervalSince(start) >= 0.35)
        }

        @Test func anUnboundAddressRefusesInstead() throws {
            // The contrast that makes the black hole necessary: with nothing bound, the kernel
            // answers with ICMP port unreachable at once.
            let lab = try TestLab.lab()
            let unused = lab.listenAddress(lab.hierarchy.plan.prefix + ".250.99")
            let query = DNSProbe.query(name: "lab.", type: 6)
            #expect(throws: DNSProbe.Failure.refused(server: unused, transport: .udp)) {
                _ = try DNSProbe.exchange(query, server: unused, timeoutMilliseconds: 1000)
            }
        }

        @Test func lameZoneReferralListsTheBlackHole() throws {
            let lab = try TestLab.lab()
            let zone = lab.hierarchy.special.lameZones[0]
            let tldIndex = try #require(LabHierarchy.tlds.firstIndex(of: tld(of: zone)))
            let response = try Ask.query("www." + zone, .a, at: lab.listenAddress(lab.hierarchy.plan.tldAddresses(tldIndex)[0]))
            #expect(response.authority(.ns).count == 3)
            #expect(response.glue.values.flatMap { $0 }.contains(lab.hierarchy.plan.blackholeAddresses[0]))
        }

        @Test(arguments: ["TXT", "A"])
        func largeRRsetTruncatesWithoutEDNSAndArrivesOverTCP(_ type: String) throws {
            let lab = try TestLab.lab()
            let names = type == "TXT" ? lab.hierarchy.special.largeTXTNames : lab.hierarchy.special.largeANames
            for name in names {
                let e = try #require(lab.hierarchy.expectedAnswers.first { $0.qname == name && $0.qtype == type })
                let server = try #require(lab.servers(for: e.zone).first)
                let rrType = try #require(RRType(mnemonic: type))

                let udp = try Ask.query(name, rrType, at: server, edns: nil)
                #expect(udp.header.truncated, "\(name) over UDP without EDNS")

                let tcp = try Ask.query(name, rrType, at: server, edns: nil, transport: .tcp)
                #expect(!tcp.header.truncated)
                let expected = try e.answer.map { try ResourceRecord(presentation: $0) }
                #expect(Set(tcp.answers) == Set(expected))
                #expect(try tcp.serialize().count > 512)
            }
        }
    }

    /// The lab reports itself as up, and its files are where the API says.
    @Suite struct Files {
        @Test func statusSeesEveryInstance() throws {
            let lab = try TestLab.lab()
            let status = Lab.status(directory: lab.config.directory)
            #expect(status.isUp)
            #expect(status.instances.count == lab.hierarchy.instances.count)
            #expect(status.instances.allSatisfy { $0.pid != nil })
            #expect(status.processes.count >= status.instances.count)
        }

        @Test func trustAnchorAndHints() throws {
            let lab = try TestLab.lab()
            let anchor = try String(contentsOfFile: lab.paths.trustAnchor, encoding: .utf8)
            let dsLine = try #require(anchor.split(separator: "\n").first { $0.hasPrefix(". IN DS ") })
            let ds = try ResourceRecord(presentation: String(dsLine), defaultTTL: 0)
            let response = try Ask.query(".", .dnskey, at: lab.listenAddress(lab.rootServers[1]))
            guard case let .ds(d) = ds.rdata, case let .dnskey(k)? = response.answers(.dnskey).first?.rdata else {
                Issue.record("trust anchor or root DNSKEY did not parse"); return
            }
            #expect(d.keyTag == k.keyTag && d.algorithm == k.algorithm)
            #expect(try String(contentsOfFile: lab.paths.rootHints, encoding: .utf8) == lab.hierarchy.rootHints)
            let written = try ExpectedAnswer.parse(jsonLines: String(contentsOfFile: lab.paths.expectedAnswers, encoding: .utf8))
            #expect(written == lab.hierarchy.expectedAnswers)
        }
    }
}
