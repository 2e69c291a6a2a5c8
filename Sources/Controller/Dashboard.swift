// The dashboard at `/`: one page, one script and one style sheet, all served by lockstepd (no CDN, no
// build step). The page holds no data: the script reads the API (/api/v1, with the operator token
// the user typed, kept in the browser's localStorage) and follows the live event stream. A strict
// Content-Security-Policy allows only the appliance's own script, style and connections.
import Hummingbird
import HummingbirdWebSocket
import NIOCore

enum Dashboard {
    static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        + "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static func addRoutes(_ router: Router<APIContext>) {
        router.get("/") { _, _ in asset(page, type: "text/html; charset=utf-8") }
        router.get("assets/dashboard.js") { _, _ in asset(script, type: "text/javascript; charset=utf-8") }
        router.get("assets/dashboard.css") { _, _ in asset(style, type: "text/css; charset=utf-8") }
    }

    static func asset(_ text: String, type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static let page = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Lockstep</title>
        <link rel="icon" href="data:,">
        <link rel="stylesheet" href="/assets/dashboard.css">
        <script src="/assets/dashboard.js" defer></script>
        </head>
        <body>
        <header>
          <h1>Lockstep</h1>
          <span id="hub-id" class="muted"></span>
          <span id="connection" class="badge">connecting…</span>
          <span id="recording" class="badge">idle</span>
          <span id="disk" class="muted"></span>
        </header>
        <div id="message" role="alert" hidden></div>
        <section id="token-panel" hidden>
          <label for="token">Operator token</label>
          <input id="token" type="password" autocomplete="current-password" size="40">
          <button id="save-token" type="button">Use token</button>
          <span class="muted">The hub asks for its operator token (kept in this browser only).</span>
        </section>
        <main>
          <section id="device-panel" aria-label="Devices">
            <h2>Devices <span id="device-count" class="muted"></span></h2>
            <div class="scroll">
            <table id="devices">
              <thead><tr>
                <th>Required</th><th>Device</th><th>State</th><th>Offset ± bound</th><th>Skew (ppm)</th><th>Source</th>
                <th>Offset trend</th><th>Throughput</th><th>Rate trend</th><th>Backlog</th><th>Battery</th><th>Storage</th>
                <th>Temp.</th><th>Last error</th>
              </tr></thead>
              <tbody></tbody>
            </table>
            </div>
          </section>
          <section id="controls" aria-label="Session controls">
            <h2>Session</h2>
            <div id="current-session" class="muted">No session is recording.</div>
            <div class="fields">
              <label>Name <input id="session-name" maxlength="128" placeholder="e.g. pilot-03"></label>
              <label>Participant <input id="session-participant" maxlength="128"></label>
              <label class="wide">Notes <input id="session-notes" maxlength="4096"></label>
            </div>
            <div class="buttons">
              <button id="start" type="button" class="go">Start recording</button>
              <button id="stop" type="button" class="halt" disabled>Stop</button>
              <span class="marker-box">
                <input id="marker-label" maxlength="256" placeholder="marker label" aria-label="Marker label">
                <button id="add-marker" type="button" disabled>Add marker</button>
              </span>
            </div>
            <p class="muted small">Devices ticked “required” must be connected and in sync, or the start is refused.</p>
            <ol id="markers" class="small"></ol>
          </section>
          <section aria-label="Sessions">
            <h2>Recorded sessions</h2>
            <div class="scroll">
            <table id="sessions">
              <thead><tr><th>Session</th><th>Name</th><th>Participant</th><th>Status</th><th>Frames</th><th>Data</th>
                <th>Markers</th><th>Files</th></tr></thead>
              <tbody></tbody>
            </table>
            </div>
          </section>
        </main>
        <footer class="muted small">Lockstep <span id="version"></span> · timestamps: <span id="ts-source"></span> ·
          ingest: <span id="engine"></span></footer>
        </body>
        </html>

        """#
}
