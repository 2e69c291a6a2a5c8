// swift-tools-version:6.1
// Micro-benchmarks with allocation counts (ordo-one/package-benchmark). Separate from the main package
// so its build stays fast. Run: `make benchmarks` (or `swift package benchmark` in this folder).
import PackageDescription

let package = Package(
    name: "lockstep-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "../"),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "WireBenchmarks",
            dependencies: [.product(name: "Benchmark", package: "package-benchmark"), .product(name: "LockstepWire", package: "main")],
            path: "Benchmarks/WireBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "TimingBenchmarks",
            dependencies: [.product(name: "Benchmark", package: "package-benchmark"), .product(name: "LockstepTiming", package: "main")],
            path: "Benchmarks/TimingBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ]
)
