/// A query the expected-answers oracle should answer.
struct LabQuestion: Hashable, Sendable {
    var name: String
    var type: String
}

/// The generator's output, handed to `LabHierarchy`.
struct GeneratedHierarchy {
    var plan: AddressPlan
    var zones: [LabZone]
    var instances: [ServerInstance]
    var special: SpecialNames
    var queries: [LabQuestion]
}

/// Builds the zones of a lab from its configuration; every choice comes from one seeded generator.
///
/// The order of random draws is part of the output: changing it changes every lab, so add new
/// draws at the end of `generate()` rather than in the middle.
struct HierarchyGenerator {
    let config: LabConfig
    let plan: AddressPlan
    private var rng: SeededRandom
    private var zones: [LabZone] = []
    private var index: [String: Int] = [:]
    private var queries: [LabQuestion] = []
    private var seenQueries: Set<LabQuestion> = []
    private var dataAddresses = 0
    private var usedLabels: Set<String> = ["nshost", "unsigned", "expired", "badds", "corrupt", "deepglue", "nic", "root"]

    init(_ config: LabConfig) {
        self.config = config
        plan = AddressPlan(config)
        rng = SeededRandom(seed: config.seed)
    }

    // MARK: Top level

    mutating func generate() -> GeneratedHierarchy {
        // Fixed zones with a named purpose, then the generic ones.
        let fixed: [(String, SigningPolicy?)] = [
            ("nshost.lab.", SigningPolicy(algorithm: 13, denial: .nsec)),
            ("unsigned.lab.", nil),
            ("expired.internal.", SigningPolicy(algorithm: 13, denial: .nsec, fault: .expiredSignatures)),
            ("badds.example.", SigningPolicy(algorithm: 15, denial: .nsec3, fault: .dsMatchesNoKey)),
            ("corrupt.zz.", SigningPolicy(algorithm: 8, bits: 1024, denial: .nsec,
                                          fault: .corruptSignature(owner: "www.corrupt.zz.", type: "A"))),
            ("deepglue.example.", SigningPolicy(algorithm: 13, denial: .nsec3)),
        ]
        var generic: [String] = []
        for _ in 0..<config.secondLevelZones {
            generic.append("\(uniqueLabel()).\(LabHierarchy.tlds[rng.int(0...3)])")
        }
        let genericSigning = assignSigning(count: generic.count)
        let sldOrigins = fixed.map(\.0) + generic
        let sldSigning = fixed.map(\.1) + genericSigning

        // Which generic zones get which delegation feature (disjoint sets).
        var order = Array(0..<generic.count)
        order.shuffle(using: &rng)
        let gluelessCount = max(2, generic.count * 8 / 100)
        let lameCount = max(2, generic.count / 20)
        let glueless = Set(order[0..<gluelessCount].map { generic[$0] })
        let lame = Set(order[gluelessCount..<(gluelessCount + lameCount)].map { generic[$0] })

        // Root and TLDs.
        addZone(".", signing: SigningPolicy(algorithm: 8, bits: 2048, denial: .nsec), instance: "root",
                servers: Array(zip(["a.root.lab.", "b.root.lab."], plan.rootAddresses)), features: ["root"])
        let tldSigning: [SigningPolicy] = [
            SigningPolicy(algorithm: 13, denial: .nsec),
            SigningPolicy(algorithm: 15, denial: .nsec3),
            SigningPolicy(algorithm: 8, bits: 2048, denial: .nsec3, nsec3Salt: "a1b2"),
            SigningPolicy(algorithm: 14, denial: .nsec),
        ]
        for (i, tld) in LabHierarchy.tlds.enumerated() {
            let addresses = plan.tldAddresses(i)
            addZone(tld, signing: tldSigning[i], instance: "tld",
                    servers: [("ns1.nic.\(tld)", addresses[0]), ("ns2.nic.\(tld)", addresses[1])], features: ["tld"])
            addRecord(tld, LabRecord("nic.\(tld)", 3600, "TXT", "\"registry of \(tld) in the Shoal lab\""))
            ask("ns1.nic.\(tld)", "A")
            ask("nic.\(tld)", "TXT")
            ask(tld, "A")
            ask("nosuch-\(rng.hex(3)).\(tld)", "A")
        }
        for (i, name) in ["a.root.lab.", "b.root.lab."].enumerated() {
            addRecord("lab.", LabRecord(name, 86400, "A", plan.rootAddresses[i]))
            ask(name, "A")
        }
        ask("nosuchtld-\(rng.hex(3)).", "A")

        // Second-level zones: placement on instances and name servers.
        var instanceZones = Array(repeating: [String](), count: config.sldInstances)
        var instanceOf: [String: Int] = [:]
        var slotOf: [String: Int] = [:]
        for (i, origin) in sldOrigins.enumerated() {
            let k = i % config.sldInstances
            instanceZones[k].append(origin)
            instanceOf[origin] = k
            slotOf[origin] = (i / config.sldInstances) % config.addressesPerInstance
        }
        let m = config.addressesPerInstance
        func poolAddress(_ origin: String, _ offset: Int) -> (k: Int, j: Int, address: String) {
            let k = instanceOf[origin]!, j = (slotOf[origin]! + offset) % m
            return (k, j, plan.sldPool(k)[j])
        }
        let firstGlueless = generic.first { glueless.contains($0) }!
        for (i, origin) in sldOrigins.enumerated() {
            var servers: [(String, String)]
            var features: [String] = []
            let a = poolAddress(origin, 0), b = poolAddress(origin, 1)
            if glueless.contains(origin) {
                servers = [("h\(a.k)-\(a.j + 1).nshost.lab.", a.address), ("h\(b.k)-\(b.j + 1).nshost.lab.", b.address)]
                features.append("glueless")
            } else if origin == "deepglue.example." {
                servers = [("ns-deep.\(firstGlueless)", a.address), ("ns-deep2.\(firstGlueless)", b.address)]
                features += ["glueless", "glueless-2"]
            } else {
                servers = [("ns1.\(origin)", a.address), ("ns2.\(origin)", b.address)]
            }
            if lame.contains(origin) {
                servers.append(("ns3.\(origin)", plan.blackholeAddresses[0]))
                features.append("lame-ns")
            }
            addZone(origin, signing: sldSigning[i], instance: "sld\(instanceOf[origin]!)", servers: servers, features: features)
            addStandardContent(origin)
        }
        // The glueless zones' name server host names, and the second-level glueless hop.
        for k in 0..<config.sldInstances {
            for (j, address) in plan.sldPool(k).enumerated() {
                addRecord("nshost.lab.", LabRecord("h\(k)-\(j + 1).nshost.lab.", 3600, "A", address))
            }
        }
        ask("h0-1.nshost.lab.", "A")
        addRecord(firstGlueless, LabRecord("ns-deep.\(firstGlueless)", 3600, "A", poolAddress("deepglue.example.", 0).address))
        addRecord(firstGlueless, LabRecord("ns-deep2.\(firstGlueless)", 3600, "A", poolAddress("deepglue.example.", 1).address))
        ask("ns-deep.\(firstGlueless)", "A")

        // Delegations, now that every child exists.
        for zone in zones where zone.origin != "." {
            let parent = parentZone(of: zone.origin)
            delegate(zone.origin, from: parent)
        }

        // Feature placement among generic zones.
        let secure = generic.filter { zone($0).signing != nil }
        let plain = secure.filter { !glueless.contains($0) && !lame.contains($0) }
        let unsignedGeneric = generic.filter { zone($0).signing == nil }
        let secureNSEC = plain.filter { zone($0).signing?.denial == .nsec }
        let secureNSEC3 = plain.filter { zone($0).signing?.denial == .nsec3 }
        let wildcards = pickWildcardZones(generic: generic, nsec: secureNSEC, nsec3: secureNSEC3, unsigned: unsignedGeneric)
        for z in wildcards { addWildcard(z) }
        let largeZones = [secureNSEC[1 % secureNSEC.count], secureNSEC3[1 % secureNSEC3.count], unsignedGeneric[0]]
        for z in largeZones { addLarge(z) }
        let dnamePairs = [
            (secureNSEC[2 % secureNSEC.count], secureNSEC3[2 % secureNSEC3.count]),
            (secureNSEC3[3 % secureNSEC3.count], unsignedGeneric[1 % unsignedGeneric.count]),
            (unsignedGeneric[2 % unsignedGeneric.count], secureNSEC[3 % secureNSEC.count]),
        ]
        for (from, to) in dnamePairs { addDNAME(at: from, to: to) }
        let chainHeads = addChains(secure: secure, unsigned: unsignedGeneric, wildcard: wildcards[0], dnameZone: dnamePairs[0].0)

        // Extra questions for the named zones.
        for origin in ["expired.internal.", "badds.example.", "corrupt.zz.", "unsigned.lab.", "deepglue.example."] {
            ask("nx-\(rng.hex(3)).\(origin)", "TXT")
        }

        let instances = [
            ServerInstance(name: "root", addresses: plan.rootAddresses, zones: ["."]),
            ServerInstance(name: "tld", addresses: (0..<LabHierarchy.tlds.count).flatMap { plan.tldAddresses($0) },
                           zones: LabHierarchy.tlds),
        ] + (0..<config.sldInstances).map {
            ServerInstance(name: "sld\($0)", addresses: plan.sldPool($0), zones: instanceZones[$0])
        }
        let special = SpecialNames(
            secureNSECZone: secureNSEC[0], secureNSEC3Zone: secureNSEC3[0], unsignedZone: "unsigned.lab.",
            expiredZone: "expired.internal.", badDSZone: "badds.example.", corruptZone: "corrupt.zz.",
            corruptName: "www.corrupt.zz.", nsHostZone: "nshost.lab.",
            gluelessZones: generic.filter { glueless.contains($0) }, deepGluelessZone: "deepglue.example.",
            lameZones: generic.filter { lame.contains($0) }, wildcardZones: wildcards,
            largeTXTNames: largeZones.map { "big.\($0)" }, largeANames: largeZones.map { "many.\($0)" },
            dnameOwners: dnamePairs.map { "dn.\($0.0)" }, cnameChainHeads: chainHeads)
        return GeneratedHierarchy(plan: plan, zones: zones, instances: instances, special: special, queries: queries)
    }

    // MARK: Signing choices

    /// Mostly ECDSA P-256 and Ed25519 (fast to generate and sign), some RSA and P-384, about a
    /// tenth unsigned; the first signed zones take every algorithm so small labs still have all.
    private mutating func assignSigning(count: Int) -> [SigningPolicy?] {
        var result = [SigningPolicy?](repeating: nil, count: count)
        var order = Array(0..<count)
        order.shuffle(using: &rng)
        let unsignedCount = max(3, count / 10)
        let forced: [(UInt8, Int?)] = [(13, nil), (15, nil), (8, 1024), (14, nil), (10, 1024)]
        for (n, i) in order.enumerated() where n >= unsignedCount {
            let pick: (UInt8, Int?)
            let f = n - unsignedCount
            if f < forced.count * 2 {
                pick = forced[f / 2]
            } else {
                switch rng.int(0...99) {
                case 0..<45: pick = (13, nil)
                case 45..<75: pick = (15, nil)
                case 75..<85: pick = (8, 1024)
                case 85..<95: pick = (14, nil)
                default: pick = (10, 1024)
                }
            }
            let denial: Denial = f < forced.count * 2 ? (f % 2 == 0 ? .nsec : .nsec3) : (rng.chance(0.5) ? .nsec3 : .nsec)
            let salt = denial == .nsec3 && rng.chance(0.25) ? rng.hex(2) : ""
            result[i] = SigningPolicy(algorithm: pick.0, bits: pick.1, denial: denial, nsec3Salt: salt)
        }
        return result
    }

    // MARK: Zone content

    /// Apex SOA/NS/A/MX/TXT, name server addresses, `www`, `mail`, `info`, sometimes `ftp`.
    private mutating func addStandardContent(_ origin: String) {
        let ttl: UInt32 = [300, 3600, 3600, 86400][rng.int(0...3)]
        addRecord(origin, LabRecord(origin, ttl, "A", nextDataAddress()))
        addRecord(origin, LabRecord(origin, ttl, "MX", "10 mail.\(origin)"))
        addRecord(origin, LabRecord(origin, ttl, "TXT", "\"v=shoal-lab1 zone=\(origin)\" \"id=\(rng.hex(4))\""))
        for _ in 0..<rng.int(1...3) { addRecord(origin, LabRecord("www.\(origin)", ttl, "A", nextDataAddress())) }
        let zoneNumber = String(index[origin]! + 1, radix: 16)
        for n in 1...rng.int(1...2) {
            addRecord(origin, LabRecord("www.\(origin)", ttl, "AAAA", "2001:db8:\(zoneNumber)::\(String(n, radix: 16))"))
        }
        addRecord(origin, LabRecord("mail.\(origin)", 3600, "A", nextDataAddress()))
        addRecord(origin, LabRecord("info.\(origin)", ttl, "TXT", "\"zone \(origin)\" \"seed \(config.seed)\""))
        let hasFTP = rng.chance(0.5)
        if hasFTP { addRecord(origin, LabRecord("ftp.\(origin)", ttl, "CNAME", "www.\(origin)")) }

        for (name, type) in [(origin, "A"), (origin, "MX"), (origin, "TXT"), (origin, "AAAA"),
                             ("www.\(origin)", "A"), ("www.\(origin)", "AAAA"), ("www.\(origin)", "MX"),
                             ("mail.\(origin)", "A"), ("mail.\(origin)", "AAAA"), ("info.\(origin)", "TXT")] {
            ask(name, type)
        }
        if hasFTP { ask("ftp.\(origin)", "A") }
        ask("nx-\(rng.hex(3)).\(origin)", "A")
    }

    private mutating func addWildcard(_ origin: String) {
        addRecord(origin, LabRecord("*.wild.\(origin)", 3600, "A", nextDataAddress()))
        addRecord(origin, LabRecord("*.wild.\(origin)", 3600, "TXT", "\"wildcard of \(origin)\""))
        let host = "host-\(rng.hex(2)).wild.\(origin)"
        ask(host, "A")
        ask(host, "AAAA")
        ask("a.b.wild.\(origin)", "TXT")
        ask("wild.\(origin)", "A")
    }

    /// A TXT RRset of seven 200-byte strings and an A RRset of 64 addresses: both need TCP
    /// after a truncated UDP answer without EDNS.
    private mutating func addLarge(_ origin: String) {
        for n in 0..<7 {
            addRecord(origin, LabRecord("big.\(origin)", 3600, "TXT", "\"\(n)-\(rng.hex(99))\""))
        }
        for _ in 0..<64 { addRecord(origin, LabRecord("many.\(origin)", 3600, "A", nextDataAddress())) }
        ask("big.\(origin)", "TXT")
        ask("many.\(origin)", "A")
    }

    private mutating func addDNAME(at origin: String, to target: String) {
        addRecord(origin, LabRecord("dn.\(origin)", 3600, "DNAME", target))
        ask("www.dn.\(origin)", "A")
        ask("mail.dn.\(origin)", "A")
        ask("nothing-\(rng.hex(2)).dn.\(origin)", "A")
        ask("dn.\(origin)", "A")
    }

    /// Six chains of three CNAMEs across distinct zones, ending at ordinary data, data behind an
    /// insecure hop, a bogus zone, a missing name, a wildcard, and a DNAME. Returns the heads.
    private mutating func addChains(secure: [String], unsigned: [String], wildcard: String, dnameZone: String) -> [String] {
        var used: Set<String> = []
        func pick(_ pool: [String]) -> String {
            for _ in 0..<64 {
                let z = pool[rng.int(0...(pool.count - 1))]
                if !used.contains(z) { used.insert(z); return z }
            }
            return pool[rng.int(0...(pool.count - 1))]
        }
        let ends = [
            "www.\(pick(secure))", "www.\(pick(secure))", "www.expired.internal.",
            "missing-chain.\(pick(secure))", "chain-end.wild.\(wildcard)", "www.dn.\(dnameZone)",
        ]
        var heads: [String] = []
        for (n, end) in ends.enumerated() {
            let c = n + 1
            let z0 = pick(secure), z1 = c == 2 ? pick(unsigned) : pick(secure), z2 = pick(secure)
            let head = "chain\(c).\(z0)", hop1 = "hop\(c)a.\(z1)", hop2 = "hop\(c)b.\(z2)"
            addRecord(z0, LabRecord(head, 3600, "CNAME", hop1))
            addRecord(z1, LabRecord(hop1, 600, "CNAME", hop2))
            addRecord(z2, LabRecord(hop2, 1800, "CNAME", end))
            heads.append(head)
            ask(head, "A")
            ask(hop1, "A")
        }
        ask(heads[0], "AAAA")
        ask(heads[0], "TXT")
        return heads
    }

    private mutating func pickWildcardZones(generic: [String], nsec: [String], nsec3: [String], unsigned: [String]) -> [String] {
        var result = [nsec[0], nsec3[0], unsigned[0]]
        let target = max(3, generic.count / 5)
        var order = generic
        order.shuffle(using: &rng)
        for z in order where result.count < target && !result.contains(z) { result.append(z) }
        return result
    }

    // MARK: Building blocks

    private mutating func addZone(_ origin: String, signing: SigningPolicy?, instance: String,
                                  servers: [(String, String)], features: [String]) {
        var tags = features
        if let s = signing {
            tags += [s.denial.rawValue, "alg\(s.algorithm)"]
            if !s.nsec3Salt.isEmpty { tags.append("nsec3-salt") }
            switch s.fault {
            case .expiredSignatures?: tags.append("bogus-expired")
            case .dsMatchesNoKey?: tags.append("bogus-ds")
            case .corruptSignature?: tags.append("corrupt-rrsig")
            case nil: break
            }
        } else {
            tags.append("unsigned")
        }
        let mname = servers[0].0
        let soa = LabRecord(origin, 3600, "SOA", "\(mname) hostmaster.\(origin == "." ? "root.lab." : origin) 2024010101 3600 900 604800 300")
        var records = [soa]
        let ttl: UInt32 = instance == "root" || instance == "tld" ? 86400 : 3600
        for (name, _) in servers { records.append(LabRecord(origin, ttl, "NS", name)) }
        // Addresses of in-bailiwick name servers; the root's own servers sit below `lab.`,
        // which holds them authoritatively too.
        for (name, address) in servers where origin == "." || name.hasSuffix("." + origin) {
            records.append(LabRecord(name, ttl, "A", address))
        }
        index[origin] = zones.count
        zones.append(LabZone(origin: origin, records: records, signing: signing, instance: instance,
                             serverAddresses: servers.map(\.1), features: tags, children: []))
    }

    /// NS records (and glue for in-bailiwick names) for `child` in `parent`.
    private mutating func delegate(_ child: String, from parent: String) {
        let c = zone(child)
        let ttl: UInt32 = parent == "." ? 86400 : 3600
        let names = nameServerNames(child)
        for name in names { addRecord(parent, LabRecord(child, ttl, "NS", name)) }
        for (name, address) in zip(names, c.serverAddresses) where name.hasSuffix("." + child) {
            addRecord(parent, LabRecord(name, ttl, "A", address))
        }
        zones[index[parent]!].children.append(child)
    }

    private func nameServerNames(_ origin: String) -> [String] {
        zone(origin).records.filter { $0.owner == origin && $0.type == "NS" }.map(\.rdata)
    }

    private func parentZone(of origin: String) -> String {
        var name = Substring(origin)
        while let dot = name.firstIndex(of: ".") {
            name = name[name.index(after: dot)...]
            let candidate = name.isEmpty ? "." : String(name)
            if index[candidate] != nil { return candidate }
            if name.isEmpty { break }
        }
        return "."
    }

    private func zone(_ origin: String) -> LabZone { zones[index[origin]!] }

    private mutating func addRecord(_ origin: String, _ record: LabRecord) {
        zones[index[origin]!].records.append(record)
    }

    private mutating func ask(_ name: String, _ type: String) {
        let q = LabQuestion(name: name, type: type)
        if seenQueries.insert(q).inserted { queries.append(q) }
    }

    /// Addresses for data records come from 198.18.0.0/15 (RFC 2544, never routed to a host).
    private mutating func nextDataAddress() -> String {
        let q = dataAddresses / 254, r = dataAddresses % 254 + 1
        dataAddresses += 1
        return "198.\(18 + (q >> 8) % 2).\(q & 0xFF).\(r)"
    }

    /// Pronounceable labels (`bavoki`), so QNAME minimisation and NSEC ordering see varied names.
    private mutating func uniqueLabel() -> String {
        let consonants = Array("bdfgklmnprstvz"), vowels = Array("aeiou")
        while true {
            var label = ""
            for _ in 0..<rng.int(2...4) {
                label.append(consonants[rng.int(0...(consonants.count - 1))])
                label.append(vowels[rng.int(0...(vowels.count - 1))])
            }
            if usedLabels.insert(label).inserted { return label }
        }
    }
}
