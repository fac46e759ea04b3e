extension Message {
    /// The message laid out like `dig`'s output, for logs and test failure messages: the header
    /// line (opcode, status, id), flags and counts, the OPT pseudosection, then the question and
    /// the non-empty record sections. The record lines read back with ``ZoneFileParser``.
    public var presentation: String {
        var out: [String] = []
        let ar = additional.count + (edns == nil ? 0 : 1)
        out.append(";; ->>HEADER<<- opcode: \(header.opcode), status: \(rcode), id: \(header.id)")
        out.append(";; flags:\(header.flagsPresentation); QUERY: \(questions.count), ANSWER: \(answers.count), "
                   + "AUTHORITY: \(authority.count), ADDITIONAL: \(ar)")
        if let edns {
            out.append("")
            out.append(";; OPT PSEUDOSECTION:")
            out += edns.presentationLines
        }
        if !questions.isEmpty {
            out.append("")
            out.append(";; QUESTION SECTION:")
            for q in questions { out.append(";\(q.name.presentation)\t\t\(q.qclass)\t\(q.type)") }
        }
        for (title, rrs) in [("ANSWER", answers), ("AUTHORITY", authority), ("ADDITIONAL", additional)] where !rrs.isEmpty {
            out.append("")
            out.append(";; \(title) SECTION:")
            for rr in rrs { out.append(rr.presentation) }
        }
        return out.joined(separator: "\n") + "\n"
    }
}

extension Header {
    /// ` qr aa tc rd ra z ad cd` for the bits that are set, in dig's order.
    var flagsPresentation: String {
        var s = ""
        for (on, name) in [(isResponse, "qr"), (authoritative, "aa"), (truncated, "tc"), (recursionDesired, "rd"),
                           (recursionAvailable, "ra"), (zero, "z"), (authenticData, "ad"),
                           (checkingDisabled, "cd")] where on {
            s += " " + name
        }
        return s
    }
}

extension EDNS {
    /// The OPT pseudosection lines as `dig` prints them, each starting with `; `.
    var presentationLines: [String] {
        var flagText = dnssecOK ? " do" : ""
        let mbz = flags & 0x7FFF
        if mbz != 0 { flagText += "; MBZ: 0x" + Hex.encode([UInt8(mbz >> 8), UInt8(mbz & 0xFF)]) }
        var lines = ["; EDNS: version: \(version), flags:\(flagText); udp: \(udpPayloadSize)"]
        for o in options { lines.append("; " + o.presentation) }
        return lines
    }
}

extension EDNSOption {
    /// One option as `NAME: value`, decoded where the format is known (cookie, EDE, NSID,
    /// client subnet, keepalive, padding), else `OPTnnn: hex ("text")`.
    public var presentation: String {
        switch code {
        case .cookie:
            return "COOKIE: " + Hex.encode(data)
        case .extendedError:
            guard data.count >= 2 else { return "EDE: malformed " + Hex.encode(data) }
            let info = EDECode(UInt16(data[0]) << 8 | UInt16(data[1]))
            var s = "EDE: \(info.rawValue) (\(info))"
            if data.count > 2 { s += ": " + PresentationText.quoted(data[2...]) }
            return s
        case .nsid:
            return "NSID: " + Hex.encode(data) + " (" + PresentationText.quoted(data) + ")"
        case .clientSubnet:
            return "CLIENT-SUBNET: " + clientSubnetText
        case .tcpKeepalive:
            guard data.count == 2 else { return "TCP-KEEPALIVE" + (data.isEmpty ? "" : ": malformed " + Hex.encode(data)) }
            let v = Int(data[0]) << 8 | Int(data[1])
            return "TCP-KEEPALIVE: \(v / 10).\(v % 10) secs"
        case .padding:
            return "PADDING: (\(data.count) bytes)"
        default:
            return "\(code): " + Hex.encode(data) + (data.isEmpty ? "" : " (" + PresentationText.quoted(data) + ")")
        }
    }

    /// `address/source/scope` (RFC 7871 §6), or the raw hex when malformed.
    private var clientSubnetText: String {
        guard data.count >= 4 else { return "malformed " + Hex.encode(data) }
        let family = UInt16(data[0]) << 8 | UInt16(data[1])
        let source = data[2], scope = data[3]
        var addr = Array(data[4...])
        switch family {
        case 1 where addr.count <= 4:
            addr += [UInt8](repeating: 0, count: 4 - addr.count)
            return "\(IPv4Address(addr[0], addr[1], addr[2], addr[3]).presentation)/\(source)/\(scope)"
        case 2 where addr.count <= 16:
            addr += [UInt8](repeating: 0, count: 16 - addr.count)
            let a = IPv6Address(bytes: addr)?.presentation ?? Hex.encode(addr)
            return "\(a)/\(source)/\(scope)"
        default:
            return "family \(family) " + Hex.encode(data[4...]) + "/\(source)/\(scope)"
        }
    }
}
