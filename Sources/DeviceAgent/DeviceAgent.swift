// The reference device agent: the control channel (WebSocket + JSON), the sync responder and one
// stream sender per stream. Written from docs/protocol.md as an integrator would; tests, the demo and
// lockstep-bench run it as the simulated device.
import HummingbirdWSClient
import Logging
import NIOSSL
import Platform
import TimeSync
import Wire

public struct AgentConfiguration: Sendable {
    public var hubHost: String
    public var httpPort: UInt16
    public var deviceID: String
    public var token: String
    public var model: String
    public var profiles: [StreamProfile]
    public var clock: DeviceClock
    /// Send a flash marker this often while recording (0 = never).
    public var markerIntervalMillis: Int64
    /// With TLS: the PEM file of the certificates to trust (the hub's own, or the CA that signed it),
    /// and the name the hub's certificate must carry. The control channel then uses WSS and fails
    /// unless the hub proves that name under one of those certificates.
    public var tlsTrustRoots: String?
    public var tlsServerName = "lockstep-hub"

    public init(hubHost: String, httpPort: UInt16, deviceID: String, token: String, model: String = "lockstep-sim",
                profiles: [StreamProfile], clock: DeviceClock, markerIntervalMillis: Int64 = 2000) {
        self.hubHost = hubHost
        self.httpPort = httpPort
        self.deviceID = deviceID
        self.token = token
        self.model = model
        self.profiles = profiles
        self.clock = clock
        self.markerIntervalMillis = markerIntervalMillis
    }
}

/// What a finished recording looked like from the device's side.
public struct DeviceSessionSummary: Sendable, Equatable {
    public var sessionID: String
    public var startDeviceNanos: Int64
    public var frameCounts: [UInt16: UInt64]
    public var durableThrough: [UInt16: Int64]
    /// How often the data connections had to be re-established during the session.
    public var dataReconnectCount: Int
}

public final class DeviceAgent: Sendable {
    public let configuration: AgentConfiguration
    let logger: Logger

    struct State {
        var welcome: Welcome?
        var responder: SyncResponder?
        var senders: [StreamSender] = []
        var sessionID: String?
        var startDeviceNanos: Int64 = 0
        var durable: [UInt16: Int64] = [:]
        var finished: [DeviceSessionSummary] = []
        var lastError: ErrorReport?
        var nextMessageID = 0
        var stopping = false
    }

    let state = Locked(State())

    public init(configuration: AgentConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The device clock reading now.
    public func now() -> Int64 { configuration.clock.reading(atHost: HostClock.monotonicNanos()) }

    /// Sessions this agent recorded to the end, with their durable acknowledgements.
    public var finishedSessions: [DeviceSessionSummary] { state.withLock { $0.finished } }

    /// The current session and, per stream, the highest sequence the hub acknowledged as durable.
    public var durableAcknowledged: (sessionID: String?, through: [UInt16: Int64]) {
        state.withLock { ($0.sessionID, $0.durable) }
    }

    /// The last error the hub reported to this device.
    public var lastError: ErrorReport? { state.withLock { $0.lastError } }

    /// Whether the hub has welcomed this device on the current connection.
    public var isWelcomed: Bool { state.withLock { $0.welcome != nil } }

    /// Sync requests this device answered.
    public var syncAnsweredCount: Int { state.withLock { $0.responder?.answeredCount ?? 0 } }

    /// Drops every data connection once (fault injection: the senders must resume without loss).
    public func dropDataConnections() {
        for sender in state.withLock({ $0.senders }) { sender.dropConnection() }
    }

    /// Error codes by which the hub refuses a device for good: retrying cannot help.
    public static let refusalCodes: [ErrorCode] = [.unauthorized, .invalidDeviceID, .duplicateDevice, .invalidMessage]

    /// Whether the hub refused this device for good (the agent stopped retrying).
    public var wasRefused: Bool { lastError.map { Self.refusalCodes.contains($0.code) } ?? false }

    /// Connects and serves the control channel, reconnecting with backoff until the task is cancelled
    /// or the hub refuses the device for good (bad token, invalid id, duplicate id).
    public func run() async {
        var backoffMillis: UInt64 = 100
        while !Task.isCancelled {
            do {
                try await connectOnce()
                backoffMillis = 100
            } catch {
                logger.notice("control connection failed: \(error)", metadata: ["device": "\(configuration.deviceID)"])
            }
            state.withLock { $0.welcome = nil }
            if let fatal = lastError, Self.refusalCodes.contains(fatal.code) {
                logger.error("hub refused this device: \(fatal.code.rawValue): \(fatal.message)")
                break
            }
            try? await Task.sleep(nanoseconds: backoffMillis * 1_000_000)
            backoffMillis = min(backoffMillis * 2, 2000)
        }
        shutdown()
    }

    func shutdown() {
        let (responder, senders) = state.withLock { s in
            defer { s.responder = nil; s.senders = [] }
            return (s.responder, s.senders)
        }
        responder?.stop()
        for sender in senders { _ = sender.finish(stopDeviceNanos: now()) }
    }

    func nextID() -> String {
        state.withLock { s in
            s.nextMessageID += 1
            return "\(configuration.deviceID)-\(s.nextMessageID)"
        }
    }

    func connectOnce() async throws {
        var tls: TLSConfiguration?
        if let roots = configuration.tlsTrustRoots {
            var client = TLSConfiguration.makeClientConfiguration()
            client.trustRoots = .file(roots)
            client.certificateVerification = .fullVerification
            client.minimumTLSVersion = .tlsv12
            tls = client
        }
        let url = "\(tls == nil ? "ws" : "wss")://\(configuration.hubHost):\(configuration.httpPort)/control"
        let webSocket = WebSocketClientConfiguration(
            maxFrameSize: ControlLimits.messageBytesMax, sniHostname: tls == nil ? nil : configuration.tlsServerName)
        try await WebSocketClient.connect(url: url, configuration: webSocket, tlsConfiguration: tls, logger: logger) {
            inbound, outbound, _ in
            let send: @Sendable (ControlMessage, String?) async throws -> Void = { message, re in
                try await outbound.write(.text(ControlEnvelope(id: self.nextID(), re: re, message: message).encoded()))
            }
            try await send(.hello(self.hello()), nil)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.heartbeats(send) }
                for try await message in inbound.messages(maxSize: ControlLimits.messageBytesMax) {
                    guard case .text(let text) = message else { continue }
                    let envelope = try ControlEnvelope.decode(text)
                    try await self.handle(envelope, send: send, group: &group)
                }
                group.cancelAll()
            }
        }
    }
}
