import DNSCore
import Foundation
import ShoalLab
import Testing

/// The running lab of the current test, set by the `.sharedLab` trait.
enum TestLab {
    @TaskLocal static var current: Lab?

    /// The lab, or a test failure explaining that the suite lacks the `.sharedLab` trait.
    static func lab(sourceLocation: SourceLocation = #_sourceLocation) throws -> Lab {
        try #require(current, "suite is missing the .sharedLab trait", sourceLocation: sourceLocation)
    }
}

/// Runs a whole suite inside one running lab, shared with every other suite of the process
/// (`SharedLab`): started before the suite's first test, stopped after the last user is done.
struct SharedLabTrait: SuiteTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable () async throws -> Void) async throws {
        try await withSharedLab(.testing) { lab in
            try await TestLab.$current.withValue(lab) { try await function() }
        }
    }
}

extension Trait where Self == SharedLabTrait {
    static var sharedLab: Self { Self() }
}

/// Queries a lab server with DNSCore messages over the lab's own probe.
enum Ask {
    /// Sends `name`/`type` (RD clear) to `server` and parses the response with DNSCore.
    /// `edns: nil` sends no OPT record at all.
    static func query(_ name: String, _ type: RRType, at server: String,
                      edns: EDNS? = EDNS(udpPayloadSize: 1232, dnssecOK: true),
                      transport: DNSProbe.Transport = .udp, timeoutMilliseconds: Int = 2000) throws -> Message {
        let query = Message.query(id: UInt16.random(in: 0...UInt16.max), name: try DNSName(name), type: type,
                                  recursionDesired: false, edns: edns)
        let wire = try DNSProbe.exchange(try query.serialize(), server: server, transport: transport,
                                         timeoutMilliseconds: timeoutMilliseconds)
        let response = try Message(wire: wire)
        #expect(response.header.id == query.header.id)
        #expect(response.question == query.question)
        return response
    }
}

extension Message {
    /// Records of `type` in the answer section.
    func answers(_ type: RRType) -> [ResourceRecord] { answers.filter { $0.type == type } }
    /// Records of `type` in the authority section.
    func authority(_ type: RRType) -> [ResourceRecord] { authority.filter { $0.type == type } }

    /// RRSIGs in `section` covering `type`.
    func signatures(in section: [ResourceRecord], covering type: RRType) -> [RRSIG] {
        section.compactMap { rr -> RRSIG? in
            if case let .rrsig(sig) = rr.rdata, sig.typeCovered == type { return sig }
            return nil
        }
    }

    /// IPv4 glue in the additional section, by owner.
    var glue: [DNSName: [String]] {
        var result: [DNSName: [String]] = [:]
        for rr in additional {
            if case let .a(ip) = rr.rdata { result[rr.name, default: []].append(ip.presentation) }
        }
        return result
    }
}

/// The TLD of a zone origin: `foo.lab.` → `lab.`.
func tld(of zone: String) -> String {
    String(zone.split(separator: ".").last!) + "."
}
