import Crypto
import _CryptoExtras
import DNSCore
import Foundation
import Glibc
import Testing
@testable import DNSSEC

/// Names from text, failing the test on a typo.
func name(_ s: String) -> DNSName { try! DNSName(s) }

/// RRsets from zone-file text (RRSIGs attached to the sets they cover).
func rrsets(_ text: String) throws -> [RRSet] {
    RRSet.group(try ZoneFileParser.records(in: text, origin: .root, defaultTTL: 3600))
}

func rrset(_ text: String, _ type: RRType) throws -> RRSet {
    try #require(try rrsets(text).first { $0.type == type })
}

func hexBytes(_ s: String) -> [UInt8] { TrustAnchors.hex(s) }

func dnskeys(of set: RRSet) -> [DNSKEY] {
    set.rdatas.compactMap { if case let .dnskey(k) = $0 { k } else { nil } }
}

/// A private key of one DNSSEC algorithm made with swift-crypto, which signs RRsets the way a
/// zone signer does: RRSIG fields, then the canonical signed data of DNSCore, then the
/// algorithm's signature.
struct TestKey {
    enum Private {
        case rsa(_RSA.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
        case p384(P384.Signing.PrivateKey)
        case ed25519(Curve25519.Signing.PrivateKey)
    }
    let algorithm: DNSSECAlgorithm
    let owner: DNSName
    let key: Private
    var flags: UInt16 = 257

    /// RSA keys are expensive to make: one per size, shared by the tests.
    nonisolated(unsafe) static var rsaCache: [Int: _RSA.Signing.PrivateKey] = [:]
    static let rsaLock = NSLock()

    init(_ algorithm: DNSSECAlgorithm, owner: DNSName, flags: UInt16 = 257, rsaBits: Int = 1024) {
        self.algorithm = algorithm
        self.owner = owner
        self.flags = flags
        switch algorithm {
        case .rsaSHA1, .rsaSHA1NSEC3, .rsaSHA256, .rsaSHA512:
            Self.rsaLock.lock()
            defer { Self.rsaLock.unlock() }
            if let k = Self.rsaCache[rsaBits] { key = .rsa(k) } else {
                let k = try! _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: rsaBits))
                Self.rsaCache[rsaBits] = k
                key = .rsa(k)
            }
        case .ecdsaP256SHA256: key = .p256(P256.Signing.PrivateKey())
        case .ecdsaP384SHA384: key = .p384(P384.Signing.PrivateKey())
        default: key = .ed25519(Curve25519.Signing.PrivateKey())
        }
    }

    var publicKey: [UInt8] {
        switch key {
        case let .rsa(k):
            let p = try! k.publicKey.getKeyPrimitives()
            let e = Array(p.publicExponent), n = Array(p.modulus)
            let eTrim = Array(e.drop { $0 == 0 }), nTrim = Array(n.drop { $0 == 0 })
            return (eTrim.count < 256 ? [UInt8(eTrim.count)] : [0, UInt8(eTrim.count >> 8), UInt8(eTrim.count & 0xFF)]) + eTrim + nTrim
        case let .p256(k): return Array(k.publicKey.rawRepresentation)
        case let .p384(k): return Array(k.publicKey.rawRepresentation)
        case let .ed25519(k): return Array(k.publicKey.rawRepresentation)
        }
    }

    var dnskey: DNSKEY { DNSKEY(flags: flags, algorithm: algorithm, publicKey: publicKey) }

    func rawSign(_ data: [UInt8]) -> [UInt8] {
        switch key {
        case let .rsa(k):
            switch algorithm {
            case .rsaSHA256: return Array(try! k.signature(for: SHA256.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)
            case .rsaSHA512: return Array(try! k.signature(for: SHA512.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)
            default: return Array(try! k.signature(for: Insecure.SHA1.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation)
            }
        case let .p256(k): return Array(try! k.signature(for: data).rawRepresentation)
        case let .p384(k): return Array(try! k.signature(for: data).rawRepresentation)
        case let .ed25519(k): return Array(try! k.signature(for: data))
        }
    }

    /// An RRSIG over `set` by this key, valid from `inception` to `expiration`, with `labels`
    /// (default: the owner's, without a leading `*`) and `keyTag` (default: this key's).
    func sign(_ set: RRSet, inception: UInt32, expiration: UInt32, labels: UInt8? = nil,
              keyTag: UInt16? = nil, originalTTL: UInt32? = nil, signer: DNSName? = nil) -> RRSIG {
        let ownerLabels = set.name.labelCount - (set.name.isWildcard ? 1 : 0)
        var sig = RRSIG(typeCovered: set.type, algorithm: algorithm, labels: labels ?? UInt8(ownerLabels),
                        originalTTL: originalTTL ?? set.ttl, expiration: expiration, inception: inception,
                        keyTag: keyTag ?? dnskey.keyTag, signerName: signer ?? owner, signature: [])
        sig.signature = rawSign(set.signedData(for: sig) ?? [])
        return sig
    }

    /// `set` with a fresh signature by this key attached.
    func signed(_ set: RRSet, now: UInt32, validity: UInt32 = 86400) -> RRSet {
        var s = set
        s.signatures.append(sign(set, inception: now &- 3600, expiration: now &+ validity))
        return s
    }
}

/// The clock the signing tests use.
let testNow: UInt32 = 1_800_000_000

func aSet(_ owner: String, ttl: UInt32 = 3600, _ last: UInt8 = 1) -> RRSet {
    RRSet(name: name(owner), type: .a, ttl: ttl, rdatas: [.a(IPv4Address(192, 0, 2, last))])
}

/// The DNSKEY RRset of `keys`, self-signed by each of `signers` (default: all of them).
func keySet(_ zone: DNSName, _ keys: [TestKey], signers: [TestKey]? = nil, now: UInt32 = testNow) -> RRSet {
    var set = RRSet(name: zone, type: .dnskey, ttl: 3600, rdatas: keys.map { .dnskey($0.dnskey) })
    for k in signers ?? keys { set.signatures.append(k.sign(set, inception: now - 3600, expiration: now + 86400)) }
    return set
}

// MARK: ldns, for zones signed by a real signer

/// Runs a tool in `dir` and returns its standard output; throws when it exits non-zero.
///
/// posix_spawn and waitpid, with the output in files, rather than Foundation's `Process` and
/// pipes: tests running beside these start daemons (the lab's nsd) that inherit whatever
/// descriptors are open at that moment, and a pipe or `Process`'s own exit descriptor held by a
/// daemon never reaches end of file, so `Process` would wait forever.
@discardableResult
func run(_ tool: String, _ args: [String], in dir: String) throws -> String {
    try spawnAndWait(tool, args, in: dir)
}

struct LdnsFailure: Error, CustomStringConvertible { var message: String; var description: String { message } }

/// A zone signed by ldns-signzone with a fresh ldns-keygen key, parsed back into RRsets.
struct LdnsZone {
    let origin: DNSName
    let sets: [RRSet]
    let keys: RRSet
    let ds: DS

    /// Signs `records` (zone-file lines relative to nothing: absolute names) for `origin`.
    /// `nsec3` adds `-n -s <salt> -t <iterations>`, `optOut` adds `-p`.
    static func make(origin: String, records: String, algorithm: Int = 13, nsec3: (salt: String, iterations: Int)? = nil,
                     optOut: Bool = false, inception: UInt32 = testNowReal - 3600, expiration: UInt32 = testNowReal + 86400) throws -> LdnsZone {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dnssec-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var keygen = ["-a", String(algorithm), "-k", "-r", "/dev/urandom"]
        if algorithm == 8 || algorithm == 10 { keygen += ["-b", "1024"] }
        let base = try run("/usr/bin/ldns-keygen", keygen + [origin], in: dir)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try records.write(toFile: dir + "/zone", atomically: true, encoding: .utf8)
        var args: [String] = []
        if let n = nsec3 { args += ["-n", "-s", n.salt, "-t", String(n.iterations)] }
        if optOut { args.append("-p") }
        args += ["-i", String(inception), "-e", String(expiration), "-o", origin, "-f", dir + "/zone.signed", dir + "/zone", base]
        try run("/usr/bin/ldns-signzone", args, in: dir)
        let text = try String(contentsOfFile: dir + "/zone.signed", encoding: .utf8)
        let sets = try rrsets(text)
        let o = name(origin)
        let keys = try #require(sets.first { $0.type == .dnskey && $0.name == o })
        let dsText = try String(contentsOfFile: dir + "/\(base).ds", encoding: .utf8)
        let dsSet = try #require(try rrsets(dsText).first { $0.type == .ds })
        guard case let .ds(ds) = dsSet.rdatas[0] else { throw LdnsFailure(message: "no DS") }
        return LdnsZone(origin: o, sets: sets, keys: keys, ds: ds)
    }

    func set(_ owner: String, _ type: RRType) -> RRSet? { sets.first { $0.name == name(owner) && $0.type == type } }
    var nsecs: [RRSet] { sets.filter { $0.type == .nsec } }
    var nsec3s: [RRSet] { sets.filter { $0.type == .nsec3 } }
}

/// ldns signs with the real clock; proofs and signatures from it are checked at this time.
let testNowReal = UInt32(truncatingIfNeeded: Int(Date().timeIntervalSince1970))

/// Whether ldns-keygen and ldns-signzone are installed (scripts/packages.txt has ldnsutils).
let ldnsInstalled = FileManager.default.isExecutableFile(atPath: "/usr/bin/ldns-signzone")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/ldns-keygen")

/// See ``run(_:_:in:)``.
func spawnAndWait(_ tool: String, _ args: [String], in dir: String) throws -> String {
    let id = UUID().uuidString
    let outPath = "\(dir)/.out-\(id)", errPath = "\(dir)/.err-\(id)"
    defer { unlink(outPath); unlink(errPath) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    // (posix_spawn_file_actions_addchdir_np is not visible from Swift: sh changes directory.)
    let argv = (["/bin/sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh", dir, tool] + args).map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, "/bin/sh", &actions, nil, argv, environ)
    guard rc == 0 else { throw LdnsFailure(message: "\(tool): \(String(cString: strerror(rc)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { throw LdnsFailure(message: "waitpid: \(String(cString: strerror(errno)))") }
    }
    let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    guard status == 0 else {
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        throw LdnsFailure(message: "\(tool) \(args) exited with status \(status): \(err)")
    }
    return out
}
