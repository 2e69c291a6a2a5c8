// A hand-written device that joins a session properly, then breaks the data-channel rules one by one.
// Each violation must close only that data connection with its code (reported on the control channel),
// the frames stored before it must stay valid, and a reconnect must resume at the next sequence.
import Foundation
import HummingbirdWSClient
import Ingest
import Logging
import Platform
import SystemPackage
import TestSupport
import Testing
import TimeSync
import Wire
@testable import Controller

@Suite(.serialized) struct RogueDeviceTests {
    @Test(arguments: TestHub.engines) func dataChannelViolationsAreRefusedAndStoredFramesSurvive(engine: String) async throws {
        let testHub = try await TestHub.start(engine: engine) { $0.frameBytesMax = 4096 }
        let port = testHub.httpPort
        let errors = Locked<[ErrorCode]>([])
        let phase = Locked("connecting")
        let sessionID = Locked<String?>(nil)
        var logger = Logger(label: "rogue")
        logger.logLevel = .critical
        let client = Task {
            try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/control", logger: logger) { inbound, outbound, _ in
                try await outbound.write(.text(helloText("rogue")))
                var responder: SyncResponder?
                for try await frame in inbound.messages(maxSize: 1 << 20) {
                    guard case .text(let text) = frame, let envelope = try? ControlEnvelope.decode(text) else { continue }
                    switch envelope.message {
                    case .welcome(let welcome):
                        responder = try SyncResponder(hub: try IPv4Endpoint(host: "127.0.0.1", port: welcome.syncPort), key: welcome.syncKey) { $0 }
                        responder?.start()
                        phase.withLock { $0 = "welcomed" }
                    case .start(let start):
                        sessionID.withLock { $0 = start.sessionID }
                    case .stop(let stop):
                        let stopped = Stopped(sessionID: stop.sessionID, streams: [StreamTotal(streamID: 1, frameCount: 4)])
                        try await outbound.write(.text(ControlEnvelope(id: "s", message: .stopped(stopped)).encoded()))
                    case .error(let report):
                        errors.withLock { $0.append(report.code) }
                    default: break
                    }
                }
                responder?.stop()
            }
        }
        try await testHub.waitForDevices(1)
        let session = try await testHub.hub.startSession(name: "rogue")
        #expect(session.devices == ["rogue"])
        let dataPort = testHub.hub.dataEndpoint.port
        let handshake = DataHandshake(streamID: 1, resumeFrom: 0, deviceID: "rogue", token: "lockstep-dev", sessionID: session.id)
        func frame(_ sequence: UInt64, stream: UInt16 = 1, bytes: Int = 100) -> [UInt8] {
            DataFrame.encode(streamID: stream, sequence: sequence, captureNanos: Int64(sequence), payload: [UInt8](repeating: 7, count: bytes))
        }

        // Three good frames, then one with a damaged payload.
        var (fd, reply) = try rawData(port: dataPort, handshake)
        #expect(reply.error == nil && reply.nextSequence == 0)
        for sequence in 0..<3 { try Socket.sendAll(fd, frame(UInt64(sequence))) }
        var damaged = frame(3)
        damaged[damaged.count - 1] ^= 1
        try Socket.sendAll(fd, damaged)
        #expect(closedByHub(fd))
        try? fd.close()

        // Each violation on a fresh connection; every reconnect resumes at sequence 3.
        var header = frame(3, bytes: 0)
        header[4] = 0x88; header[5] = 0x13  // payload_length 5000, over frame_bytes_max (4096)
        let violations: [[UInt8]] = [header, frame(5), frame(3, stream: 2)]
        for bytes in violations {
            (fd, reply) = try rawData(port: dataPort, handshake)
            #expect(reply.error == nil && reply.nextSequence == 3, "resume point after a refused frame")
            try Socket.sendAll(fd, bytes)
            #expect(closedByHub(fd))
            try? fd.close()
        }
        // A second connection for the same stream (a device that reconnected while its old connection
        // hangs) takes over: the old one is closed by the hub, the new one resumes at sequence 3.
        (fd, reply) = try rawData(port: dataPort, handshake)
        #expect(reply.error == nil)
        let (second, secondReply) = try rawData(port: dataPort, handshake)
        #expect(secondReply.error == nil && secondReply.nextSequence == 3)
        #expect(closedByHub(fd), "the older connection was ended")
        try Socket.sendAll(second, frame(3))
        try? fd.close()
        try await Task.sleep(nanoseconds: 200_000_000)
        try? second.close()

        try await Task.sleep(nanoseconds: 300_000_000)
        let stopped = try await testHub.hub.stopSession()
        #expect(stopped.status == "complete", "problems: \(stopped.problems)")
        let scan = try StreamFileReader.scan("\(stopped.folder)/devices/rogue/stream-1.lss")
        #expect(scan.isClean)
        #expect(scan.frameCount == 4)
        let seen = errors.withLock { $0 }
        for code in [ErrorCode.crcMismatch, .frameTooLarge, .sequenceMismatch, .unknownStream] {
            #expect(seen.contains(code), "no \(code.rawValue) reported on the control channel; got \(seen.map(\.rawValue))")
        }
        client.cancel()
        await testHub.stop()
    }
}
