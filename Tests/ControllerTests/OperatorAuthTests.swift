// The operator token: the API and /metrics refuse a missing token (401, WWW-Authenticate) and a wrong
// one (403) with the documented error body, accept the right one, and leave /healthz, /readyz open;
// a hub bound beyond loopback refuses to start without a token; a reload cannot drop it there.
import Foundation
import Logging
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import Controller

@Suite struct OperatorAuthTests {
    static let token = "0123456789abcdef-operator"

    func request(_ port: UInt16, _ path: String, token: String?, method: String = "GET") async throws -> (Int, String, HTTPURLResponse) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        return (http.statusCode, String(decoding: data, as: UTF8.self), http)
    }

    @Test func theTokenGuardsTheAPIAndMetricsOnly() async throws {
        let testHub = try await TestHub.start { $0.operatorToken = Self.token }
        let port = testHub.httpPort
        for path in ["/api/v1/events", "/api/v1/devices/x", "/api/v1/sessions/x", "/api/v1/sessions/x/report", "/api/v1/sessions/current"] {
            #expect(try await request(port, path, token: nil).0 == 401, "\(path) without a token")
            #expect(try await request(port, path, token: Self.token + "x").0 == 403, "\(path) with a wrong token")
        }
        for path in ["/api/v1/status", "/api/v1/devices", "/api/v1/sessions", "/metrics"] {
            let (missing, body, response) = try await request(port, path, token: nil)
            #expect(missing == 401, "\(path) without a token")
            #expect(body.contains(#""code":"unauthorized""#), "\(path): \(body)")
            #expect(response.value(forHTTPHeaderField: "WWW-Authenticate")?.hasPrefix("Bearer") == true)
            let (wrong, _, _) = try await request(port, path, token: Self.token + "x")
            #expect(wrong == 403, "\(path) with a wrong token")
            let (right, _, _) = try await request(port, path, token: Self.token)
            #expect(right == 200, "\(path) with the token")
        }
        let (stop, _, _) = try await request(port, "/api/v1/sessions/current/stop", token: nil, method: "POST")
        #expect(stop == 401, "control actions are guarded too")
        for path in ["/healthz", "/readyz"] {
            let (status, _, _) = try await request(port, path, token: nil)
            #expect(status == 200, "\(path) stays open for probes")
        }
        await testHub.stop()
    }

    @Test func aNetworkBindNeedsAToken() throws {
        var configuration = HubConfiguration()
        configuration.bindHost = "0.0.0.0"
        configuration.dataDirectory = NSTemporaryDirectory() + "lockstep-auth-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: configuration.dataDirectory) }
        let hub = Hub(configuration: configuration, logger: Logger(label: "test"))
        #expect(throws: StartupError.self) { try hub.startServices() }
        #expect(throws: ConfigurationError.self) { try HubConfiguration.parse(yaml: "operator_token: short", path: "t.yaml") }
        #expect(try HubConfiguration.parse(yaml: "operator_token: \(Self.token)", path: "t.yaml").operatorToken == Self.token)
    }

    @Test func aReloadCannotOpenANetworkFacingAPI() throws {
        var configuration = HubConfiguration()
        configuration.bindHost = "0.0.0.0"
        configuration.operatorToken = Self.token
        let hub = Hub(configuration: configuration, logger: Logger(label: "test"))
        var open = configuration
        open.operatorToken = nil
        #expect(throws: ConfigurationError.self) { try hub.reload(open) }
        #expect(hub.configuration.operatorToken == Self.token)
        var rotated = configuration
        rotated.operatorToken = Self.token + "-new"
        #expect(try hub.reload(rotated).applied == ["operator_token"])
    }
}
