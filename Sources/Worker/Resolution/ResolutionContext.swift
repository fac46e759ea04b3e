import DNSCore
import Logging

/// Per client query bookkeeping, shared by the nested resolutions it causes (glueless NS
/// names): the upstream budget spent, whether stale data was served, and the trace log.
struct ResolutionContext {
    var upstreamQueries = 0
    var stale = false
    /// Set when the question's name is traced: every step is logged at `info`.
    let tracer: Logger?

    init(tracer: Logger?) { self.tracer = tracer }

    func trace(_ message: @autoclosure () -> String) {
        guard let tracer else { return }
        tracer.info("trace: \(message())")
    }
}

/// One step of a chain: data or a pointer to the next name.
struct ResolutionStep {
    enum Outcome {
        case answer([RRSet])
        case alias(DNSName)
        case negative(NegativeAnswer.Kind, [RRSet])
        case failure(ExtendedDNSError)
    }
    var chain: [RRSet]
    var outcome: Outcome
    /// The DNSSEC verdict of the chain and the outcome's data.
    var verdict = ValidationVerdict.indeterminate
}

/// An Extended DNS Error (RFC 8914) with its text.
func ede(_ code: EDECode, _ text: String = "") -> ExtendedDNSError {
    ExtendedDNSError(code: code, extraText: Array(text.utf8))
}
