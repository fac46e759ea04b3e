import ArgumentParser
import Foundation
import ShoalLab

/// `shoal-lab`: the local DNS hierarchy every Shoal test and benchmark resolves against.

struct ShoalLabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shoal-lab",
        abstract: "Generate, sign and serve Shoal's test DNS hierarchy on 127/8.",
        discussion: """
        The lab is a private DNS tree: a root (a.root.lab., b.root.lab.), the TLDs lab., \
        example., internal. and zz., and a few hundred second-level zones, each level served \
        by its own nsd instances on 127.<prefix>.x.y port 53, so resolution is truly iterative. \
        Most zones are DNSSEC-signed (algorithms 8, 10, 13, 14, 15; NSEC and NSEC3); some are \
        unsigned, three are deliberately bogus (expired signatures, DS matching no key, one \
        corrupted RRSIG). It has cross-zone CNAME chains, wildcards, DNAMEs, glueless and \
        lame delegations (one name server is a black hole that never answers) and RRsets \
        too large for 512-byte UDP.

        'up' writes root hints, a trust anchor and expected.jsonl (the answer a correct \
        resolver gives for each test question) into the lab directory. Keys are cached there, \
        so later runs only re-sign. Needs root (port 53) and the Debian packages nsd and \
        ldnsutils. Point a resolver at it with the root hints and trust anchor; unbound also \
        needs 'do-not-query-localhost: no'.
        """,
        version: "shoal-lab 0.1.0",
        subcommands: [Up.self, Down.self, Status.self, Expected.self, BlackholeCommand.self]
    )
}

/// Options deciding what the lab contains; nil means the `LabConfig` default.
struct GenerationOptions: ParsableArguments {
    @Option(name: .customLong("dir"), help: "Lab directory (keys, zones, configs, pidfiles, logs).")
    var directory = "lab"
    @Option(help: "First two octets of every server address (default 127.53; tests use 127.54).")
    var prefix: String?
    @Option(help: "First two octets the servers bind, when a relay listens on --prefix.")
    var listenPrefix: String?
    @Option(help: "Seed of the generated data (default 1).")
    var seed: UInt64?
    @Option(help: "Number of generic second-level zones (default 300).")
    var zones: Int?
    @Option(help: "Number of nsd instances for second-level zones (default 3).")
    var instances: Int?
    @Option(help: "Addresses per second-level instance (default 4).")
    var addresses: Int?
    @Option(help: "Concurrent ldns-keygen/ldns-signzone processes (default 4).")
    var jobs: Int?

    var anyGenerationFlag: Bool {
        prefix != nil || listenPrefix != nil || seed != nil || zones != nil || instances != nil || addresses != nil
    }

    func config(blackhole: LabConfig.BlackholeHost = .inProcess) -> LabConfig {
        let d = LabConfig()
        return LabConfig(directory: directory, addressPrefix: prefix ?? d.addressPrefix, listenPrefix: listenPrefix,
                         seed: seed ?? d.seed, secondLevelZones: zones ?? d.secondLevelZones,
                         sldInstances: instances ?? d.sldInstances, addressesPerInstance: addresses ?? d.addressesPerInstance,
                         parallelism: jobs ?? d.parallelism, blackhole: blackhole)
    }
}

extension ShoalLabCommand {
    struct Up: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate (if needed), sign and start the lab; stops a previous run in the same directory first.")

        @OptionGroup var options: GenerationOptions

        func run() throws {
            // The black hole must outlive this command: run it as a detached copy of ourselves.
            let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
            let lab = try Lab.start(options.config(blackhole: .process(executable: me))) { print("  \($0)") }
            printSummary(lab)
        }

        private func printSummary(_ lab: Lab) {
            let h = lab.hierarchy, s = h.special
            let root = lab.listenAddress(lab.rootServers[0])
            let tldIndex = LabHierarchy.tlds.firstIndex { s.secureNSECZone.hasSuffix("." + $0) } ?? 0
            let tld = lab.listenAddress(h.plan.tldAddresses(tldIndex)[0])
            let sld = lab.servers(for: s.secureNSECZone).first ?? "?"
            let nsec3 = lab.servers(for: s.secureNSEC3Zone).first ?? "?"
            let bigZone = String(s.largeTXTNames[0].drop { $0 != "." }.dropFirst())
            let big = lab.servers(for: bigZone).first ?? "?"
            print("""
            Shoal lab is up (\(String(format: "%.1f", lab.startSeconds))s).
              directory      \(lab.paths.directory)
              root servers   \(zip(["a.root.lab.", "b.root.lab."], lab.rootServers.map(lab.listenAddress)).map { "\($1) (\($0))" }.joined(separator: ", "))
              root hints     \(lab.paths.rootHints)
              trust anchor   \(lab.paths.trustAnchor)
              expected       \(lab.paths.expectedAnswers) (\(h.expectedAnswers.count) answers)
              black hole     \(lab.blackholeAddresses.joined(separator: ", "))

            Try:
              dig @\(root) www.\(s.secureNSECZone) A +dnssec +norec     # root: referral to \(LabHierarchy.tlds[tldIndex])
              dig @\(tld) www.\(s.secureNSECZone) A +dnssec +norec     # TLD: referral with DS
              dig @\(sld) www.\(s.secureNSECZone) A +dnssec +norec     # authoritative, with RRSIG
              dig @\(nsec3) nonexistent.\(s.secureNSEC3Zone) A +dnssec +norec   # NXDOMAIN with NSEC3
              dig @\(big) \(s.largeTXTNames[0]) TXT +noedns +ignore +norec   # TC over UDP
              dig @\(lab.blackholeAddresses[0]) www.\(s.lameZones[0]) A +tries=1 +time=1   # the black hole: times out

            unbound: root-hints: "\(lab.paths.rootHints)", trust-anchor-file: "\(lab.paths.trustAnchor)",
                     do-not-query-localhost: no
            Stop with: shoal-lab down --dir \(lab.paths.directory)
            """)
        }
    }

    struct Down: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop every nsd and black-hole process of the lab directory.")

        @Option(name: .customLong("dir"), help: "Lab directory.")
        var directory = "lab"

        func run() throws {
            let stopped = try Lab.stop(directory: directory)
            print(stopped.isEmpty ? "nothing was running from \(directory)" : "stopped \(stopped.count) process(es)")
            for p in stopped { print("  \(p.pid)  \(p.commandLine)") }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show which lab servers run and answer; exit status 1 unless all do.")

        @Option(name: .customLong("dir"), help: "Lab directory.")
        var directory = "lab"

        func run() throws {
            let status = Lab.status(directory: directory)
            guard let config = status.config else {
                print("no lab was started in \(status.directory)")
                throw ExitCode(1)
            }
            print("lab \(status.directory): prefix \(config.addressPrefix), seed \(config.seed), \(config.secondLevelZones) generic zones")
            for i in status.instances {
                let state = i.answering ? "answering" : (i.pid == nil ? "down" : "NOT ANSWERING")
                print("  \(i.name.padding(toLength: 6, withPad: " ", startingAt: 0)) pid \(i.pid.map(String.init) ?? "-")\t\(state)\t\(i.zoneCount) zone(s) on \(i.addresses.joined(separator: " "))")
            }
            print("  black hole \(status.blackholePid.map { "pid \($0)" } ?? "not running as a process")")
            print("  \(status.processes.count) process(es) from this directory")
            if !status.isUp { throw ExitCode(1) }
        }
    }

    struct Expected: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the expected answers (JSON lines; schema in ShoalLab's ExpectedAnswer).",
            discussion: "Without generation options, prints the lab directory's expected.jsonl when it exists.")

        @OptionGroup var options: GenerationOptions
        @Option(help: "Only answers carrying this feature tag (e.g. nsec3, wildcard, bogus-ds, large).")
        var feature: String?

        func run() throws {
            let paths = LabPaths(directory: options.config().directory)
            var answers: [ExpectedAnswer]
            if !options.anyGenerationFlag, let text = try? String(contentsOfFile: paths.expectedAnswers, encoding: .utf8) {
                answers = try ExpectedAnswer.parse(jsonLines: text)
            } else {
                answers = try LabHierarchy(options.config()).expectedAnswers
            }
            if let feature { answers = answers.filter { $0.features.contains(feature) } }
            print(ExpectedAnswer.jsonLines(answers), terminator: "")
        }
    }

    /// The detached black hole of `up`; not for people.
    struct BlackholeCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "blackhole", abstract: "Bind addresses and never answer (used by 'up').", shouldDisplay: false)

        @Option(help: "Address to swallow (repeatable).")
        var listen: [String]
        @Option(help: "Pidfile written once every socket is bound.")
        var pidfile: String
        @Option(help: "Port.")
        var port: UInt16 = 53

        func run() throws {
            let hole = try Blackhole(addresses: listen, port: port)
            try "\(getpid())\n".write(toFile: pidfile, atomically: true, encoding: .utf8)
            hole.run()
        }
    }
}
