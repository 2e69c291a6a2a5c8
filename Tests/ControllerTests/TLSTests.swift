// TLS on the HTTP listener: a device that trusts the hub's certificate records over WSS; a device
// given another certificate, or expecting another name, never gets in; plain HTTP gets no answer;
// and every misconfiguration stops the hub with the file and the reason. The certificates in
// Fixtures/ are test-only (self-signed, P-256, valid to 2126): hub.crt names lockstep-hub and
// 127.0.0.1, other.crt is an unrelated certificate naming only lockstep-hub. A device accepts a
// certificate that names its --tls-server-name or the address it connected to (RFC 6125, as NIOSSL
// checks it), so the wrong-name case is served other.crt, which has no address in it.
import DeviceAgent
import Foundation
import Logging
import Platform
import Testing
import TestSupport
import Wire
@testable import Controller

enum Fixture {
    static func path(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)").path
    }
}

@Suite(.serialized) struct TLSTests {
    static func tlsHub(_ certificate: String = "hub") async throws -> TestHub {
        try await TestHub.start(engine: "posix") {
            $0.tlsCertificate = Fixture.path("\(certificate).crt")
            $0.tlsPrivateKey = Fixture.path("\(certificate).key")
        }
    }

    /// By address (hub.crt names 127.0.0.1) and by name alone (other.crt), so the refusals below are
    /// the verification's doing, not a broken certificate's.
    @Test(arguments: ["hub", "other"]) func aDeviceThatTrustsTheHubRecordsOverTLS(served: String) async throws {
        let testHub = try await Self.tlsHub(served)
        let agent = testHub.agent("tls-1", trusting: Fixture.path("\(served).crt"))
        let task = Task { await agent.run() }
        try await testHub.waitForDevices(1)
        _ = try await testHub.hub.startSession(name: "tls")
        try await Task.sleep(nanoseconds: 1_500_000_000)
        let stopped = try await testHub.hub.stopSession()
        #expect(stopped.status == "complete", "problems: \(stopped.problems)")
        try verifyAgainstGenerator(stopped, agent)
        task.cancel()
        await testHub.stop()
    }

    @Test(arguments: [("hub", "other.crt", "lockstep-hub"), ("other", "other.crt", "some-other-name")])
    func aDeviceRefusesAHubItCannotVerify(served: String, trusted: String, name: String) async throws {
        let testHub = try await Self.tlsHub(served)
        let agent = testHub.agent("tls-2", trusting: Fixture.path(trusted), serverName: name)
        let task = Task { await agent.run() }
        try await Task.sleep(nanoseconds: 2_000_000_000)  // several attempts with backoff
        #expect(testHub.hub.state.withLock { $0.devices.isEmpty }, "served \(served), trusting \(trusted) as \(name): the device must not get in")
        #expect(!agent.isWelcomed)
        task.cancel()
        await testHub.stop()
    }

    @Test func plainHTTPGetsNoAnswerOnATLSListener() async throws {
        let testHub = try await Self.tlsHub()
        let port = testHub.httpPort
        let bytes = try await offPool { () -> [UInt8] in
            let fd = try Socket.connectTCP(try IPv4Endpoint(host: "127.0.0.1", port: port))
            defer { try? fd.close() }
            try Socket.sendAll(fd, Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            return readUntilClosed(fd, seconds: 5).bytes
        }
        #expect(!String(decoding: bytes, as: UTF8.self).contains("HTTP/1.1"), "a plain request must not be answered in clear")
        await testHub.stop()
    }

    @Test func misconfiguredTLSStopsTheHubWithTheReason() throws {
        #expect(throws: ConfigurationError.self) {
            try HubConfiguration.parse(yaml: "tls_certificate: \(Fixture.path("hub.crt"))\n", path: "test.yaml")
        }
        func problem(_ certificate: String, _ key: String, now: Int = Int(Date().timeIntervalSince1970)) -> String {
            var configuration = HubConfiguration()
            configuration.tlsCertificate = certificate
            configuration.tlsPrivateKey = key
            do { _ = try configuration.makeListenerTLS(now: now) } catch { return "\(error)" }
            return "accepted"
        }
        #expect(problem(Fixture.path("hub.crt"), Fixture.path("hub.key")) == "accepted")
        #expect(problem("/nonexistent.crt", Fixture.path("hub.key")).contains("tls_certificate /nonexistent.crt: not a readable PEM"))
        #expect(problem(Fixture.path("hub.crt"), Fixture.path("hub.crt")).contains("not a readable, unencrypted PEM private key"))
        #expect(problem(Fixture.path("hub.crt"), Fixture.path("other.key")).contains("does not belong to tls_certificate"))
        #expect(problem(Fixture.path("hub.crt"), Fixture.path("hub.key"), now: 5_000_000_000).contains("expired"))
    }
}

extension TestHub {
    /// A device that connects over TLS, trusting the certificates in `roots` for `serverName`.
    func agent(_ id: String, trusting roots: String, serverName: String = "lockstep-hub") -> DeviceAgent {
        var configuration = agent(id).configuration
        configuration.tlsTrustRoots = roots
        configuration.tlsServerName = serverName
        var logger = Logger(label: "test-device")
        logger.logLevel = .error
        return DeviceAgent(configuration: configuration, logger: logger)
    }
}

/// The data key a device gets in `welcome` stands in for its token on the plain data port, and goes
/// with the token: a reload that revokes the token revokes the key.
@Suite(.serialized) struct DataKeyTests {
    @Test func revokingTheTokenRevokesTheDataKey() async throws {
        let testHub = try await TestHub.start(engine: "posix") { $0.deviceTokens = ["keyed": "keyed-token-1"] }
        let agent = testHub.agent("keyed", token: "keyed-token-1")
        let task = Task { await agent.run() }
        try await testHub.waitForDevices(1)
        let key = try #require(testHub.hub.state.withLock { $0.devices["keyed"]?.dataKey })
        #expect(key.utf8.count == 32 && key != "keyed-token-1")
        let port = testHub.hub.dataEndpoint.port
        func attempt() throws -> ErrorCode? {
            let (fd, reply) = try rawData(port: port, DataHandshake(streamID: 1, resumeFrom: 0, deviceID: "keyed", token: key, sessionID: "none"))
            try? fd.close()
            return reply.error
        }
        #expect(try attempt() == .noSession, "the key passes authentication (no session records, so that is the refusal)")
        var revoked = testHub.hub.configuration
        revoked.deviceTokens = [:]
        _ = try testHub.hub.reload(revoked)
        #expect(try attempt() == .unauthorized, "after the token is revoked, its data key is refused")
        task.cancel()
        await testHub.stop()
    }
}
