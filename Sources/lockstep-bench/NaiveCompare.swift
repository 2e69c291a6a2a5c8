// `lockstep-bench ingest --compare naive`: the receiver a user could write instead, measured in the
// same run. A plain thread-per-connection loop (recv 64 KiB, write it to the connection's own file,
// fdatasync every 100 ms like the hub) takes N paced TCP streams from a sender process; its CPU is read
// from /proc exactly as the hub's is. Both helpers are hidden subcommands run as child processes.
import ArgumentParser
import Foundation
import Platform
import Synchronization
import SystemPackage

/// Hidden: `lockstep-bench naive-receiver --folder F --port-file P`.
struct NaiveReceiver: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "naive-receiver", shouldDisplay: false)
    @Option var folder: String
    @Option var portFile: String

    func run() throws {
        let listener = try Socket.listenTCP(try IPv4Endpoint(host: "127.0.0.1", port: 0))
        try "\(try Socket.localEndpoint(listener).port)".write(toFile: portFile, atomically: true, encoding: .utf8)
        var index = 0
        while true {
            let (fd, _) = try Socket.accept(listener)
            index += 1
            let file = try FileIO.openAppend("\(folder)/naive-\(index).bin")
            _ = PlatformThread.spawn(name: "naive-\(index)") {
                var buffer = [UInt8](repeating: 0, count: 65_536)
                var lastSync = HostClock.monotonicNanos()
                while true {
                    let count = (try? buffer.withUnsafeMutableBytes { try Socket.receive(fd, into: $0) }) ?? 0
                    if count == 0 { break }
                    try? buffer.withUnsafeBytes { try FileIO.writeAll(file, UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                    if HostClock.monotonicNanos() - lastSync > 100_000_000 {
                        try? FileIO.dataSync(file)
                        lastSync = HostClock.monotonicNanos()
                    }
                }
                try? FileIO.dataSync(file)
                try? file.close()
                try? fd.close()
            }
        }
    }
}

/// Hidden: `lockstep-bench paced-sender --port P --connections N --rate R --duration D`.
struct PacedSender: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "paced-sender", shouldDisplay: false)
    @Option var port: UInt16
    @Option var connections: Int
    @Option var rate: Rate
    @Option var duration: TimeSpan

    func run() throws {
        let chunk = [UInt8](repeating: 0x5A, count: 65_536)
        let interval = Int64(Double(chunk.count) / rate.bytesPerSecond * 1e9)
        let senders = try (0..<connections).map { index in
            let fd = try Socket.connectTCP(try IPv4Endpoint(host: "127.0.0.1", port: port))
            return PlatformThread.spawn(name: "paced-\(index)") { [duration] in
                let start = HostClock.monotonicNanos()
                var next = start
                while next - start < Int64(duration.seconds * 1e9) {
                    try? Socket.sendAll(fd, chunk)
                    next += interval
                    let wait = next - HostClock.monotonicNanos()
                    if wait > 0 { HostClock.sleep(nanos: wait) }
                }
                try? fd.close()
            }
        }
        for sender in senders { sender.join() }
    }
}

/// The naive receiver's figures, side by side with the hub's.
struct NaiveResult {
    var cpuPercent: Double
    var megabytesPerSecond: Double
}

extension IngestBench {
    /// Runs the naive receiver against `devices` paced streams at the trial's rate for the trial's time.
    func naiveTrial(rate: Double, base: String) async throws -> NaiveResult {
        let folder = base + "/naive"
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let portFile = folder + "/port"
        let me = try siblingExecutable("lockstep-bench")
        let receiver = try Child(me, ["naive-receiver", "--folder", folder, "--port-file", portFile], log: base + "/naive.log", name: "naive")
        defer { receiver.stop() }
        var port: UInt16?
        for _ in 0..<100 where port == nil {
            port = (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { UInt16($0) }
            if port == nil { try await Task.sleep(nanoseconds: 50_000_000) }
        }
        guard let port else { throw BenchError("the naive receiver did not start; see \(base)/naive.log") }
        progress("compare: naive thread-per-connection receiver, \(devices) streams × \(rate) MB/s for \(duration.seconds) s")
        let cpuStart = cpuSeconds(pid: receiver.pid) ?? 0
        let wallStart = HostClock.monotonicNanos()
        let sender = try Child(
            me, ["paced-sender", "--port", "\(port)", "--connections", "\(devices)", "--rate", "\(rate)", "--duration", "\(duration.seconds)"],
            log: base + "/paced.log", name: "paced")
        sender.process.waitUntilExit()
        try await Task.sleep(nanoseconds: 300_000_000)
        let cpu = (cpuSeconds(pid: receiver.pid) ?? cpuStart) - cpuStart
        let wall = Double(HostClock.monotonicNanos() - wallStart) / 1e9
        let stored = (try? FileManager.default.contentsOfDirectory(atPath: folder))?.filter { $0.hasSuffix(".bin") }
            .compactMap { try? FileManager.default.attributesOfItem(atPath: folder + "/" + $0)[.size] as? Int }.reduce(0, +) ?? 0
        try? FileManager.default.removeItem(atPath: folder)
        return NaiveResult(cpuPercent: cpu / wall * 100, megabytesPerSecond: Double(stored) / 1e6 / duration.seconds)
    }
}
