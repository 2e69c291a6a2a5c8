// `lockstep verify SESSION`: re-reads every stream file of a session folder, checks every record's
// checksums and sequence continuity, and compares the counts with the manifest. Works offline.
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
        var frames: Int64 = 0
        var bytes: Int64 = 0
        for device in manifest["devices"].items {
            for stream in device["streams"].items {
                let path = folder + "/" + stream["file"].text
                let label = "\(device["device_id"].text)/\(stream["id"].text)"
                var streamProblems: [String] = []
                var scan: StreamFileScan?
                do { scan = try StreamFileReader.scan(path) } catch { streamProblems.append("\(label): cannot read: \(error)") }
                if let scan {
                    if let problem = scan.problem { streamProblems.append("\(label): \(problem)") }
                    if case .int(let expected) = stream["frames"], expected != scan.frameCount {
                        streamProblems.append("\(label): manifest says \(expected) frames, file holds \(scan.frameCount)")
                    }
                    if case .int(let announced) = stream["frames_announced"], announced != scan.frameCount {
                        streamProblems.append("\(label): device sent \(announced) frames, file holds \(scan.frameCount)")
                    }
                    frames += scan.frameCount
                    bytes += scan.payloadByteCount
                }
                problems += streamProblems
                rows.append([label, stream["kind"].text, scan.map { String($0.frameCount) } ?? "-",
                             scan.map { String($0.payloadByteCount) } ?? "-", streamProblems.isEmpty ? "ok" : "FAILED"])
                results.append(.object([
                    "stream": .string(label), "frames": .int(scan?.frameCount ?? 0), "payload_bytes": .int(scan?.payloadByteCount ?? 0),
                    "ok": .bool(streamProblems.isEmpty), "problems": .array(streamProblems.map(JSONValue.string)),
                ]))
            }
        }
        let ok = problems.isEmpty && !results.isEmpty
        if json {
            print(JSONValue.object([
                "session_id": manifest["session_id"], "folder": .string(folder), "ok": .bool(ok), "frames": .int(frames),
                "payload_bytes": .int(bytes), "streams": .array(results), "status": manifest["status"],
            ]).serialized)
        } else {
            printTable(["stream", "kind", "frames", "bytes", "check"], rows)
            let id = manifest["session_id"].text
            print("\(id): \(results.count) streams, \(frames) frames, \(bytes) payload bytes, status \(manifest["status"].text)")
            for problem in problems { print("problem: \(problem)") }
            print(ok ? "verify: OK, every frame passed its CRC32C and sequence checks" : "verify: FAILED")
        }
        if !ok { throw ExitCode(1) }
    }
}
