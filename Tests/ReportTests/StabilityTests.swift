// ADEV, TDEV and MTIE against the textbook results for known phase series:
// - white phase noise of deviation σ (iid samples): ADEV(τ) = √3·σ/τ and TDEV(τ) = σ/√m exactly in
//   expectation (E[(x_{i+2m} − 2x_{i+m} + x_i)²] = 6σ²); checked within a statistical margin;
// - a pure frequency offset y (x_i = y·i·τ0): ADEV = TDEV = 0, MTIE(τ) = y·τ exactly;
// - a phase step: MTIE is the step for every τ, ADEV is not zero.
import Foundation
import Testing
@testable import Report

/// Deterministic Gaussian noise (Box–Muller over SplitMix64).
struct Noise {
    var state: UInt64
    mutating func unit() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return (Double((z ^ (z >> 31)) >> 11) + 0.5) / Double(1 << 53)
    }
    mutating func gaussian() -> Double { (-2 * log(unit())).squareRoot() * cos(2 * .pi * unit()) }
}

@Suite struct StabilityTests {
    @Test func whitePhaseNoiseFollowsTheTextbookSlopes() {
        var noise = Noise(state: 7)
        let sigma = 1e-6
        let x = (0..<40_000).map { _ in sigma * noise.gaussian() }
        let tau0 = 0.125
        for point in Stability.adev(phase: x, tau0: tau0) where point.tauSeconds <= 64 * tau0 {
            let expected = 3.0.squareRoot() * sigma / point.tauSeconds
            #expect(abs(point.value / expected - 1) < 0.05, "ADEV at τ = \(point.tauSeconds): \(point.value) vs \(expected)")
        }
        for point in Stability.tdev(phase: x, tau0: tau0) where point.tauSeconds <= 64 * tau0 {
            let m = point.tauSeconds / tau0
            let expected = sigma / m.squareRoot()
            #expect(abs(point.value / expected - 1) < 0.08, "TDEV at τ = \(point.tauSeconds): \(point.value) vs \(expected)")
        }
    }

    @Test func aPureFrequencyOffsetHasZeroDeviationAndLinearMTIE() {
        let y = 40e-6, tau0 = 0.25
        let x = (0..<1000).map { Double($0) * y * tau0 }
        #expect(Stability.adev(phase: x, tau0: tau0).allSatisfy { $0.value < 1e-12 })
        #expect(Stability.tdev(phase: x, tau0: tau0).allSatisfy { $0.value < 1e-12 })
        let mtie = Stability.mtie(phase: x, tau0: tau0)
        #expect(mtie.map(\.tauSeconds) == [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128], "m = 1 ... 512 of 1000 samples")
        for point in mtie { #expect(abs(point.value - y * point.tauSeconds) < 1e-12, "MTIE at τ = \(point.tauSeconds)") }
    }

    @Test func mtieSeesAStepAtEveryInterval() {
        let x = (0..<200).map { $0 < 100 ? 0.0 : 5e-6 }
        for point in Stability.mtie(phase: x, tau0: 1) { #expect(point.value == 5e-6) }
        #expect(Stability.adev(phase: x, tau0: 1).allSatisfy { $0.value > 0 })
        // MTIE against a brute-force maximum over every window.
        var noise = Noise(state: 3)
        let wander = (0..<300).map { _ in noise.gaussian() }
        for point in Stability.mtie(phase: wander, tau0: 1) {
            let m = Int(point.tauSeconds)
            let brute = (0..<(wander.count - m)).map { k in wander[k...(k + m)].max()! - wander[k...(k + m)].min()! }.max()!
            #expect(point.value == brute, "m = \(m)")
        }
    }

    @Test func resamplingBinsAndFillsGaps() throws {
        let times: [Int64] = [0, 250_000_000, 500_000_000, 1_500_000_000, 1_750_000_000]
        let (series, tau0) = try #require(Stability.resample(times: times, values: [0, 1, 2, 6, 7]))
        #expect(tau0 == 250_000_000)
        #expect(series == [0, 1, 2, 3, 4, 5, 6, 7], "the three empty bins are interpolated")
        #expect(Stability.resample(times: [0, 1], values: [0, 1]) == nil)
    }
}
