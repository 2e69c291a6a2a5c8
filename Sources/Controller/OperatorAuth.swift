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
