// Helpers: an in-process hub on ephemeral loopback ports with a temporary data folder, and simulated
// devices from the reference agent.
import DeviceAgent
import Ingest
import Foundation
import Logging
import Platform
import Synchronization
import Testing
import Wire
@testable import Controller

final class TestHub: Sendable {
    let hub: Hub
    let httpPort: UInt16
    let task: Task<Void, Error>
    let folder: String

    /// Both data paths: the tests that move data run once on each.
    static let engines = ["io_uring", "posix"]

    /// Starts a hub whose data plane is `engine` ("io_uring" refuses to start without io_uring).
    static func start(engine: String = "io_uring", _ edit: (inout HubConfiguration) -> Void = { _ in }) async throws -> TestHub {
        var configuration = HubConfiguration()
        configuration.ingestEngine = engine
        configuration.httpPort = 0
        configuration.dataPort = 0
        configuration.syncPort = 0
        configuration.dataDirectory = NSTemporaryDirectory() + "lockstep-hub-\(UUID().uuidString)"
        configuration.startLeadMillis = 1000
        configuration.heartbeatIntervalMillis = 500
        configuration.lostAfterMillis = 3000
        edit(&configuration)
        var logger = Logger(label: "test-hub")
        logger.logLevel = .warning
        let hub = Hub(configuration: configuration, logger: logger)
        try hub.startServices()
        #expect((hub.dataServer.engine != nil) == (engine == "io_uring"), "data plane is not \(engine)")
        let (ports, continuation) = AsyncStream<UInt16>.makeStream()
        let task = Task { try await hub.runHTTP(onRunning: { continuation.yield($0) }) }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        return TestHub(hub: hub, httpPort: port, task: task, folder: configuration.dataDirectory)
    }

    private init(hub: Hub, httpPort: UInt16, task: Task<Void, Error>, folder: String) {
        self.hub = hub
        self.httpPort = httpPort
        self.task = task
        self.folder = folder
    }

    func stop() async {
        await hub.shutdown()
        task.cancel()
        _ = try? await task.value
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Waits until `count` devices are connected (bounded).
    func waitForDevices(_ count: Int, seconds: Double = 20) async throws {
        let deadline = HostClock.monotonicNanos() + Int64(seconds * 1e9)
        while hub.state.withLock({ $0.devices.values.filter { $0.state == "connected" }.count }) < count {
            guard HostClock.monotonicNanos() < deadline else {
                Issue.record("only \(hub.state.withLock { $0.devices.count }) of \(count) devices connected")
                throw CancellationError()
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
    }

    func agent(_ id: String, offsetMillis: Double = 0, skewPPM: Double = 0, scale: Double = 0.02, token: String = "lockstep-dev") -> DeviceAgent {
        var logger = Logger(label: "test-device")
        logger.logLevel = .error
        let clock = DeviceClock(offsetNanos: Int64(offsetMillis * 1e6), skewPPM: skewPPM, anchorNanos: HostClock.monotonicNanos())
        return DeviceAgent(configuration: AgentConfiguration(
            hubHost: "127.0.0.1", httpPort: httpPort, deviceID: id, token: token,
            profiles: StreamProfile.set(named: "phone", scale: scale)!, clock: clock, markerIntervalMillis: 700), logger: logger)
    }
}

/// Checks every stored frame of `agent`'s streams against the deterministic generator.
func verifyAgainstGenerator(_ session: SessionSummary, _ agent: DeviceAgent) throws {
    let summary = try #require(agent.finishedSessions.first { $0.sessionID == session.id }, "\(agent.configuration.deviceID) finished no session")
    for profile in agent.configuration.profiles {
        let streamID = profile.descriptor.id
        let seed = FramePayload.seed(deviceID: agent.configuration.deviceID, streamID: streamID)
        let path = "\(session.folder)/devices/\(agent.configuration.deviceID)/stream-\(streamID).lss"
        var expectedSequence: UInt64 = 0
        let scan = try StreamFileReader.scan(path) { record in
            let sequence = record.header.sequence
            #expect(sequence == expectedSequence, "reordered or duplicated frame")
            expectedSequence = sequence + 1
            let shape = profile.frameShape(sequence: sequence, seed: seed)
            #expect(record.payload == FramePayload.make(seed: seed, sequence: sequence, byteCount: shape.byteCount), "payload \(sequence) differs")
            #expect(record.header.captureNanos == summary.startDeviceNanos + Int64(sequence) * profile.periodNanos)
            #expect((record.header.flags & FrameHeader.keyFrameFlag != 0) == shape.isKey)
        }
        #expect(scan.isClean, "\(path): \(scan.problem ?? "trailing bytes")")
        let sent = try #require(summary.frameCounts[streamID])
        #expect(sent > 0)
        #expect(UInt64(scan.frameCount) == sent, "stream \(streamID): \(scan.frameCount) stored, \(sent) sent")
    }
}
