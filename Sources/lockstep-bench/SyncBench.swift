// `lockstep-bench sync`: devices whose true clock offset is known (a synthetic offset and skew, and
// as root a device under `unshare --time --monotonic`, whose CLOCK_MONOTONIC the kernel shifts), and
// the error of the hub's live estimate against that truth, idle or under full-rate ingest.
import ArgumentParser
import Foundation
import HubClient
import Platform
import Report
import Wire

struct SyncBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync", abstract: "Clock-estimate error against a known true offset, idle or under ingest load.")

    @Option(help: "Simulated devices with a synthetic clock.") var devices: Int = 4
    @Option(help: "Measurement time after the warm-up: 20s, 2m, or a bare number of seconds.") var duration: TimeSpan = TimeSpan(seconds: 20)
    @Option(help: "Time after the devices joined (and the load started) that is not measured (default 3s; 10s with --compare).")
    var warmup: TimeSpan?
    @Option(help: "Load on the link: none, or ingest (12.5 MB/s video per device, recorded).") var load: String = "none"
    @Option(help: "True offset of the synthetic device clocks, ns.") var offsetNs: Int64 = 250_000_000
    @Option(help: "True skew of the synthetic device clocks, ppm.") var skewPpm: Double = 20
    @Option(help: "As root, also run one device under unshare --time --monotonic S (0 = off).") var unshareSeconds: Int = 1000
    @Option(help: "Also capture the sync packets on this interface (libpcap, as root): socket stamps minus the capture's.")
    var pcap: String?
    @Option(help: "With --netns: also run these peers on the same link at the same time (chrony, ptp4l, lsl; comma-separated).")
    var compare: String?
    @Option(help: "The peers' runner (default: scripts/sync-peers.py of the source tree).") var peersScript: String?
    @Flag(help: "Print one JSON object.") var json = false
    @OptionGroup var network: NetnsOptions

    /// The warm-up: 10 s when peers are compared (ptp4l's unicast negotiation and delay filter need it).
    var warmupSeconds: Double { warmup?.seconds ?? (compare == nil ? 3 : 10) }

    func validate() throws {
        guard ["none", "ingest"].contains(load) else { throw ValidationError("--load must be none or ingest") }
        guard (1...64).contains(devices), duration.seconds >= 2 else { throw ValidationError("--devices 1...64 and --duration ≥ 2") }
        if let compare {
            guard network.netns else { throw ValidationError("--compare needs --netns: the peers run between the two namespaces") }
            let unknown = compare.split(separator: ",").map(String.init).filter { !PeerComparison.known.contains($0) }
            guard unknown.isEmpty else {
                throw ValidationError("--compare: unknown peer \(unknown.joined(separator: ", ")) (known: chrony, ptp4l, lsl)")
            }
        }
    }

    func run() async throws {
        guard try dispatchNetns(network) else { return }
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("lockstep-sync-\(getpid())").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let extra = network.deviceNamespace == nil ? [] : ["--bind", "0.0.0.0"]
        let (hub, client) = try await startHub(
            dataDirectory: base + "/hub", workDirectory: base, extra: extra, config: pcap.map { ["sync_pcap_interface: \($0)"] } ?? [])
        let launch = try deviceLaunch(network, executable: try siblingExecutable("lockstep-device"))
        defer { hub.stop() }
        let port = client.base.split(separator: ":").last.map(String.init) ?? "8750"
        let anchor = HostClock.monotonicNanos()
        let profile = load == "ingest" ? "video" : "gsr"
        var children = [try Child(
            launch.executable,
            launch.prefix + ["--hub", launch.hubHost, "--http-port", port, "--devices", "\(devices)", "--id", "syn", "--profile", profile,
                             "--marker-interval", "0",
             "--offset-ms", "\(Double(offsetNs) / 1e6)", "--skew-ppm", "\(skewPpm)", "--clock-anchor-ns", "\(anchor)"],
            log: base + "/devices.log", name: "devices")]
        var truthText = "synthetic device clock: offset \(offsetNs) ns, skew \(skewPpm) ppm"
        let useNamespace = unshareSeconds > 0 && getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
        if useNamespace {
            let command = ["/usr/bin/unshare", "--time", "--monotonic", "\(unshareSeconds)", try siblingExecutable("lockstep-device"),
                           "--hub", launch.hubHost, "--http-port", port, "--devices", "1", "--id", "timens", "--profile", profile,
                           "--marker-interval", "0"]
            let wrapped = launch.prefix.isEmpty ? command : Array(launch.prefix.dropLast()) + command
            children.append(try Child(
                launch.prefix.isEmpty ? command[0] : launch.executable, launch.prefix.isEmpty ? Array(command.dropFirst()) : wrapped,
                log: base + "/timens.log", name: "timens"))
            truthText += "; kernel time namespace: CLOCK_MONOTONIC +\(unshareSeconds) s (unshare --time)"
        }
        defer { children.forEach { $0.stop() } }
        try await waitForDevices(client, count: devices + (useNamespace ? 1 : 0))
        if load == "ingest" { _ = try await client.post("sessions", .object(["name": .string("sync-bench")])) }
        let peers = try compare.map { list in
            try PeerComparison.start(
                peers: list.split(separator: ",").map(String.init), script: try PeerComparison.script(peersScript), network: network,
                warmup: warmupSeconds, seconds: duration.seconds, workDirectory: base)
        }
        try await Task.sleep(nanoseconds: UInt64(warmupSeconds * 1e9))
        var errors: [String: [Double]] = [:]
        var skewErrors: [String: Double] = [:]
        var sources: Set<String> = []
        let showProgress = isatty(2) == 1 && !json
        let end = HostClock.monotonicNanos() + Int64(duration.seconds * 1e9)
        while HostClock.monotonicNanos() < end {
            let answer = try await client.get("devices")
            let hubNow = answer["hub_time_ns"].int64Value ?? 0
            for device in answer["devices"].items where device["state"].text == "connected" {
                guard let estimate = device["clock"]["offset_ns"].int64Value else { continue }
                let id = device["device_id"].text
                sources.insert(device["clock"]["timestamp_source"].text)
                let truth = id == "timens"
                    ? Double(unshareSeconds) * 1e9
                    : Double(offsetNs) + Double(hubNow - anchor) * skewPpm * 1e-6
                errors[id, default: []].append(abs(Double(estimate) - truth))
                if let skew = device["clock"]["skew_ppm"].doubleValue { skewErrors[id] = abs(skew - (id == "timens" ? 0 : skewPpm)) }
            }
            if showProgress, let latest = errors.values.compactMap(\.last).max() {
                let remaining = Double(end - HostClock.monotonicNanos()) / 1e9
                let count = errors.values.reduce(0) { $0 + $1.count }
                FileHandle.standardError.write(Data(String(
                    format: "\r  %5.1f / %.0f s  %6d estimates  current worst error %8.1f µs", duration.seconds - remaining, duration.seconds,
                    count, latest / 1e3).utf8))
            }
            try await Task.sleep(nanoseconds: 250_000_000)
        }
        if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
        // The peers started with this run's warm-up, discard as much and then measure as long as this
        // run did: the windows coincide (chrony cuts at whole seconds), under the same load.
        let compared = peers?.finish(timeoutSeconds: 60)
        if load == "ingest" { _ = try? await client.post("sessions/current/stop") }
        let crossCheck: JSONValue? = pcap == nil ? nil : try await client.get("status")["pcap_cross_check"]
        report(errors, skewErrors: skewErrors, crossCheck: crossCheck, compared: compared, truth: truthText,
               source: sources.sorted().joined(separator: "+"))
    }

    /// `skewErrors`: each device's |estimated − true skew| in ppm at the end of the run.
    func report(
        _ errors: [String: [Double]], skewErrors: [String: Double], crossCheck: JSONValue?, compared: JSONValue?, truth: String, source: String
    ) {
        let all = errors.values.flatMap { $0 }.sorted()
        guard !all.isEmpty else {
            FileHandle.standardError.write(Data("lockstep-bench sync: no estimates were collected\n".utf8))
            return
        }
        func stats(_ sorted: [Double]) -> JSONValue {
            .object([
                "median": .double(round1(TimingReport.percentile(sorted, 0.5) / 1e3)),
                "p95": .double(round1(TimingReport.percentile(sorted, 0.95) / 1e3)),
                "p99": .double(round1(TimingReport.percentile(sorted, 0.99) / 1e3)), "max": .double(round1(sorted.last! / 1e3)),
            ])
        }
        let perDevice = errors.keys.sorted().map { id in (id, stats(errors[id]!.sorted())) }
        let skewWorst = skewErrors.values.max() ?? .nan
        if json {
            print(JSONValue.object([
                "error_us": stats(all), "samples": .int(Int64(all.count)), "truth": .string(truth), "load": .string(load),
                "timestamp_source": .string(source),
                "pcap_cross_check": crossCheck ?? .null,
                "compare": compared ?? .null,
                "skew_error_ppm_at_end": skewWorst.isNaN ? .null : .double((skewWorst * 1000).rounded() / 1000),
                "duration_s": .double(duration.seconds), "warmup_s": .double(warmupSeconds),
                "link": .string(network.linkDescription),
                "devices": .object(Dictionary(uniqueKeysWithValues: perDevice)),
            ]).serialized)
            return
        }
        print("sync error against truth (\(truth)), load \(load), \(all.count) estimates, \(source) timestamps")
        if let crossCheck { print("pcap cross-check: \(crossCheck.serialized)") }
        print(String(format: "skew error at the end (worst device): %.3f ppm after %.0f s", skewWorst, duration.seconds + warmupSeconds))
        print(String(format: "%-10@ %10@ %10@ %10@ %10@", "device", "median µs", "p95 µs", "p99 µs", "max µs"))
        for (id, value) in perDevice + [("all", stats(all))] {
            print(String(format: "%-10@ %10.1f %10.1f %10.1f %10.1f", id, value["median"].doubleValue ?? 0, value["p95"].doubleValue ?? 0,
                         value["p99"].doubleValue ?? 0, value["max"].doubleValue ?? 0))
        }
        guard let compared else { return }
        print("peers on the same link, same load, same time (true offset 0 between the namespaces):")
        for peer in PeerComparison.known where compared[peer] != .null {
            let result = compared[peer]
            guard result["available"] == .bool(true) else {
                print(String(format: "%-10@ unavailable: %@", peer, result["reason"].text))
                continue
            }
            // Each estimate as the peer reports it, then the median of each 16 in a row (a filter a user might add).
            for (label, error) in [(peer, result["error_us"]), (peer + "/16", result["error_us_median_of_16"])] where error != .null {
                print(String(format: "%-10@ %10.1f %10.1f %10.1f %10.1f", label, error["median"].doubleValue ?? 0,
                             error["p95"].doubleValue ?? 0, error["p99"].doubleValue ?? 0, error["max"].doubleValue ?? 0))
            }
        }
        if compared["error"] != .null { print("peers: \(compared["error"].text)") }
    }
}

