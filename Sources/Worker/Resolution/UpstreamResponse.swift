import DNSCore

/// What one authoritative server's response means for the question we asked it, after every
/// record outside the server's bailiwick has been dropped.
///
/// Built by ``UpstreamResponse/classify(_:question:zone:)``, a pure function: no I/O, no cache,
/// so each poisoning and lameness rule is tested on its own.
public struct UpstreamResponse: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The final data for the last name of `chain` (or the question) is in `answers`.
        case answer
        /// The answer section leads out of this zone through a CNAME or DNAME: ask again for `target`.
        case alias(target: DNSName)
        /// The last name does not exist (RFC 2308 NXDOMAIN), proven by `authority`.
        case nxDomain
        /// The last name exists but has no data of the type (RFC 2308 NODATA).
        case noData
        /// A delegation to `zone`: its NS set, the DS set if any, and in-bailiwick glue.
        case referral(zone: DNSName)
        /// The server does not serve the zone we think it does (upward or sideways referral,
        /// REFUSED, a non-authoritative non-referral). Try another server.
        case lame(String)
        /// SERVFAIL, FORMERR, NOTIMP or another RCODE that says nothing about the name.
        case failure(RCode)
        /// The response does not answer our question (wrong question, not a response, or a
        /// chain that loops): discard it and count it.
        case invalid(String)
    }

    public var kind: Kind
    /// CNAME, DNAME and synthesized CNAME sets followed from the question name, in order.
    public var chain: [RRSet] = []
    /// The sets of the asked type at the end of the chain (with their RRSIGs).
    public var answers: [RRSet] = []
    /// For answers: the zone's NS set and NSEC/NSEC3 sets (wildcard proofs); for referrals: the
    /// NS set, DS or the NSEC/NSEC3 proving its absence; for negatives: SOA and NSEC/NSEC3 proofs.
    public var authority: [RRSet] = []
    /// For referrals: A/AAAA glue of the new NS names that lies inside the referring zone.
    public var glue: [RRSet] = []
    /// Records dropped as out of bailiwick or irrelevant (for statistics and trace logs).
    public var dropped: Int = 0

    /// The name the final data or negative answer is about.
    public var finalName: DNSName?

    /// The DNSSEC verdict, set by the ``ResponseValidator`` after classification.
    public var verdict = ValidationVerdict.indeterminate

    public init(kind: Kind) { self.kind = kind }

    /// Longest CNAME/DNAME chain followed inside one response (DESIGN.md caps chains).
    public static let maxChainInResponse = 12

    /// Classifies `msg`, the reply to `question` sent to a server of `zone`.
    ///
    /// Rules (RFC 1034 §5.3.3, RFC 2181 §5.4.1, RFC 2308, RFC 6672):
    /// - answer records must lie at or under `zone`, and only those on the chain from the question
    ///   name are kept;
    /// - a referral's NS owner must be strictly below `zone` and at or above the name asked;
    /// - glue is kept only for the referral's NS names and only inside `zone`;
    /// - a negative answer's SOA must be the zone apex or below it, and above the name;
    /// - SOA and NS sets that break these rules are ignored wherever they come, not taken as
    ///   the server's word (a lie put first must not hide the real set).
    public static func classify(_ msg: Message, question: Question, zone: DNSName) -> UpstreamResponse {
        guard msg.header.isResponse, msg.header.opcode == .query else {
            return UpstreamResponse(kind: .invalid("not a response to a query"))
        }
        guard let q = msg.question, msg.questions.count == 1, q.name == question.name,
              q.type == question.type, q.qclass == question.qclass else {
            // FORMERR/NOTIMP replies may omit the question.
            if msg.questions.isEmpty, msg.rcode != .noError, msg.rcode != .nxDomain {
                return UpstreamResponse(kind: .failure(msg.rcode))
            }
            return UpstreamResponse(kind: .invalid("question does not match"))
        }
        switch msg.rcode {
        case .noError, .nxDomain: break
        case .refused: return UpstreamResponse(kind: .lame("REFUSED"))
        default: return UpstreamResponse(kind: .failure(msg.rcode))
        }

        let answerSets = RRSet.group(msg.answers)
        let authoritySets = RRSet.group(msg.authority)
        let additionalSets = RRSet.group(msg.additional)
        var out = UpstreamResponse(kind: .answer)
        var used = 0

        // Follow the chain from the question name through the answer section.
        var name = question.name
        var seen: Set<DNSName> = [name]
        chainLoop: while true {
            guard name.isSubdomain(of: zone) else {
                out.kind = .alias(target: name)
                out.finalName = name
                out.dropped = msg.answers.count + msg.authority.count + msg.additional.count - used
                return out
            }
            let here = answerSets.filter { $0.name == name }
            let exact = here.filter {
                $0.type == question.type || (question.type == .any && $0.type != .rrsig)
            }
            if !exact.isEmpty {
                out.answers = exact
                used += exact.reduce(0) { $0 + $1.rdatas.count + $1.signatures.count }
                break chainLoop
            }
            // A DNAME above the name wins over any CNAME the server synthesized for it.
            if let dname = answerSets.first(where: {
                $0.type == .dname && name.isStrictSubdomain(of: $0.name) && $0.name.isSubdomain(of: zone)
            }), case let .dname(target)? = dname.rdatas.first {
                out.chain.append(dname)
                used += 1 + dname.signatures.count
                let prefix = name.labelCount - dname.name.labelCount
                guard let rewritten = try? DNSName(labels: name.labels.prefix(prefix).map(Array.init))
                    .appending(target) else {
                    // RFC 6672 §2.2: a too-long result is YXDOMAIN; nothing to follow.
                    return UpstreamResponse(kind: .failure(.yxDomain))
                }
                // The server's synthesized CNAME is not trusted; ours replaces it.
                let synthesized = RRSet(name: name, type: .cname, rrclass: dname.rrclass, ttl: dname.ttl,
                                        rdatas: [.cname(rewritten)])
                out.chain.append(synthesized)
                if answerSets.contains(where: { $0.name == name && $0.type == .cname }) { used += 1 }
                name = rewritten
            } else if let cname = here.first(where: { $0.type == .cname }), case let .cname(target)? = cname.rdatas.first {
                guard cname.rdatas.count == 1 else { return UpstreamResponse(kind: .invalid("CNAME set with several targets")) }
                out.chain.append(cname)
                used += 1 + cname.signatures.count
                name = target
            } else {
                break chainLoop
            }
            guard out.chain.count <= maxChainInResponse, seen.insert(name).inserted else {
                return UpstreamResponse(kind: .invalid("CNAME/DNAME loop or chain too long"))
            }
        }
        out.finalName = name

        // Out-of-bailiwick or unrelated SOA and NS sets may come before the real ones: pick the
        // set that can be the answer's, and judge by the first only when none can.
        let soa = authoritySets.first {
            $0.type == .soa && name.isSubdomain(of: $0.name) && $0.name.isSubdomain(of: zone)
        }
        let proofs = authoritySets.filter {
            ($0.type == .nsec || $0.type == .nsec3) && $0.name.isSubdomain(of: zone)
        }
        let soaValid = soa != nil
        // A negative answer is the server's word only when it speaks for the zone: AA set, or
        // the SOA of the very zone we asked it for. A SOA of another zone without AA (a parent
        // talking about a child it does not serve) proves nothing and is not cached.
        let authoritativeNegative = msg.header.authoritative || soa?.name == zone
        let nsSets = authoritySets.filter { $0.type == .ns }
        let delegation = nsSets.first { $0.name.isStrictSubdomain(of: zone) && name.isSubdomain(of: $0.name) }
            ?? nsSets.first

        if msg.rcode == .nxDomain {
            guard authoritativeNegative else { return UpstreamResponse(kind: .lame("NXDOMAIN without authority")) }
            out.kind = .nxDomain
            out.authority = (soaValid ? [soa!] : []) + proofs
            out.answers = []
        } else if !out.answers.isEmpty {
            out.kind = .answer
            // Keep the zone's NS set from the authority section: it may refresh the delegation.
            // NSEC/NSEC3 sets are kept too: they prove a wildcard expansion (RFC 4035 §5.3.4).
            out.authority = authoritySets.filter { $0.type == .ns && $0.name == zone } + proofs
        } else if let ns = delegation, !soaValid, !(msg.header.authoritative && ns.name == zone),
                  !out.chain.isEmpty || !msg.answers.contains(where: { $0.name == name }) {
            // (The zone's own NS set in an authoritative reply is no referral: some servers give
            // NODATA that way, without SOA; it is taken as NODATA below.)
            // A delegation, possibly after an in-zone chain. Answer records about other names
            // are dropped here as everywhere else; they do not make it something else.
            guard ns.name.isStrictSubdomain(of: zone) else {
                return UpstreamResponse(kind: .lame(ns.name == zone ? "referral to itself" : "upward referral to \(ns.name)"))
            }
            guard name.isSubdomain(of: ns.name) else {
                return UpstreamResponse(kind: .lame("sideways referral to \(ns.name)"))
            }
            out.kind = .referral(zone: ns.name)
            out.authority = [ns] + authoritySets.filter { $0.type == .ds && $0.name == ns.name }
                + proofs   // NSEC/NSEC3 proving an insecure delegation
            let nsNames = Set(ns.rdatas.compactMap { rd -> DNSName? in
                if case let .ns(n) = rd { return n } else { return nil }
            })
            out.glue = additionalSets.filter {
                ($0.type == .a || $0.type == .aaaa) && nsNames.contains($0.name) && $0.name.isSubdomain(of: zone)
            }
        } else if (soaValid && authoritativeNegative) || (msg.header.authoritative && out.chain.isEmpty) {
            // After an in-zone chain, only an SOA says its end has no data; without one the
            // server may just not have followed the chain (unbound asks again at the end too).
            out.kind = .noData
            out.authority = (soaValid ? [soa!] : []) + proofs
        } else if out.chain.isEmpty {
            return UpstreamResponse(kind: .lame("not authoritative and no referral"))
        } else {
            // An in-zone chain whose end the server did not answer for: ask again at the end.
            out.kind = .alias(target: name)
        }
        let kept = out.chain.count + out.answers.count + out.authority.count + out.glue.count
        out.dropped = max(0, RRSet.group(msg.answers + msg.authority + msg.additional).count - kept)
        return out
    }
}
