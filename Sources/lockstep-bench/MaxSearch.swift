// `lockstep-bench ingest --max`: the search for the highest sustained rate, and the best durable rate
// seen on the way (what the ratio to the disk baseline compares).
import DeviceAgent
import Foundation

/// What a `--max` search found (a plain run: its one trial in every role).
struct MaxSearch {
    /// The last sustained trial (the first trial when none was).
    var sustained: IngestResult
    /// The lossless trial with the highest durable rate: past the sustained rate, backpressure holds
    /// the devices back, and this is what the hub and the disk write together. Nil when no trial was lossless.
    var peak: IngestResult?
    /// The first trial that was not sustained, which ended the doubling.
    var firstNotSustained: IngestResult?
    /// Why the search stopped without a trial that was not sustained (the devices' ceiling, a trial that
    /// could not run), or nil.
    var stoppedBecause: String?

    init(sustained: IngestResult, peak: IngestResult?) {
        self.sustained = sustained
        self.peak = peak?.isLossless == true ? peak : nil
    }

    mutating func note(_ trial: IngestResult) {
        guard trial.isLossless else { return }
        if trial.durableMBPerSecond > (peak?.durableMBPerSecond ?? 0) { peak = trial }
    }
}

extension IngestBench {
    /// The highest rate per device the simulated devices send: they scale their frames by at most 16.
    var deviceRateCeiling: Double {
        let profiles = StreamProfile.set(named: profile) ?? []
        return 16 * Double(profiles.reduce(0) { $0 + $1.descriptor.nominalBytesPerSecond }) / 1e6
    }

    /// The highest rate per device the search asks for: the devices' ceiling, and 4000 MB/s in all.
    var rateCeiling: Double { Swift.min(deviceRateCeiling, 4000 / Double(devices)) }

    /// Doubles the rate per trial from `first` while the trials stay sustained (up to `rateCeiling`), then
    /// bisects twice between the last sustained rate and the first that was not. A trial that cannot run
    /// (the hub or the devices refuse to start) ends the search with what was measured so far.
    func searchMax(from first: IngestResult, base: String) async -> MaxSearch {
        var search = MaxSearch(sustained: first, peak: first)
        func measure(_ perDevice: Double) async -> IngestResult? {
            do {
                let next = try await trial(rate: perDevice, base: base)
                search.note(next)
                return next
            } catch {
                search.stoppedBecause = "the trial at \(devices) × \(perDevice) MB/s could not run: \(error)"
                progress("  \(search.stoppedBecause!)")
                return nil
            }
        }
        guard first.isSustained else {
            search.firstNotSustained = first
            return search
        }
        var perDevice = rate.megabytesPerSecond
        var failedRate: Double?
        while failedRate == nil {
            let next = Swift.min(perDevice * 2, rateCeiling)
            guard next > perDevice else {
                search.stoppedBecause =
                    "reached \(devices) × \(rateCeiling) MB/s, the most the search asks for (frames at 16 × nominal, or 4000 MB/s in all)"
                progress("  stopped: \(search.stoppedBecause!)")
                return search
            }
            guard let result = await measure(next) else { return search }
            if result.isSustained {
                search.sustained = result
                perDevice = next
            } else {
                search.firstNotSustained = result
                failedRate = next
            }
        }
        var low = perDevice
        var high = failedRate!
        for _ in 0..<2 {
            let middle = (low + high) / 2
            guard let result = await measure(middle) else { return search }
            if result.isSustained {
                search.sustained = result
                low = middle
            } else {
                high = middle
            }
        }
        return search
    }
}
