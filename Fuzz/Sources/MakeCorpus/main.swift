import DNSCore

// Prints the fuzzer's seed corpus as "name<TAB>hex" lines, one per sample packet
// (TestSupportSamples.swift is a symbolic link to the unit tests' samples). Fuzz/make-corpus.sh
// turns them into files under Fuzz/corpus/message.

let digits = Array("0123456789abcdef")
for (name, wire) in SamplePackets.all() {
    precondition((try? Message(wire: wire)) != nil, "\(name) does not parse")
    print(name + "\t" + String(wire.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] }))
}
