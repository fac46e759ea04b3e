import DNSCore
import Foundation

/// The trust anchors a validator starts chains of trust from: per zone, DS records or DNSKEYs.
public struct TrustAnchors: Hashable, Sendable {
    /// DS anchors by zone.
    public private(set) var ds: [DNSName: [DS]] = [:]
    /// DNSKEY anchors by zone.
    public private(set) var keys: [DNSName: [DNSKEY]] = [:]

    public init() {}

    /// The root zone's key-signing keys as IANA publishes them (root-anchors.xml, also Debian's
    /// dns-root-data): KSK-2017 (tag 20326) and KSK-2024 (tag 38696), both RSA/SHA-256, as
    /// SHA-256 DS records. RFC 5011 rollover tracking is not done: a new root KSK needs a new
    /// release or an anchor file.
    public static let ianaRoot: TrustAnchors = {
        var a = TrustAnchors()
        a.add(.root, DS(keyTag: 20326, algorithm: .rsaSHA256, digestType: .sha256,
                        digest: hex("E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D")))
        a.add(.root, DS(keyTag: 38696, algorithm: .rsaSHA256, digestType: .sha256,
                        digest: hex("683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16")))
        return a
    }()

    public mutating func add(_ zone: DNSName, _ d: DS) {
        if !ds[zone, default: []].contains(d) { ds[zone, default: []].append(d) }
    }

    public mutating func add(_ zone: DNSName, _ k: DNSKEY) {
        if !keys[zone, default: []].contains(k) { keys[zone, default: []].append(k) }
    }

    public var isEmpty: Bool { ds.isEmpty && keys.isEmpty }

    /// Every zone with an anchor.
    public var zones: Set<DNSName> { Set(ds.keys).union(keys.keys) }

    /// The anchored zone closest to `name` (the deepest at or above it), if any.
    public func closestAnchor(for name: DNSName) -> DNSName? {
        var n: DNSName? = name
        while let cur = n {
            if ds[cur] != nil || keys[cur] != nil { return cur }
            n = cur.parent
        }
        return nil
    }

    /// Anchors read from zone-file text: DS and DNSKEY records (as in unbound's
    /// `trust-anchor-file`, or `dig DNSKEY . > root.key`). Any other record type, a DNSKEY
    /// without the Zone Key flag, or a text that holds no anchor is an error naming the line's
    /// record.
    public static func parse(_ text: String, source: String = "trust anchor file") throws(TrustAnchorError) -> TrustAnchors {
        let records: [ResourceRecord]
        do { records = try ZoneFileParser.records(in: text, origin: .root, defaultTTL: 0) } catch {
            throw TrustAnchorError(source: source, reason: "\(error)")
        }
        var a = TrustAnchors()
        for rr in records {
            switch rr.rdata {
            case let .ds(d) where rr.type == .ds:
                a.add(rr.name, d)
            case let .dnskey(k) where rr.type == .dnskey:
                guard k.isZoneKey else {
                    throw TrustAnchorError(source: source, reason: "DNSKEY \(k.keyTag) of \(rr.name) lacks the Zone Key flag")
                }
                a.add(rr.name, k)
            default:
                throw TrustAnchorError(source: source, reason: "\(rr.name) \(rr.type) is neither DS nor DNSKEY")
            }
        }
        guard !a.isEmpty else { throw TrustAnchorError(source: source, reason: "no DS or DNSKEY record") }
        return a
    }

    /// Hex of a built-in constant (known good, so a decoding error is a programming error).
    /// Anchors from the file at `path` (see ``parse(_:source:)``); errors name the file.
    public static func load(path: String) throws(TrustAnchorError) -> TrustAnchors {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw TrustAnchorError(source: path, reason: "cannot read: \(error.localizedDescription)")
        }
        return try parse(text, source: path)
    }

    static func hex(_ s: String) -> [UInt8] { try! Hex.decode(s) }
}

/// Negative trust anchors (RFC 7646): names below which validation is off, so a zone with
/// broken DNSSEC can be answered (insecure) while its operator fixes it.
public struct NegativeTrustAnchors: Hashable, Sendable {
    public private(set) var names: Set<DNSName> = []
    public init(_ names: some Sequence<DNSName> = []) { self.names = Set(names) }
    public mutating func add(_ n: DNSName) { names.insert(n) }
    public mutating func remove(_ n: DNSName) { names.remove(n) }

    /// The anchor at or above `name`, if any (the closest).
    public func covering(_ name: DNSName) -> DNSName? {
        guard !names.isEmpty else { return nil }
        var n: DNSName? = name
        while let cur = n {
            if names.contains(cur) { return cur }
            n = cur.parent
        }
        return nil
    }
}

/// A trust anchor source that could not be used, and why.
public struct TrustAnchorError: Error, Hashable, Sendable, CustomStringConvertible {
    public var source: String
    public var reason: String
    public init(source: String, reason: String) { self.source = source; self.reason = reason }
    public var description: String { "\(source): \(reason)" }
}
