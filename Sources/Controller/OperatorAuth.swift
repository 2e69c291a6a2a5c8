// The operator token on the HTTP API and /metrics: `Authorization: Bearer <operator_token>`, compared
// in constant time. No header: 401 with WWW-Authenticate; a wrong token: 403. Open when no token is
// configured, which the hub allows only on a loopback bind. /healthz, /readyz and the devices'
// /control WebSocket (devices authenticate with their own tokens in hello) are outside it.
import Hummingbird
import Wire

struct OperatorAuth<Context: RequestContext>: RouterMiddleware {
    /// The token in force (a SIGHUP reload may change it).
    let token: @Sendable () -> String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let expected = token() else { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            var response = apiErrorResponse(
                .unauthorized, .unauthorized, "this hub requires an operator token: Authorization: Bearer <operator_token>")
            response.headers[.wwwAuthenticate] = "Bearer realm=\"lockstep\""
            return response
        }
        let prefix = "Bearer "
        guard header.hasPrefix(prefix), constantTimeEquals(String(header.dropFirst(prefix.count)), expected) else {
            return apiErrorResponse(.forbidden, .unauthorized, "the operator token is not valid")
        }
        return try await next(request, context)
    }
}

/// What a web page elsewhere must not do through an operator's browser (after the token check):
/// - a cross-site request: a POST must say `Content-Type: application/json`, which a plain form or
///   a no-cors fetch cannot send without a CORS preflight (which the hub never grants), and a request
///   whose `Origin` is not this hub's own is refused;
/// - DNS rebinding: without an operator token (loopback only), the `Host` must be a loopback name,
///   so a page whose domain was re-pointed at 127.0.0.1 cannot read or drive the API.
struct BrowserGuard<Context: RequestContext>: RouterMiddleware {
    let tokenConfigured: @Sendable () -> Bool

    static func isLoopbackHost(_ host: String) -> Bool {
        if host.hasPrefix("[::1]") { return true }
        let name = host.split(separator: ":", omittingEmptySubsequences: false).first ?? ""
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        let literal = parts.count == 4 && parts.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCII) && UInt8($0) != nil }
        return name == "localhost" || (literal && parts[0] == "127")
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let host = request.head.authority ?? ""
        if !tokenConfigured(), !Self.isLoopbackHost(host) {
            return apiErrorResponse(.forbidden, .unauthorized, "without an operator token the API answers only to a loopback Host (got \"\(host)\")")
        }
        if let origin = request.headers[.origin], origin != "http://\(host)", origin != "https://\(host)" {
            return apiErrorResponse(.forbidden, .unauthorized, "cross-origin request from \(origin) refused")
        }
        if request.method == .post, request.headers[.contentType]?.lowercased().hasPrefix("application/json") != true {
            return apiErrorResponse(.unsupportedMediaType, .invalidMessage, "POST bodies must be sent as Content-Type: application/json")
        }
        return try await next(request, context)
    }
}
