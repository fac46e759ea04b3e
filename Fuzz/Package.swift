// swift-tools-version: 6.0
// Fuzz targets for DNSCore, kept out of the main package so their sanitizer flags never touch
// the normal build. Build and run with Fuzz/run.sh.
import PackageDescription

let package = Package(
    name: "ShoalFuzz",
    dependencies: [
        .package(name: "Shoal", path: ".."),
    ],
    targets: [
        // libFuzzer entry point for Message(wire:); built with -sanitize=fuzzer (see run.sh).
        .executableTarget(name: "FuzzMessage", dependencies: [.product(name: "DNSCore", package: "Shoal")]),
        // Writes the seed corpus (corpus/message) from the real-looking sample packets.
        .executableTarget(name: "MakeCorpus", dependencies: [.product(name: "DNSCore", package: "Shoal")]),
    ]
)
