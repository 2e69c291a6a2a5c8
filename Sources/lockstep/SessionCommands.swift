// `lockstep session ID` and `lockstep report ID|FOLDER`: one session's details and its timing report,
// from the hub or, for a report, straight from a session folder on this machine.
import ArgumentParser
import Foundation
import HubClient
import Platform
import Report
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
        commandName: "report", abstract: "Print or write a session's timing report (exit 1 when its verdict is \"fail\").",
        discussion: """
            SESSION is a session id known to the hub, or the path of a session folder: a folder's report is rebuilt \
            from its raw clock samples without the hub. Formats: summary (a table, default), json (the canonical form), \
            csv (tidy, one row per observation), html (one self-contained page). docs/reports.md explains every figure.
            """)
    enum Format: String, ExpressibleByArgument, CaseIterable { case summary, json, csv, html }

    @OptionGroup var options: HubOptions
    @Argument(help: "Session id or session folder.") var session: String
    @Option(help: "summary, json, csv or html.") var format: Format = .summary
    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.") var output: String?
    @Option(help: "Alignment tolerance for the verdict, in µs, when rebuilding from a folder (the hub's report uses its own).")
    var toleranceUs: Int64 = 1000

    func validate() throws {
        guard (1...60_000_000).contains(toleranceUs) else { throw ValidationError("--tolerance-us must be 1 to 60000000") }
    }

    func run() async throws {
        let report = try await load()
        let format = options.json && format == .summary ? .json : format
        let text: String = switch format {
        case .json: report.serialized + "\n"
        case .csv: ReportCSV.render(report)
        case .html: ReportHTML.render(report)
        case .summary: summary(report)
        }
        if let output {
            do { try FileIO.replaceAtomically(output, with: Array(text.utf8)) } catch {
                throw failure("cannot write \(output): \(error)", code: 2)
            }
            print("\(format.rawValue) report written to \(output)")
        } else {
            print(text, terminator: "")
        }
        if report["verdict"].text == "fail" { throw ExitCode(1) }
    }

    func summary(_ report: JSONValue) -> String {
        var lines: [String] = []
        let header = ["device", "source", "used/all", "min delay ns", "skew ppm", "TE p99 ns", "bound p99.9 ns", "steps"]
        tableLines(header, report["devices"].items.map { d in
            [d["device_id"].text, d["timestamp_source"].text, "\(d["samples_used"].text)/\(d["samples"].text)", d["delay_ns"]["min"].text,
             d["skew_ppm"].text, d["time_error_ns"]["p99"].text, d["bound_ns"]["p999"].text, String(d["steps"].items.count)]
        }, into: &lines)
        let alignment = report["alignment"]
        lines.append("")
        lines.append("pairwise alignment: p99 \(alignment["p99_ns"].text) ns, p99.9 \(alignment["p999_ns"].text) ns, "
            + "max \(alignment["max_ns"].text) ns; tolerance \(report["tolerance_ns"].text) ns; verdict: \(report["verdict"].text)")
        lines.append(report["headline"].text)
        return lines.joined(separator: "\n") + "\n"
    }

    func load() async throws -> JSONValue {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: session, isDirectory: &isFolder), isFolder.boolValue {
            do { return try SessionReport.build(folder: session, toleranceNanos: toleranceUs * 1000) } catch {
                throw failure("\(error)", code: 1)
            }
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

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a session folder for other tools: XDF (pyxdf, MNE, EEGLAB) or CSV.",
        discussion: """
            Reads the session folder directly (no hub needed). XDF: one stream per device stream, one sample per frame \\
            (sequence, file offset, payload bytes) on the device clock, with ClockOffset chunks that put it on the hub \\
            timeline, and a markers stream. CSV: one file per stream with device and hub times, and markers.csv.
            """)
    enum Format: String, ExpressibleByArgument, CaseIterable { case xdf, csv }

    @Argument(help: "Session folder, or a session id under --data-dir.") var session: String
    @Option(help: "Data folder holding sessions/ (when SESSION is an id).") var dataDir: String = "./lockstep-data"
    @Option(help: "xdf or csv.") var format: Format = .xdf
    @Option(name: .shortAndLong, help: "Output file (xdf) or folder (csv); default: in the session folder.") var output: String?

    func run() throws {
        let folder = FileIO.exists(session + "/manifest.json") ? session : "\(dataDir)/sessions/\(try pathSegment(session))"
        guard FileIO.exists(folder + "/manifest.json") else { throw failure("\(folder) is not a session folder", code: 1) }
        do {
            let summary: ExportSummary
            switch format {
            case .xdf:
                let path = output ?? folder + "/export.xdf"
                summary = try SessionExport.writeXDF(folder: folder, to: path) { print("  stream \($0)") }
            case .csv:
                summary = try SessionExport.writeCSV(folder: folder, to: output ?? folder + "/export-csv") { print("  \($0)") }
            }
            print("exported \(summary.streams) streams, \(summary.frames) frames, \(summary.markers) markers: "
                + summary.files.prefix(1).joined() + (summary.files.count > 1 ? " (and \(summary.files.count - 1) more)" : ""))
        } catch let error as ExitCode {
            throw error
        } catch {
            throw failure("export failed: \(error)", code: 1)
        }
    }
}
