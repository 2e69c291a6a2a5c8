// Outliers, clock steps and path changes against a synthetic truth.
import Testing
@testable import Timing

@Suite struct StepAndOutlierTests {
    /// Exchanges every 125 ms with symmetric 40 µs delays plus ±1 µs noise from `seed`.
    func feed(_ estimator: inout OffsetEstimator, _ clock: TrueClock, from start: Int, count: Int, seed: UInt64,
              up: Int64 = 40_000, down: Int64 = 40_000) -> [SyncSample] {
        var random = SplitMix(state: seed)
        var samples: [SyncSample] = []
        for index in start..<(start + count) {
            let t1 = 1_000_000_000 + Int64(index) * 125_000_000
            let sample = exchange(clock, t1: t1, up: up + Int64(random.unit() * 1000), down: down + Int64(random.unit() * 1000))
            estimator.add(sample)
            samples.append(sample)
        }
        return samples
    }

    @Test func isolatedAbsurdSamplesAreIgnored() {
        let clock = TrueClock(offsetNanos: 3_200_000_000, skewPPM: 40)
        var estimator = OffsetEstimator()
        _ = feed(&estimator, clock, from: 0, count: 100, seed: 1)
        let before = estimator.mapping
        // A consistent-looking sample ten days off, and a replay of a sample from long ago.
        let absurd = exchange(TrueClock(offsetNanos: 864_000_000_000_000, skewPPM: 0), t1: 1_000_000_000 + 100 * 125_000_000, up: 40_000,
                              down: 40_000)
        let absurdAccepted = estimator.add(absurd)
        #expect(!absurdAccepted)
        _ = feed(&estimator, clock, from: 101, count: 1, seed: 2)
        let replay = exchange(TrueClock(offsetNanos: clock.offsetNanos, skewPPM: 0), t1: 1_000_000_000 + 102 * 125_000_000, up: 40_000,
                              down: 40_000)  // stamps of an old clock state: off by 40 ppm × 12.75 s ≈ 510 µs
        let replayAccepted = estimator.add(replay)
        #expect(!replayAccepted)
        #expect(estimator.outlierCount == 2)
        #expect(estimator.steps.isEmpty)
        let hub = HubInstant(nanos: 1_000_000_000 + 102 * 125_000_000)
        #expect(abs(estimator.mapping.offsetNanos(at: hub) - clock.offset(atHub: hub.nanos)) < 5_000)
        #expect(abs(estimator.mapping.skewPPM - before.skewPPM) < 1)
    }

    @Test func aPersistentJumpIsAStep() {
        var estimator = OffsetEstimator()
        _ = feed(&estimator, TrueClock(offsetNanos: 1_000_000, skewPPM: 0), from: 0, count: 100, seed: 3)
        let stepped = TrueClock(offsetNanos: 6_000_000, skewPPM: 0)  // the device clock jumped by +5 ms
        _ = feed(&estimator, stepped, from: 100, count: 40, seed: 4)
        #expect(estimator.steps.count == 1)
        #expect(abs((estimator.steps.first?.offsetChangeNanos ?? 0) - 5_000_000) < 10_000)
        let hub = HubInstant(nanos: 1_000_000_000 + 139 * 125_000_000)
        #expect(abs(estimator.mapping.offsetNanos(at: hub) - 6_000_000) < 5_000, "tracks the new offset")
    }

    @Test func aLongerPathIsFollowed() {
        var estimator = OffsetEstimator()
        let clock = TrueClock(offsetNanos: -700_000, skewPPM: 10)
        _ = feed(&estimator, clock, from: 0, count: 80, seed: 5)
        // Roaming: the route now takes 5 ms each way.
        _ = feed(&estimator, clock, from: 80, count: 24, seed: 6, up: 5_000_000, down: 5_000_000)
        #expect(estimator.pathChangeCount == 1)
        #expect(estimator.window.allSatisfy { $0.delay.value > 9_000_000 }, "old-path samples were dropped")
        let hub = HubInstant(nanos: 1_000_000_000 + 103 * 125_000_000)
        #expect(abs(estimator.mapping.offsetNanos(at: hub) - clock.offset(atHub: hub.nanos)) < 20_000)
    }

    /// A congested switch: the device → hub queue delays most responses by 0.5-3 ms (invisible to the
    /// endpoints' stamps, so the offset error is half of it), with a lucky empty queue now and then,
    /// and for 20 s not at all. The fit stays on the lucky samples, holds through the dry spell with its
    /// skew, and no path change is declared.
    @Test func aCongestedQueueIsNeitherFollowedNorMistakenForANewPath() {
        var estimator = OffsetEstimator()
        let clock = TrueClock(offsetNanos: 250_000_000, skewPPM: 20)
        _ = feed(&estimator, clock, from: 0, count: 80, seed: 7)
        var random = SplitMix(state: 8)
        var worst = 0.0
        for index in 80..<720 {
            let t1 = 1_000_000_000 + Int64(index) * 125_000_000
            let drySpell = (400..<560).contains(index)
            let lucky = !drySpell && index % 15 == 0
            let queued = lucky ? 40_000 : 500_000 + Int64(random.unit() * 2_500_000)
            estimator.add(exchange(clock, t1: t1, up: 40_000 + Int64(random.unit() * 1000), down: queued))
            let hub = HubInstant(nanos: t1)
            worst = max(worst, abs(estimator.mapping.offsetNanos(at: hub) - clock.offset(atHub: hub.nanos)))
        }
        #expect(estimator.pathChangeCount == 0)
        #expect(estimator.heldCount > 0, "the dry spell was held over")
        #expect(worst < 20_000, "worst error \(worst) ns")
        #expect(abs(estimator.mapping.skewPPM - 20) < 0.5)
    }

    /// The same congested switch for a minute with no dry spell: the window holds a few lucky samples
    /// over 8 s, the skew history a minute of them, so the skew comes out far closer to the truth than
    /// the window alone would give it (the estimator with no history, horizon 0, for comparison).
    @Test func aMinuteOfLuckySamplesPinsTheSkew() {
        func skewError(horizon: Int64) -> Double {
            var estimator = OffsetEstimator(skewHorizonNanos: horizon)
            let clock = TrueClock(offsetNanos: -75_000_000, skewPPM: 20)
            var random = SplitMix(state: 11)
            for index in 0..<480 {
                let t1 = 1_000_000_000 + Int64(index) * 125_000_000
                let lucky = index < 16 || index % 15 == 0
                let queued = lucky ? 40_000 : 500_000 + Int64(random.unit() * 2_500_000)
                estimator.add(exchange(clock, t1: t1, up: 40_000 + Int64(random.unit() * 1000), down: queued))
            }
            return abs(estimator.mapping.skewPPM - 20)
        }
        let withHistory = skewError(horizon: 60_000_000_000)
        let windowOnly = skewError(horizon: 0)
        #expect(withHistory < 0.05, "skew error \(withHistory) ppm with a minute of history")
        #expect(withHistory < windowOnly, "history \(withHistory) ppm, window only \(windowOnly) ppm")
    }

    /// A clean link and a clock whose frequency changes (20 → 25 ppm, a phone warming up) after a
    /// minute: the history, which still remembers 20 ppm, disagrees with the window and yields, so the
    /// estimate follows the new frequency within the window.
    @Test func aFrequencyChangeIsFollowedDespiteTheHistory() {
        var estimator = OffsetEstimator()
        var random = SplitMix(state: 5)
        let change: Int64 = 61_000_000_000
        func trueOffset(_ hub: Int64) -> Double {
            hub < change ? 1_000_000 + Double(hub) * 20e-6 : 1_000_000 + Double(change) * 20e-6 + Double(hub - change) * 25e-6
        }
        var worst = 0.0
        for index in 0..<640 {  // 80 s at 8 Hz
            let t1 = 1_000_000_000 + Int64(index) * 125_000_000
            let up = 40_000 + Int64(random.unit() * 1000), down = 40_000 + Int64(random.unit() * 1000)
            let t2 = t1 + up, t3 = t2 + 20_000
            estimator.add(SyncSample(
                t1: HubInstant(nanos: t1), t2: DeviceInstant(nanos: t2 + Int64(trueOffset(t2).rounded())),
                t3: DeviceInstant(nanos: t3 + Int64(trueOffset(t3).rounded())), t4: HubInstant(nanos: t3 + down)))
            if t1 > change + 10_000_000_000 {
                worst = max(worst, abs(estimator.mapping.offsetNanos(at: HubInstant(nanos: t1)) - trueOffset(t1)))
            }
        }
        #expect(abs(estimator.mapping.skewPPM - 25) < 0.5, "skew \(estimator.mapping.skewPPM) ppm after the change to 25")
        #expect(worst < 5_000, "worst error \(worst) ns from 10 s after the change")
    }
}
