// `lockstep verify SESSION`: re-reads every stream file of a session folder, checks every record's
// checksums and sequence continuity, and compares the counts with the manifest. Works offline.
// A stream is "short" when every stored frame is valid but the device sent more (a full disk), and
// "FAILED" when anything stored is damaged; both exit 1, with INCOMPLETE or FAILED said apart.
import ArgumentParser
import Foundation
import HubClient
import Ingest
import Wire

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check every frame of a session (CRC32C, sequence, manifest counts).")
    @Argument(help: "Session folder, or a session id under --data-dir.") var session: String
    @Option(help: "Data folder holding sessions/.") var dataDir: String = "./lockstep-data"
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() async throws {
        var folder = session
        if !FileManager.default.fileExists(atPath: folder + "/manifest.json") { folder = "\(dataDir)/sessions/\(session)" }
        guard let data = FileManager.default.contents(atPath: folder + "/manifest.json"),
            let manifest = try? JSONValue.parse(Array(data))
        else { throw failure("no manifest.json in \(session) or \(folder)", code: 2) }
        var rows: [[String]] = []
        var results: [JSONValue] = []
        var problems: [String] = []
        var missingFrames: Int64 = 0
        var damaged = false
        var frames: Int64 = 0
        var bytes: Int64 = 0
        for device in manifest["devices"].items {
            for stream in device["streams"].items {
                let path = folder + "/" + stream["file"].text
                let label = "\(device["device_id"].text)/\(stream["id"].text)"
                var streamProblems: [String] = []
                var missing: Int64 = 0
                var scan: StreamFileScan?
                do { scan = try StreamFileReader.scan(path) } catch { streamProblems.append("\(label): cannot read: \(error)") }
                if let scan {
                    if let problem = scan.problem { streamProblems.append("\(label): \(problem)") }
                    if case .int(let expected) = stream["frames"], expected != scan.frameCount {
                        streamProblems.append("\(label): manifest says \(expected) frames, file holds \(scan.frameCount)")
                    }
                    if case .int(let announced) = stream["frames_announced"], announced != scan.frameCount {
                        streamProblems.append("\(label): device sent \(announced) frames, file holds \(scan.frameCount)")
                        if announced > scan.frameCount { missing = announced - scan.frameCount }
                    }
                    frames += scan.frameCount
                    bytes += scan.payloadByteCount
                }
                problems += streamProblems
                // Short: every stored frame is valid, but frames the device sent are not there (a full disk).
                let short = !streamProblems.isEmpty && missing > 0 && streamProblems.count == 1
                damaged = damaged || (!streamProblems.isEmpty && !short)
                missingFrames += missing
                rows.append([label, stream["kind"].text, scan.map { String($0.frameCount) } ?? "-",
                             scan.map { String($0.payloadByteCount) } ?? "-", streamProblems.isEmpty ? "ok" : short ? "short" : "FAILED"])
                results.append(.object([
                    "stream": .string(label), "frames": .int(scan?.frameCount ?? 0), "payload_bytes": .int(scan?.payloadByteCount ?? 0),
                    "ok": .bool(streamProblems.isEmpty), "frames_missing": .int(missing), "damaged": .bool(!streamProblems.isEmpty && !short),
                    "problems": .array(streamProblems.map(JSONValue.string)),
                ]))
            }
        }
        let ok = problems.isEmpty && !results.isEmpty
        if json {
            print(JSONValue.object([
                "session_id": manifest["session_id"], "folder": .string(folder), "ok": .bool(ok), "frames": .int(frames),
                "payload_bytes": .int(bytes), "streams": .array(results), "status": manifest["status"],
                "damaged": .bool(damaged), "frames_missing": .int(missingFrames),
            ]).serialized)
        } else {
            printTable(["stream", "kind", "frames", "bytes", "check"], rows)
            let id = manifest["session_id"].text
            print("\(id): \(results.count) streams, \(frames) frames, \(bytes) payload bytes, status \(manifest["status"].text)")
            for problem in problems { print("problem: \(problem)") }
            if ok {
                print("verify: OK, every frame passed its CRC32C and sequence checks")
            } else if !damaged, !results.isEmpty {
                print("verify: INCOMPLETE: every stored frame passed its checks, but \(missingFrames) frame(s) the devices sent are missing")
            } else {
                print("verify: FAILED")
            }
        }
        if !ok { throw ExitCode(1) }
    }
}
