/// The whole generated DNS tree of a lab, in memory: zones, servers, and the names tests use.
///
/// A pure function of the configuration (see `LabConfig`): building it touches no file and no
/// network, so tests and tools can ask what a lab serves without starting one.
public struct LabHierarchy: Sendable {
    /// Top-level domains under the lab root. `test.` and `invalid.` are avoided on purpose:
    /// unbound and knot-resolver answer them locally (RFC 6761) and would never ask the lab.
    public static let tlds = ["lab.", "example.", "internal.", "zz."]

    public let plan: AddressPlan
    /// Root first, then the TLDs, then every second-level zone.
    public let zones: [LabZone]
    /// nsd instances: `root`, `tld`, then `sld0`, `sld1`, …
    public let instances: [ServerInstance]
    /// The names tests need to find a zone or record with a given property.
    public let special: SpecialNames
    /// Every query the lab can answer predictably, with the answer a resolver must give.
    public let expectedAnswers: [ExpectedAnswer]

    private let zoneIndex: [String: Int]

    /// Generates the hierarchy for `config`. Throws `LabError.invalidConfig` for unusable values.
    public init(_ config: LabConfig) throws {
        try config.validate()
        var generator = HierarchyGenerator(config)
        let generated = generator.generate()
        plan = generated.plan
        zones = generated.zones
        instances = generated.instances
        special = generated.special
        var index: [String: Int] = [:]
        for (i, z) in zones.enumerated() { index[z.origin] = i }
        zoneIndex = index
        expectedAnswers = AnswerOracle(zones: zones).answers(for: generated.queries)
    }

    /// The zone with this origin (absolute, lower case), if the lab has it.
    public func zone(_ origin: String) -> LabZone? {
        zoneIndex[origin].map { zones[$0] }
    }

    /// The nsd instance with this name.
    public func instance(_ name: String) -> ServerInstance? {
        instances.first { $0.name == name }
    }

    /// Public addresses of the servers authoritative for `origin`, without black holes.
    public func answeringServers(for origin: String) -> [String] {
        guard let z = zone(origin) else { return [] }
        return z.serverAddresses.filter { !plan.blackholeAddresses.contains($0) }
    }

    /// The root zone's hint file in `named.root` form.
    public var rootHints: String {
        var lines = [";; Root hints of the Shoal lab (prefix \(plan.prefix)); not the Internet's root."]
        for (i, address) in plan.rootAddresses.enumerated() {
            let name = "\(["a", "b"][i]).root.lab."
            lines.append(".                        3600000      NS    \(name)")
            lines.append("\(name.padding(toLength: 24, withPad: " ", startingAt: 0)) 3600000      A     \(address)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Names of zones and records with a particular property, chosen by the generator.
public struct SpecialNames: Codable, Sendable, Hashable {
    /// Signed with NSEC, valid chain of trust, glued, never lame: the plain secure case.
    public var secureNSECZone: String
    /// Signed with NSEC3, valid chain of trust, glued, never lame.
    public var secureNSEC3Zone: String
    /// No DNSKEY and no DS in the parent: insecure delegation.
    public var unsignedZone: String
    /// Bogus: every signature expired years ago.
    public var expiredZone: String
    /// Bogus: the parent's DS matches no key of the zone.
    public var badDSZone: String
    /// One RRset (`corruptName`, type A) has a damaged signature; the rest is secure.
    public var corruptZone: String
    public var corruptName: String
    /// Zone holding the host names of glueless delegations (`h<k>-<j>.nshost.lab.`).
    public var nsHostZone: String
    /// Delegated to name servers inside other zones, with no glue.
    public var gluelessZones: [String]
    /// Delegated to a name server inside a glueless zone: two levels of glueless resolution.
    public var deepGluelessZone: String
    /// One of their name servers is a black hole.
    public var lameZones: [String]
    /// Zones with `*.wild.<zone>` A and TXT records.
    public var wildcardZones: [String]
    /// TXT RRsets of about 1.5 KB (truncated over UDP without EDNS).
    public var largeTXTNames: [String]
    /// A RRsets of 64 addresses (over 1 KB).
    public var largeANames: [String]
    /// Owners of DNAME records (`dn.<zone>.`).
    public var dnameOwners: [String]
    /// Heads of CNAME chains that cross zones.
    public var cnameChainHeads: [String]
}
