// The timing report of a session (report.json, report.html, report.csv): per device, how well its
// clock was known over the recording (DeviceTiming); per session, the bound on the misalignment of
// any two streams, over time, and a verdict against a tolerance. docs/reports.md explains each figure.
//
// Inputs are the raw sync samples stored in clock/<device>.csv (and the manifest and journal for the
// session facts), so the report can be rebuilt offline from the session folder alone.
import Timing
import Wire

/// One device's clock data for the report.
public struct DeviceClockData: Sendable {
    public var deviceID: String
    public var samples: [SyncSample]
    public var timestampSource: String
    /// When the device actually started, relative to the scheduled start on the hub timeline.
    public var startOffsetNanos: Int64?

    public init(deviceID: String, samples: [SyncSample], timestampSource: String, startOffsetNanos: Int64? = nil) {
        self.deviceID = deviceID
        self.samples = samples
        self.timestampSource = timestampSource
        self.startOffsetNanos = startOffsetNanos
    }
}

public enum TimingReport {
    public static let formatVersion: Int64 = 2
    /// The bin of the hub timeline over which pairwise alignment is evaluated.
    public static let alignmentBinNanos: Int64 = 1_000_000_000

    /// Builds the report. - Parameters: toleranceNanos: the alignment the verdict is judged against;
    /// session: facts merged into the top level (name, integrity, ...).
    public static func make(
        sessionID: String, devices: [DeviceClockData], toleranceNanos: Int64 = 1_000_000, session: [String: JSONValue] = [:]
    ) -> JSONValue {
        let sorted = devices.sorted { $0.deviceID < $1.deviceID }
        let timings = sorted.map { DeviceTiming(deviceID: $0.deviceID, samples: $0.samples) }
        let deviceReports = zip(sorted, timings).map { deviceReport($0, $1) }
        let alignment = pairwiseAlignment(timings)
        let known = timings.allSatisfy { !$0.segments.isEmpty } && !timings.isEmpty && alignment.coverage >= coverageMin
        let verdict: String
        if let worst = alignment.max, known { verdict = worst <= Double(toleranceNanos) ? "pass" : "fail" } else { verdict = "unknown" }
        let method = "per device: a least-squares offset/skew fit per segment between detected clock steps over the "
            + "minimum-delay samples; each sample bounds the fit's error at its instant by |residual| + delay/2; per second, "
            + "each device's tightest bound plus 0.2 ppm of drift; pairwise, per second, the two largest device bounds added "
            + "(the worst pair); the verdict needs samples from every device in 90 % of the seconds"
        let bound: JSONValue = alignment.max.map { .int(Int64($0.rounded(.up))) } ?? .null
        var top: [String: JSONValue] = session
        top.merge([
            "format": .string("lockstep-timing-report"), "format_version": .int(formatVersion),
            "session_id": .string(sessionID), "devices": .array(deviceReports),
            "alignment": alignment.json, "pairwise_alignment_bound_ns": bound,
            "tolerance_ns": .int(toleranceNanos), "verdict": .string(verdict),
            "headline": .string(headline(alignment, verdict: verdict, toleranceNanos: toleranceNanos, devices: timings.count)),
            "method": .string(method),
        ]) { $1 }
        return .object(top)
    }

    /// Pairwise alignment over 1-s bins of the recording: in each second where every device has a
    /// consistent sample, the worst pair is the two largest device bounds added (with one device, its
    /// own bound against the hub timeline). A second where a device has no sample is uncovered.
    struct Alignment {
        var values: [Double] = []
        var worstPair: (String, String)?
        var binCount = 0
        var max: Double? { values.max() }
        var coverage: Double { binCount == 0 ? 0 : Double(values.count) / Double(binCount) }

        var json: JSONValue {
            let ordered = values.sorted()
            guard !ordered.isEmpty else { return .object(["bins": .int(0), "seconds": .int(Int64(binCount)), "coverage": .double(0)]) }
            return .object([
                "bin_s": .double(Double(alignmentBinNanos) / 1e9), "bins": .int(Int64(ordered.count)), "seconds": .int(Int64(binCount)),
                "coverage": .double((coverage * 10_000).rounded() / 10_000),
                "p50_ns": .int(Int64(TimingReport.percentile(ordered, 0.5).rounded(.up))),
                "p99_ns": .int(Int64(TimingReport.percentile(ordered, 0.99).rounded(.up))),
                "p999_ns": .int(Int64(TimingReport.percentile(ordered, 0.999).rounded(.up))),
                "max_ns": .int(Int64(ordered.last!.rounded(.up))),
                "worst_pair": worstPair.map { .array([.string($0.0), .string($0.1)]) } ?? .null,
            ])
        }
    }

    /// The verdict needs evidence for at least this share of the recording's seconds.
    public static let coverageMin = 0.9

    static func pairwiseAlignment(_ timings: [DeviceTiming]) -> Alignment {
        var result = Alignment()
        guard let origin = timings.compactMap({ $0.samples.first?.midpoint.nanos }).min(),
            let end = timings.compactMap({ $0.samples.last?.midpoint.nanos }).max()
        else { return result }
        result.binCount = Int((end - origin) / alignmentBinNanos) + 1
        let bins = timings.map { $0.boundsPerBin(origin: origin, binNanos: alignmentBinNanos) }
        var worst = -1.0
        for bin in 0..<result.binCount {
            let bounds = bins.indices.compactMap { device in bins[device][bin].map { (device, $0) } }
            guard bounds.count == bins.count, !bounds.isEmpty else { continue }
            let top = bounds.sorted { $0.1 > $1.1 }.prefix(2)
            let value = top.reduce(0) { $0 + $1.1 }
            result.values.append(value)
            if value > worst, let first = top.first {
                worst = value
                result.worstPair = (timings[first.0].deviceID, top.count > 1 ? timings[top.last!.0].deviceID : "hub")
            }
        }
        return result
    }

    /// The sentence for a paper, from the figures.
    static func headline(_ alignment: Alignment, verdict: String, toleranceNanos: Int64, devices: Int) -> String {
        guard let worst = alignment.max, verdict != "unknown" else {
            return alignment.max == nil ? "The alignment of this session is unknown: a device has no valid sync samples."
                : "The alignment of this session is unknown: only \(Int(alignment.coverage * 100)) % of its seconds have sync samples "
                + "from every device."
        }
        let ordered = alignment.values.sorted()
        let p999 = percentile(ordered, 0.999)
        let what = devices == 1 ? "the stream aligned to the hub timeline" : "every pair of streams aligned"
        return "In \(ordered.count) one-second intervals (\(Int((alignment.coverage * 100).rounded(.down))) % of the recording), "
            + "\(what) within \(microseconds(p999)) in 99.9 % of them "
            + "and within \(microseconds(worst)) at worst (tolerance \(microseconds(Double(toleranceNanos))): \(verdict))."
    }

    static func microseconds(_ nanos: Double) -> String {
        nanos >= 1_000_000 ? "\(Double(Int((nanos / 1000).rounded())) / 1000) ms" : "\(Double(Int((nanos / 100).rounded(.up))) / 10) µs"
    }

    static func deviceReport(_ device: DeviceClockData, _ timing: DeviceTiming) -> JSONValue {
        var members: [String: JSONValue] = [
            "device_id": .string(device.deviceID), "timestamp_source": .string(device.timestampSource),
            "samples": .int(Int64(timing.samples.count)), "samples_used": .int(Int64(timing.used.filter { $0 }.count)),
            "samples_rejected": .int(Int64(timing.samples.count - timing.used.filter { $0 }.count)),
            "outliers": .int(Int64(timing.liveOutliers)),
            "steps": .array(timing.steps.map {
                .object(["hub_ns": .int($0.at.nanos), "offset_change_ns": .int(Int64($0.offsetChangeNanos.rounded()))])
            }),
            "path_changes": .int(Int64(timing.pathChanges)),
            "start_offset_ns": device.startOffsetNanos.map(JSONValue.int) ?? .null,
        ]
        guard let last = timing.segments.last else {
            members["note"] = .string("no valid sync samples: this device's timing is unknown")
            return .object(members)
        }
        let delays = timing.samples.indices.filter { timing.used[$0] }.map { Double(timing.samples[$0].delay.value) }.sorted()
        let residuals = timing.usedValues(timing.residualNanos)
        let errors = residuals.map(abs).sorted()
        let allResiduals = timing.residualNanos.compactMap { $0 }.map(abs).sorted()
        members["segments"] = .array(timing.segments.map { segment in
            .object([
                "from_hub_ns": .int(segment.fromHubNanos), "to_hub_ns": .int(segment.toHubNanos),
                "reference_hub_ns": .int(segment.mapping.reference.nanos), "offset_ns": .int(Int64(segment.mapping.offsetNanos.rounded())),
                "skew_ppm": .double(round3(segment.mapping.skewPPM)), "uncertainty_ns": .int(Int64(segment.mapping.uncertaintyNanos.rounded(.up))),
                "samples": .int(Int64(segment.sampleCount)),
            ])
        })
        members["offset_ns"] = .int(Int64(last.mapping.offsetNanos.rounded()))
        members["reference_hub_ns"] = .int(last.mapping.reference.nanos)
        members["skew_ppm"] = .double(round3(last.mapping.skewPPM))
        members["skew_drift_ppm_per_hour"] = timing.skewDriftPPMPerHour.map { .double(round3($0)) } ?? .null
        members["uncertainty_ns"] = .int(Int64(last.mapping.uncertaintyNanos.rounded(.up)))
        members["delay_ns"] = quantiles(delays, ["min": 0, "median": 0.5, "p99": 0.99, "max": 1])
        members["residual_ns_all_samples"] = quantiles(allResiduals, ["median": 0.5, "p99": 0.99, "max": 1])
        members["jitter_rms_ns"] = .double(round3((residuals.reduce(0) { $0 + $1 * $1 } / Double(max(residuals.count, 1))).squareRoot()))
        members["time_error_ns"] = quantiles(errors, ["p50": 0.5, "p95": 0.95, "p99": 0.99, "p999": 0.999, "max": 1])
        members["bound_ns"] = quantiles(timing.usedValues(timing.boundNanos).sorted(), ["p50": 0.5, "p99": 0.99, "p999": 0.999, "max": 1])
        members["live_uncertainty_ns"] = quantiles(timing.liveUncertaintyNanos.compactMap { $0 }.sorted(), ["median": 0.5, "p99": 0.99, "max": 1])
        members["stability"] = stabilityJSON(timing)
        members["series"] = seriesJSON(timing)
        return .object(members)
    }

    /// ADEV, TDEV and MTIE of the residuals of the used samples, resampled to a uniform τ0.
    static func stabilityJSON(_ timing: DeviceTiming) -> JSONValue {
        let indices = timing.samples.indices.filter { timing.used[$0] && timing.residualNanos[$0] != nil }
        guard let (series, tau0Nanos) = Stability.resample(
            times: indices.map { timing.samples[$0].midpoint.nanos }, values: indices.map { timing.residualNanos[$0]! * 1e-9 })
        else { return .null }
        let tau0 = Double(tau0Nanos) / 1e9
        let points = { (values: [StabilityPoint], scale: Double) -> JSONValue in
            // ADEV (scale 1) keeps every digit (its values are around 1e-6 and below); ns to 0.001 ns.
            .array(values.map { point in
                let value = point.value * scale
                return .object(["tau_s": .double(point.tauSeconds), "value": .double(scale == 1 ? value : (value * 1000).rounded() / 1000)])
            })
        }
        return .object([
            "tau0_s": .double(tau0), "points": .int(Int64(series.count)),
            "adev": points(Stability.adev(phase: series, tau0: tau0), 1),
            "tdev_ns": points(Stability.tdev(phase: series, tau0: tau0), 1e9),
            "mtie_ns": points(Stability.mtie(phase: series, tau0: tau0), 1e9),
        ])
    }

    /// Every sample, column-wise: what the charts and the CSV are drawn from.
    static func seriesJSON(_ timing: DeviceTiming) -> JSONValue {
        let ints = { (values: [Double?]) -> JSONValue in .array(values.map { $0.map { .int(Int64($0.rounded())) } ?? .null }) }
        return .object([
            "hub_ns": .array(timing.samples.map { .int($0.midpoint.nanos) }),
            "offset_ns": ints(timing.samples.map { $0.isConsistent ? $0.offsetNanos : nil }),
            "delay_ns": .array(timing.samples.map { .int($0.delay.value) }),
            "used": .array(timing.used.map(JSONValue.bool)),
            "residual_ns": ints(timing.residualNanos), "bound_ns": ints(timing.boundNanos),
            "live_offset_ns": ints(timing.liveOffsetNanos), "live_uncertainty_ns": ints(timing.liveUncertaintyNanos),
            "live_skew_ppm": .array(timing.liveSkewPPM.map { $0.map { .double(round3($0)) } ?? .null }),
        ])
    }

    static func quantiles(_ sorted: [Double], _ names: [String: Double]) -> JSONValue {
        guard !sorted.isEmpty else { return .null }
        return .object(names.mapValues { .int(Int64(percentile(sorted, $0).rounded())) })
    }

    static func round3(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

    /// The `fraction` quantile of sorted values (nearest rank).
    public static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        precondition(!sorted.isEmpty, "percentile of nothing")
        let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    /// The most frequent value of the `source` column of a clock/<device>.csv file ("none" if empty).
    public static func dominantSource(clockCSV text: String) -> String {
        var counts: [String: Int] = [:]
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: ",")
            if fields.count > 6 { counts[String(fields[6]), default: 0] += 1 }
        }
        return counts.max { $0.value < $1.value }?.key ?? "none"
    }

    /// Parses a clock/<device>.csv file (header line, then t1,t2,t3,t4,delay,offset,source,accepted);
    /// every sample is returned, the report's estimator judges them afresh.
    public static func parseClockCSV(_ text: String) -> [SyncSample] {
        var samples: [SyncSample] = []
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: ",")
            guard fields.count >= 4, let t1 = Int64(fields[0]), let t2 = Int64(fields[1]), let t3 = Int64(fields[2]),
                let t4 = Int64(fields[3])
            else { continue }
            samples.append(SyncSample(
                t1: HubInstant(nanos: t1), t2: DeviceInstant(nanos: t2), t3: DeviceInstant(nanos: t3), t4: HubInstant(nanos: t4)))
        }
        return samples
    }
}
