// `lockstep-bench ingest`: lockstepd and N simulated devices in separate processes, a recording at a
// sustained rate, then every stored byte checked against the devices' deterministic generator, the
// hub's CPU and peak memory from /proc, and the disk's own speed measured in the same folder.
import ArgumentParser
import DeviceAgent
import Foundation
import HubClient
import Ingest
import Platform
import Wire

struct IngestBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest", abstract: "End-to-end ingest: sustained rate, zero-loss check, hub CPU/RSS, ratio to the disk.")

    @Option(help: "Simulated devices.") var devices: Int = 8
    @Option(help: "Rate per device: 12.5MB/s, 10MiB/s, or a bare number of MB/s.") var rate: Rate = Rate(bytesPerSecond: 12.5e6)
    @Option(help: "Recording time per trial: 20s, 500ms, 2m, or a bare number of seconds.") var duration: TimeSpan = TimeSpan(seconds: 10)
    @Option(help: "Stream profile: video, thermal, mixed.") var profile: String = "video"
    @Option(help: "Folder for the hub's data and the disk baseline (removed afterwards unless --keep).") var dataDir: String?
    @Flag(help: "Search the highest sustained aggregate rate with zero loss (doubling the rate per trial, then two bisection steps).") var max = false
    @Option(help: "Hub data plane: auto, io_uring or posix.") var engine: String = "auto"
    @Option(help: "Engine storage writes: io_uring or pwritev (default: the hub's).") var writes: String?
    @Option(help: "Engine O_DIRECT writes: on or off (default: the hub's, on).") var directIO: String?
    @Option(help: "Engine storage threads, 1-16 (default: the hub's, 2).") var storageThreads: Int?
    @Option(help: "Also measure a plain receiver on the same load in this run: naive.") var compare: String?
    @Flag(help: "Keep the recorded data.") var keep = false
    @Flag(help: "Print one JSON object.") var json = false
    @OptionGroup var network: NetnsOptions

    func validate() throws {
        guard (1...256).contains(devices) else { throw ValidationError("--devices must be 1...256") }
        guard duration.seconds >= 2 else { throw ValidationError("--duration must be at least 2 s") }
        guard ["video", "thermal", "mixed"].contains(profile) else { throw ValidationError("--profile must be video, thermal or mixed") }
        guard ["auto", "io_uring", "posix"].contains(engine) else { throw ValidationError("--engine must be auto, io_uring or posix") }
        guard compare == nil || compare == "naive" else { throw ValidationError("--compare takes: naive") }
        guard directIO == nil || ["on", "off"].contains(directIO!) else { throw ValidationError("--direct-io must be on or off") }
        let lanesMax = IngestEngineConfiguration.storageLanesMax
        guard storageThreads.map({ (1...lanesMax).contains($0) }) ?? true else { throw ValidationError("--storage-threads must be 1...\(lanesMax)") }
        guard rate.megabytesPerSecond <= deviceRateCeiling else {
            throw ValidationError(
                "--rate: the simulated \(profile) devices send at most \(deviceRateCeiling) MB/s each (frames 16 × their nominal size)")
        }
    }

    func run() async throws {
        guard try dispatchNetns(network) else { return }
        let base = dataDir ?? FileManager.default.currentDirectoryPath + "/lockstep-bench-data"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        progress("disk baseline: sequential io_uring writes, 1 MiB blocks, fdatasync every 100 ms ...")
        let baseline = try measureDiskBaseline(directory: base, seconds: Swift.min(duration.seconds, 5), syncIntervalMillis: 100)
        let first = try await trial(rate: rate.megabytesPerSecond, base: base)
        let search = max ? await searchMax(from: first, base: base) : MaxSearch(sustained: first, peak: first)
        let result = search.sustained
        let naive = compare == nil ? nil : try await naiveTrial(rate: rate.megabytesPerSecond, base: base)
        report(result, search: search, baseline: baseline, naive: naive)
        if !keep { try? FileManager.default.removeItem(atPath: base + "/hub") }
        if !result.isSustained && !max { throw ExitCode(1) }
    }

    func progress(_ line: String) {
        if !json { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    /// One recording at `rate` MB/s per device.
    func trial(rate: Double, base: String) async throws -> IngestResult {
        let data = base + "/hub"
        try? FileManager.default.removeItem(atPath: data)
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let profiles = StreamProfile.set(named: profile)!
        let nominal = Double(profiles.reduce(0) { $0 + $1.descriptor.nominalBytesPerSecond })
        let scale = rate * 1e6 / nominal
        // The devices scale their frames with the rate: the hub must accept the largest of them
        // (a video key frame passes the default 8 MiB limit above about 69 MB/s per device).
        let frameLimit = Swift.max(8 << 20, (largestFrameBytes(scale: scale) + (1 << 20) - 1) / (1 << 20) * (1 << 20))
        let (hub, client) = try await startHub(
            dataDirectory: data, workDirectory: base,
            extra: ["--ingest-engine", engine] + (writes.map { ["--ingest-writes", $0] } ?? [])
                + (network.deviceNamespace == nil ? [] : ["--bind", "0.0.0.0"]),
            config: ["frame_bytes_max: \(frameLimit)"] + (directIO.map { ["ingest_direct_io: \($0 == "on")"] } ?? [])
                + (storageThreads.map { ["ingest_storage_threads: \($0)"] } ?? []))
        let port = client.base.split(separator: ":").last.map(String.init) ?? "8750"
        let launch = try deviceLaunch(network, executable: try siblingExecutable("lockstep-device"))
        let simulators = try Child(
            launch.executable,
            launch.prefix + ["--hub", launch.hubHost, "--http-port", port, "--devices", "\(devices)", "--id", "bench", "--profile", profile,
                             "--rate-scale", "\(scale)", "--marker-interval", "0"],
            log: base + "/devices.log", name: "lockstep-device")
        defer {
            simulators.stop()
            hub.stop()
        }
        try await waitForDevices(client, count: devices)
        progress("trial: \(devices) devices × \(rate) MB/s (\(profile)) for \(duration.seconds) s")
        let started = try await client.post("sessions", .object(["name": .string("bench")]))
        let cpuStart = cpuSeconds(pid: hub.pid) ?? 0
        let wallStart = HostClock.monotonicNanos()
        let startHub = started["start_hub_ns"].int64Value ?? 0
        try await record(client, from: startHub)
        let stopped = try await client.post("sessions/current/stop")
        // The stop returns once every stream file is closed, so everything stored is durable by now.
        let durableAt = HostClock.monotonicNanos()
        let cpuSecondsUsed = (cpuSeconds(pid: hub.pid) ?? cpuStart) - cpuStart
        let wallSeconds = Double(HostClock.monotonicNanos() - wallStart) / 1e9
        let rss = peakRSSMiB(pid: hub.pid)
        let ingest = try await client.get("status")["ingest"]
        let latency = ingest["latency_us"]
        guard let folder = stopped["folder"].stringValue, let sessionID = started["session_id"].stringValue else {
            throw BenchError("the hub returned no session folder")
        }
        var result = try verifySession(folder: folder, profiles: profiles, scale: scale)
        result.sessionID = sessionID
        result.offeredMBPerSecond = rate * Double(devices)
        result.hubCPUPercent = cpuSecondsUsed / wallSeconds * 100
        result.hubPeakRSSMiB = rss
        result.latencyMicros = latency
        result.ingest = ingest
        let recordedFrom = stopped["start_hub_ns"].int64Value ?? startHub
        let stopHub = stopped["stop_hub_ns"].int64Value ?? recordedFrom
        result.recordingSeconds = Double(stopHub - recordedFrom) / 1e9
        result.durableSeconds = Double(durableAt - recordedFrom) / 1e9
        progress(String(
            format: "  stored %.1f MB/s, durable %.1f MB/s (%.1f s), hub CPU %.1f %%, receive → durable p99 %@ µs: %@",
            result.aggregateMBPerSecond, result.durableMBPerSecond, result.durableSeconds, result.hubCPUPercent, latency["p99"].text,
            result.isSustained ? "sustained" : "not sustained"))
        if !result.isSustained, let first = result.problems.first {
            progress("  not sustained; the session says: \(first)" + (result.problems.count > 1 ? " (and \(result.problems.count - 1) more)" : ""))
        }
        return result
    }

    /// Records until the hub timeline is `duration` past the scheduled start `startHub` (the hub adds a
    /// start lead), showing progress on a terminal.
    func record(_ client: HubClient, from startHub: Int64) async throws {
        let isTerminal = isatty(2) == 1 && !json
        defer { if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) } }
        while true {
            try await Task.sleep(nanoseconds: 500_000_000)
            let status = try await client.get("status")
            let elapsed = Double((status["hub_time_ns"].int64Value ?? 0) - startHub) / 1e9
            if isTerminal {
                let bytes = Double(status["session"]["payload_bytes"].int64Value ?? 0)
                FileHandle.standardError.write(Data(String(
                    format: "\r  %5.1f / %.0f s  %9.1f MB stored  %8lld frames  %7.1f MB/s", Swift.max(0, elapsed), duration.seconds, bytes / 1e6,
                    status["session"]["frames"].int64Value ?? 0, elapsed > 0 ? bytes / 1e6 / elapsed : 0).utf8))
            }
            if elapsed >= duration.seconds { return }
        }
    }

    /// The largest payload a device sends at `scale`: a key frame, or a non-key frame at its jitter's top.
    func largestFrameBytes(scale: Double) -> Int {
        let scaled = StreamProfile.set(named: profile, scale: scale) ?? []
        return scaled.map { Swift.max($0.frameBytes * $0.keyFrameFactor, Int((Double($0.frameBytes) * (1 + $0.jitter)).rounded(.up))) }.max() ?? 0
    }
}
