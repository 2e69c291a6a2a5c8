// Child processes for the end-to-end benchmarks: lockstepd and lockstep-device run as separate
// processes so the hub's CPU and memory can be read alone from /proc.
import Foundation
import HubClient
import Platform

/// Finds the sibling executables (lockstepd, lockstep-device) next to this one.
func siblingExecutable(_ name: String) throws -> String {
    let own = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    let path = own.appendingPathComponent(name).path
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw BenchError("\(name) not found next to lockstep-bench (\(path)); build all products first")
    }
    return path
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A running child process, terminated when dropped or on `stop()`.
final class Child {
    let process: Process
    let name: String

    init(_ executable: String, _ arguments: [String], log: String, name: String, environment: [String: String] = [:]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        self.name = name
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// SIGTERM, then wait (bounded), then SIGKILL.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<100 where process.isRunning { HostClock.sleep(nanos: 50_000_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// CPU time (user + system) of a process in seconds, from /proc/PID/stat.
func cpuSeconds(pid: Int32) -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // After the command name: state is field 3, utime 14 and stime 15 (1-based) → indices 11 and 12 here.
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// Peak resident memory of a process in MiB (VmHWM from /proc/PID/status).
func peakRSSMiB(pid: Int32) -> Double? { statusMiB(pid: pid, field: "VmHWM") }

/// Resident memory of a process in MiB (VmRSS from /proc/PID/status).
func residentMiB(pid: Int32) -> Double? { statusMiB(pid: pid, field: "VmRSS") }

/// A kB field of /proc/PID/status, in MiB.
func statusMiB(pid: Int32, field: String) -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        return line.split(separator: " ").dropFirst().first.flatMap { Double($0) }.map { $0 / 1024 }
    }
    return nil
}

/// Starts lockstepd with free ports (on loopback unless `extra` binds elsewhere) and waits until it is
/// ready. The hub gets a fresh operator token (required beyond loopback), which the client sends.
/// Its configuration file holds `config` plus the lifted per-address limits: every simulated device
/// comes from one address, and a bench may open hundreds of stream connections.
func startHub(dataDirectory: String, workDirectory: String, extra: [String] = [], config: [String] = []) async throws -> (Child, HubClient) {
    let ready = workDirectory + "/ready.json"
    try? FileManager.default.removeItem(atPath: ready)
    let configPath = workDirectory + "/hub.yaml"
    let lines = ["connections_per_address_max: 0", "connection_rate_per_address: 0"] + config
    try (lines.joined(separator: "\n") + "\n").write(toFile: configPath, atomically: true, encoding: .utf8)
    var generator = SystemRandomNumberGenerator()
    let token = (0..<2).map { _ in String(format: "%016llx", generator.next() as UInt64) }.joined()
    let child = try Child(
        try siblingExecutable("lockstepd"),
        ["--config", configPath, "--data-dir", dataDirectory, "--http-port", "0", "--data-port", "0", "--sync-port", "0",
         "--ready-file", ready, "--log-level", "warning"] + extra,
        log: workDirectory + "/lockstepd.log", name: "lockstepd", environment: ["LOCKSTEP_OPERATOR_TOKEN": token])
    for _ in 0..<300 {
        if let data = FileManager.default.contents(atPath: ready), let text = String(data: data, encoding: .utf8),
            let range = text.range(of: #""http":(\d+)"#, options: .regularExpression) {
            let port = text[range].split(separator: ":")[1]
            return (child, HubClient(base: "http://127.0.0.1:\(port)", token: token))
        }
        guard child.process.isRunning else { throw BenchError("lockstepd exited; see \(workDirectory)/lockstepd.log") }
        try await Task.sleep(nanoseconds: 100_000_000)
    }
    throw BenchError("lockstepd did not become ready; see \(workDirectory)/lockstepd.log")
}

/// Waits until the hub reports `count` connected devices with a clock estimate.
func waitForDevices(_ hub: HubClient, count: Int, seconds: Double = 30) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        let devices = try await hub.get("devices")["devices"].items
        let ready = devices.filter { $0["state"].text == "connected" && $0["clock"]["samples"].int64Value ?? 0 >= 4 }
        if ready.count >= count { return }
        try await Task.sleep(nanoseconds: 200_000_000)
    }
    throw BenchError("only some of \(count) devices connected within \(Int(seconds)) s")
}
