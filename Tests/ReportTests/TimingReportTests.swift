// The report against a known truth: synthetic devices with a known offset, skew, path delays and a
// clock step; then the figures the report derives (segments, bounds, alignment, verdict) and its
// HTML and CSV forms.
import Foundation
import Testing
import Timing
import Wire
@testable import Report

/// Samples of a device with offset `offset` ns and skew `skewPPM` at 8 Hz for `seconds`, one-way
/// delays of 20–40 µs (seeded), and a step of `step` ns at hub second `stepAt`.
func syntheticSamples(offset: Double, skewPPM: Double, seconds: Int, seed: UInt64, step: (at: Int, nanos: Double)? = nil) -> [SyncSample] {
    var noise = Noise(state: seed)
    return (0..<(seconds * 8)).map { index in
        let t1 = Int64(1_000_000_000) + Int64(index) * 125_000_000
        let up = Int64(20_000 + noise.unit() * 20_000), down = Int64(20_000 + noise.unit() * 20_000)
        let device = { (hub: Int64) -> DeviceInstant in
            var value = Double(hub) + offset + Double(hub) * skewPPM * 1e-6
            if let step, hub >= 1_000_000_000 + Int64(step.at) * 1_000_000_000 { value += step.nanos }
            return DeviceInstant(nanos: Int64(value.rounded()))
        }
        let t2 = t1 + up, t3 = t2 + 30_000
        return SyncSample(t1: HubInstant(nanos: t1), t2: device(t2), t3: device(t3), t4: HubInstant(nanos: t3 + down))
    }
}

@Suite struct TimingReportTests {
    @Test func boundsHoldAgainstTheTruthAndTheVerdictFollowsTheTolerance() throws {
        let a = DeviceClockData(
            deviceID: "a", samples: syntheticSamples(offset: 3.2e9, skewPPM: 40, seconds: 120, seed: 1), timestampSource: "kernel")
        let b = DeviceClockData(
            deviceID: "b", samples: syntheticSamples(offset: -1e6, skewPPM: -15, seconds: 120, seed: 2), timestampSource: "kernel")
        let report = TimingReport.make(sessionID: "s", devices: [a, b], toleranceNanos: 1_000_000)
        #expect(report["verdict"] == .string("pass"))
        let timing = DeviceTiming(deviceID: "a", samples: a.samples)
        // Every per-sample bound holds: the fit's error against the true offset is within it.
        for (index, sample) in timing.samples.enumerated() where timing.used[index] {
            let hub = sample.midpoint.nanos
            let truth = 3.2e9 + Double(hub) * 40e-6
            let fitted = timing.mapping(forHub: hub)!.offsetNanos(at: sample.midpoint)
            #expect(abs(fitted - truth) <= timing.boundNanos[index]! + 1, "sample \(index)")
        }
        let skew = try #require(report["devices"]?.arrayValue?.first?["skew_ppm"]?.doubleValue)
        #expect(abs(skew - 40) < 0.05, "skew \(skew)")
        let alignment = try #require(report["alignment"])
        #expect(alignment["bins"]?.intValue == 120)
        let worst = try #require(alignment["max_ns"]?.intValue)
        #expect(worst >= 40_000 && worst < 100_000, "bounds of two devices with 20-40 µs one-way delays: \(worst) ns")
        let strict = TimingReport.make(sessionID: "s", devices: [a, b], toleranceNanos: 1000)
        #expect(strict["verdict"] == .string("fail"), "a 1 µs tolerance cannot be met with 20-40 µs paths")
        #expect(TimingReport.make(sessionID: "s", devices: [a, DeviceClockData(deviceID: "c", samples: [], timestampSource: "none")])["verdict"]
            == .string("unknown"))
        // A device silent for half the recording leaves half the seconds unchecked: no verdict.
        let halfB = DeviceClockData(deviceID: "b", samples: Array(b.samples.prefix(b.samples.count / 2)), timestampSource: "kernel")
        let partial = TimingReport.make(sessionID: "s", devices: [a, halfB])
        #expect(partial["verdict"] == .string("unknown"))
        #expect(abs((partial["alignment"]?["coverage"]?.doubleValue ?? 0) - 0.5) < 0.02)
    }

    @Test func aClockStepSplitsTheRecordingIntoSegments() throws {
        let samples = syntheticSamples(offset: 5e6, skewPPM: 10, seconds: 60, seed: 4, step: (at: 30, nanos: 2e6))
        let timing = DeviceTiming(deviceID: "s", samples: samples)
        #expect(timing.steps.count == 1)
        #expect(timing.segments.count == 2)
        // The new segment begins at the first sample after the step, not at the sample that confirmed it.
        #expect((31_000_000_000...31_200_000_000).contains(timing.segments[1].fromHubNanos), "\(timing.segments[1].fromHubNanos)")
        let before = timing.segments[0].mapping.offsetNanos(at: HubInstant(nanos: 20_000_000_000))
        let after = timing.segments[1].mapping.offsetNanos(at: HubInstant(nanos: 40_000_000_000))
        #expect(abs(before - (5e6 + 20e9 * 10e-6)) < 20_000)
        #expect(abs(after - (5e6 + 2e6 + 40e9 * 10e-6)) < 20_000)
    }

    @Test func theHTMLHasEverySectionAndChartAndNoScript() throws {
        let devices = ["a", "b"].enumerated().map { index, id in
            DeviceClockData(deviceID: id, samples: syntheticSamples(offset: 1e6, skewPPM: 5, seconds: 30, seed: UInt64(index + 9)),
                            timestampSource: "kernel", startOffsetNanos: 1200)
        }
        let report = TimingReport.make(sessionID: "s<1>", devices: devices, session: ["name": .string("<script>alert(1)</script>")])
        let html = ReportHTML.render(report)
        for id in ["summary", "devices", "alignment", "device-a", "device-b", "integrity", "markers", "method"] {
            #expect(html.contains("id=\"\(id)\""), "section \(id)")
        }
        #expect(html.components(separatedBy: "<svg").count - 1 == 12, "6 charts per device")
        #expect(!html.contains("<script"), "no script, and names are escaped")
        #expect(html.contains("&lt;script&gt;"))
        let links = html.components(separatedBy: "http").count - 1
        #expect(links == html.components(separatedBy: "http://www.w3.org/2000/svg").count - 1, "nothing is loaded from elsewhere")
        let csv = ReportCSV.render(report).split(separator: "\n")
        #expect(csv.first == Substring(ReportCSV.header))
        #expect(csv.allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == 7 })
        #expect(csv.contains { $0.hasPrefix("a,offset,") } && csv.contains { $0.hasPrefix("b,mtie,,") })
    }
}
