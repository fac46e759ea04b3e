// Messages parsed and built per second for a typical referral and a typical signed answer.
//
// Run: swift run -c release dnscore-bench [seconds-per-case]
// Prints one line per case; bench/RESULTS.md keeps the latest figures.
import DNSCore
#if canImport(Glibc)
import Glibc
#endif

/// Deterministic filler bytes so runs are comparable.
func filler(_ n: Int, seed: UInt8) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) } }

func name(_ s: String) -> DNSName { try! DNSName(s) }

/// A TLD server's referral for www.example.com: 4 NS, DS + RRSIG, glue A and AAAA, EDNS with DO.
func referral() -> Message {
    var h = Header(id: 0x1234)
    h.isResponse = true
    let zone = name("example.com.")
    let ns = (1...4).map { name("ns\($0).example.com.") }
    let sig = RRSIG(typeCovered: .ds, algorithm: .ecdsaP256SHA256, labels: 2, originalTTL: 86400,
                    expiration: 1_800_000_000, inception: 1_790_000_000, keyTag: 12345,
                    signerName: name("com."), signature: filler(64, seed: 1))
    var m = Message(header: h, questions: [Question(name: name("www.example.com."), type: .a)])
    m.authority = ns.map { ResourceRecord(name: zone, type: .ns, ttl: 172800, rdata: .ns($0)) }
    m.authority.append(ResourceRecord(name: zone, type: .ds, ttl: 86400,
                                      rdata: .ds(DS(keyTag: 370, algorithm: .ecdsaP256SHA256, digestType: .sha256,
                                                    digest: filler(32, seed: 2)))))
    m.authority.append(ResourceRecord(name: zone, type: .rrsig, ttl: 86400, rdata: .rrsig(sig)))
    for (i, n) in ns.enumerated() {
        m.additional.append(ResourceRecord(name: n, type: .a, ttl: 172800, rdata: .a(IPv4Address(192, 0, 2, UInt8(i + 1)))))
        m.additional.append(ResourceRecord(name: n, type: .aaaa, ttl: 172800,
                                           rdata: .aaaa(IPv6Address(high: 0x2001_0db8_0000_0000, low: UInt64(i + 1)))))
    }
    m.edns = EDNS(udpPayloadSize: 1232, dnssecOK: true)
    return m
}

/// An SLD server's signed answer: 2 A records with RRSIG, NS with RRSIG in authority, EDNS.
func signedAnswer() -> Message {
    var h = Header(id: 0x4321)
    h.isResponse = true
    h.authoritative = true
    let owner = name("www.example.com."), zone = name("example.com.")
    func sig(_ t: RRType, _ labels: UInt8) -> RRSIG {
        RRSIG(typeCovered: t, algorithm: .ecdsaP256SHA256, labels: labels, originalTTL: 3600,
              expiration: 1_800_000_000, inception: 1_790_000_000, keyTag: 4242, signerName: zone,
              signature: filler(64, seed: UInt8(t.rawValue)))
    }
    var m = Message(header: h, questions: [Question(name: owner, type: .a)])
    m.answers = [
        ResourceRecord(name: owner, type: .a, ttl: 3600, rdata: .a(IPv4Address(192, 0, 2, 10))),
        ResourceRecord(name: owner, type: .a, ttl: 3600, rdata: .a(IPv4Address(192, 0, 2, 11))),
        ResourceRecord(name: owner, type: .rrsig, ttl: 3600, rdata: .rrsig(sig(.a, 3))),
    ]
    m.authority = [
        ResourceRecord(name: zone, type: .ns, ttl: 3600, rdata: .ns(name("ns1.example.com."))),
        ResourceRecord(name: zone, type: .ns, ttl: 3600, rdata: .ns(name("ns2.example.com."))),
        ResourceRecord(name: zone, type: .rrsig, ttl: 3600, rdata: .rrsig(sig(.ns, 2))),
    ]
    m.edns = EDNS(udpPayloadSize: 1232, dnssecOK: true)
    return m
}

func measure(_ label: String, seconds: Double, _ body: () -> Int) {
    let clock = ContinuousClock()
    var ops = 0
    let start = clock.now
    let budget = Duration.milliseconds(Int64(seconds * 1000))
    while clock.now - start < budget { ops += body() }
    let elapsed = clock.now - start
    let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let rate = Double(ops) / secs
    let nsPer = secs * 1e9 / Double(ops)
    print(label.rightPad(34),
          String(Int(rate)).leftPad(10), "msg/s", String(format1(nsPer)).leftPad(9), "ns/msg")
}

func format1(_ v: Double) -> String {
    let t = Int(v * 10 + 0.5)
    return "\(t / 10).\(t % 10)"
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
    func rightPad(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}

if CommandLine.arguments.dropFirst().first == "--hex" {
    // The packets as "label hex" lines, for the ldns peer benchmark (bench/dnscore.sh).
    let digits = Array("0123456789abcdef")
    for (label, msg) in [("referral", referral()), ("signed-answer", signedAnswer())] {
        let wire = try! msg.serialize()
        print(label, String(wire.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }))
    }
    exit(0)
}
let seconds = CommandLine.arguments.count > 1 ? Double(CommandLine.arguments[1]) ?? 2 : 2
var sink = 0
for (label, msg) in [("referral", referral()), ("signed answer", signedAnswer())] {
    let wire = try! msg.serialize()
    precondition((try? Message(wire: wire)) == msg, "round trip failed for \(label)")
    print("\(label): \(wire.count) bytes, \(msg.answers.count + msg.authority.count + msg.additional.count + 1) records")
    measure("  parse \(label)", seconds: seconds) {
        for _ in 0..<100 { sink &+= (try! Message(wire: wire)).answers.count }
        return 100
    }
    measure("  build \(label)", seconds: seconds) {
        for _ in 0..<100 { sink &+= (try! msg.serialize()).count }
        return 100
    }
}
if sink == 42 { print("") }
