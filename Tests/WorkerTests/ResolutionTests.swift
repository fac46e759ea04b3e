import DNSCore
import Foundation
import ShmCache
import ShoalLab
import Testing

/// One worker resolves the whole corpus of the lab from its root hints, validating with the
/// lab's trust anchor, and each answer's RCODE and RRsets equal the hierarchy's expected answers
/// (SERVFAIL without data for the bogus zones); unbound, asked the same corpus on the same
/// hierarchy, agrees name by name with validation off on both sides.
@Suite(.workerLab, .serialized)
struct ResolutionTests {
    @Test func answersTheCorpusAsTheHierarchySays() throws {
        try WorkerLab.withWorker("corpus", host: ".201.1") { worker, lab in
            let corpus = WorkerLab.corpus(lab)
            #expect(corpus.count > 100)
            for e in corpus {
                let r = try worker.ask(e.qname, try #require(RRType(mnemonic: e.qtype)))
                let what = "\(e.qname) \(e.qtype) [\(e.features.joined(separator: ","))]"
                #expect(r.rcode.description == e.validatingRcode, "\(what)\n\(r.presentation)")
                let expected = e.dnssec == .bogus ? [] : Set(try e.answer.map { try ResourceRecord(presentation: $0).comparable })
                let got = Set(r.answers.filter { $0.type != .rrsig }.map(\.comparable))
                #expect(got == expected, "\(what)\n\(r.presentation)")
                #expect(r.header.recursionAvailable && r.header.isResponse)
            }
        }
    }

    @Test(.enabled(if: UnboundPeer.installed))
    func agreesWithUnboundNameByName() throws {
        try WorkerLab.withWorker("peer", host: ".201.2", extra: ["--dnssec", "off"]) { worker, lab in
            let unboundAddress = lab.listenAddress(lab.hierarchy.plan.prefix + ".201.3")
            // Validation off on both sides; `DNSSECUnboundAgreementTests`
            // compares the two validating, AD bit included.
            let unbound = try UnboundPeer.start(lab, address: unboundAddress, name: "unbound-worker-peer", validate: false)
            defer { unbound.terminate(); unbound.waitUntilExit() }
            let peer = WorkerProcess.Client(address: unboundAddress, port: 53)
            for e in WorkerLab.corpus(lab) where !e.features.contains("lame-ns") {
                let type = try #require(RRType(mnemonic: e.qtype))
                let ours = try worker.ask(e.qname, type)
                let theirs = try peer.ask(e.qname, type)
                let what = "\(e.qname) \(e.qtype)"
                #expect(ours.rcode == theirs.rcode, "\(what)\nshoal:\n\(ours.presentation)\nunbound:\n\(theirs.presentation)")
                #expect(Set(ours.answers.filter { $0.type != .rrsig }.map(\.comparable))
                        == Set(theirs.answers.filter { $0.type != .rrsig }.map(\.comparable)),
                        "\(what)\nshoal:\n\(ours.presentation)\nunbound:\n\(theirs.presentation)")
            }
        }
    }
}
