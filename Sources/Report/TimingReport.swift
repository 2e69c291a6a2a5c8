// The timing report of a session (report.json): per device, how well its clock was known; per
// session, the bound on the misalignment of any two streams and a verdict against a tolerance.
// The fit and the delay statistics cover the samples since the last detected step or path change.
//
// Inputs are the raw sync samples stored in clock/<device>.csv, so the report can be rebuilt offline
// from the session folder alone. The estimator is re-run over the whole recording: the report shows
// the delay distribution, the fitted offset and skew, the residuals of low-delay samples around the
// fit, and the uncertainty bound (min delay / 2 + RMS residual). The HTML/CSV exports, Allan
// deviation, TDEV and MTIE come with the reports issue.
import Timing
import Wire

/// One device's clock data for the report.
public struct DeviceClockData: Sendable {
    public var deviceID: String
    public var samples: [SyncSample]
    public var timestampSource: String

    public init(deviceID: String, samples: [SyncSample], timestampSource: String) {
        self.deviceID = deviceID
        self.samples = samples
        self.timestampSource = timestampSource
    }
}

public enum TimingReport {
    public static let formatVersion: Int64 = 1

    /// Builds the report. - Parameter toleranceNanos: the alignment the verdict is judged against.
    public static func make(sessionID: String, devices: [DeviceClockData], toleranceNanos: Int64 = 1_000_000) -> JSONValue {
        var deviceReports: [JSONValue] = []
        var bounds: [(String, Double)] = []
        for device in devices.sorted(by: { $0.deviceID < $1.deviceID }) {
            let (report, bound) = deviceReport(device)
            deviceReports.append(report)
            if let bound { bounds.append((device.deviceID, bound)) }
        }
        let sortedBounds = bounds.map(\.1).sorted(by: >)
        let pairwise: Double? = sortedBounds.count >= 2 ? sortedBounds[0] + sortedBounds[1] : sortedBounds.first
        let verdict: String
        if let pairwise, bounds.count == devices.count { verdict = pairwise <= Double(toleranceNanos) ? "pass" : "fail" } else { verdict = "unknown" }
        return .object([
            "format": .string("lockstep-timing-report"), "format_version": .int(formatVersion),
            "session_id": .string(sessionID), "devices": .array(deviceReports),
            "pairwise_alignment_bound_ns": pairwise.map { .int(Int64($0.rounded(.up))) } ?? .null,
            "tolerance_ns": .int(toleranceNanos), "verdict": .string(verdict),
            "method": .string("minimum-delay filter and least-squares offset/skew fit over the whole recording; "
                + "bound = min round-trip delay / 2 + RMS residual per device; pairwise = sum of the two largest bounds"),
        ])
    }

    static func deviceReport(_ device: DeviceClockData) -> (JSONValue, Double?) {
        var estimator = OffsetEstimator(windowCount: max(1, device.samples.count))
        for sample in device.samples { estimator.add(sample) }
        var members: [String: JSONValue] = [
            "device_id": .string(device.deviceID), "timestamp_source": .string(device.timestampSource),
            "samples": .int(Int64(device.samples.count)), "samples_used": .int(Int64(estimator.acceptedCount)),
            "samples_rejected": .int(Int64(estimator.rejectedCount)), "outliers": .int(Int64(estimator.outlierCount)),
            "steps": .array(estimator.steps.map {
                .object(["hub_ns": .int($0.at.nanos), "offset_change_ns": .int(Int64($0.offsetChangeNanos.rounded()))])
            }),
            "path_changes": .int(Int64(estimator.pathChangeCount)),
        ]
        guard estimator.hasEstimate else {
            members["note"] = .string("no valid sync samples: this device's timing is unknown")
            return (.object(members), nil)
        }
        let delays = estimator.window.map { Double($0.delay.value) }.sorted()
        let mapping = estimator.mapping
        let residuals = estimator.window.map { abs($0.offsetNanos - mapping.offsetNanos(at: $0.midpoint)) }.sorted()
        members["delay_ns"] = .object([
            "min": .int(Int64(delays.first!)), "median": .int(Int64(percentile(delays, 0.5))),
            "p99": .int(Int64(percentile(delays, 0.99))), "max": .int(Int64(delays.last!)),
        ])
        members["offset_ns"] = .int(Int64(mapping.offsetNanos.rounded()))
        members["reference_hub_ns"] = .int(mapping.reference.nanos)
        members["skew_ppm"] = .double((mapping.skewPPM * 1000).rounded() / 1000)
        members["residual_ns_all_samples"] = .object([
            "median": .int(Int64(percentile(residuals, 0.5))), "p99": .int(Int64(percentile(residuals, 0.99))),
            "max": .int(Int64(residuals.last!)),
        ])
        members["uncertainty_ns"] = .int(Int64(mapping.uncertaintyNanos.rounded(.up)))
        return (.object(members), mapping.uncertaintyNanos)
    }

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
