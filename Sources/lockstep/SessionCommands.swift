// `lockstep session ID` and `lockstep report ID|FOLDER`: one session's details and its timing report,
// from the hub or, for a report, straight from a session folder on this machine.
import ArgumentParser
import Foundation
import HubClient
import Platform
import Wire

struct Session: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one session: devices, totals, problems and markers.")
    @OptionGroup var options: HubOptions
    @Argument(help: "Session id (see `lockstep sessions`), or `current`.") var id: String

    func run() async throws {
        let session = try await call(options, "GET", "sessions/\(try pathSegment(id))")
        if options.json { print(session.serialized); return }
        if id == "current" { return printSession(session, json: false) }
        printTable(["session", "name", "participant", "status", "frames", "bytes", "markers", "report"], [[
            session["session_id"].text, session["name"].text, session["participant"].text, session["status"].text,
            session["totals"]["frames"].text, session["totals"]["payload_bytes"].text, session["markers"].text,
            session["report_available"].text,
        ]])
        print("")
        printTable(["device", "streams", "start spread ns", "started hub ns"], session["devices"].items.map { d in
            [d["device_id"].text, String(d["streams"].items.count), session["start_spread_ns"].text, d["started_hub_ns"].text]
        })
        for problem in session["problems"].items { print("problem: \(problem.text)") }
        for marker in session["marker_list"].items {
            print("marker \"\(marker["label"].text)\" from \(marker["device_id"].text == "-" ? "operator" : marker["device_id"].text)")
        }
    }
}

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a session's timing report (exit 1 when its verdict is \"fail\").",
        discussion: "SESSION is a session id known to the hub, or the path of a session folder (read without the hub).")
    @OptionGroup var options: HubOptions
    @Argument(help: "Session id or session folder.") var session: String
    @Option(name: .shortAndLong, help: "Write the report (JSON) to this file instead of printing a summary.") var output: String?

    func run() async throws {
        let report = try await load()
        if let output {
            do { try FileIO.replaceAtomically(output, with: Array((report.serialized + "\n").utf8)) } catch {
                throw failure("cannot write \(output): \(error)", code: 2)
            }
            print("report written to \(output)")
        } else if options.json {
            print(report.serialized)
        } else {
            printTable(["device", "source", "samples", "used", "rejected", "min delay ns", "skew ppm", "bound ns", "steps"],
                       report["devices"].items.map { d in
                [d["device_id"].text, d["timestamp_source"].text, d["samples"].text, d["samples_used"].text,
                 d["samples_rejected"].text, d["delay_ns"]["min"].text, d["skew_ppm"].text, d["uncertainty_ns"].text,
                 String(d["steps"].items.count)]
            })
            print("\npairwise alignment bound: \(report["pairwise_alignment_bound_ns"].text) ns; "
                + "tolerance \(report["tolerance_ns"].text) ns; verdict: \(report["verdict"].text)")
        }
        if report["verdict"].text == "fail" { throw ExitCode(1) }
    }

    func load() async throws -> JSONValue {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: session, isDirectory: &isFolder), isFolder.boolValue {
            let path = session + "/report.json"
            guard let bytes = try? FileIO.readAll(path), let report = try? JSONValue.parse(bytes) else {
                throw failure("\(path) is missing or unreadable (it is written when the session stops)", code: 1)
            }
            return report
        }
        return try await call(options, "GET", "sessions/\(try pathSegment(session))/report")
    }
}

/// A session id as one URL path segment (no slashes or dots that would change the path).
func pathSegment(_ id: String) throws -> String {
    do throws(WireError) { try Identifier.validate(id, what: "session id", code: .unknownSession) } catch {
        throw failure("\(error.message)", code: 64)
    }
    return id
}
