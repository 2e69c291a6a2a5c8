// The HTTP listener: the JSON API under /api/v1 and the control WebSocket at /control, on one port.
// (The dashboard and the full API come with the operator-interfaces issue.)
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import Platform
import Wire

extension Hub {
    /// Serves HTTP and the control WebSocket until the task is cancelled or, with `handleSignals`,
    /// SIGTERM/SIGINT arrives: then the service manager is told STOPPING=1 and a running session is
    /// stopped cleanly (devices still connected, so every announced frame is stored, synced, and the
    /// manifest and report written) before the listeners close. SIGHUP calls `reload`.
    /// The housekeeping loop checks liveness, wall-clock steps and thread progress, and pings the
    /// watchdog of `notifier` while every loop turns.
    /// - Parameter onRunning: called with the bound HTTP port once listening.
    public func runHTTP(
        handleSignals: Bool = false, notifier: ServiceNotifier = ServiceNotifier(socketPath: nil, watchdogIntervalNanos: nil),
        reload: (@Sendable () async -> Void)? = nil, onRunning: @escaping @Sendable (UInt16) -> Void = { _ in }
    ) async throws {
        let router = Router(context: BasicWebSocketRequestContext.self)
        addRoutes(router)
        router.ws("/control") { _, _ in .upgrade([:]) } onUpgrade: { [self] inbound, outbound, _ in
            await serveControl(inbound: inbound, outbound: outbound)
        }
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: router, configuration: .init(ws: .init(maxFrameSize: ControlLimits.messageBytesMax))),
            configuration: .init(address: .hostname(configuration.bindHost, port: Int(configuration.httpPort)), serverName: "lockstepd"),
            onServerRunning: { [self] channel in
                // Everything is up by now: data plane, sync service and its self-test (startServices), listeners.
                // READY=1 goes out before the hub counts as ready, so no watchdog ping can precede it.
                let port = UInt16(channel.localAddress?.port ?? 0)
                onRunning(port)
                notifier.ready(status: "ready: http \(configuration.bindHost):\(port), data \(dataEndpoint.port), sync \(syncEndpoint.port)")
                markReady()
            },
            logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService(gracefulShutdownSignals: []) }
            if handleSignals {
                group.addTask { [self] in
                    for await signal in Self.signals([SIGTERM, SIGINT]) {
                        let recording = state.withLock { $0.session != nil }
                        logger.notice("signal \(signal): stopping\(recording ? " after closing the session" : "")")
                        markStopping()  // first: no watchdog ping may follow STOPPING=1
                        notifier.stopping(status: recording ? "stopping: closing the session" : "stopping")
                        if recording { _ = try? await stopSession() }
                        return
                    }
                }
                if let reload {
                    group.addTask {
                        for await _ in Self.signals([SIGHUP]) { await reload() }
                    }
                }
            }
            group.addTask { [self] in
                var nextProgressCheck = HostClock.monotonicNanos() + 1_000_000_000
                var nextPing = HostClock.monotonicNanos()
                var withheld = false
                while !Task.isCancelled {
                    try await Task.sleep(nanoseconds: 250_000_000)
                    checkLiveness()
                    checkWallClock()
                    let now = HostClock.monotonicNanos()
                    if now >= nextProgressCheck {
                        checkProgress()
                        nextProgressCheck = now + 1_000_000_000
                    }
                    // Between READY=1 and STOPPING=1 only: systemd stops watching once the stop begins.
                    if isReady { watchdogTick(notifier, now: now, next: &nextPing, withheld: &withheld) }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Signals as an async stream (their default actions are disabled while it lives).
    static func signals(_ numbers: [Int32]) -> AsyncStream<Int32> {
        AsyncStream { continuation in
            let sources = numbers.map { number in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { continuation.yield(number) }
                source.resume()
                return source
            }
            // The sources are only cancelled here, once; Dispatch sources are thread-safe to cancel.
            nonisolated(unsafe) let owned = sources
            continuation.onTermination = { _ in owned.forEach { $0.cancel() } }
        }
    }

    func addRoutes(_ router: Router<BasicWebSocketRequestContext>) {
        let auth = OperatorAuth<BasicWebSocketRequestContext>(token: { [self] in configuration.operatorToken })
        router.group("metrics").add(middleware: auth).get { [self] _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: metricsText())))
        }
        router.get("healthz") { [self] _, _ in
            let stalled = stalledParts.withLock { $0 }
            return stalled.isEmpty
                ? jsonResponse(.object(["status": .string("ok")]))
                : jsonResponse(.object(["status": .string("stalled"), "stalled": .array(stalled.map(JSONValue.string))]),
                               status: .serviceUnavailable)
        }
        router.get("readyz") { [self] _, _ in
            let readiness = readiness.withLock { $0 }
            return jsonResponse(.object(["status": .string(readiness)]), status: readiness == "ready" ? .ok : .serviceUnavailable)
        }
        let api = router.group("api/v1").add(middleware: auth)
        api.get("status") { [self] _, _ in jsonResponse(statusJSON()) }
        api.get("devices") { [self] _, _ in
            let now = HostClock.monotonicNanos()
            return jsonResponse(.object(["devices": devicesJSON(now: now), "hub_time_ns": .int(now)]))
        }
        api.get("sessions") { [self] _, _ in jsonResponse(.object(["sessions": sessionsJSON()])) }
        api.post("sessions") { [self] request, _ in
            let body = try await requestJSON(request)
            var name = ""
            if case .object(let members) = body, case .string(let text)? = members["name"] { name = text }
            return try await operatorCall(status: .created) { summaryJSON(try await startSession(name: name)) }
        }
        api.post("sessions/current/stop") { [self] _, _ in
            try await operatorCall(status: .ok) { summaryJSON(try await stopSession()) }
        }
        api.post("sessions/current/markers") { [self] request, _ in
            let body = try await requestJSON(request)
            guard case .object(let members) = body, case .string(let label)? = members["label"], !label.isEmpty, label.utf8.count <= 256 else {
                return errorResponse(.badRequest, .invalidMessage, "body must be {\"label\": \"...\"} with 1-256 bytes")
            }
            return try await operatorCall(status: .created) { try addOperatorMarker(label) }
        }
    }

    func operatorCall(status: HTTPResponse.Status, _ body: () async throws -> JSONValue) async throws -> Response {
        do { return jsonResponse(try await body(), status: status) } catch let error as HubError {
            let httpStatus: HTTPResponse.Status = switch error.kind {
            case .conflict: .conflict
            case .notFound: .notFound
            case .badRequest: .badRequest
            case .internalFailure: .internalServerError
            }
            return errorResponse(httpStatus, error.code, error.description)
        }
    }

    func requestJSON(_ request: Request) async throws -> JSONValue {
        let buffer = try await request.body.collect(upTo: ControlLimits.messageBytesMax)
        let bytes = Array(buffer.readableBytesView)
        if bytes.isEmpty { return .object([:]) }
        do { return try JSONValue.parse(bytes) } catch {
            throw HTTPError(.badRequest, message: "\(error)")
        }
    }

    func jsonResponse(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response { apiJSONResponse(value, status: status) }

    func errorResponse(_ status: HTTPResponse.Status, _ code: ErrorCode, _ message: String) -> Response {
        apiErrorResponse(status, code, message)
    }
}

/// A JSON body with its content type.
func apiJSONResponse(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: value.serialized + "\n")))
}

/// The API's error form: {"error": {"code": "...", "message": "..."}} (docs/protocol.md error codes).
func apiErrorResponse(_ status: HTTPResponse.Status, _ code: ErrorCode, _ message: String) -> Response {
    apiJSONResponse(.object(["error": .object(["code": .string(code.rawValue), "message": .string(message)])]), status: status)
}
