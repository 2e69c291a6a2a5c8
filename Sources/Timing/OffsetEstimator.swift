// Offset and skew of one device clock from a sliding window of sync samples.
//
// Method (a first, deliberately simple estimator; the clock-synchronisation issue refines it):
//  1. Reject inconsistent samples (t4 < t1, t3 < t2, negative delay).
//  2. Keep the last `windowCount` samples in a fixed ring.
//  3. Select the samples whose delay is within `delaySlackNanos` + 25 % of the window's minimum
//     delay: queueing only ever adds delay, so low-delay samples carry the least asymmetry error
//     (the "minimum filter" of NTP's clock filter and of chrony).
//  4. Fit offset = a + b·(t − t̄) by least squares over the selected samples when they span at least
//     `skewSpanNanosMin`; otherwise b = 0 and a is their mean offset.
//  5. Uncertainty = minimum delay / 2 (the largest error path asymmetry can cause) + the RMS residual.
// Pure arithmetic: time is passed in through the samples; no clock is read here.

/// Tracks the mapping between one device clock and the hub timeline.
public struct OffsetEstimator: Sendable {
    public let windowCount: Int
    public let delaySlackNanos: Double
    public let skewSpanNanosMin: Int64

    private var ring: [SyncSample] = []
    private var nextSlot = 0
    public private(set) var acceptedCount = 0
    public private(set) var rejectedCount = 0
    public private(set) var mapping: ClockMapping = .unknown

    public init(windowCount: Int = 64, delaySlackNanos: Double = 20_000, skewSpanNanosMin: Int64 = 2_000_000_000) {
        precondition(windowCount >= 1, "the window holds at least one sample")
        self.windowCount = windowCount
        self.delaySlackNanos = delaySlackNanos
        self.skewSpanNanosMin = skewSpanNanosMin
        ring.reserveCapacity(windowCount)
    }

    /// The samples currently in the window, oldest first.
    public var window: [SyncSample] {
        ring.count < windowCount ? ring : Array(ring[nextSlot...] + ring[..<nextSlot])
    }

    /// Whether at least one sample has been accepted.
    public var hasEstimate: Bool { acceptedCount > 0 }

    /// Adds one sample and refits. Returns false (and counts it) when the sample is inconsistent.
    @discardableResult
    public mutating func add(_ sample: SyncSample) -> Bool {
        guard sample.isConsistent else {
            rejectedCount += 1
            return false
        }
        if ring.count < windowCount { ring.append(sample) } else { ring[nextSlot] = sample }
        nextSlot = (nextSlot + 1) % windowCount
        acceptedCount += 1
        mapping = OffsetEstimator.fit(selected(), skewSpanNanosMin: skewSpanNanosMin)
        return true
    }

    /// The window's low-delay samples, those the fit uses.
    func selected() -> [SyncSample] {
        let delayMin = Double(ring.map(\.delay.value).min()!)
        let limit = delayMin * 1.25 + delaySlackNanos
        return ring.filter { Double($0.delay.value) <= limit }
    }

    static func fit(_ samples: [SyncSample], skewSpanNanosMin: Int64) -> ClockMapping {
        precondition(!samples.isEmpty, "fit needs at least one sample")
        let delayMin = Double(samples.map(\.delay.value).min()!)
        let times = samples.map { $0.midpoint.nanos }
        let reference = HubInstant(nanos: times.max()!)
        let xs = times.map { Double($0 - reference.nanos) }
        let ys = samples.map(\.offsetNanos)
        let count = Double(samples.count)
        let xMean = xs.reduce(0, +) / count
        let yMean = ys.reduce(0, +) / count
        var slope = 0.0
        if times.max()! - times.min()! >= skewSpanNanosMin, samples.count >= 3 {
            var sxy = 0.0
            var sxx = 0.0
            for (x, y) in zip(xs, ys) {
                sxy += (x - xMean) * (y - yMean)
                sxx += (x - xMean) * (x - xMean)
            }
            slope = sxx > 0 ? sxy / sxx : 0
        }
        let intercept = yMean - slope * xMean  // offset at the reference (x = 0)
        var squares = 0.0
        for (x, y) in zip(xs, ys) {
            let residual = y - (intercept + slope * x)
            squares += residual * residual
        }
        let rms = (squares / count).squareRoot()
        return ClockMapping(reference: reference, offsetNanos: intercept, skew: slope, uncertaintyNanos: delayMin / 2 + rms)
    }
}
