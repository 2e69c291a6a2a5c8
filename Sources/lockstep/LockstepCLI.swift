// lockstep: the operator CLI. Talks to the local appliance over its HTTP API (loopback by default)
// and verifies session folders offline. Exit codes (docs/api.md): 0 ok; 1 the hub refused, a stop
// left the session incomplete, verification found problems or a report's verdict is "fail";
// 2 the hub cannot be reached; 64 bad usage.
import ArgumentParser
import Foundation
import HubClient
import Ingest
import Wire

@main
struct Lockstep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lockstep", abstract: "Operate a Lockstep hub and check its recordings.",
        subcommands: [
            Status.self, Devices.self, Start.self, Stop.self, Mark.self, Sessions.self, Session.self, Report.self, Export.self, Verify.self,
        ])
}

struct HubOptions: ParsableArguments {
    @Option(help: "Hub API base URL (default: $LOCKSTEP_HUB, else the port in /etc/lockstep/lockstepd.yaml, else http://127.0.0.1:8750).")
    var hub: String?
    @Option(help: "Operator token (default: $LOCKSTEP_OPERATOR_TOKEN, else the installed config's if readable).") var token: String?
    @Flag(help: "Print JSON instead of a table.") var json = false
}

/// Calls the hub API and returns the decoded JSON, or exits with a clear message (1 refused, 2 unreachable).
func call(_ options: HubOptions, _ method: String, _ path: String, body: JSONValue? = nil) async throws -> JSONValue {
    let local = LocalHub.resolve(hubFlag: options.hub, tokenFlag: options.token)
    let client = HubClient(base: local.url, token: local.token)
    do {
        return method == "GET" ? try await client.get(path) : try await client.post(path, body)
    } catch {
        if case .unreachable = error { throw failure("\(error)", code: 2) }
        throw failure("\(error)", code: 1)
    }
}

func failure(_ message: String, code: Int32) -> ExitCode {
    FileHandle.standardError.write(Data("lockstep: \(message)\n".utf8))
    return ExitCode(code)
}

/// Prints rows as an aligned table.
func printTable(_ header: [String], _ rows: [[String]]) {
    var lines: [String] = []
    tableLines(header, rows, into: &lines)
    for line in lines { print(line) }
}

/// Rows as aligned lines.
func tableLines(_ header: [String], _ rows: [[String]], into lines: inout [String]) {
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
    for row in [header] + rows {
        lines.append(row.indices.map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the hub's state.")
    @OptionGroup var options: HubOptions

    func run() async throws {
        let status = try await call(options, "GET", "status")
        if options.json { print(status.serialized); return }
        printTable(["hub", "version", "devices", "recording", "session", "data dir"], [[
            status["hub_id"].text, status["software_version"].text, status["devices_connected"].text,
            status["recording"].text, status["session"]["session_id"].text, status["data_dir"].text,
        ]])
    }
}

struct Devices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List devices with their clock estimate.")
    @OptionGroup var options: HubOptions

    func run() async throws {
        let devices = try await call(options, "GET", "devices")
        if options.json { print(devices.serialized); return }
        let header = ["device", "health", "streams", "offset ns", "± ns", "skew ppm", "source", "bytes/s", "backlog", "battery", "last error"]
        printTable(header, devices["devices"].items.map { d in
            [d["device_id"].text, d["health"].text, String(d["streams"].items.count), d["clock"]["offset_ns"].text,
             d["clock"]["uncertainty_ns"].text, d["clock"]["skew_ppm"].text, d["clock"]["timestamp_source"].text,
             d["throughput_bytes_per_s"].text, d["backlog_frames"].text, d["battery_pct"].text, d["last_error"].text]
        })
    }
}

func printSession(_ session: JSONValue, json: Bool) {
    if json { print(session.serialized); return }
    printTable(["session", "status", "devices", "frames", "bytes", "folder"], [[
        session["session_id"].text, session["status"].text, String(session["devices"].items.count), session["frames"].text,
        session["payload_bytes"].text, session["folder"].text,
    ]])
    for problem in session["problems"].items { print("problem: \(problem.text)") }
}

struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start a synchronized recording with every connected device.")
    @OptionGroup var options: HubOptions
    @Option(help: "Session name (letters, digits, '.', '_', '-' are kept in the folder name).") var name: String = ""
    @Option(help: "Participant code, stored in the manifest.") var participant: String = ""
    @Option(help: "Free-text notes, stored in the manifest.") var notes: String = ""
    @Option(name: .customLong("require"), help: "A device that must be connected and in sync (repeatable).") var required: [String] = []

    func run() async throws {
        let body: JSONValue = .object([
            "name": .string(name), "participant": .string(participant), "notes": .string(notes),
            "required_devices": .array(required.map(JSONValue.string)),
        ])
        printSession(try await call(options, "POST", "sessions", body: body), json: options.json)
    }
}

struct Stop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop the recording; returns when every frame is stored.")
    @OptionGroup var options: HubOptions

    func run() async throws {
        let session = try await call(options, "POST", "sessions/current/stop")
        printSession(session, json: options.json)
        if session["status"].text != "complete" { throw ExitCode(1) }
    }
}

struct Mark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Add an operator marker to the running session.")
    @OptionGroup var options: HubOptions
    @Argument(help: "Marker label.") var label: String

    func run() async throws {
        let marker = try await call(options, "POST", "sessions/current/markers", body: .object(["label": .string(label)]))
        print(options.json ? marker.serialized : "marker \"\(label)\" at hub \(marker["hub_ns"].text) ns")
    }
}

struct Sessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List recorded sessions.")
    @OptionGroup var options: HubOptions

    func run() async throws {
        let sessions = try await call(options, "GET", "sessions")
        if options.json { print(sessions.serialized); return }
        printTable(["session", "name", "participant", "status", "frames", "bytes", "report", "folder"], sessions["sessions"].items.map { s in
            [s["session_id"].text, s["name"].text, s["participant"].text, s["status"].text, s["totals"]["frames"].text,
             s["totals"]["payload_bytes"].text, s["report_available"].text, s["folder"].text]
        })
    }
}
