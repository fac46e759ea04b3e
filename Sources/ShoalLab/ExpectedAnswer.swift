import Foundation

/// What a correct recursive resolver answers for one question to the lab, computed from the
/// generated zone data (never by querying).
///
/// Serialised as one JSON object per line (`expected.jsonl` in the lab directory), keys sorted:
///
/// ```
/// {"answer":["chain1.bavoki.lab. 3600 IN CNAME hop1a.tedu.zz.", …, "www.kimo.example. 300 IN A 198.18.0.7"],
///  "dnssec":"secure","features":["alg13","cname","cross-zone","nsec"],"kind":"cname",
///  "qname":"chain1.bavoki.lab.","qtype":"A","rcode":"NOERROR","zone":"bavoki.lab."}
/// ```
///
/// - `qname`, `qtype`: the question (absolute lower-case name, type mnemonic; class IN).
/// - `rcode`: `NOERROR` or `NXDOMAIN` as the data gives it (for a chain, the rcode of its last
///   name). A validating resolver answers `SERVFAIL` with an empty answer instead when `dnssec`
///   is `bogus`.
/// - `answer`: the answer section without RRSIGs, as presentation-format records
///   `owner TTL IN TYPE RDATA` with the TTLs of the zone data. CNAME and DNAME chains appear in
///   full, in resolution order; a DNAME is followed by the CNAME synthesised from it (TTL of the
///   DNAME). Wildcard answers carry the query name as owner. Order inside one RRset is not
///   significant. Empty for NXDOMAIN and NODATA (after any chain).
/// - `dnssec`: `secure`, `insecure` or `bogus` — the validation state of the whole answer (or
///   denial): bogus when any part is bogus, else insecure when any part is, else secure.
/// - `zone`: the zone authoritative for `qname` itself (first step of the resolution).
/// - `kind`: what that zone says for `qname`: `answer` (the data), `cname`, `dname`, `wildcard`
///   (synthesised answer), `nodata`, `nxdomain`.
/// - `features`: tags for selecting cases, the union over every zone the answer touches of its
///   tags (`nsec`, `nsec3`, `nsec3-salt`, `unsigned`, `alg8`…`alg15`, `glueless`, `glueless-2`,
///   `lame-ns`, `bogus-expired`, `bogus-ds`, `corrupt-rrsig`, `root`, `tld`) plus tags of the
///   answer: `cname`, `dname`, `wildcard`, `cross-zone`, `ent` (empty non-terminal) and `large`
///   (answer section alone exceeds 512 bytes: truncated over UDP without EDNS).
public struct ExpectedAnswer: Codable, Sendable, Hashable {
    public var qname: String
    public var qtype: String
    public var rcode: String
    public var dnssec: DNSSECStatus
    public var answer: [String]
    public var zone: String
    public var kind: Kind
    public var features: [String]

    public enum DNSSECStatus: String, Codable, Sendable, Hashable, Comparable {
        case secure, insecure, bogus

        /// Worse sorts later: combining parts takes the maximum.
        public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
        private var rank: Int { self == .secure ? 0 : self == .insecure ? 1 : 2 }
    }

    public enum Kind: String, Codable, Sendable, Hashable {
        case answer, cname, dname, wildcard, nodata, nxdomain
    }

    /// The rcode a validating resolver returns: `SERVFAIL` for bogus data, else `rcode`.
    public var validatingRcode: String { dnssec == .bogus ? "SERVFAIL" : rcode }

    /// The answer records split into fields: owner, TTL, type, RDATA.
    public var answerRecords: [LabRecord] {
        answer.map { line in
            let f = line.split(separator: " ", maxSplits: 4, omittingEmptySubsequences: true).map(String.init)
            return LabRecord(f[0], UInt32(f[1]) ?? 0, f[3], f.count > 4 ? f[4] : "")
        }
    }

    /// One JSON line (no trailing newline), keys sorted.
    public func jsonLine() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings and arrays cannot fail.
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// Parses a JSON-lines document as written by `jsonLines(_:)`; blank lines are skipped.
    public static func parse(jsonLines text: String) throws -> [ExpectedAnswer] {
        let decoder = JSONDecoder()
        var result: [ExpectedAnswer] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            do {
                result.append(try decoder.decode(ExpectedAnswer.self, from: Data(line.utf8)))
            } catch {
                throw LabError.malformedToolOutput(path: "expected answers line \(n + 1)", reason: "\(error)")
            }
        }
        return result
    }

    /// The JSON-lines document for `answers`, newline-terminated.
    public static func jsonLines(_ answers: [ExpectedAnswer]) -> String {
        answers.map { $0.jsonLine() }.joined(separator: "\n") + "\n"
    }
}
