// Estimator micro-benchmarks: the cost of adding one sync sample to a full window (and refitting).
import Benchmark
import Timing

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(2))

    Benchmark("OffsetEstimator add (window 64)") { benchmark in
        var estimator = OffsetEstimator()
        var t1: Int64 = 1_000_000_000
        for _ in benchmark.scaledIterations {
            t1 += 125_000_000
            let sample = SyncSample(
                t1: HubInstant(nanos: t1), t2: DeviceInstant(nanos: t1 + 250_040_000), t3: DeviceInstant(nanos: t1 + 250_060_000),
                t4: HubInstant(nanos: t1 + 100_000))
            blackHole(estimator.add(sample))
        }
    }
}
