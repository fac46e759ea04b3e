// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Shoal",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "DNSCore", targets: ["DNSCore"]),
        .library(name: "ShmCache", targets: ["ShmCache"]),
        .library(name: "ShoalLab", targets: ["ShoalLab"]),
        .library(name: "DNSSEC", targets: ["DNSSEC"]),
        .executable(name: "shoald", targets: ["shoald"]),
        .executable(name: "shoalctl", targets: ["shoalctl"]),
        .executable(name: "shoal-worker", targets: ["shoal-worker"]),
        .executable(name: "shoal-bridge", targets: ["shoal-bridge"]),
        .executable(name: "shoal-lab", targets: ["shoal-lab"]),
        .executable(name: "dnscore-bench", targets: ["dnscore-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // System libraries and C shims (DESIGN.md: nothing imports Glibc ad hoc for these).
        .systemLibrary(name: "CNATS", pkgConfig: "libnats",
                       providers: [.apt(["libnats-dev"])]),
        .systemLibrary(name: "CCap", pkgConfig: "libcap",
                       providers: [.apt(["libcap-dev"])]),
        .systemLibrary(name: "CNuma", pkgConfig: "numa",
                       providers: [.apt(["libnuma-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd",
                       providers: [.apt(["libsystemd-dev"])]),
        .target(name: "CShoalShims"),

        // Libraries: the logic, testable.
        .target(name: "DNSCore"),
        // DNSSEC validation: canonical forms, signatures, digests, denial proofs, trust anchors.
        .target(name: "DNSSEC", dependencies: [
            "DNSCore",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),
        // The system layer: descriptor owners, the syscall helper, named constants from the shim.
        .target(name: "ShoalSystem", dependencies: [
            "CShoalShims", "CCap", "CNuma", .product(name: "SystemPackage", package: "swift-system"),
        ]),
        .target(name: "ShmCache", dependencies: ["DNSCore", "ShoalSystem", "CShoalShims", "CNuma"]),
        .target(name: "Worker", dependencies: [
            "DNSCore", "DNSSEC", "ShmCache", "ShoalSystem", "CShoalShims",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .target(name: "Supervisor", dependencies: [
            "DNSCore", "ShmCache", "ShoalSystem", "Worker", "CCap", "CNuma", "CShoalShims", "CSystemd",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "SystemPackage", package: "swift-system"),
        ]),
        .target(name: "MeshBridge", dependencies: [
            "DNSCore", "ShmCache", "ShoalSystem", "Worker", "CNATS", .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "ShoalLab", dependencies: ["DNSCore"]),

        // Executables: thin.
        .executableTarget(name: "shoald", dependencies: [
            "Supervisor", "Worker", "ShmCache", "ShoalSystem", "CShoalShims", "DNSCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "shoalctl", dependencies: [
            "Supervisor", "DNSCore", "ShmCache", "ShoalSystem", "Worker", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "shoal-worker", dependencies: [
            "Worker", "DNSCore", "ShmCache", "ShoalSystem", "CShoalShims", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .executableTarget(name: "shoal-bridge", dependencies: [
            "MeshBridge", "DNSCore", "ShmCache", "ShoalSystem", "Worker", "CShoalShims",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "shoal-lab", dependencies: [
            "ShoalLab", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "dnscore-bench", dependencies: ["DNSCore"],
                          path: "bench/dnscore-bench"),
        .executableTarget(name: "shmcache-bench", dependencies: ["ShmCache", "DNSCore"],
                          path: "bench/shmcache-bench"),
        .executableTarget(name: "frontend-bench", dependencies: [
            "Worker", "ShmCache", "DNSCore", "ShoalSystem", "CShoalShims",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
        ], path: "bench/frontend-bench"),
        .executableTarget(name: "mesh-bench", dependencies: [
            "MeshBridge", "ShmCache", "ShoalSystem", "DNSCore", .product(name: "Logging", package: "swift-log"),
        ], path: "bench/mesh-bench", exclude: ["RESULTS.md"]),
        // Child process for ShmCache's multi-process tests (spawned by ShmCacheTests).
        .executableTarget(name: "shm-stress", dependencies: ["ShmCache", "DNSCore"]),

        // What several test targets need: child processes started as shoald starts its own.
        .target(name: "ShoalTestSupport", dependencies: ["ShoalSystem"], path: "Tests/Support"),
        .testTarget(name: "DNSCoreTests", dependencies: ["DNSCore"]),
        .testTarget(name: "DNSSECTests", dependencies: [
            "DNSSEC", "DNSCore",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),
        .testTarget(name: "ShoalLabTests", dependencies: ["ShoalLab", "DNSCore"]),
        .testTarget(name: "ShmCacheTests", dependencies: ["ShmCache", "DNSCore", "ShoalTestSupport"]),
        .testTarget(name: "ShoalSystemTests", dependencies: ["ShoalSystem", "CShoalShims"]),
        // Counts the heap allocations of a thread (the hit path's guard); linked into the test
        // binary only.
        .target(name: "CAllocationCounter", path: "Tests/CAllocationCounter"),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "ShoalLab", "DNSCore", "DNSSEC", "ShmCache", "ShoalSystem",
                                                        "CAllocationCounter"]),
        .testTarget(name: "MeshBridgeTests", dependencies: [
            "MeshBridge", "DNSCore", "ShmCache", "ShoalSystem", "Worker", "CNATS", "ShoalLab", "ShoalTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "SupervisorTests", dependencies: ["Supervisor", "ShoalLab"], exclude: ["Fixtures"]),
    ]
)
