// lockstep-device: the reference device agent and simulator. Runs N simulated devices in one process,
// each with its own control connection, sync responder and data connections.
import ArgumentParser
import DeviceAgent
import Foundation
import Logging
import Platform

@main
struct LockstepDevice: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lockstep-device", abstract: "Simulated Lockstep devices with deterministic, verifiable streams.")

    @Option(help: "Hub address (IPv4).") var hub: String = "127.0.0.1"
    @Option(help: "Hub HTTP/control port.") var httpPort: UInt16 = 8750
    @Option(help: "Number of devices to simulate.") var devices: Int = 1
    @Option(help: "Device id, or prefix when --devices > 1 (ids become PREFIX-01, PREFIX-02, ...).") var id: String = "sim"
    @Option(help: "Auth token.") var token: String = "lockstep-dev"
    @Option(help: "Stream profile: \(StreamProfile.setNames.joined(separator: ", ")).") var profile: String = "phone"
    @Option(help: "Scale video and thermal frame sizes (1 = 12.5 MB/s video).") var rateScale: Double = 1
    @Option(help: "Synthetic clock offset of the first device, in milliseconds.") var offsetMs: Double = 0
    @Option(help: "Added to the offset of each further device, in milliseconds.") var offsetStepMs: Double = 0
    @Option(help: "Synthetic clock skew, in ppm.") var skewPpm: Double = 0
    @Option(help: "Host CLOCK_MONOTONIC instant (ns) the skew is measured from (default: start of this process).")
    var clockAnchorNs: Int64?
    @Option(help: "Seconds between flash markers while recording (0 = none).") var markerInterval: Double = 2
    @Option(help: "Exit after this many seconds (default: run until interrupted).") var duration: Double?
    @Option(help: "Log level.") var logLevel: String = "notice"
    @Option(help: "Append each durable acknowledgement as a JSON line to this file (fault-injection tests check them).")
    var ackFile: String?
    @Option(help: "Connect with TLS (WSS), trusting the certificates in this PEM file: the hub's own, or its CA.")
    var tlsCa: String?
    @Option(help: "With --tls-ca: the name the hub's certificate must carry.") var tlsServerName = "lockstep-hub"

    func validate() throws {
        guard (1...256).contains(devices) else { throw ValidationError("--devices must be 1 to 256") }
        guard StreamProfile.set(named: profile) != nil else { throw ValidationError("unknown --profile \(profile)") }
        guard rateScale > 0, rateScale <= 16 else { throw ValidationError("--rate-scale must be in (0, 16]") }
        if let tlsCa, !FileManager.default.isReadableFile(atPath: tlsCa) { throw ValidationError("--tls-ca \(tlsCa): cannot read the file") }
        if (try? IPv4Endpoint(host: tlsServerName, port: 0)) != nil {
            throw ValidationError("--tls-server-name must be a name, not an address (the hub's certificate may also name the address dialled)")
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: logLevel) ?? .notice
            return handler
        }
        let logger = Logger(label: "lockstep-device")
        let anchor = clockAnchorNs ?? HostClock.monotonicNanos()
        let agents = (0..<devices).map { index in
            let deviceID = devices == 1 ? id : String(format: "%@-%02d", id, index + 1)
            let clock = DeviceClock(
                offsetNanos: Int64(((offsetMs + Double(index) * offsetStepMs) * 1e6).rounded()), skewPPM: skewPpm, anchorNanos: anchor)
            var configuration = AgentConfiguration(
                hubHost: hub, httpPort: httpPort, deviceID: deviceID, token: token,
                profiles: StreamProfile.set(named: profile, scale: rateScale)!, clock: clock,
                markerIntervalMillis: Int64(markerInterval * 1000))
            configuration.tlsTrustRoots = tlsCa
            configuration.tlsServerName = tlsServerName
            return DeviceAgent(configuration: configuration, logger: logger)
        }
        logger.notice("running \(agents.count) device(s) against \(hub):\(httpPort)\(tlsCa == nil ? "" : " over TLS (\(tlsServerName))")")
        let acknowledgements = try ackFile.map { try AcknowledgementLog(path: $0) }
        // SIGUSR1 cuts every data connection (a Wi-Fi drop, for tests): the devices reconnect and resume.
        signal(SIGUSR1, SIG_IGN)
        let cutter = DispatchSource.makeSignalSource(signal: SIGUSR1, queue: .global())
        cutter.setEventHandler {
            logger.warning("SIGUSR1: dropping every data connection")
            agents.forEach { $0.dropDataConnections() }
        }
        cutter.resume()
        defer { cutter.cancel() }
        await withTaskGroup(of: Void.self) { group in
            for agent in agents { group.addTask { await agent.run() } }
            if let acknowledgements {
                group.addTask {
                    while !Task.isCancelled {
                        acknowledgements.record(agents)
                        try? await Task.sleep(nanoseconds: 10_000_000)
                    }
                }
            }
            if let duration {
                group.addTask { try? await Task.sleep(nanoseconds: UInt64(duration * 1e9)) }
                await group.next()
                group.cancelAll()
            }
            if acknowledgements != nil {
                // The log task never ends by itself: finish once every agent has.
                for _ in agents { await group.next() }
                group.cancelAll()
            }
            await group.waitForAll()
        }
        let refused = agents.filter(\.wasRefused).count
        if refused > 0 {
            logger.error("\(refused) of \(agents.count) device(s) refused by the hub")
            throw ExitCode(1)
        }
    }
}

/// The durable acknowledgements the hub sent, as JSON lines: one line each time a stream's bound moves.
/// Written with write(2) as they are seen (every 10 ms), so a test that kills the hub finds every
/// acknowledgement received before the kill once this process has had 10 ms more.
final class AcknowledgementLog: @unchecked Sendable {
    private let handle: FileHandle
    private var seen: [String: Int64] = [:]  // touched only by the one polling task

    init(path: String) throws {
        FileManager.default.createFile(atPath: path, contents: nil)
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        handle.seekToEndOfFile()
    }

    func record(_ agents: [DeviceAgent]) {
        for agent in agents {
            let (session, through) = agent.durableAcknowledged
            guard let session else { continue }
            for (stream, sequence) in through.sorted(by: { $0.key < $1.key }) {
                let key = "\(session)/\(agent.configuration.deviceID)/\(stream)"
                guard seen[key] != sequence else { continue }
                seen[key] = sequence
                let line = "{\"session_id\":\"\(session)\",\"device_id\":\"\(agent.configuration.deviceID)\",\"stream_id\":\(stream),"
                    + "\"through\":\(sequence)}\n"
                handle.write(Data(line.utf8))
            }
        }
    }
}
