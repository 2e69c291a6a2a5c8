// swift-tools-version:6.2
// Lockstep: timing-and-capture appliance. Module boundaries follow docs/architecture.md:
// dependencies point down only (Wire, Timing < Platform < Ingest, TimeSync < Controller, DeviceAgent < executables).
import PackageDescription

let strict: [SwiftSetting] = [.strictMemorySafety()]

let package = Package(
    name: "lockstep",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lockstepd", targets: ["lockstepd"]),
        .executable(name: "lockstep", targets: ["lockstep"]),
        .executable(name: "lockstep-device", targets: ["lockstep-device"]),
        .executable(name: "lockstep-bench", targets: ["lockstep-bench"]),
        // For the micro-benchmarks package in Benchmarks/.
        .library(name: "LockstepWire", targets: ["Wire"]),
        .library(name: "LockstepTiming", targets: ["Timing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.20.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.6.0"),
        // TLS for the HTTP listener and the device's control connection (already built for WSClient).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.1.0"),
    ],
    targets: [
        // Thin C shims: only what Swift cannot import (function-like macros). No logic.
        .systemLibrary(name: "CNetTimestamp", path: "CShims/CNetTimestamp"),
        // Hardware CRC32C: the one C loop (Swift has no per-function target features); dispatched in Wire.
        .target(name: "CCRC32C", path: "CShims/CCRC32C"),
        .systemLibrary(name: "CPcap", path: "CShims/CPcap", providers: [.apt(["libpcap-dev"])]),
        .systemLibrary(
            name: "CLiburing", path: "CShims/CLiburing", pkgConfig: "liburing", providers: [.apt(["liburing-dev"])]),

        // Pure codecs: control JSON, data frames, handshake, sync packets, CRC32C. No I/O, no Foundation.
        .target(name: "Wire", dependencies: ["CCRC32C"], swiftSettings: strict),
        // Pure clock math: instants, sync samples, offset estimation, mapping. No I/O, no clock reads.
        .target(name: "Timing", swiftSettings: strict),
        // The properties the libFuzzer targets (Fuzz/, make fuzz) check, shared with WireTests' replay.
        .target(name: "WireFuzzChecks", dependencies: ["Wire"]),
        // The only Swift importer of the shims: errno, sockets, clocks, files, threads.
        .target(
            name: "Platform",
            dependencies: [
                "CNetTimestamp", "CLiburing", "CPcap",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strict
        ),
        // Data plane: data-channel listener, stream files, durability, verification, recovery.
        .target(
            name: "Ingest",
            dependencies: ["Wire", "Timing", "Platform", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Time-sync exchanges over UDP (hub side and device side).
        .target(
            name: "TimeSync",
            dependencies: ["Wire", "Timing", "Platform", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Timing reports (JSON, CSV, HTML) and exports (XDF, CSV).
        .target(name: "Report", dependencies: ["Wire", "Timing", "Platform", "Ingest", .product(name: "SystemPackage", package: "swift-system")]),
        // Registry, sessions, HTTP API and control WebSocket, configuration.
        .target(
            name: "Controller",
            dependencies: [
                "Wire", "Timing", "Platform", "Ingest", "TimeSync", "Report",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // The reference device agent and simulator (also used by tests and lockstep-bench).
        .target(
            name: "DeviceAgent",
            dependencies: [
                "Wire", "Timing", "Platform", "TimeSync",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The HTTP API client shared by the CLI and the benchmark tool.
        .target(name: "HubClient", dependencies: ["Wire"]),
        .executableTarget(
            name: "lockstepd",
            dependencies: ["Controller", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "lockstep",
            dependencies: [
                "Wire", "Ingest", "Platform", "HubClient", "Report", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "lockstep-device",
            dependencies: ["DeviceAgent", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "lockstep-bench",
            dependencies: [
                "Wire", "Platform", "Ingest", "DeviceAgent", "HubClient", "Report",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "WireTests", dependencies: ["Wire", "WireFuzzChecks"]),
        .testTarget(name: "TimingTests", dependencies: ["Timing"]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Timing", "Wire", "Platform"]),
        // Helpers shared by the test targets.
        .target(
            name: "TestSupport", dependencies: ["Platform", .product(name: "SystemPackage", package: "swift-system")],
            path: "Tests/TestSupport"),
        .testTarget(name: "IngestTests", dependencies: ["Ingest", "Wire", "Platform", "DeviceAgent", "TestSupport"]),
        .testTarget(name: "PlatformTests", dependencies: ["Platform"]),
        .testTarget(
            name: "TimeSyncTests",
            dependencies: ["TimeSync", "Platform", "Wire", "Timing", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "ControllerTests", dependencies: ["Controller", "DeviceAgent", "Ingest", "Wire", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "TidyTests"),
    ]
)
