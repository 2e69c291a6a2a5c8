// Hostile and broken input on every channel while two good devices record: each bad case gets its
// stable error code and a closed connection; the good devices' recording completes and verifies.
import DeviceAgent
import Foundation
import HummingbirdWSClient
import Logging
import Platform
import SystemPackage
import TestSupport
import Testing
import Wire
@testable import Controller

/// Sends `messages` on a fresh control connection; returns the error codes received and whether the
/// hub closed the connection.
func controlExchange(port: UInt16, _ messages: [String], waitMillis: UInt64 = 5000) async throws -> (codes: [ErrorCode], closed: Bool) {
    let received = Locked<[ErrorCode]>([])
    let closed = Locked(false)
    var logger = Logger(label: "raw-client")
    logger.logLevel = .critical
    let client = Task {
        try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/control", configuration: .init(maxFrameSize: 1 << 20), logger: logger) {
            inbound, outbound, _ in
            for message in messages { try await outbound.write(.text(message)) }
            for try await frame in inbound.messages(maxSize: 1 << 20) {
                guard case .text(let text) = frame, let envelope = try? ControlEnvelope.decode(text) else { continue }
                if case .error(let report) = envelope.message { received.withLock { $0.append(report.code) } }
            }
            closed.withLock { $0 = true }
        }
    }
    let deadline = HostClock.monotonicNanos() + Int64(waitMillis) * 1_000_000
    while !closed.withLock({ $0 }), HostClock.monotonicNanos() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
    client.cancel()
    _ = try? await client.value
    return (received.withLock { $0 }, closed.withLock { $0 })
}

func helloText(_ id: String, token: String = "lockstep-dev", stream: UInt16 = 1) -> String {
    ControlEnvelope(id: "h", message: .hello(Hello(
        deviceID: id, token: token, model: "raw", clock: ClockDescription(domain: "monotonic", resolutionNanos: 1),
        streams: [StreamDescriptor(id: stream, kind: .generic, codec: "bytes", rateHz: 10, nominalBytesPerSecond: 1000)]))).encoded()
}

/// A raw data connection: sends the handshake, returns the descriptor and the hub's reply.
func rawData(port: UInt16, _ handshake: DataHandshake) throws -> (FileDescriptor, DataHandshakeReply) {
    let fd = try Socket.connectTCP(try IPv4Endpoint(host: "127.0.0.1", port: port))
    try Socket.sendAll(fd, handshake.encoded())
    var reply = [UInt8](repeating: 0, count: DataHandshake.replyByteCount)
    let complete = try reply.withUnsafeMutableBytes { try Socket.receiveExactly(fd, into: $0) }
    #expect(complete)
    return (fd, try DataHandshakeReply.decode(reply.span))
}

@Suite(.serialized) struct BadInputTests {
    @Test(arguments: TestHub.engines) func everyBadInputGetsItsCodeAndGoodDevicesKeepRecording(engine: String) async throws {
        let testHub = try await TestHub.start(engine: engine) { $0.deviceTokens = ["rogue": "rogue-token"] }
        let good = [testHub.agent("good-1", offsetMillis: 10), testHub.agent("good-2", offsetMillis: -20)]
        let tasks = good.map { agent in Task { await agent.run() } }
        try await testHub.waitForDevices(2)
        let port = testHub.httpPort

        // Control channel.
        let cases: [([String], ErrorCode)] = [
            (["this is not json"], .malformedJSON),
            ([#"{"v":1,"type":"teleport","id":"1"}"#], .unknownType),
            ([#"{"v":7,"type":"hello","id":"1"}"#], .unsupportedVersion),
            ([#"{"v":1,"type":"heartbeat","id":"1","time_ns":5}"#], .notRegistered),
            ([helloText("good-1")], .duplicateDevice),
            ([helloText("intruder", token: "wrong")], .unauthorized),
            ([helloText("rogue", token: "lockstep-dev")], .unauthorized),  // listed devices must use their own token
            ([helloText("bad/id")], .invalidDeviceID),
            ([helloText("ok-dev"),
              #"{"v":1,"type":"start","id":"2","session_id":"x","start_hub_ns":1,"start_device_ns":1,"uncertainty_ns":0}"#], .invalidMessage),
        ]
        for (messages, code) in cases {
            let result = try await controlExchange(port: port, messages)
            #expect(result.codes.contains(code), "expected \(code.rawValue), got \(result.codes.map(\.rawValue))")
            #expect(result.closed, "connection for \(code.rawValue) stayed open")
        }
        // A message larger than the limit is refused (at the WebSocket layer or by the decoder).
        let oversized = try await controlExchange(port: port, [String(repeating: "x", count: ControlLimits.messageBytesMax + 10)])
        #expect(oversized.closed)
        #expect(oversized.codes.allSatisfy { $0 == .messageTooLarge })

        // Data channel, while a session records.
        let session = try await testHub.hub.startSession(name: "hostile")
        let dataPort = testHub.hub.dataEndpoint.port
        let (badToken, badTokenReply) = try rawData(port: dataPort, DataHandshake(
            streamID: 1, resumeFrom: 0, deviceID: "good-1", token: "nope", sessionID: session.id))
        #expect(badTokenReply.error == .unauthorized)
        #expect(closedByHub(badToken))
        // One device's data key does not open another device's streams.
        let otherKey = try #require(testHub.hub.state.withLock { $0.devices["good-2"]?.dataKey })
        let (borrowedKey, borrowedReply) = try rawData(port: dataPort, DataHandshake(
            streamID: 1, resumeFrom: 0, deviceID: "good-1", token: otherKey, sessionID: session.id))
        #expect(borrowedReply.error == .unauthorized)
        #expect(closedByHub(borrowedKey))
        try? borrowedKey.close()
        let (unknownStream, unknownReply) = try rawData(port: dataPort, DataHandshake(
            streamID: 99, resumeFrom: 0, deviceID: "good-1", token: "lockstep-dev", sessionID: session.id))
        #expect(unknownReply.error == .unknownStream)
        #expect(closedByHub(unknownStream))
        let (wrongSession, wrongReply) = try rawData(port: dataPort, DataHandshake(
            streamID: 1, resumeFrom: 0, deviceID: "good-1", token: "lockstep-dev", sessionID: "20200101T000000Z"))
        #expect(wrongReply.error == .noSession)
        #expect(closedByHub(wrongSession))
        // Garbage instead of a handshake.
        let garbage = try Socket.connectTCP(try IPv4Endpoint(host: "127.0.0.1", port: dataPort))
        try Socket.sendAll(garbage, Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(closedByHub(garbage))
        // A device that connects and never speaks is dropped after the handshake timeout.
        let silent = try Socket.connectTCP(try IPv4Endpoint(host: "127.0.0.1", port: dataPort))

        try await Task.sleep(nanoseconds: 2_000_000_000)
        let stopped = try await testHub.hub.stopSession()
        #expect(stopped.status == "complete", "problems: \(stopped.problems)")
        for agent in good { try verifyAgainstGenerator(stopped, agent) }
        #expect(closedByHub(silent))
        for fd in [badToken, unknownStream, wrongSession, garbage, silent] { try? fd.close() }
        for task in tasks { task.cancel() }
        await testHub.stop()
    }
}
