// Crash recovery: a session whose manifest still says "recording" when lockstepd starts was cut off
// (SIGKILL, power loss). Each stream file is scanned; a torn or damaged tail is truncated after the
// last valid record, so every frame that was written whole (and so every acknowledged frame) stays.
// The manifest gets the recovered counts and status "recovered"; the timing report is rebuilt.
import Ingest
import Logging
import Platform
import Report
import SystemPackage
import Wire

enum SessionRecovery {
    /// Recovers every interrupted session under `dataDirectory`; returns their ids.
    static func recoverAll(dataDirectory: String, toleranceNanos: Int64 = 1_000_000, logger: Logger) -> [String] {
        let root = dataDirectory + "/sessions"
        var recovered: [String] = []
        for name in (try? FileIO.list(root)) ?? [] {
            let folder = "\(root)/\(name)"
            guard let bytes = try? FileIO.readAll(folder + "/manifest.json"), case .object(let manifest)? = try? JSONValue.parse(bytes),
                manifest["status"] == .string("recording")
            else { continue }
            do {
                let problems = try recover(folder: folder, manifest: manifest, toleranceNanos: toleranceNanos)
                logger.warning("recovered interrupted session \(name)", metadata: ["problems": "\(problems.count)"])
                recovered.append(name)
            } catch {
                logger.error("cannot recover session \(name): \(error)")
            }
        }
        return recovered
    }

    static func recover(folder: String, manifest: [String: JSONValue], toleranceNanos: Int64 = 1_000_000) throws -> [String] {
        var top = manifest
        var problems: [String] = []
        if case .array(let existing)? = top["problems"] { problems = existing.compactMap { if case .string(let s) = $0 { s } else { nil } } }
        var totalFrames: Int64 = 0
        var totalBytes: Int64 = 0
        var devices: [JSONValue] = []
        var deviceIDs: [String] = []
        guard case .array(let deviceList)? = top["devices"] else { throw WireError(.invalidMessage, "manifest has no devices") }
        for case .object(var device) in deviceList {
            guard case .string(let deviceID)? = device["device_id"], case .array(let streamList)? = device["streams"] else { continue }
            deviceIDs.append(deviceID)
            var streams: [JSONValue] = []
            for case .object(var stream) in streamList {
                guard case .string(let file)? = stream["file"] else { continue }
                let scan = try recoverStream(folder + "/" + file, label: "\(deviceID)/\(file)", problems: &problems)
                stream["frames"] = .int(scan?.frameCount ?? 0)
                stream["payload_bytes"] = .int(scan?.payloadByteCount ?? 0)
                totalFrames += scan?.frameCount ?? 0
                totalBytes += scan?.payloadByteCount ?? 0
                streams.append(.object(stream))
            }
            device["streams"] = .array(streams)
            devices.append(.object(device))
        }
        problems.append("recovered after an unclean stop of lockstepd; frames end where the hub stopped")
        top["devices"] = .array(devices)
        top["totals"] = .object(["frames": .int(totalFrames), "payload_bytes": .int(totalBytes)])
        top["status"] = .string("recovered")
        top["problems"] = .array(problems.map(JSONValue.string))
        try FileIO.replaceAtomically(folder + "/manifest.json", with: Array((JSONValue.object(top).serialized + "\n").utf8))
        if let journal = try? EventJournal(path: folder + "/events.jsonl") {
            journal.record("recovered", ["frames": .int(totalFrames)])
            journal.close()
        }
        try? writeReport(folder: folder, toleranceNanos: toleranceNanos)
        return problems
    }

    /// Truncates one stream file after its last valid record. Returns nil when the file is unusable.
    static func recoverStream(_ path: String, label: String, problems: inout [String]) throws -> StreamFileScan? {
        let scan: StreamFileScan
        do { scan = try StreamFileReader.scan(path) } catch {
            problems.append("\(label): unreadable, left as is: \(error)")
            return nil
        }
        guard !scan.isClean else { return scan }
        let zeros = (try? StreamFileReader.isZeroTail(path, from: scan.validByteCount)) == true
        let fd = try errnoTyped { try FileDescriptor.open(FilePath(path), .writeOnly, options: [.closeOnExec]) }
        defer { try? fd.close() }
        try FileIO.truncate(fd, to: scan.validByteCount)
        try FileIO.dataSync(fd)
        if zeros {
            problems.append("\(label): \(scan.fileByteCount - scan.validByteCount) bytes of zeros after frame \(scan.frameCount) removed "
                + "(the padding of the hub's last whole-block write; no acknowledged frame is affected)")
        } else {
            problems.append("\(label): cut from \(scan.fileByteCount) to \(scan.validByteCount) bytes after frame \(scan.frameCount) "
                + "(\(scan.problem ?? "trailing bytes"))")
        }
        return scan
    }

    /// Writes report.json from the session's stored clock samples.
    static func writeReport(folder: String, toleranceNanos: Int64 = 1_000_000) throws {
        try SessionReport.write(folder: folder, toleranceNanos: toleranceNanos)
    }
}
