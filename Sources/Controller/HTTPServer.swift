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
    /// SIGTERM/SIGINT arrives: then a running session is stopped cleanly (devices still connected, so
    /// every announced frame is stored and the manifest written) before the listeners close.
    /// - Parameter onRunning: called with the bound HTTP port once listening.
    public func runHTTP(handleSignals: Bool = false, onRunning: @escaping @Sendable (UInt16) -> Void = { _ in }) async throws {
        let router = Router(context: BasicWebSocketRequestContext.self)
        addRoutes(router)
        router.ws("/control") { _, _ in .upgrade([:]) } onUpgrade: { [self] inbound, outbound, _ in
            await serveControl(inbound: inbound, outbound: outbound)
        }
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: router, configuration: .init(ws: .init(maxFrameSize: ControlLimits.messageBytesMax))),
            configuration: .init(address: .hostname(configuration.bindHost, port: Int(configuration.httpPort)), serverName: "lockstepd"),
            onServerRunning: { channel in onRunning(UInt16(channel.localAddress?.port ?? 0)) },
            logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService(gracefulShutdownSignals: []) }
            if handleSignals {
                group.addTask { [self] in
                    for await signal in Self.shutdownSignals() {
                        logger.notice("signal \(signal): stopping")
                        if state.withLock({ $0.session != nil }) { _ = try? await stopSession() }
                        return
                    }
                }
            }
            group.addTask { [self] in
                while !Task.isCancelled {
                    try await Task.sleep(nanoseconds: 250_000_000)
                    checkLiveness()
                    checkWallClock()
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// SIGTERM and SIGINT as an async stream (the default actions are disabled while it lives).
    static func shutdownSignals() -> AsyncStream<Int32> {
        AsyncStream { continuation in
            let sources = [SIGTERM, SIGINT].map { number in
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
        let api = router.group("api/v1")
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

    func jsonResponse(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: value.serialized + "\n")))
    }

    func errorResponse(_ status: HTTPResponse.Status, _ code: ErrorCode, _ message: String) -> Response {
        jsonResponse(.object(["error": .object(["code": .string(code.rawValue), "message": .string(message)])]), status: status)
    }
}
