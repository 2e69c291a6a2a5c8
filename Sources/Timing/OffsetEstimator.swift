// Offset and skew of one device clock from a sliding window of sync samples.
//
// Method (a first, deliberately simple estimator; the clock-synchronisation issue refines it):
//  1. Reject inconsistent samples (t4 < t1, t3 < t2, negative delay).
//  2. Keep the last `windowCount` samples in a fixed ring.
//  3. Select the samples whose delay is within `delaySlackNanos` + 25 % of the delay floor: queueing
//     only ever adds delay, so low-delay samples carry the least asymmetry error (the "minimum filter"
//     of NTP's clock filter and of chrony). The floor is the lowest delay seen, kept fresh by samples
//     near it and re-anchored on the window's minimum when none came near it for `floorMemoryNanos`
//     (longer than the window). So a congested queue that delays every sample of the window does not
//     pull the fit after it: with no sample near the floor, the mapping holds and extrapolates with its
//     skew until a low-delay sample comes through again.
//  4. Fit offset = a + b·(t − t̄) by least squares over the selected samples when they span at least
//     `skewSpanNanosMin`; otherwise b stays at the previous fit's skew (0 at first) and only a is fitted.
//     Once a skew has been measured well (standard error of b ≤ `skewErrorMax`), a later fit whose b is
//     less certain than that keeps the established skew: a handful of partly queued samples over a few
//     seconds must not bend the skew by ppm. b may also come from a longer history: the samples near the
//     floor over the last `skewHorizonNanos` (60 s), when their fit's b has the smaller standard error
//     and agrees with the window's b within three combined standard errors (when the window selected
//     at least 8 samples, enough to have a standard error); a is then fitted over the
//     window with that b. On a congested link the window holds a few lucky samples over 8 s, whose b is
//     off by ppm, and the history a minute of them; on a clean link the history only refines b. A clock
//     whose frequency changes makes the two disagree, and the window's b then stands, so the drift is
//     followed within the window. Steps and path changes clear the history, as they clear the window.
//  5. Uncertainty = minimum delay / 2 (the largest error path asymmetry can cause) + the RMS residual.
//  6. Outliers and steps: once established, a sample whose offset misses the prediction by more than
//     its own delay/2 plus max(10 × uncertainty, `outlierNanosMin`) is held as a suspect, not used.
//     An isolated suspect is dropped (replays, absurd stamps). `stepConfirmCount` consecutive suspects
//     that agree with each other are a clock step: the window restarts from them and the step is
//     recorded (chrony and ptp4l likewise treat a persistent large offset as a step, not noise).
//  7. Path changes: when the most recent `pathChangeCount` samples all have a delay over twice the
//     window's minimum plus `pathChangeSlackNanos` (a new, longer route, e.g. a Wi-Fi roam adding
//     tens of ms) and their delays agree with each other (spread within half the shift: a route is
//     steady, a congested queue is not), the older samples are dropped and the floor moves, so the fit
//     follows the new path instead of waiting for them to slide out.
// Pure arithmetic: time is passed in through the samples; no clock is read here.

/// Tracks the mapping between one device clock and the hub timeline.
public struct OffsetEstimator: Sendable {
    public let windowCount: Int
    public let delaySlackNanos: Double
    public let skewSpanNanosMin: Int64
    public let outlierNanosMin: Double
    public let stepConfirmCount: Int
    public let pathChangeSampleCount: Int
    public let pathChangeSlackNanos: Double
    public let floorMemoryNanos: Int64
    public let skewErrorMax: Double
    public let skewHorizonNanos: Int64

    private var ring: [SyncSample] = []
    private var nextSlot = 0
    private var suspects: [SyncSample] = []
    /// Samples that were near the floor when they arrived, over the last `skewHorizonNanos` (step 4).
    private var history: [SyncSample] = []
    public private(set) var acceptedCount = 0
    public private(set) var rejectedCount = 0
    /// Samples held back because they disagreed with the estimate (a subset of `rejectedCount`).
    public private(set) var outlierCount = 0
    public private(set) var steps: [ClockStep] = []
    public private(set) var pathChangeCount = 0
    public private(set) var mapping: ClockMapping = .unknown
    /// The lowest delay seen recently and when a sample last came near it (see step 3).
    private var floor: (delay: Int64, at: HubInstant)?
    /// Samples accepted while nothing in the window was near the floor (the mapping was held).
    public private(set) var heldCount = 0
    /// Whether the current skew was measured with a standard error within `skewErrorMax`.
    public private(set) var skewEstablished = false

    public init(
        windowCount: Int = 64, delaySlackNanos: Double = 20_000, skewSpanNanosMin: Int64 = 2_000_000_000,
        outlierNanosMin: Double = 50_000, stepConfirmCount: Int = 5, pathChangeSampleCount: Int = 16,
        pathChangeSlackNanos: Double = 1_000_000, floorMemoryNanos: Int64 = 60_000_000_000, skewErrorMax: Double = 0.2e-6,
        skewHorizonNanos: Int64 = 60_000_000_000
    ) {
        precondition(windowCount >= 1, "the window holds at least one sample")
        precondition(stepConfirmCount >= 2, "a step needs at least two agreeing samples")
        self.windowCount = windowCount
        self.delaySlackNanos = delaySlackNanos
        self.skewSpanNanosMin = skewSpanNanosMin
        self.outlierNanosMin = outlierNanosMin
        self.stepConfirmCount = stepConfirmCount
        self.pathChangeSampleCount = pathChangeSampleCount
        self.pathChangeSlackNanos = pathChangeSlackNanos
        self.floorMemoryNanos = floorMemoryNanos
        self.skewErrorMax = skewErrorMax
        self.skewHorizonNanos = skewHorizonNanos
        ring.reserveCapacity(windowCount)
    }

    /// The samples currently in the window, oldest first.
    public var window: [SyncSample] {
        ring.count < windowCount ? ring : Array(ring[nextSlot...] + ring[..<nextSlot])
    }

    /// Whether at least one sample has been accepted.
    public var hasEstimate: Bool { acceptedCount > 0 }

    /// Adds one sample and refits. Returns false (and counts it) when the sample is inconsistent or an
    /// outlier; a run of agreeing outliers is accepted as a clock step.
    @discardableResult
    public mutating func add(_ sample: SyncSample) -> Bool {
        guard sample.isConsistent else {
            rejectedCount += 1
            return false
        }
        if acceptedCount >= 8, mapping.uncertaintyNanos.isFinite {
            let residual = sample.offsetNanos - mapping.offsetNanos(at: sample.midpoint)
            if abs(residual) > Double(sample.delay.value) / 2 + max(10 * mapping.uncertaintyNanos, outlierNanosMin) {
                return holdSuspect(sample, residual: residual)
            }
        }
        suspects.removeAll(keepingCapacity: true)
        insert(sample)
        updateFloor(with: sample)
        detectPathChange()
        remember(sample)
        refit()
        return true
    }

    /// The fit over the history's samples that are near the floor as it is now (a lower floor found
    /// since they arrived excludes some), or nil when fewer than the window's selection remain.
    private func historyFit(prior: Double, windowSelected: Int) -> (mapping: ClockMapping, skewError: Double)? {
        guard let floor else { return nil }
        let limit = nearFloorLimit(Double(floor.delay))
        let near = history.filter { Double($0.delay.value) <= limit }
        guard near.count >= 3, near.count > windowSelected else { return nil }
        return OffsetEstimator.fitWithSkewError(near, skewSpanNanosMin: skewSpanNanosMin, priorSkew: prior)
    }

    /// The largest delay that counts as near a floor of `delay` (step 3): 25 % above it plus the slack.
    func nearFloorLimit(_ delay: Double) -> Double { delay * 1.25 + delaySlackNanos }

    /// Bounds the history whatever the exchange rate (60 s at 8 Hz is 480 samples).
    static let historyCountMax = 2048

    /// Keeps `sample` in the skew history if it is near the floor, and forgets what is past the horizon.
    private mutating func remember(_ sample: SyncSample) {
        guard let floor, Double(sample.delay.value) <= nearFloorLimit(Double(floor.delay)) else { return }
        history.append(sample)
        let horizon = sample.midpoint.nanos - skewHorizonNanos
        if let first = history.firstIndex(where: { $0.midpoint.nanos >= horizon }), first > 0 { history.removeFirst(first) }
        if history.count > Self.historyCountMax { history.removeFirst(history.count - Self.historyCountMax) }
    }

    /// Fits the selected samples, or holds the mapping when none is near the floor.
    private mutating func refit() {
        let chosen = selected()
        guard !chosen.isEmpty else {
            heldCount += 1
            return
        }
        let prior = mapping.skew.isFinite ? mapping.skew : 0
        let (fitted, skewError) = OffsetEstimator.fitWithSkewError(chosen, skewSpanNanosMin: skewSpanNanosMin, priorSkew: prior)
        if let long = historyFit(prior: prior, windowSelected: chosen.count), long.skewError < skewError {
            // The history's skew when it is the better measured one, agrees with the window's (no
            // frequency change in between) and, once a skew is established, meets the same standard.
            // A window of fewer than 8 selected samples has no standard error worth testing against.
            let windowMeasured = skewError.isFinite && chosen.count >= 8
            let agrees = !windowMeasured
                || abs(long.mapping.skew - fitted.skew) <= 3 * (long.skewError * long.skewError + skewError * skewError).squareRoot()
            if agrees, long.skewError <= skewErrorMax || !skewEstablished {
                mapping = OffsetEstimator.fitWithSkewError(chosen, skewSpanNanosMin: .max, priorSkew: long.mapping.skew).mapping
                if long.skewError <= skewErrorMax { skewEstablished = true }
                return
            }
        }
        if skewEstablished, !(skewError <= skewErrorMax) {
            mapping = OffsetEstimator.fitWithSkewError(chosen, skewSpanNanosMin: .max, priorSkew: prior).mapping
        } else {
            mapping = fitted
            if skewError <= skewErrorMax { skewEstablished = true }
        }
    }

    /// Lowers the floor to a new minimum and keeps it fresh while samples come near it; once nothing
    /// has come near it for `floorMemoryNanos`, re-anchors it on the window's minimum.
    private mutating func updateFloor(with sample: SyncSample) {
        guard let current = floor else {
            floor = (sample.delay.value, sample.midpoint)
            return
        }
        if sample.delay.value <= current.delay {
            floor = (sample.delay.value, sample.midpoint)
        } else if Double(sample.delay.value) <= nearFloorLimit(Double(current.delay)) {
            floor = (current.delay, sample.midpoint)
        } else if sample.midpoint.nanos - current.at.nanos > floorMemoryNanos {
            resetFloor()
        }
    }

    /// The floor from the window alone (after a step or a path change dropped the older samples).
    private mutating func resetFloor() {
        let best = ring.min { $0.delay.value < $1.delay.value }!
        floor = (best.delay.value, best.midpoint)
    }

    /// Keeps a disagreeing sample aside; returns true when it completes a confirmed step.
    private mutating func holdSuspect(_ sample: SyncSample, residual: Double) -> Bool {
        suspects.append(sample)
        if suspects.count > stepConfirmCount { suspects.removeFirst() }
        let offsets = suspects.map(\.offsetNanos)
        let delayMax = Double(suspects.map(\.delay.value).max()!)
        guard suspects.count == stepConfirmCount, offsets.max()! - offsets.min()! <= delayMax + outlierNanosMin else {
            outlierCount += 1
            rejectedCount += 1
            return false
        }
        steps.append(ClockStep(at: sample.midpoint, offsetChangeNanos: residual))
        history.removeAll(keepingCapacity: true)
        ring.removeAll(keepingCapacity: true)
        nextSlot = 0
        for suspect in suspects { insert(suspect) }
        rejectedCount -= suspects.count - 1  // the earlier suspects were counted as rejected; insert counted them in

        outlierCount -= suspects.count - 1
        suspects.removeAll(keepingCapacity: true)
        resetFloor()
        refit()
        return true
    }

    private mutating func insert(_ sample: SyncSample) {
        if ring.count < windowCount { ring.append(sample) } else { ring[nextSlot] = sample }
        nextSlot = (nextSlot + 1) % windowCount
        acceptedCount += 1
    }

    /// Drops the older samples when the latest ones all travelled a clearly longer path.
    private mutating func detectPathChange() {
        guard ring.count > pathChangeSampleCount else { return }
        let ordered = window
        let recent = ordered.suffix(pathChangeSampleCount)
        let older = ordered.dropLast(pathChangeSampleCount)
        let olderMin = Double(older.map(\.delay.value).min()!)
        guard recent.allSatisfy({ Double($0.delay.value) > 2 * olderMin + pathChangeSlackNanos }) else { return }
        let recentDelays = recent.map { Double($0.delay.value) }
        guard recentDelays.max()! - recentDelays.min()! <= (recentDelays.min()! - olderMin) / 2 else { return }
        pathChangeCount += 1
        history.removeAll(keepingCapacity: true)
        ring = Array(recent)
        nextSlot = ring.count % windowCount
        resetFloor()
    }

    /// The window's samples near the delay floor, those the fit uses (empty: hold the mapping).
    func selected() -> [SyncSample] {
        let delayMin = Double(min(floor?.delay ?? .max, ring.map(\.delay.value).min()!))
        let limit = nearFloorLimit(delayMin)
        return ring.filter { Double($0.delay.value) <= limit }
    }

    /// One fit over a whole recorded segment (offline, O(n)): the samples within the delay slack of the
    /// segment's minimum delay, fitted once. Returns the mapping and which samples it used.
    /// - Parameter priorSkew: the skew kept when the segment is too short to fit one (the previous segment's).
    public func fitSegment(_ samples: [SyncSample], priorSkew: Double = 0) -> (mapping: ClockMapping, used: [Bool])? {
        let consistent = samples.filter(\.isConsistent)
        guard let delayMin = consistent.map(\.delay.value).min() else { return nil }
        let limit = nearFloorLimit(Double(delayMin))
        let used = samples.map { $0.isConsistent && Double($0.delay.value) <= limit }
        let chosen = zip(samples, used).filter(\.1).map(\.0)
        return (OffsetEstimator.fit(chosen, skewSpanNanosMin: skewSpanNanosMin, priorSkew: priorSkew), used)
    }

    static func fit(_ samples: [SyncSample], skewSpanNanosMin: Int64, priorSkew: Double = 0) -> ClockMapping {
        fitWithSkewError(samples, skewSpanNanosMin: skewSpanNanosMin, priorSkew: priorSkew).mapping
    }

    /// The fit and the standard error of its slope (infinite when the slope was not fitted).
    static func fitWithSkewError(
        _ samples: [SyncSample], skewSpanNanosMin: Int64, priorSkew: Double
    ) -> (mapping: ClockMapping, skewError: Double) {
        precondition(!samples.isEmpty, "fit needs at least one sample")
        let delayMin = Double(samples.map(\.delay.value).min()!)
        let times = samples.map { $0.midpoint.nanos }
        let reference = HubInstant(nanos: times.max()!)
        let xs = times.map { Double($0 - reference.nanos) }
        let ys = samples.map(\.offsetNanos)
        let count = Double(samples.count)
        let xMean = xs.reduce(0, +) / count
        let yMean = ys.reduce(0, +) / count
        var slope = priorSkew
        var sxx = 0.0
        let slopeFitted = times.max()! - times.min()! >= skewSpanNanosMin && samples.count >= 3
        if slopeFitted {
            var sxy = 0.0
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
        let skewError = slopeFitted && sxx > 0 && count > 2 ? (squares / (count - 2) / sxx).squareRoot() : .infinity
        return (ClockMapping(reference: reference, offsetNanos: intercept, skew: slope, uncertaintyNanos: delayMin / 2 + rms), skewError)
    }
}

/// A clock step the estimator detected: the device offset changed by `offsetChangeNanos` near `at`.
public struct ClockStep: Sendable, Equatable {
    public var at: HubInstant
    public var offsetChangeNanos: Double
}
