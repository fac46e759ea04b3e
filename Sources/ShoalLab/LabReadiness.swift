import Foundation

/// Decides when an nsd instance is up: every address answers, and every zone it should serve
/// comes back authoritative.
enum LabReadiness {
    /// Polls for at most `timeout` seconds. Throws `LabError.nsdFailed` (with nsd's own log) or
    /// `LabError.zoneNotServed`.
    static func waitUntilServing(_ instance: NSDInstance, timeout: Double = 10) throws {
        guard let firstZone = instance.server.zones.first else { return }
        let deadline = Date().addingTimeInterval(timeout)
        for address in instance.listenAddresses {
            var last = ""
            while true {
                if let detail = soaProblem(firstZone, at: address) { last = detail } else { break }
                if Date() >= deadline {
                    throw LabError.nsdFailed(instance: instance.name,
                                             output: "no authoritative answer on \(address) after \(Int(timeout))s: \(last)\n"
                                                 + instance.diagnostics())
                }
                usleep(25_000)
            }
        }
        // nsd serves what it could load and logs the rest: catch a zone file it rejected.
        let address = instance.listenAddresses[0]
        for zone in instance.server.zones {
            if let detail = soaProblem(zone, at: address) {
                throw LabError.zoneNotServed(zone: zone, instance: instance.name, detail: detail + "\n" + instance.diagnostics())
            }
        }
    }

    /// nil when `address` answers the SOA query for `zone` authoritatively with NOERROR.
    static func soaProblem(_ zone: String, at address: String) -> String? {
        let query = DNSProbe.query(name: zone, type: 6, edns: nil)
        do {
            let response = try DNSProbe.exchange(query, server: address, timeoutMilliseconds: 300)
            guard let h = DNSProbe.Header(response) else { return "short response" }
            if h.rcode != 0 { return "rcode \(h.rcode)" }
            if !h.authoritative { return "answer not authoritative" }
            if h.answerCount == 0 { return "no SOA in the answer" }
            return nil
        } catch {
            return error.description
        }
    }
}
