import DNSCore
import ShmCache
import Testing
@testable import Worker

/// How a DNSSEC verdict reaches the client: the AD bit, SERVFAIL with EDE for bogus data, CD,
/// DO and the DNSSEC records, and how the verdicts of a chain's parts combine.
@Suite struct DNSSECAnswerTests {
    static let name = try! DNSName("www.example.test.")
    static let secureSet = RRSet(name: name, type: .a, rrclass: .in, ttl: 300, rdatas: [.a(IPv4Address(192, 0, 2, 1))])

    static func query(do dnssecOK: Bool, ad: Bool = false, cd: Bool = false) -> ClientQuery {
        var m = Message.query(id: 9, name: name, type: .a, edns: EDNS(udpPayloadSize: 1232, dnssecOK: dnssecOK))
        m.header.authenticData = ad
        m.header.checkingDisabled = cd
        return ClientQuery(message: m, question: m.questions[0], maxResponseSize: 1232, wireName: name.wire)
    }

    @Test func partsCombineBogusFirstThenUnvalidatedThenInsecure() {
        let secure = ValidationVerdict(.secure), insecure = ValidationVerdict(.insecure)
        let bogus = ValidationVerdict(.bogus, reason: ExtendedDNSError(code: .signatureExpired))
        #expect(secure.combined(with: secure) == secure)
        #expect(secure.combined(with: insecure) == insecure)
        #expect(insecure.combined(with: .indeterminate) == .indeterminate)
        #expect(bogus.combined(with: secure) == bogus && secure.combined(with: bogus) == bogus)
        #expect(ValidationVerdict.indeterminate.combined(with: bogus) == bogus)
    }

    @Test func adOnlyOnSecureDataForDOOrADClients() {
        let r = Resolution(rcode: .noError, answer: [Self.secureSet], verdict: ValidationVerdict(.secure))
        #expect(ResponseBuilder.message(for: Self.query(do: true), r).header.authenticData)
        #expect(ResponseBuilder.message(for: Self.query(do: false, ad: true), r).header.authenticData)
        #expect(!ResponseBuilder.message(for: Self.query(do: false), r).header.authenticData)
        for v in [ValidationVerdict(.insecure), .indeterminate] {
            let other = Resolution(rcode: .noError, answer: [Self.secureSet], verdict: v)
            #expect(!ResponseBuilder.message(for: Self.query(do: true, ad: true), other).header.authenticData)
        }
    }

    @Test func bogusIsServfailWithItsEDEUnlessCD() {
        let reason = ExtendedDNSError(code: .dnskeyMissing, extraText: Array("no DNSKEY matches".utf8))
        let r = Resolution(rcode: .noError, answer: [Self.secureSet], verdict: ValidationVerdict(.bogus, reason: reason))
        let m = ResponseBuilder.message(for: Self.query(do: true), r)
        #expect(m.rcode == .servFail && m.answers.isEmpty && !m.header.authenticData)
        #expect(m.edns?.extendedErrors == [reason])
        let cd = ResponseBuilder.message(for: Self.query(do: true, cd: true), r)
        #expect(cd.rcode == .noError && cd.answers.count == 1 && !cd.header.authenticData && cd.header.checkingDisabled)
        #expect(cd.edns?.extendedErrors.isEmpty == true)
    }
}
