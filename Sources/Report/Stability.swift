// Clock-stability statistics of a phase (time-error) series sampled every τ0: overlapping Allan
// deviation (ADEV), time deviation (TDEV) and maximum time-interval error (MTIE), as defined in
// IEEE 1139 / ITU-T G.810. Inputs are phase values x_i in seconds; τ = m·τ0 for m = 1, 2, 4, ...
//
//   ADEV²(τ) = Σ_{i=0}^{N−2m−1} (x_{i+2m} − 2x_{i+m} + x_i)² / (2 m² τ0² (N − 2m))
//   TDEV²(τ) = Σ_{j=0}^{N−3m} [Σ_{i=j}^{j+m−1} (x_{i+2m} − 2x_{i+m} + x_i)]² / (6 m² (N − 3m + 1))
//   MTIE(τ)  = max over windows of m + 1 consecutive samples of (max x − min x)

/// One statistic at one observation interval.
public struct StabilityPoint: Sendable, Equatable {
    public var tauSeconds: Double
    public var value: Double
}

public enum Stability {
    /// The averaging factors m = 1, 2, 4, ... with at least `need(m)` samples available.
    static func factors(_ count: Int, need: (Int) -> Int) -> [Int] {
        var result: [Int] = []
        var m = 1
        while need(m) <= count {
            result.append(m)
            m *= 2
        }
        return result
    }

    /// Overlapping Allan deviation (dimensionless, fractional frequency) at τ = m·τ0.
    public static func adev(phase x: [Double], tau0: Double) -> [StabilityPoint] {
        factors(x.count) { 2 * $0 + 1 }.map { m in
            let terms = x.count - 2 * m
            var sum = 0.0
            for i in 0..<terms {
                let d = x[i + 2 * m] - 2 * x[i + m] + x[i]
                sum += d * d
            }
            return StabilityPoint(tauSeconds: Double(m) * tau0, value: (sum / (2 * Double(m * m) * tau0 * tau0 * Double(terms))).squareRoot())
        }
    }

    /// Time deviation (seconds) at τ = m·τ0, with a running sum over the inner window.
    public static func tdev(phase x: [Double], tau0: Double) -> [StabilityPoint] {
        factors(x.count) { 3 * $0 }.map { m in
            let second = { (i: Int) -> Double in x[i + 2 * m] - 2 * x[i + m] + x[i] }
            var inner = (0..<m).reduce(0.0) { $0 + second($1) }
            var sum = inner * inner
            let outer = x.count - 3 * m + 1
            for j in 1..<max(outer, 1) {
                inner += second(j + m - 1) - second(j - 1)
                sum += inner * inner
            }
            return StabilityPoint(tauSeconds: Double(m) * tau0, value: (sum / (6 * Double(m * m) * Double(outer))).squareRoot())
        }
    }

    /// Maximum time-interval error (seconds) at τ = m·τ0, with monotonic queues (O(N) per τ).
    public static func mtie(phase x: [Double], tau0: Double) -> [StabilityPoint] {
        factors(x.count) { $0 + 1 }.map { m in
            var highs: [Int] = []
            var lows: [Int] = []
            var highStart = 0
            var lowStart = 0
            var best = 0.0
            for i in x.indices {
                while highs.count > highStart, x[highs[highs.count - 1]] <= x[i] { highs.removeLast() }
                highs.append(i)
                while lows.count > lowStart, x[lows[lows.count - 1]] >= x[i] { lows.removeLast() }
                lows.append(i)
                let first = i - m
                if highs[highStart] < first { highStart += 1 }
                if lows[lowStart] < first { lowStart += 1 }
                if i >= m { best = max(best, x[highs[highStart]] - x[lows[lowStart]]) }
            }
            return StabilityPoint(tauSeconds: Double(m) * tau0, value: best)
        }
    }

    /// Irregular samples (time in ns, value) as a uniform series: the mean of each τ0 bin, empty bins
    /// filled by linear interpolation between their neighbours. τ0 is the median sample interval
    /// (at least 1 ms) unless given. Nil with fewer than 3 samples.
    public static func resample(times: [Int64], values: [Double], tau0Nanos: Int64? = nil) -> (series: [Double], tau0Nanos: Int64)? {
        guard times.count >= 3, times.count == values.count else { return nil }
        let order = times.indices.sorted { times[$0] < times[$1] }
        let times = order.map { times[$0] }, values = order.map { values[$0] }
        guard let first = times.first, let last = times.last, last > first else { return nil }
        let tau0: Int64
        if let tau0Nanos { tau0 = tau0Nanos } else {
            let gaps = zip(times.dropFirst(), times).map { $0 - $1 }.sorted()
            tau0 = max(1_000_000, gaps[gaps.count / 2])
        }
        let binCount = Int((last - first) / tau0) + 1
        guard binCount <= 10_000_000 else { return nil }
        var sums = [Double](repeating: 0, count: binCount)
        var counts = [Int](repeating: 0, count: binCount)
        for (time, value) in zip(times, values) {
            let bin = Int((time - first) / tau0)
            sums[bin] += value
            counts[bin] += 1
        }
        var series = [Double](repeating: .nan, count: binCount)
        for bin in 0..<binCount where counts[bin] > 0 { series[bin] = sums[bin] / Double(counts[bin]) }
        var previous: Int?
        for bin in 0..<binCount where counts[bin] > 0 {
            if let previous, bin - previous > 1 {
                for gap in (previous + 1)..<bin {
                    let fraction = Double(gap - previous) / Double(bin - previous)
                    series[gap] = series[previous] + fraction * (series[bin] - series[previous])
                }
            }
            previous = bin
        }
        return (series, tau0)
    }
}
