// `lockstep-bench soak`: the appliance over a long day. lockstepd and one lockstep-device process per
// device record session after session at a sustained rate; between sessions one device is replaced
// (its process killed and a new one started with the same id: a phone that crashed or was swapped),
// and halfway through each session one device's data connections are cut (SIGUSR1 to its process; it
// must reconnect and resume with no gap or duplicate). Every
// session is verified frame by frame against the devices' generator, then deleted to spare the disk.
// The hub's live heap (what its allocations hold, from /metrics), resident memory and open descriptors
// are sampled throughout; after the warm-up, the live heap and the descriptors at the idle points
// between sessions must not grow (the resident size is reported too: it also holds what the
// allocator keeps and code paged in).
import ArgumentParser
import DeviceAgent
import Foundation
import HubClient
import Platform
import Wire

struct SoakBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak", abstract: "Sessions back to back with device churn: loss, memory and descriptor growth of the hub.")

    @Option(help: "Total time: 1h, 10m, 90s.") var duration: TimeSpan = TimeSpan(seconds: 3600)
    @Option(help: "Length of each session.") var session: TimeSpan = TimeSpan(seconds: 30)
    @Option(help: "Time excluded from the growth figures (the hub's pools and caches fill first).") var warmup: TimeSpan = TimeSpan(seconds: 60)
    @Option(help: "Simulated devices (one process each).") var devices: Int = 4
    @Option(help: "Rate per device: 2MB/s, or a bare number of MB/s.") var rate: Rate = Rate(bytesPerSecond: 2e6)
    @Option(help: "Allowed growth of the hub's live heap between idle points after the warm-up, in MiB.") var heapSlackMib: Double = 1
    @Option(help: "Folder for the hub's data (sessions are deleted once verified).") var dataDir: String?
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard (1...64).contains(devices) else { throw ValidationError("--devices must be 1...64") }
        guard session.seconds >= 3 else { throw ValidationError("--session must be at least 3 s") }
        guard duration.seconds >= session.seconds * 2 + warmup.seconds else {
            throw ValidationError("--duration must hold the warm-up and at least two sessions after it")
        }
    }

    /// The hub's figures at one instant.
    struct Sample {
        var seconds: Double
        var rssMiB: Double
        /// Live C-heap bytes the hub reports (lockstep_heap_live_bytes), in MiB: growth here is a leak,
        /// growth of the resident size alone is memory the allocator keeps.
        var heapMiB: Double
        var descriptors: Int
        var idle: Bool
    }

    func run() async throws {
        let base = dataDir ?? FileManager.default.currentDirectoryPath + "/lockstep-bench-soak"
        try FileManager.default.createDirectory(atPath: base + "/hub", withIntermediateDirectories: true)
        let (hub, client) = try await startHub(dataDirectory: base + "/hub", workDirectory: base)
        defer { hub.stop() }
        let port = client.base.split(separator: ":").last.map(String.init) ?? "8750"
        let profiles = StreamProfile.set(named: "video")!
        let scale = rate.megabytesPerSecond * 1e6 / Double(profiles.reduce(0) { $0 + $1.descriptor.nominalBytesPerSecond })
        let executable = try siblingExecutable("lockstep-device")
        var generation = 0
        let launch = { (index: Int) throws -> Child in
            generation += 1
            return try Child(executable, ["--http-port", port, "--id", String(format: "soak-%02d", index + 1), "--profile", "video",
                                   "--rate-scale", "\(scale)", "--marker-interval", "5", "--log-level", "warning"],
                      log: base + String(format: "/device-%02d-%d.log", index + 1, generation), name: "lockstep-device")
        }
        var simulators = try (0..<devices).map(launch)
        defer { simulators.forEach { $0.stop() } }
        try await waitForDevices(client, count: devices)

        let start = HostClock.monotonicNanos()
        let elapsed = { Double(HostClock.monotonicNanos() - start) / 1e9 }
        var samples: [Sample] = []
        let sample = { (idle: Bool) async in
            let rss = residentMiB(pid: hub.pid) ?? 0
            let heap = await liveHeapMiB(client) ?? .nan  // a missed reading fails the run (NaN never passes)
            samples.append(Sample(seconds: elapsed(), rssMiB: rss, heapMiB: heap, descriptors: openDescriptors(pid: hub.pid) ?? -1, idle: idle))
        }
        var totals = IngestResult()
        var sessions = 0, replaced = 0
        await sample(true)
        while elapsed() + session.seconds <= duration.seconds {
            let started = try await client.post("sessions", .object(["name": .string("soak-\(sessions + 1)")]))
            let recordUntil = elapsed() + session.seconds
            var cut = false
            while elapsed() < recordUntil {
                try await Task.sleep(nanoseconds: 1_000_000_000)
                await sample(false)
                if !cut, elapsed() >= recordUntil - session.seconds / 2 {
                    kill(simulators[(sessions + 1) % devices].pid, SIGUSR1)  // not the one replaced after this session
                    cut = true
                }
            }
            let stopped = try await client.post("sessions/current/stop")
            guard let folder = stopped["folder"].stringValue else { throw BenchError("the hub returned no session folder") }
            let result = try verifySession(folder: folder, profiles: profiles, scale: scale)
            totals.framesSent += result.framesSent
            totals.framesStored += result.framesStored
            totals.framesCorrupt += result.framesCorrupt
            totals.bytesVerified += result.bytesVerified
            sessions += 1
            if result.framesStored != result.framesSent || result.framesCorrupt > 0 || stopped["status"].text != "complete" {
                progress("session \(sessions): \(stopped["status"].text), \(result.framesStored)/\(result.framesSent) frames, kept in \(folder)")
            } else {
                try? FileManager.default.removeItem(atPath: folder)
            }
            // Churn: one device goes away for good and a new process takes its id.
            let index = replaced % devices
            simulators[index].stop()
            simulators[index] = try launch(index)
            replaced += 1
            try await waitForDevices(client, count: devices)
            try await Task.sleep(nanoseconds: 500_000_000)
            await sample(true)
            progress(String(format: "%6.0f s: %d sessions, %lld frames verified, RSS %.1f MiB, live heap %.2f MiB, %d descriptors", elapsed(),
                            sessions, totals.framesStored, samples.last!.rssMiB, samples.last!.heapMiB, samples.last!.descriptors))
        }
        report(samples: samples, totals: totals, sessions: sessions, replaced: replaced)
    }

    func progress(_ line: String) {
        if !json { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    func report(samples: [Sample], totals: IngestResult, sessions: Int, replaced: Int) {
        let idle = samples.filter { $0.idle && $0.seconds >= warmup.seconds }
        let first = idle.first, last = idle.last
        let rssGrowth = (last?.rssMiB ?? 0) - (first?.rssMiB ?? 0)
        let heapGrowth = (last?.heapMiB ?? 0) - (first?.heapMiB ?? 0)
        let fdGrowth = (last?.descriptors ?? 0) - (first?.descriptors ?? 0)
        let lost = totals.framesSent - totals.framesStored
        let passed = lost == 0 && totals.framesCorrupt == 0 && fdGrowth <= 0 && heapGrowth <= heapSlackMib && idle.count >= 2
        let peak = samples.map(\.rssMiB).max() ?? 0
        let round1 = { (value: Double) in (value * 10).rounded() / 10 }
        let round2 = { (value: Double) in (value * 100).rounded() / 100 }
        let result: JSONValue = .object([
            "duration_s": .double(round1(samples.last?.seconds ?? 0)), "sessions": .int(Int64(sessions)), "devices_replaced": .int(Int64(replaced)),
            "frames_sent": .int(totals.framesSent), "frames_stored": .int(totals.framesStored), "frames_lost": .int(lost),
            "frames_corrupt": .int(totals.framesCorrupt), "bytes_verified": .int(totals.bytesVerified),
            "warmup_s": .double(warmup.seconds), "idle_points_after_warmup": .int(Int64(idle.count)),
            "rss_mib_after_warmup": .double(round1(first?.rssMiB ?? 0)), "rss_mib_at_end": .double(round1(last?.rssMiB ?? 0)),
            "rss_growth_mib": .double(round1(rssGrowth)), "rss_peak_mib": .double(round1(peak)),
            "heap_live_mib_after_warmup": .double(round2(first?.heapMiB ?? 0)), "heap_live_mib_at_end": .double(round2(last?.heapMiB ?? 0)),
            "heap_growth_mib": .double(round2(heapGrowth)),
            "descriptors_after_warmup": .int(Int64(first?.descriptors ?? 0)), "descriptors_at_end": .int(Int64(last?.descriptors ?? 0)),
            "descriptor_growth": .int(Int64(fdGrowth)), "passed": .bool(passed),
            "rss_mib_idle_series": .array(idle.map { .double(round1($0.rssMiB)) }),
        ])
        if json {
            print(result.serialized)
        } else {
            print(String(format: "soak: %d sessions over %.0f s, %d devices replaced", sessions, samples.last?.seconds ?? 0, replaced))
            print("  frames: \(totals.framesStored) stored of \(totals.framesSent) sent, \(lost) lost, \(totals.framesCorrupt) corrupt")
            print(String(format: "  hub live heap at idle after warm-up: %.2f → %.2f MiB (growth %.2f, allowed %.2f)",
                         first?.heapMiB ?? 0, last?.heapMiB ?? 0, heapGrowth, heapSlackMib))
            print(String(format: "  hub RSS at idle after warm-up: %.1f → %.1f MiB (growth %.1f), peak %.1f MiB",
                         first?.rssMiB ?? 0, last?.rssMiB ?? 0, rssGrowth, peak))
            print("  hub descriptors at idle after warm-up: \(first?.descriptors ?? 0) → \(last?.descriptors ?? 0) (growth \(fdGrowth))")
            print("  \(passed ? "PASSED" : "FAILED")")
        }
        if !passed { Foundation.exit(1) }
    }
}

/// Open file descriptors of a process (entries of /proc/PID/fd).
func openDescriptors(pid: Int32) -> Int? {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count
}

/// The hub's live C heap in MiB, from its /metrics (nil when unavailable).
func liveHeapMiB(_ client: HubClient) async -> Double? {
    guard let text = try? await client.text("/metrics") else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("lockstep_heap_live_bytes ") {
        return Double(line.split(separator: " ").last ?? "").map { $0 / 1_048_576 }
    }
    return nil
}
