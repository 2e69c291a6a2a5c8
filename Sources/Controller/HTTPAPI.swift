// The operator API under /api/v1 (docs/api.md), the probes and /metrics, and the dashboard's assets.
// One table names every API route: it registers the handlers and answers 405 (with Allow) for a
// known path asked with another method. Every error, the router's own 404 included, has the JSON
// form {"error": {"code", "message"}}.
import Foundation
import Hummingbird
import HummingbirdWebSocket
import NIOCore
import Platform
import Report
import Wire

typealias APIContext = BasicWebSocketRequestContext
typealias APIHandler = @Sendable (Request, APIContext) async throws -> Response

/// One API route: method and path under /api/v1 (`:name` segments are parameters).
struct APIRoute: Sendable {
    var method: HTTPRequest.Method
    var path: String
    var handler: APIHandler

    /// Whether `requestPath` (under /api/v1) has this route's shape.
    func matches(_ segments: [Substring]) -> Bool {
        let own = path.split(separator: "/")
        return own.count == segments.count && zip(own, segments).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
    }
}

extension Hub {
    func apiRoutes() -> [APIRoute] {
        [
            APIRoute(method: .get, path: "status") { [self] _, _ in jsonResponse(statusJSON()) },
            APIRoute(method: .get, path: "devices") { [self] _, _ in
                let now = HostClock.monotonicNanos()
                return jsonResponse(.object(["devices": devicesJSON(now: now), "hub_time_ns": .int(now)]))
            },
            APIRoute(method: .get, path: "devices/:device") { [self] _, context in
                let id = context.parameters.get("device") ?? ""
                guard case .array(let devices) = devicesJSON(now: HostClock.monotonicNanos()),
                    let match = devices.first(where: { if case .object(let d) = $0 { d["device_id"] == .string(id) } else { false } })
                else { return errorResponse(.notFound, .notFound, "no device \"\(id)\" has joined this hub") }
                return jsonResponse(match)
            },
            APIRoute(method: .get, path: "events") { [self] _, _ in eventStreamResponse() },
            APIRoute(method: .get, path: "sessions") { [self] _, _ in jsonResponse(.object(["sessions": sessionsJSON()])) },
            APIRoute(method: .post, path: "sessions") { [self] request, _ in
                let body = try await requestJSON(request)
                return try await operatorCall(status: .created) { summaryJSON(try await startSession(try SessionRequest.parse(body))) }
            },
            APIRoute(method: .get, path: "sessions/current") { [self] _, _ in
                guard let session = state.withLock({ $0.session }) else {
                    return errorResponse(.notFound, .noSession, "no session is recording")
                }
                return jsonResponse(summaryJSON(summary(session)))
            },
            APIRoute(method: .post, path: "sessions/current/stop") { [self] _, _ in
                try await operatorCall(status: .ok) { summaryJSON(try await stopSession()) }
            },
            APIRoute(method: .post, path: "sessions/current/markers") { [self] request, _ in
                let body = try await requestJSON(request)
                guard case .object(let members) = body, members.count == 1, case .string(let label)? = members["label"], !label.isEmpty,
                    label.utf8.count <= 256
                else { return errorResponse(.badRequest, .invalidMessage, "body must be {\"label\": \"...\"} with 1-256 bytes") }
                return try await operatorCall(status: .created) { try addOperatorMarker(label) }
            },
            APIRoute(method: .get, path: "sessions/:session") { [self] _, context in
                try await operatorCall(status: .ok) { try sessionDetailJSON(try sessionFolder(context)) }
            },
            APIRoute(method: .get, path: "sessions/:session/manifest") { [self] _, context in
                sessionFile(context, "manifest.json", missing: "the session has no manifest")
            },
            APIRoute(method: .get, path: "sessions/:session/report") { [self] request, context in
                reportResponse(context, format: request.uri.queryParameters.get("format") ?? "json")
            },
        ]
    }

    func addRoutes(_ router: Router<APIContext>) {
        let routes = apiRoutes()
        router.add(middleware: APIErrorMiddleware(routes: routes))
        let auth = OperatorAuth<APIContext>(token: { [self] in configuration.operatorToken })
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
        Dashboard.addRoutes(router)
        let api = router.group("api/v1").add(middleware: auth)
            .add(middleware: BrowserGuard<APIContext>(tokenConfigured: { [self] in configuration.operatorToken != nil }))
        for route in routes { api.on(RouterPath(route.path), method: route.method, use: route.handler) }
    }

    /// The folder of the session named in the path; 400 for a malformed id, 404 for an unknown one.
    func sessionFolder(_ context: APIContext) throws(HubError) -> String {
        let id = context.parameters.get("session") ?? ""
        do throws(WireError) { try Identifier.validate(id, what: "session id", code: .unknownSession) } catch {
            throw HubError(kind: .badRequest, code: .unknownSession, description: error.message)
        }
        let folder = "\(configuration.dataDirectory)/sessions/\(id)"
        guard FileIO.exists(folder + "/manifest.json") else {
            throw HubError(kind: .notFound, code: .notFound, description: "no session \"\(id)\" in \(configuration.dataDirectory)/sessions")
        }
        return folder
    }

    /// A JSON file of a session, as stored.
    func sessionFile(_ context: APIContext, _ name: String, missing: String) -> Response {
        do {
            let folder = try sessionFolder(context)
            guard let bytes = try? FileIO.readAll("\(folder)/\(name)") else { return errorResponse(.notFound, .notFound, missing) }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        } catch {
            return errorResponse(error.kind == .badRequest ? .badRequest : .notFound, error.code, error.description)
        }
    }

    /// The timing report as JSON (as stored), HTML (as stored, served with a CSP that allows no script
    /// or fetch) or tidy CSV (rendered from the JSON).
    func reportResponse(_ context: APIContext, format: String) -> Response {
        let missing = "no timing report yet: it is written when the session stops"
        switch format {
        case "json": return sessionFile(context, SessionReport.jsonName, missing: missing)
        case "html", "csv": break
        default: return errorResponse(.badRequest, .invalidMessage, "format must be json, csv or html")
        }
        let json = sessionFile(context, SessionReport.jsonName, missing: missing)
        guard json.status == .ok else { return json }
        do {
            let folder = try sessionFolder(context)
            var headers = HTTPFields()
            let text: String
            if format == "html" {
                if let stored = try? FileIO.readAll("\(folder)/\(SessionReport.htmlName)") {
                    text = String(decoding: stored, as: UTF8.self)
                } else {
                    text = ReportHTML.render(try JSONValue.parse(FileIO.readAll("\(folder)/\(SessionReport.jsonName)")))
                }
                headers[.contentType] = "text/html; charset=utf-8"
                headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
            } else {
                text = ReportCSV.render(try JSONValue.parse(FileIO.readAll("\(folder)/\(SessionReport.jsonName)")))
                headers[.contentType] = "text/csv; charset=utf-8"
            }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        } catch {
            return errorResponse(.internalServerError, .storageError, "the report cannot be read: \(error)")
        }
    }

    /// A session's manifest with its folder, whether the report exists, and its operator and device markers.
    func sessionDetailJSON(_ folder: String) throws(HubError) -> JSONValue {
        guard let bytes = try? FileIO.readAll(folder + "/manifest.json"), case .object(var members)? = try? JSONValue.parse(bytes) else {
            throw HubError(kind: .internalFailure, code: .storageError, description: "the manifest of \(folder) cannot be read")
        }
        members["folder"] = .string(folder)
        members["report_available"] = .bool(FileIO.exists(folder + "/report.json"))
        let markers = SessionReport.readJournal(folder).filter { $0["event"] == .string("marker") }.prefix(1000)
        members["marker_list"] = .array(markers.map(JSONValue.object))
        return .object(members)
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

    /// The request body as JSON (empty means `{}`); 400 malformed_json, 413 past the message limit.
    func requestJSON(_ request: Request) async throws -> JSONValue {
        let buffer = try await request.body.collect(upTo: ControlLimits.messageBytesMax)
        let bytes = Array(buffer.readableBytesView)
        if bytes.isEmpty { return .object([:]) }
        do { return try JSONValue.parse(bytes) } catch {
            throw HTTPError(.badRequest, message: "the body is not valid JSON: \(error)")
        }
    }

    func jsonResponse(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response { apiJSONResponse(value, status: status) }

    func errorResponse(_ status: HTTPResponse.Status, _ code: ErrorCode, _ message: String) -> Response {
        apiErrorResponse(status, code, message)
    }
}

/// Turns the router's errors into the API's JSON form, and a 404 for a known path into a 405.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: [APIRoute]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do { return try await next(request, context) } catch let error as any HTTPResponseError {
            let path = request.uri.path
            if error.status == .notFound {
                let segments = path.split(separator: "/")
                if segments.count > 2, segments[0] == "api", segments[1] == "v1" {
                    var methods: [String] = []
                    for route in routes where route.matches(Array(segments.dropFirst(2))) && !methods.contains(route.method.rawValue) {
                        methods.append(route.method.rawValue)
                    }
                    if !methods.isEmpty {
                        var response = apiErrorResponse(.methodNotAllowed, .methodNotAllowed, "\(path) takes \(methods.joined(separator: ", "))")
                        response.headers[.allow] = methods.joined(separator: ", ")
                        return response
                    }
                }
                return apiErrorResponse(.notFound, .notFound, "no such path: \(path)")
            }
            let message = (error as? HTTPError)?.body ?? "\(error)"
            let code: ErrorCode = switch error.status {
            case .badRequest: .malformedJSON
            case .contentTooLarge: .messageTooLarge
            case .unauthorized, .forbidden: .unauthorized
            default: .internalError
            }
            return apiErrorResponse(error.status, code, error.status == .contentTooLarge ? "the body is larger than the limit" : message)
        }
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
