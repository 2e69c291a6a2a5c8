// The report of a session folder, from the folder alone: the manifest (devices, streams, starts),
// clock/<device>.csv (every sync sample) and events.jsonl (markers, data errors). The hub writes it
// at stop and after recovery (report.json and report.html); `lockstep report` rebuilds it offline.
import Platform
import Timing
import Wire

public enum SessionReport {
    /// The report file names the hub writes into the session folder.
    public static let jsonName = "report.json"
    public static let htmlName = "report.html"

    /// Builds the report of the session in `folder`.
    /// - Throws: `WireError` when the manifest is missing or malformed.
    public static func build(folder: String, toleranceNanos: Int64 = 1_000_000) throws -> JSONValue {
        guard let bytes = try? FileIO.readAll(folder + "/manifest.json") else {
            throw WireError(.notFound, "\(folder) has no manifest.json: not a session folder")
        }
        guard case .object(let manifest) = try JSONValue.parse(bytes), case .string(let sessionID)? = manifest["session_id"] else {
            throw WireError(.invalidMessage, "\(folder)/manifest.json has no session_id")
        }
        let startHub = manifest["start_hub_ns"]?.intValue
        var devices: [DeviceClockData] = []
        var streams: [JSONValue] = []
        for case .object(let device) in manifest["devices"]?.arrayValue ?? [] {
            guard case .string(let id)? = device["device_id"], (try? Identifier.validateDeviceID(id)) != nil else { continue }
            let text = String(decoding: (try? FileIO.readAll("\(folder)/clock/\(id).csv")) ?? [], as: UTF8.self)
            let started = device["started_hub_ns"]?.intValue
            devices.append(DeviceClockData(
                deviceID: id, samples: TimingReport.parseClockCSV(text), timestampSource: TimingReport.dominantSource(clockCSV: text),
                startOffsetNanos: started.flatMap { started in startHub.map { started - $0 } }))
            for case .object(let stream) in device["streams"]?.arrayValue ?? [] {
                let frames = stream["frames"]?.intValue ?? 0
                let announced = stream["frames_announced"]?.intValue
                streams.append(.object([
                    "device_id": .string(id), "stream_id": stream["id"] ?? .null, "kind": stream["kind"] ?? .null,
                    "frames": .int(frames), "payload_bytes": stream["payload_bytes"] ?? .null,
                    "frames_announced": announced.map(JSONValue.int) ?? .null,
                    "frames_missing": announced.map { .int(max(0, $0 - frames)) } ?? .null,
                ]))
            }
        }
        let journal = readJournal(folder)
        var session: [String: JSONValue] = [:]
        for key in ["name", "participant", "notes", "status", "start_hub_ns", "stop_hub_ns", "start_spread_ns", "created_realtime_ns",
                    "hub_id", "software_version", "problems"] {
            session[key] = manifest[key] ?? .null
        }
        let stop = manifest["stop_hub_ns"]?.intValue
        session["duration_s"] = startHub.flatMap { start in stop.map { .double(Double($0 - start) / 1e9) } } ?? .null
        session["integrity"] = .object([
            "frames": manifest["totals"]?.objectValue?["frames"] ?? .null,
            "payload_bytes": manifest["totals"]?.objectValue?["payload_bytes"] ?? .null,
            "frames_missing": .int(streams.reduce(0) { $0 + ($1.objectValue?["frames_missing"]?.intValue ?? 0) }),
            "crc_failures": .int(Int64(journal.filter { $0["event"] == .string("data_error") && $0["code"] == .string("crc_mismatch") }.count)),
            "data_errors": .int(Int64(journal.filter { $0["event"] == .string("data_error") }.count)),
            "streams": .array(streams),
            "note": .string("counts from the manifest and the journal; `lockstep verify` re-reads every frame"),
        ])
        var report = TimingReport.make(sessionID: sessionID, devices: devices, toleranceNanos: toleranceNanos, session: session)
        // Markers on the hub timeline exactly as the exports place them (device markers through their mapping).
        let markers = SessionExport.markerRows(folder: folder, streams: (try? SessionExport.streams(folder: folder).streams) ?? [])
        if case .object(var top) = report {
            top["markers"] = .array(markers.prefix(10_000).map { marker in
                .object([
                    "label": .string(marker.label), "device_id": marker.deviceID.map(JSONValue.string) ?? .null, "hub_ns": .int(marker.hubNanos),
                    "device_ns": marker.deviceNanos.map(JSONValue.int) ?? .null,
                ])
            })
            report = .object(top)
        }
        return report
    }

    /// Builds and writes report.json and report.html into the folder (each replaced atomically).
    public static func write(folder: String, toleranceNanos: Int64 = 1_000_000) throws {
        let report = try build(folder: folder, toleranceNanos: toleranceNanos)
        try FileIO.replaceAtomically("\(folder)/\(jsonName)", with: Array((report.serialized + "\n").utf8))
        try FileIO.replaceAtomically("\(folder)/\(htmlName)", with: Array(ReportHTML.render(report).utf8))
    }

    /// The session's journal (events.jsonl), one object per line; unreadable lines are skipped.
    public static func readJournal(_ folder: String) -> [[String: JSONValue]] {
        guard let bytes = try? FileIO.readAll(folder + "/events.jsonl") else { return [] }
        return bytes.split(separator: UInt8(ascii: "\n")).compactMap { line in
            if case .object(let event)? = try? JSONValue.parse(Array(line)) { event } else { nil }
        }
    }
}

extension JSONValue {
    var intValue: Int64? {
        switch self {
        case .int(let value): value
        case .double(let value): Int64(exactly: value.rounded())
        default: nil
        }
    }

    var doubleValue: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }

    var stringValue: String? { if case .string(let value) = self { value } else { nil } }
    var arrayValue: [JSONValue]? { if case .array(let values) = self { values } else { nil } }
    var objectValue: [String: JSONValue]? { if case .object(let members) = self { members } else { nil } }
    subscript(_ key: String) -> JSONValue? { objectValue?[key] }
}
