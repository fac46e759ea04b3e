import Foundation

/// How long each phase of preparing a lab took, and how much work it did.
public struct LabBuildReport: Sendable {
    public var generateSeconds: Double
    public var keySeconds: Double
    public var signSeconds: Double
    public var zonesSigned: Int
    public var zonesTotal: Int
}

/// Turns a hierarchy into files: keys, zone files (signed), root hints, trust anchor, expected
/// answers and the manifest. Starts nothing.
enum LabBuilder {
    static func build(_ config: LabConfig, _ hierarchy: LabHierarchy, generateSeconds: Double) throws -> LabBuildReport {
        let paths = LabPaths(directory: config.directory)
        let fm = FileManager.default
        for dir in [paths.directory, paths.keys, paths.zones, paths.nsd, paths.run] {
            do { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw LabError.io(path: dir, reason: "cannot create directory: \(error)")
            }
        }

        var t = Date()
        var specs: [KeySpec] = []
        for zone in hierarchy.zones {
            guard let s = zone.signing else { continue }
            specs.append(KeySpec(zone: zone.origin, algorithm: s.algorithm, bits: s.bits, decoy: false))
            if s.fault == .dsMatchesNoKey {
                specs.append(KeySpec(zone: zone.origin, algorithm: s.algorithm, bits: s.bits, decoy: true))
            }
        }
        let store = KeyStore(directory: paths.keys, tools: config.tools)
        let all = try store.keys(for: specs, width: config.parallelism)
        var keys: [String: LabKey] = [:], decoys: [String: LabKey] = [:]
        for (spec, key) in all {
            if spec.decoy { decoys[spec.zone] = key } else { keys[spec.zone] = key }
        }
        let keySeconds = Date().timeIntervalSince(t)

        t = Date()
        let signer = ZoneSigner(hierarchy: hierarchy, paths: paths, config: config, keys: keys, decoys: decoys,
                                now: Int(Date().timeIntervalSince1970))
        let signed = try signer.materialize()
        let signSeconds = Date().timeIntervalSince(t)

        guard let rootKey = keys["."] else {
            throw LabError.malformedToolOutput(path: paths.keys, reason: "no key for the root zone")
        }
        try write(hierarchy.rootHints, to: paths.rootHints)
        try write("; trust anchor of the Shoal lab root (not the Internet's)\n. IN DS \(rootKey.dsRData)\n", to: paths.trustAnchor)
        try write(". IN DNSKEY \(rootKey.dnskeyRData)\n", to: paths.rootDNSKEY)
        try write(ExpectedAnswer.jsonLines(hierarchy.expectedAnswers), to: paths.expectedAnswers)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let manifest = (try? encoder.encode(config)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        try write(manifest + "\n", to: paths.manifest)

        return LabBuildReport(generateSeconds: generateSeconds, keySeconds: keySeconds, signSeconds: signSeconds,
                              zonesSigned: signed, zonesTotal: hierarchy.zones.count)
    }

    static func write(_ text: String, to path: String) throws {
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw LabError.io(path: path, reason: "cannot write: \(error)")
        }
    }
}
