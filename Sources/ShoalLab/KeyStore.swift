import Foundation

/// A key pair made by `ldns-keygen`, as the signer and the parent zone need it.
struct LabKey: Sendable, Hashable {
    /// Path of the key files without `.key`/`.private`, as `ldns-signzone` wants it.
    var base: String
    /// DS RDATA for the parent, e.g. `42262 13 2 fc47…`.
    var dsRData: String
    /// DNSKEY RDATA, e.g. `257 3 13 VJe9…`.
    var dnskeyRData: String
}

/// What key a zone needs: one combined signing key (flags 257) per zone and algorithm, plus
/// the unused "decoy" whose DS a parent publishes for the DS-mismatch zone.
struct KeySpec: Sendable, Hashable {
    var zone: String
    var algorithm: UInt8
    var bits: Int?
    var decoy: Bool

    /// Cache directory name: one directory per zone, algorithm, size and role.
    var directoryName: String {
        let stem = zone == "." ? "root" : String(zone.dropLast())
        return "\(stem)_alg\(algorithm)" + (bits.map { "_\($0)" } ?? "") + (decoy ? "_decoy" : "")
    }
}

/// Generates keys once and keeps them in `<lab>/keys`, so re-running a lab re-signs but never
/// re-generates (RSA 2048 takes about half a second each).
struct KeyStore {
    let directory: String
    let tools: LabTools

    /// Makes every missing key, `width` generators at a time, and returns all of them.
    func keys(for specs: [KeySpec], width: Int) throws -> [KeySpec: LabKey] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let missing = specs.filter { (try? load($0)) == nil }
        try ToolRunner.parallel(missing.map { spec in { try self.generate(spec) } }, width: width)
        var result: [KeySpec: LabKey] = [:]
        for spec in specs { result[spec] = try load(spec) }
        return result
    }

    /// Generates into a scratch directory and renames it into place, so a run killed halfway
    /// never leaves a half-written key in the cache.
    private func generate(_ spec: KeySpec) throws {
        let final = "\(directory)/\(spec.directoryName)"
        let scratch = "\(final).tmp-\(getpid())"
        let fm = FileManager.default
        try? fm.removeItem(atPath: scratch)
        try fm.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        var args = ["-a", String(spec.algorithm), "-k", "-r", "/dev/urandom"]
        if let bits = spec.bits { args += ["-b", String(bits)] }
        args.append(spec.zone)
        try ToolRunner.runChecked(ToolInvocation(tool: tools.ldnsKeygen, arguments: args, directory: scratch))
        try? fm.removeItem(atPath: final)
        do { try fm.moveItem(atPath: scratch, toPath: final) } catch {
            throw LabError.io(path: final, reason: "cannot move generated key into place: \(error)")
        }
    }

    /// The cached key, or an error saying what is missing.
    private func load(_ spec: KeySpec) throws -> LabKey {
        let dir = "\(directory)/\(spec.directoryName)"
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        guard let priv = files.first(where: { $0.hasPrefix("K") && $0.hasSuffix(".private") }) else {
            throw LabError.io(path: dir, reason: "no private key")
        }
        let base = "\(dir)/\(priv.dropLast(".private".count))"
        return LabKey(base: base,
                      dsRData: try rdata(ofType: "DS", inFile: base + ".ds"),
                      dnskeyRData: try rdata(ofType: "DNSKEY", inFile: base + ".key"))
    }

    /// RDATA of the first record of `type` in a one-record file like `foo. IN DS 1 13 2 ab…`,
    /// without trailing `;` comments.
    private func rdata(ofType type: String, inFile path: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw LabError.io(path: path, reason: "cannot read")
        }
        for line in text.split(separator: "\n") {
            let content = line.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0]
            let fields = content.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if let t = fields.firstIndex(where: { $0 == type }), t + 1 < fields.count {
                return fields[(t + 1)...].joined(separator: " ")
            }
        }
        throw LabError.malformedToolOutput(path: path, reason: "no \(type) record")
    }
}
