// Verification of a benchmark session and the ingest result's output (stable JSON keys, docs/benchmarks.md).
import DeviceAgent
import Foundation
import HubClient
import Ingest
import Wire

struct IngestResult {
    var sessionID = ""
    var offeredMBPerSecond = 0.0
    var recordingSeconds = 0.0
    var framesSent: Int64 = 0
    var framesStored: Int64 = 0
    var framesDuplicated: Int64 = 0
    var framesCorrupt: Int64 = 0
    var bytesVerified: Int64 = 0
    var hubCPUPercent = 0.0
    var hubPeakRSSMiB: Double?
    /// {p50, p99, p999, max} receive-to-durable, from the hub's HdrHistogram.
    var latencyMicros: JSONValue = .null
    /// The hub's `ingest` status at the end: engine, pool, backpressure, CRC32C implementation.
    var ingest: JSONValue = .null
    /// What went wrong, from the session: its manifest's problems, then its data connections' errors
    /// (a refused frame, a bad CRC), each kind once with its count.
    var problems: [String] = []

    /// From the recording's start until the stop returned: every stored byte was durable then.
    var durableSeconds = 0.0

    var framesLost: Int64 { framesSent - framesStored }
    /// Nothing lost, duplicated or corrupt, something stored, and nothing the session calls a problem
    /// (a refused frame, a device that did not confirm the stop, a file left unsynced at the stop).
    var isLossless: Bool { framesLost == 0 && framesCorrupt == 0 && framesDuplicated == 0 && bytesVerified > 0 && problems.isEmpty }
    var aggregateMBPerSecond: Double { recordingSeconds > 0 ? Double(bytesVerified) / 1e6 / recordingSeconds : 0 }
    /// The rate at which the stored bytes became durable (the recording plus its drain at the stop):
    /// what the ratio to the disk baseline compares, since a fast disk cache could absorb a short
    /// recording that the disk itself does not keep up with.
    var durableMBPerSecond: Double { durableSeconds > 0 ? Double(bytesVerified) / 1e6 / durableSeconds : 0 }
    /// Lossless, at least 95 % of the offered rate stored, and at least 90 % of it durable by the end of
    /// the stop, or else everything durable within 1 s of the recording's end (which a short run's fixed
    /// stop costs could otherwise exceed): a backlog that takes longer to drain is not sustained,
    /// however fast it was received.
    var isSustained: Bool {
        isLossless && aggregateMBPerSecond >= 0.95 * offeredMBPerSecond
            && (durableMBPerSecond >= 0.9 * offeredMBPerSecond || durableSeconds - recordingSeconds <= 1)
    }
}

/// Re-reads every stream file of the session and regenerates every payload to compare it.
func verifySession(folder: String, profiles: [StreamProfile], scale: Double) throws -> IngestResult {
    guard let data = FileManager.default.contents(atPath: folder + "/manifest.json") else { throw BenchError("no manifest in \(folder)") }
    let manifest = try JSONValue.parse(Array(data))
    let scaled = Dictionary(uniqueKeysWithValues: profiles.map { profile in
        let resized = StreamProfile.set(named: profile.descriptor.kind.rawValue, scale: scale)?.first { $0.descriptor.id == profile.descriptor.id }
        return (profile.descriptor.id, resized ?? profile)
    })
    var result = IngestResult()
    result.problems = manifest["problems"].items.map(\.text) + dataErrors(events: folder + "/" + manifest["events"].text)
    for device in manifest["devices"].items {
        let deviceID = device["device_id"].text
        for stream in device["streams"].items {
            guard let id = stream["id"].int64Value, let profile = scaled[UInt16(id)] else { continue }
            result.framesSent += stream["frames_announced"].int64Value ?? 0
            let seed = FramePayload.seed(deviceID: deviceID, streamID: UInt16(id))
            let scan = try StreamFileReader.scan(folder + "/" + stream["file"].text) { record in
                let shape = profile.frameShape(sequence: record.header.sequence, seed: seed)
                if record.payload == FramePayload.make(seed: seed, sequence: record.header.sequence, byteCount: shape.byteCount) {
                    result.bytesVerified += Int64(record.payload.count)
                } else {
                    result.framesCorrupt += 1
                }
            }
            result.framesStored += scan.frameCount
            if scan.problem != nil { result.framesCorrupt += 1 }
        }
    }
    return result
}

/// The session journal's data-connection errors, one line per code with how often it came and its first message.
func dataErrors(events path: String) -> [String] {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    var order: [String] = []
    var seen: [String: (count: Int, message: String)] = [:]
    for line in data.split(separator: UInt8(ascii: "\n")) {
        guard let event = try? JSONValue.parse(Array(line)), event["event"].text == "data_error" else { continue }
        let code = event["code"].text
        if seen[code] == nil { order.append(code) }
        seen[code, default: (0, "device \(event["device_id"].text) stream \(event["stream_id"].text): \(event["message"].text)")].count += 1
    }
    return order.map { code in "\(seen[code]!.count) data connection(s) closed with \(code), first: \(seen[code]!.message)" }
}

extension IngestBench {
    /// Prints `result` (the last sustained trial), the ratio of the search's peak durable rate to the
    /// disk baseline, and with `--compare naive` the naive receiver's figures.
    func report(_ result: IngestResult, search: MaxSearch, baseline: DiskBaseline, naive: NaiveResult?) {
        let diskMBps = baseline.bytesPerSecond / 1e6
        let peak = search.peak
        // A plain run compares its own durable rate, whatever happened in it.
        let ratio = diskMBps > 0 ? ((max ? peak : result)?.durableMBPerSecond ?? 0) / diskMBps : 0
        let engineState: JSONValue = .object([
            "engine": result.ingest["engine"], "writes": result.ingest["writes"], "direct_io": result.ingest["direct_io"],
            "storage_threads": result.ingest["storage_threads"],
            "crc32c": result.ingest["crc32c"],
            "fallback_reason": result.ingest["fallback_reason"],
            "backpressure_waits": result.ingest["backpressure"]["waits"], "pool_chunks": result.ingest["pool"]["chunks"],
            "pool_chunks_in_use_peak": result.ingest["pool"]["chunks_in_use_peak"],
        ])
        let naiveJSON: JSONValue = naive.map { naive in
            .object([
                "cpu_percent": .double(round1(naive.cpuPercent)), "mb_per_s": .double(round1(naive.megabytesPerSecond)),
                "hub_cpu_ratio_to_naive": .double(naive.cpuPercent > 0 ? (result.hubCPUPercent / naive.cpuPercent * 1000).rounded() / 1000 : 0),
            ])
        } ?? .null
        if json {
            let object: JSONValue = .object([
                "ingest": engineState, "compare_naive": naiveJSON,
                "aggregate_mb_per_s": .double(round1(result.aggregateMBPerSecond)), "offered_mb_per_s": .double(round1(result.offeredMBPerSecond)),
                "durable_mb_per_s": .double(round1(result.durableMBPerSecond)), "disk_baseline_mb_per_s": .double(round1(diskMBps)),
                "peak_durable_mb_per_s": peak.map { .double(round1($0.durableMBPerSecond)) } ?? .null,
                "peak_durable_offered_mb_per_s": peak.map { .double(round1($0.offeredMBPerSecond)) } ?? .null,
                "max_not_sustained": search.firstNotSustained.map { trial in
                    .object(["offered_mb_per_s": .double(round1(trial.offeredMBPerSecond)), "problems": .array(trial.problems.map(JSONValue.string))])
                } ?? .null,
                "max_stopped_because": search.stoppedBecause.map(JSONValue.string) ?? .null,
                "ratio_to_disk_baseline": .double((ratio * 1000).rounded() / 1000),
                "frames_sent": .int(result.framesSent), "frames_stored": .int(result.framesStored), "frames_lost": .int(result.framesLost),
                "frames_duplicated": .int(result.framesDuplicated), "frames_corrupt": .int(result.framesCorrupt),
                "bytes_verified": .int(result.bytesVerified), "hub_cpu_percent": .double(round1(result.hubCPUPercent)),
                "hub_peak_rss_mib": result.hubPeakRSSMiB.map { .double(round1($0)) } ?? .null,
                "latency_us": result.latencyMicros,
                "devices": .int(Int64(devices)), "profile": .string(profile), "duration_s": .double(round1(result.recordingSeconds)),
                "sustained": .bool(result.isSustained), "session_id": .string(result.sessionID),
                "problems": .array(result.problems.map(JSONValue.string)),
                "link": .string(network.linkDescription),
            ])
            print(object.serialized)
            return
        }
        print(String(format: "ingest  %d devices (%@)  offered %.1f MB/s  stored %.1f MB/s over %.1f s",
                     devices, profile, result.offeredMBPerSecond, result.aggregateMBPerSecond, result.recordingSeconds))
        print(String(format: "durable %.1f MB/s (all stored bytes durable %.1f s after the start)", result.durableMBPerSecond, result.durableSeconds))
        if max {
            if let peak {
                print(String(
                    format: "peak    durable %.1f MB/s with nothing lost, offered %.1f MB/s", peak.durableMBPerSecond, peak.offeredMBPerSecond))
            } else {
                print("peak    none: no trial was lossless")
            }
            if let failed = search.firstNotSustained {
                print(String(format: "limit   %.1f MB/s offered was not sustained%@", failed.offeredMBPerSecond,
                             failed.problems.first.map { "; the session says: \($0)" } ?? ""))
            }
            if let reason = search.stoppedBecause { print("limit   the search stopped: \(reason)") }
        }
        print(String(format: "disk    sequential io_uring baseline %.1f MB/s  ->  %@durable / disk = %.3f", diskMBps, max ? "peak " : "", ratio))
        print("frames  sent \(result.framesSent)  stored \(result.framesStored)  lost \(result.framesLost)  "
            + "duplicated \(result.framesDuplicated)  corrupt \(result.framesCorrupt)  bytes verified \(result.bytesVerified)")
        print(String(format: "hub     CPU %.1f %% of one core  peak RSS %@", result.hubCPUPercent,
                     result.hubPeakRSSMiB.map { String(format: "%.1f MiB", $0) } ?? "unknown"))
        let latency = result.latencyMicros
        print("latency receive → durable: p50 \(latency["p50"].text) µs  p99 \(latency["p99"].text) µs  p99.9 \(latency["p999"].text) µs  "
            + "max \(latency["max"].text) µs")
        print("engine  \(result.ingest["engine"].text) (writes \(result.ingest["writes"].text), O_DIRECT \(result.ingest["direct_io"].text), "
            + "\(result.ingest["storage_threads"].text) storage threads)  "
            + "CRC32C \(result.ingest["crc32c"].text)  backpressure waits "
            + "\(result.ingest["backpressure"]["waits"].text)  pool peak \(result.ingest["pool"]["chunks_in_use_peak"].text) chunks")
        if let naive {
            print(String(format: "naive   thread-per-connection receiver: CPU %.1f %% of one core at %.1f MB/s  ->  hub / naive = %.2f",
                         naive.cpuPercent, naive.megabytesPerSecond, naive.cpuPercent > 0 ? result.hubCPUPercent / naive.cpuPercent : 0))
        }
        for problem in result.problems.prefix(5) { print("problem \(problem)") }
        print(result.isSustained
            ? "result  sustained with zero loss"
            : "result  NOT sustained (loss, corruption, a session problem, under 95 % of the offered rate stored, or a slow drain)")
    }
}

func round1(_ value: Double) -> Double { (value * 10).rounded() / 10 }
