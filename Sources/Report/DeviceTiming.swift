// The timing analysis of one device over a recording, from its raw sync samples:
//
// 1. The live estimator (the hub's own settings) replayed over every sample in order: what the hub
//    knew at each moment (offset, skew, uncertainty over time), the clock steps and path changes.
// 2. One mapping per segment between detected steps, fitted over the whole segment (what exports use
//    to put frames on the hub timeline), and each sample's residual against its segment's fit.
// 3. A per-sample bound on the fit's error: the true offset lies within ±delay/2 of a sample's measured
//    offset (the four timestamps allow no more asymmetry than that), so |fit − true| ≤ |residual| +
//    delay/2 at that instant. This is the "time error bound" the report's alignment figures use.
import Timing

/// One segment of a device's recording: between two detected clock steps, one linear mapping.
public struct TimingSegment: Sendable {
    public var fromHubNanos: Int64
    public var toHubNanos: Int64
    public var mapping: ClockMapping
    public var sampleCount: Int
}

/// The analysis of one device (see the file comment).
public struct DeviceTiming: Sendable {
    public var deviceID: String
    public var samples: [SyncSample]
    /// Per sample: whether its segment's fit used it, its residual and bound (nil when inconsistent).
    public var used: [Bool] = []
    public var residualNanos: [Double?] = []
    public var boundNanos: [Double?] = []
    /// Per sample: the live estimate right after it (nil before the first estimate).
    public var liveOffsetNanos: [Double?] = []
    public var liveUncertaintyNanos: [Double?] = []
    public var liveSkewPPM: [Double?] = []
    public var segments: [TimingSegment] = []
    public var steps: [ClockStep] = []
    public var pathChanges = 0
    /// Per sample: whether the live estimator took it (not inconsistent, not held back as an outlier).
    public var liveAccepted: [Bool] = []
    public var liveOutliers = 0

    public init(deviceID: String, samples: [SyncSample]) {
        self.deviceID = deviceID
        self.samples = samples.sorted { $0.t1 < $1.t1 }
        replayLive()
        fitSegments()
    }

    /// The mapping that puts a device instant on the hub timeline: the segment's whose span holds it
    /// (by the segment's own mapping), else the nearest segment's.
    public func mapping(forHub hub: Int64) -> ClockMapping? {
        segments.first { hub < $0.toHubNanos }?.mapping ?? segments.last?.mapping
    }

    mutating func replayLive() {
        var live = OffsetEstimator()
        for sample in samples {
            liveAccepted.append(live.add(sample))
            let known = live.hasEstimate && live.mapping.uncertaintyNanos.isFinite
            liveOffsetNanos.append(known ? live.mapping.offsetNanos(at: sample.midpoint) : nil)
            liveUncertaintyNanos.append(known ? live.mapping.uncertaintyNanos : nil)
            liveSkewPPM.append(known && live.skewEstablished ? live.mapping.skewPPM : nil)
        }
        steps = live.steps
        pathChanges = live.pathChangeCount
        liveOutliers = live.outlierCount
    }

    /// Where each step begins: the first of the run of held-back samples that confirmed it (the live
    /// estimator dates a step at its last, confirming sample).
    func stepStarts() -> [Int64] {
        steps.map { step in
            guard var index = samples.firstIndex(where: { $0.midpoint == step.at }) else { return step.at.nanos }
            while index > 0, !liveAccepted[index - 1], samples[index - 1].isConsistent { index -= 1 }
            return samples[index].midpoint.nanos
        }
    }

    mutating func fitSegments() {
        let cuts = stepStarts()
        var start = 0
        used = Array(repeating: false, count: samples.count)
        residualNanos = Array(repeating: nil, count: samples.count)
        boundNanos = Array(repeating: nil, count: samples.count)
        for (index, cut) in (cuts + [Int64.max]).enumerated() {
            var end = start
            while end < samples.count, samples[end].midpoint.nanos < cut { end += 1 }
            defer { start = end }
            guard end > start else { continue }
            // Held-back outliers of the live estimator (and the samples of a step not yet confirmed) stay out.
            let candidates = (start..<end).filter { liveAccepted[$0] }
            let prior = segments.last?.mapping.skew ?? 0
            guard let (mapping, chosen) = OffsetEstimator().fitSegment(candidates.map { samples[$0] }, priorSkew: prior),
                mapping.uncertaintyNanos.isFinite
            else { continue }
            let from = index == 0 ? samples[start].t1.nanos : cuts[index - 1]
            let to = index < cuts.count ? cut : samples[end - 1].t4.nanos
            segments.append(TimingSegment(fromHubNanos: from, toHubNanos: to, mapping: mapping, sampleCount: chosen.filter { $0 }.count))
            for i in start..<end where samples[i].isConsistent {
                let residual = samples[i].offsetNanos - mapping.offsetNanos(at: samples[i].midpoint)
                residualNanos[i] = residual
                boundNanos[i] = abs(residual) + Double(samples[i].delay.value) / 2
            }
            for (i, isUsed) in zip(candidates, chosen) where isUsed { used[i] = true }
        }
    }

    /// Values of `series` at the samples the fits used.
    func usedValues(_ series: [Double?]) -> [Double] {
        zip(used, series).compactMap { $0 ? $1 : nil }
    }

    /// The skew uncertainty allowed for between a sample and any other instant of its bin (the
    /// estimator's own acceptance limit for a fitted skew, 0.2 ppm).
    public static let driftAllowancePerSecond = 0.2e-6

    /// A bound for every instant of each `binNanos` bin of the hub timeline (bin index → bound): the
    /// tightest bound of a consistent sample in the bin, which holds at that sample's instant, plus
    /// the drift the fit's skew error allows across the bin.
    func boundsPerBin(origin: Int64, binNanos: Int64) -> [Int: Double] {
        var bins: [Int: Double] = [:]
        let drift = Self.driftAllowancePerSecond * Double(binNanos)
        for (i, sample) in samples.enumerated() {
            guard let bound = boundNanos[i], sample.midpoint.nanos >= origin else { continue }
            let bin = Int((sample.midpoint.nanos - origin) / binNanos)
            bins[bin] = min(bins[bin] ?? .infinity, bound + drift)
        }
        return bins
    }

    /// Slope of the live skew over time, in ppm per hour (nil with under 60 s of established skew).
    var skewDriftPPMPerHour: Double? {
        let points = zip(samples, liveSkewPPM).compactMap { sample, skew in skew.map { (Double(sample.midpoint.nanos) / 3.6e12, $0) } }
        guard points.count >= 8, let first = points.first, let last = points.last, (last.0 - first.0) * 3600 >= 60 else { return nil }
        let meanX = points.reduce(0) { $0 + $1.0 } / Double(points.count)
        let meanY = points.reduce(0) { $0 + $1.1 } / Double(points.count)
        let sxx = points.reduce(0) { $0 + ($1.0 - meanX) * ($1.0 - meanX) }
        let sxy = points.reduce(0) { $0 + ($1.0 - meanX) * ($1.1 - meanY) }
        return sxx > 0 ? sxy / sxx : nil
    }
}
