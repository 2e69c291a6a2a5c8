// Scenario tests against a known truth (a synthetic device clock), chrony style: an impairment, then
// bounds on the error of the estimate. Deterministic seeds; no wall-clock time involved.
import Testing
@testable import Timing

/// A device clock with a true offset and skew relative to the hub timeline.
struct TrueClock {
    var offsetNanos: Double
    var skewPPM: Double

    func device(atHub hub: Int64) -> Int64 { hub + Int64((offsetNanos + Double(hub) * skewPPM * 1e-6).rounded()) }
    func offset(atHub hub: Int64) -> Double { offsetNanos + Double(hub) * skewPPM * 1e-6 }
}

struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// One exchange at hub time `t1` with one-way delays `up` (hub → device) and `down`, turnaround 20 µs.
func exchange(_ clock: TrueClock, t1: Int64, up: Int64, down: Int64) -> SyncSample {
    let t2Hub = t1 + up
    let t3Hub = t2Hub + 20_000
    return SyncSample(t1: HubInstant(nanos: t1), t2: DeviceInstant(nanos: clock.device(atHub: t2Hub)),
                      t3: DeviceInstant(nanos: clock.device(atHub: t3Hub)), t4: HubInstant(nanos: t3Hub + down))
}

@Suite struct SyncSampleTests {
    @Test func symmetricPathGivesTheExactOffset() {
        let clock = TrueClock(offsetNanos: 250_000_000, skewPPM: 0)
        let sample = exchange(clock, t1: 1_000_000_000, up: 50_000, down: 50_000)
        #expect(sample.delay == Nanoseconds(100_000))
        #expect(sample.offsetNanos == 250_000_000)
        #expect(sample.isConsistent)
    }

    @Test func asymmetryErrorIsAtMostHalfTheDelay() {
        let clock = TrueClock(offsetNanos: -3_000, skewPPM: 0)
        let sample = exchange(clock, t1: 5_000, up: 90_000, down: 10_000)
        #expect(abs(sample.offsetNanos - clock.offsetNanos) <= Double(sample.delay.value) / 2)
    }

    @Test func inconsistentSamplesAreRejected() {
        var estimator = OffsetEstimator()
        let bad = SyncSample(t1: HubInstant(nanos: 10), t2: DeviceInstant(nanos: 5), t3: DeviceInstant(nanos: 4), t4: HubInstant(nanos: 20))
        let accepted = estimator.add(bad)
        #expect(!accepted)
        #expect(estimator.rejectedCount == 1)
        #expect(!estimator.hasEstimate)
    }
}

@Suite struct OffsetEstimatorTests {
    /// Runs `count` exchanges at `intervalNanos` with base delay plus random one-sided queueing.
    func run(_ clock: TrueClock, seed: UInt64, count: Int, intervalNanos: Int64, queueNanosMax: Double,
             check: (HubInstant, ClockMapping) -> Void) {
        var random = SplitMix(state: seed)
        var estimator = OffsetEstimator()
        for index in 0..<count {
            let t1 = 1_000_000_000 + Int64(index) * intervalNanos
            // Queueing only adds delay, and mostly in one direction (a loaded uplink).
            let queue = random.unit() < 0.7 ? Int64(random.unit() * queueNanosMax) : 0
            let sample = exchange(clock, t1: t1, up: 40_000 + Int64(random.unit() * 2_000), down: 40_000 + queue)
            estimator.add(sample)
            if index >= 32 { check(sample.t4, estimator.mapping) }
        }
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func tracksOffsetAndSkewUnderQueueing(seed: UInt64) {
        let clock = TrueClock(offsetNanos: 123_456_789, skewPPM: 35)
        var errors: [Double] = []
        run(clock, seed: seed, count: 400, intervalNanos: 125_000_000, queueNanosMax: 2_000_000) { hub, mapping in
            let error = abs(mapping.offsetNanos(at: hub) - clock.offset(atHub: hub.nanos))
            errors.append(error)
            #expect(error <= mapping.uncertaintyNanos + 5_000, "error \(error) ns beyond the reported uncertainty")
        }
        errors.sort()
        print("seed \(seed): median error \(Int(errors[errors.count / 2])) ns, max \(Int(errors.last!)) ns")
        // Base one-way delays differ by at most 2 µs, so the low-delay samples bound the error tightly.
        #expect(errors[errors.count / 2] < 5_000)
        #expect(errors.last! < 20_000)
    }

    @Test func skewIsFoundWithinAFewPPM() {
        let clock = TrueClock(offsetNanos: 0, skewPPM: -80)
        var last = ClockMapping.unknown
        run(clock, seed: 9, count: 64, intervalNanos: 125_000_000, queueNanosMax: 500_000) { _, mapping in last = mapping }
        #expect(abs(last.skewPPM - -80) < 3)
    }

    @Test func mappingInvertsBothWays() {
        let mapping = ClockMapping(reference: HubInstant(nanos: 10_000_000_000), offsetNanos: 5_000_000, skew: 40e-6, uncertaintyNanos: 1000)
        for hub in stride(from: Int64(0), to: 100_000_000_000, by: 7_777_777_777) {
            let device = mapping.deviceInstant(at: HubInstant(nanos: hub))
            #expect(abs(mapping.hubInstant(at: device).nanos - hub) <= 1)
        }
    }
}
