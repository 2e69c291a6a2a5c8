// The operator API (docs/api.md) against a real hub with simulated devices: every endpoint's shape,
// a session driven start to report through HTTP, the live event stream, and every bad request with
// its documented status and error code. Nothing a bad request does may disturb the recording.
import Dispatch
import Foundation
import Platform
import SystemPackage
import Testing
import Wire
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import Controller

struct HTTPReply {
    var status: Int
    var body: JSONValue
    var headers: [String: String]
    var error: String? { if case .object(let m) = body, case .object(let e)? = m["error"], case .string(let c)? = e["code"] { c } else { nil } }
    subscript(_ key: String) -> JSONValue? { if case .object(let m) = body { m[key] } else { nil } }
}

func http(_ port: UInt16, _ method: String, _ path: String, body: String? = nil, headers extra: [String: String] = [:]) async throws -> HTTPReply {
    var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
    request.httpMethod = method
    request.timeoutInterval = 60
    if method == "POST" { request.setValue("application/json", forHTTPHeaderField: "Content-Type") }
    for (name, value) in extra { request.setValue(value, forHTTPHeaderField: name) }
    if let body { request.httpBody = Data(body.utf8) }
    let (data, response) = try await URLSession.shared.data(for: request)
    let reply = try #require(response as? HTTPURLResponse)
    var headers: [String: String] = [:]
    for (key, value) in reply.allHeaderFields { headers["\(key)".lowercased()] = "\(value)" }
    return HTTPReply(status: reply.statusCode, body: (try? JSONValue.parse(Array(data))) ?? .string(String(decoding: data, as: UTF8.self)),
                     headers: headers)
}

/// Reads the event stream on a plain socket (off the cooperative pool) until `enough` says so or 20 s pass.
func readEvents(_ port: UInt16, enough: @escaping @Sendable (String) -> Bool) async throws -> String {
    try await offPool {
        let fd = try Socket.connectTCP(try IPv4Endpoint(host: "127.0.0.1", port: port))
        defer { try? fd.close() }
        try Socket.sendAll(fd, Array("GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: text/event-stream\r\n\r\n".utf8))
        try Socket.setReceiveTimeout(fd, millis: 1000)
        var text = ""
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = HostClock.monotonicNanos() + 20_000_000_000
        while HostClock.monotonicNanos() < deadline, !enough(text) {
            do {
                let count = try buffer.withUnsafeMutableBytes { try Socket.receive(fd, into: $0) }
                if count == 0 { break }
                text += String(decoding: buffer[..<count], as: UTF8.self)
            } catch Errno.resourceTemporarilyUnavailable { continue }
        }
        return text
    }
}

@Suite(.serialized) struct APITests {
    @Test func aSessionDrivenThroughTheAPIFromStartToReport() async throws {
        let testHub = try await TestHub.start()
        let port = testHub.httpPort
        let agents = ["cam-a", "cam-b"].map { testHub.agent($0, scale: 0.01) }
        let tasks = agents.map { agent in Task { await agent.run() } }
        try await testHub.waitForDevices(2)

        let status = try await http(port, "GET", "/api/v1/status")
        #expect(status.status == 200)
        #expect(status["devices_connected"] == .int(2))
        guard case .object(let disk)? = status["disk"], case .int(let free)? = disk["free_bytes"] else {
            Issue.record("status.disk: \(status.body)")
            return
        }
        #expect(free > 0)
        let device = try await http(port, "GET", "/api/v1/devices/cam-a")
        #expect(device.status == 200 && device["device_id"] == .string("cam-a") && device["state"] == .string("connected"))
        #expect(device["health"] != nil && device["recording"] == .bool(false))
        #expect(try await http(port, "GET", "/api/v1/devices/nobody").error == "not_found")

        // The event stream runs through the whole session.
        async let events = readEvents(port) { $0.contains("event: session") && $0.contains("\"label\":\"tap\"") }
        for _ in 0..<200 where testHub.hub.events.clientCount == 0 { try await Task.sleep(nanoseconds: 10_000_000) }
        #expect(testHub.hub.events.clientCount == 1, "the event-stream client is connected before the start")
        let start = try await http(port, "POST", "/api/v1/sessions",
                                   body: #"{"name":"api run","participant":"P-7","notes":"n","required_devices":["cam-a"]}"#)
        #expect(start.status == 201, "\(start.body)")
        guard case .string(let id)? = start["session_id"] else {
            Issue.record("no session id: \(start.body)")
            return
        }
        #expect(start["participant"] == .string("P-7"))
        #expect(try await http(port, "POST", "/api/v1/sessions", body: "{}").error == "session_active")
        #expect(try await http(port, "GET", "/api/v1/sessions/current")["session_id"] == .string(id))
        try await Task.sleep(nanoseconds: 1_500_000_000)
        #expect(try await http(port, "POST", "/api/v1/sessions/current/markers", body: #"{"label":"tap"}"#).status == 201)
        let recording = try await http(port, "GET", "/api/v1/devices/cam-b")
        #expect(recording["recording"] == .bool(true))
        #expect(try await http(port, "GET", "/api/v1/sessions/\(id)/report").error == "not_found", "no report before the stop")
        let streamed = try await events
        #expect(streamed.hasPrefix("HTTP/1.1 200"))
        #expect(streamed.contains("content-type: text/event-stream") || streamed.contains("Content-Type: text/event-stream"))
        #expect(streamed.contains("event: snapshot"))
        #expect(streamed.contains("event: session\ndata: {\"event\":\"started\""), "the start is announced")
        #expect(streamed.contains("event: marker\ndata: ") && streamed.contains("\"source\":\"operator\""), "the marker is announced")

        let stop = try await http(port, "POST", "/api/v1/sessions/current/stop")
        #expect(stop.status == 200 && stop["status"] == .string("complete"), "\(stop.body)")
        let detail = try await http(port, "GET", "/api/v1/sessions/\(id)")
        #expect(detail["participant"] == .string("P-7") && detail["notes"] == .string("n") && detail["report_available"] == .bool(true))
        guard case .array(let markers)? = detail["marker_list"] else {
            Issue.record("marker_list: \(detail.body)")
            return
        }
        #expect(markers.contains { if case .object(let m) = $0 { m["label"] == .string("tap") } else { false } })
        #expect(try await http(port, "GET", "/api/v1/sessions/\(id)/report")["format"] == .string("lockstep-timing-report"))
        #expect(try await http(port, "GET", "/api/v1/sessions/\(id)/manifest")["session_id"] == .string(id))
        let list = try await http(port, "GET", "/api/v1/sessions")
        guard case .array(let sessions)? = list["sessions"], case .object(let first)? = sessions.first else {
            Issue.record("sessions: \(list.body)")
            return
        }
        #expect(first["session_id"] == .string(id) && first["report_available"] == .bool(true))
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        await testHub.stop()
    }

    @Test func badRequestsGetTheDocumentedErrors() async throws {
        let testHub = try await TestHub.start(engine: "posix")
        let port = testHub.httpPort
        let cases: [(String, String, String?, Int, String)] = [
            ("DELETE", "/api/v1/sessions", nil, 405, "method_not_allowed"),
            ("POST", "/api/v1/status", nil, 405, "method_not_allowed"),
            ("GET", "/api/v1/sessions/current/stop", nil, 405, "method_not_allowed"),
            ("GET", "/api/v1/no-such-thing", nil, 404, "not_found"),
            ("GET", "/nothing-here", nil, 404, "not_found"),
            ("POST", "/api/v1/sessions", "{not json", 400, "malformed_json"),
            ("POST", "/api/v1/sessions", #"{"nmae":"typo"}"#, 400, "invalid_message"),
            ("POST", "/api/v1/sessions", #"{"name":7}"#, 400, "invalid_message"),
            ("POST", "/api/v1/sessions", #"{"required_devices":["../etc"]}"#, 400, "invalid_message"),
            ("POST", "/api/v1/sessions", "[1,2]", 400, "invalid_message"),
            ("POST", "/api/v1/sessions", #"{"notes":"\#(String(repeating: "x", count: 5000))"}"#, 400, "invalid_message"),
            ("POST", "/api/v1/sessions", "{\"name\":\"" + String(repeating: "y", count: 70_000) + "\"}", 413, "message_too_large"),
            ("POST", "/api/v1/sessions", #"{"required_devices":["absent"]}"#, 409, "device_missing"),
            ("POST", "/api/v1/sessions", "{}", 409, "no_session"),
            ("POST", "/api/v1/sessions/current/stop", nil, 409, "no_session"),
            ("POST", "/api/v1/sessions/current/markers", #"{"label":"x"}"#, 409, "no_session"),
            ("POST", "/api/v1/sessions/current/markers", #"{"label":""}"#, 400, "invalid_message"),
            ("POST", "/api/v1/sessions/current/markers", #"{"label":"a","extra":1}"#, 400, "invalid_message"),
            ("GET", "/api/v1/sessions/current", nil, 404, "no_session"),
            ("GET", "/api/v1/sessions/20990101T000000Z", nil, 404, "not_found"),
            ("GET", "/api/v1/sessions/%2E%2E", nil, 400, "unknown_session"),
            ("GET", "/api/v1/sessions/a%2Fb/report", nil, 400, "unknown_session"),
            ("GET", "/api/v1/sessions/..%2F..%2Fetc/manifest", nil, 400, "unknown_session"),
            ("GET", "/api/v1/devices/ghost", nil, 404, "not_found"),
        ]
        for (method, path, body, status, code) in cases {
            let reply = try await http(port, method, path, body: body)
            #expect(reply.status == status, "\(method) \(path): \(reply.status) \(reply.body)")
            #expect(reply.error == code, "\(method) \(path): \(reply.body)")
            #expect(reply.headers["content-type"] == "application/json", "\(method) \(path)")
        }
        #expect(try await http(port, "DELETE", "/api/v1/sessions").headers["allow"] == "GET, POST")
        #expect(try await http(port, "POST", "/api/v1/sessions/current").headers["allow"] == "GET", "each method once")
        // What a page elsewhere could send through an operator's browser is refused.
        let form = try await http(port, "POST", "/api/v1/sessions/current/stop", headers: ["Content-Type": "text/plain"])
        #expect(form.status == 415 && form.error == "invalid_message", "\(form.body)")
        let crossSite = try await http(port, "POST", "/api/v1/sessions", body: "{}", headers: ["Origin": "http://evil.example"])
        #expect(crossSite.status == 403 && crossSite.error == "unauthorized", "\(crossSite.body)")
        let rebound = try await http(port, "GET", "/api/v1/status", headers: ["Host": "127.0.0.1.evil.example"])
        #expect(rebound.status == 403, "a rebound DNS name is refused without a token: \(rebound.body)")
        #expect(try await http(port, "GET", "/api/v1/status", headers: ["Host": "localhost:\(port)"]).status == 200)
        #expect(try await http(port, "GET", "/api/v1/status", headers: ["Origin": "http://127.0.0.1:\(port)"]).status == 200)
        // The hub is unharmed and still answers.
        #expect(try await http(port, "GET", "/api/v1/status").status == 200)
        #expect(try FileIO.list(testHub.folder + "/sessions").isEmpty, "no bad request created a session folder")
        await testHub.stop()
    }

    @Test func sessionRequestsAreStrict() throws {
        let request = try SessionRequest.parse(.object([
            "name": .string("n"), "participant": .string("p"), "notes": .string("x"),
            "required_devices": .array([.string("a"), .string("a"), .string("b")]),
        ]))
        #expect(request == SessionRequest(name: "n", participant: "p", notes: "x", requiredDevices: ["a", "b"]))
        #expect(try SessionRequest.parse(.object([:])) == SessionRequest())
        #expect(throws: HubError.self) { try SessionRequest.parse(.object(["required_devices": .array([.int(1)])])) }
        #expect(throws: HubError.self) { try SessionRequest.parse(.object(["name": .string(String(repeating: "n", count: 129))])) }
        #expect(throws: HubError.self) { try SessionRequest.parse(.string("name")) }
    }

    @Test func theEventBusAdmitsABoundedNumberOfClients() {
        let bus = EventBus()
        let admitted = (0..<EventBus.clientCountMax).compactMap { _ in bus.subscribe() }
        #expect(admitted.count == EventBus.clientCountMax)
        #expect(bus.subscribe() == nil, "one more is refused")
        bus.unsubscribe(admitted[0].id)
        #expect(bus.subscribe() != nil, "a slot frees when a client leaves")
        bus.finishAll()
    }

    @Test func theDashboardIsSelfContained() async throws {
        let testHub = try await TestHub.start(engine: "posix")
        let port = testHub.httpPort
        let page = try await http(port, "GET", "/")
        #expect(page.status == 200 && page.headers["content-type"]?.hasPrefix("text/html") == true)
        #expect(page.headers["content-security-policy"]?.contains("script-src 'self'") == true)
        for asset in ["/assets/dashboard.js", "/assets/dashboard.css"] {
            let reply = try await http(port, "GET", asset)
            #expect(reply.status == 200, "\(asset)")
        }
        // Nothing is fetched from elsewhere: every src/href in the page is a local path (or data:).
        for text in [Dashboard.page, Dashboard.script, Dashboard.style] {
            for scheme in ["https://", "http://", "//cdn", "@import"] {
                let uses = text.components(separatedBy: scheme).count - 1
                let namespaces = text.components(separatedBy: "http://www.w3.org/2000/svg").count - 1
                #expect(uses == (scheme == "http://" ? namespaces : 0), "\(scheme) in a dashboard asset")
            }
        }
        #expect(!Dashboard.script.contains("innerHTML"), "hub values are written as text, never as HTML")
        await testHub.stop()
    }
}
