// A small client for the hub's HTTP API (docs/api.md), shared by the `lockstep` CLI and lockstep-bench.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Wire

/// Why a call to the hub failed.
public enum HubClientError: Error, CustomStringConvertible {
    /// The hub could not be reached.
    case unreachable(String)
    /// The hub answered with an error status; `code` is the stable error code when it sent one.
    case refused(status: Int, code: String?, message: String)

    public var description: String {
        switch self {
        case .unreachable(let reason): reason
        case .refused(let status, let code, let message): "hub refused (\(status)\(code.map { " " + $0 } ?? "")): \(message)"
        }
    }
}

public struct HubClient: Sendable {
    public let base: String
    /// The operator token sent as `Authorization: Bearer` (a hub bound beyond loopback requires one).
    public let token: String?

    /// - Parameters:
    ///   - base: e.g. "http://127.0.0.1:8750".
    ///   - token: the operator token; by default $LOCKSTEP_OPERATOR_TOKEN, if set.
    public init(base: String, token: String? = ProcessInfo.processInfo.environment["LOCKSTEP_OPERATOR_TOKEN"]) {
        self.base = base
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
    }

    public func get(_ path: String) async throws(HubClientError) -> JSONValue { try await call("GET", path, body: nil) }

    /// A plain-text resource outside the API (e.g. "/metrics"), with the token.
    public func text(_ path: String) async throws(HubClientError) -> String {
        guard let url = URL(string: base + path) else { throw .unreachable("bad hub URL \(base)") }
        var request = URLRequest(url: url)
        request.timeoutInterval = 30
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        do {
            let (data, response) = try await URLSession.shared.data(for: request)
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            guard status == 200 else { throw HubClientError.refused(status: status, code: nil, message: "\(path) answered \(status)") }
            return String(decoding: data, as: UTF8.self)
        } catch let error as HubClientError {
            throw error
        } catch {
            throw .unreachable("cannot reach the hub at \(base): \(error.localizedDescription)")
        }
    }

    public func post(_ path: String, _ body: JSONValue? = nil) async throws(HubClientError) -> JSONValue {
        try await call("POST", path, body: body)
    }

    func call(_ method: String, _ path: String, body: JSONValue?) async throws(HubClientError) -> JSONValue {
        guard let url = URL(string: base + "/api/v1/" + path) else { throw .unreachable("bad hub URL \(base)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = 60
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if method == "POST" {
            // The hub refuses a POST without this header (a cross-site form could send one).
            request.httpBody = Data((body ?? .object([:])).serialized.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let data: Data
        let response: URLResponse
        do { (data, response) = try await URLSession.shared.data(for: request) } catch {
            throw .unreachable("cannot reach the hub at \(base): \(error.localizedDescription) (is lockstepd running?)")
        }
        let value = (try? JSONValue.parse(Array(data))) ?? .null
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            let error = value["error"]
            if status == 401 || status == 403 {
                let hint = token == nil ? "set LOCKSTEP_OPERATOR_TOKEN to the hub's operator_token" : "check LOCKSTEP_OPERATOR_TOKEN"
                throw .refused(status: status, code: error["code"].stringValue, message: (error["message"].stringValue ?? "refused") + " (\(hint))")
            }
            throw .refused(status: status, code: error["code"].stringValue, message: error["message"].stringValue ?? "HTTP \(status)")
        }
        return value
    }
}

extension JSONValue {
    /// The member `key` of an object, or null.
    public subscript(_ key: String) -> JSONValue {
        if case .object(let members) = self { return members[key] ?? .null }
        return .null
    }

    /// A short text form for tables: strings bare, null as "-".
    public var text: String {
        switch self {
        case .null: "-"
        case .string(let value): value
        case .int(let value): String(value)
        case .double(let value): String(value)
        case .bool(let value): value ? "yes" : "no"
        default: serialized
        }
    }

    public var items: [JSONValue] {
        if case .array(let values) = self { return values }
        return []
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var int64Value: Int64? {
        switch self {
        case .int(let value): value
        case .double(let value): Int64(exactly: value.rounded())
        default: nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }
}
