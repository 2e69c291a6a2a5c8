// Exports of a session folder for the tools researchers use:
// - XDF: one stream per device stream, one sample per frame (channels: sequence, byte offset of the
//   record in the .lss file, payload bytes) stamped with the device's capture time in seconds, plus
//   ClockOffset chunks from the report's per-segment mapping (hub − device, at device instants every
//   second), so pyxdf's own clock synchronisation lands every frame on the hub timeline; and one
//   string stream of markers already on the hub timeline.
// - CSV: per stream, sequence, device and hub times, file offset and size; markers.csv.
// Hub times are seconds of the hub timeline (CLOCK_MONOTONIC of the hub), the same in both forms.
import Foundation
import Ingest
import Platform
import Timing
import Wire

public struct ExportSummary: Sendable {
    public var streams = 0
    public var frames: Int64 = 0
    public var markers = 0
    public var files: [String] = []
}

public enum SessionExport {
    /// One stream of the session, with the mapping of its device.
    struct Stream {
        var deviceID: String
        var description: [String: JSONValue]
        var path: String
        var timing: DeviceTiming?
    }

    /// - Throws: `WireError` when the folder is not a session; file errors as they come.
    static func streams(folder: String) throws -> (streams: [Stream], manifest: [String: JSONValue]) {
        guard let bytes = try? FileIO.readAll(folder + "/manifest.json"), case .object(let manifest) = try JSONValue.parse(bytes) else {
            throw WireError(.notFound, "\(folder) has no readable manifest.json: not a session folder")
        }
        var result: [Stream] = []
        for case .object(let device) in manifest["devices"]?.arrayValue ?? [] {
            guard let id = device["device_id"]?.stringValue, (try? Identifier.validateDeviceID(id)) != nil else { continue }
            let text = String(decoding: (try? FileIO.readAll("\(folder)/clock/\(id).csv")) ?? [], as: UTF8.self)
            let samples = TimingReport.parseClockCSV(text)
            let timing = samples.isEmpty ? nil : DeviceTiming(deviceID: id, samples: samples)
            for case .object(let stream) in device["streams"]?.arrayValue ?? [] {
                guard let file = stream["file"]?.stringValue, !file.contains(".."), !file.hasPrefix("/") else { continue }
                let mapped = timing?.segments.isEmpty == false ? timing : nil
                result.append(Stream(deviceID: id, description: stream, path: "\(folder)/\(file)", timing: mapped))
            }
        }
        return (result, manifest)
    }

    /// The hub instant of device instant `device` (nil without a mapping). The segment is chosen by the
    /// hub's receive instant: device time alone is ambiguous after a backward clock step.
    static func hubNanos(_ device: Int64, received: Int64, _ timing: DeviceTiming?) -> Int64? {
        timing?.mapping(forHub: received).map { $0.hubInstant(at: DeviceInstant(nanos: device)).nanos }
    }

    /// Writes the XDF file. - Parameter progress: called with each stream's name as it starts.
    public static func writeXDF(folder: String, to path: String, progress: (String) -> Void = { _ in }) throws -> ExportSummary {
        let (streams, manifest) = try streams(folder: folder)
        var writer = try XDFWriter(path: path)
        var summary = ExportSummary(files: [path])
        for (index, stream) in streams.enumerated() {
            let id = UInt32(index + 1)
            let kind = stream.description["kind"]?.stringValue ?? "data"
            let name = "\(stream.deviceID)/\(kind)-\(stream.description["id"]?.intValue ?? 0)"
            progress(name)
            // A device whose clock stepped has one mapping per segment, which XDF readers cannot apply (they
            // fit one line per clock reset): its frames are stamped on the hub timeline directly.
            let stepped = (stream.timing?.segments.count ?? 0) > 1
            let clock = stepped ? "hub timeline (s): the device clock stepped, so frames are stamped with their hub time"
                : "device capture time (s); ClockOffset chunks map it to the hub timeline"
            writer.streamHeader(id: id, xml: streamXML(name: name, type: kind, channels: ["sequence", "file_offset", "payload_bytes"],
                                                      format: .double64, rate: stream.description["rate_hz"]?.doubleValue ?? 0,
                                                      source: stream.deviceID, codec: stream.description["codec"]?.stringValue ?? "", clock: clock))
            var rows: [(timestamp: Double, values: [Double])] = []
            var first: Int64?, last: Int64?, count: Int64 = 0
            var offsets: [(Double, Double)] = []
            var nextOffset = Int64.min
            var lastPair: (Int64, Int64)?
            _ = try StreamFileReader.scan(stream.path) { record in
                let device = record.header.captureNanos
                let hub = hubNanos(device, received: record.hubReceiveNanos, stream.timing)
                let stamp = stepped ? hub ?? record.hubReceiveNanos : device
                first = first ?? stamp
                last = stamp
                count += 1
                // One offset per second of frames (and the last frame's, below): enough for a linear fit.
                if !stepped, let hub, device >= nextOffset {
                    offsets.append((Double(device) / 1e9, Double(hub - device) / 1e9))
                    nextOffset = device + 1_000_000_000
                }
                rows.append((Double(stamp) / 1e9, [Double(record.header.sequence), Double(record.fileOffset), Double(record.payload.count)]))
                if rows.count == 1000 {
                    writer.samples(id: id, rows)
                    rows.removeAll(keepingCapacity: true)
                }
                if !stepped, let hub { lastPair = (device, hub) }
            }
            if !rows.isEmpty { writer.samples(id: id, rows) }
            if let (device, hub) = lastPair, offsets.last.map({ $0.0 < Double(device) / 1e9 }) == true {
                offsets.append((Double(device) / 1e9, Double(hub - device) / 1e9))
            }
            for (time, value) in offsets { writer.clockOffset(id: id, collectionTime: time, offset: value) }
            writer.streamFooter(id: id, xml: footerXML(first: first, last: last, count: count, offsets: offsets))
            summary.streams += 1
            summary.frames += count
        }
        let markers = markerRows(folder: folder, streams: streams)
        if !markers.isEmpty {
            let id = UInt32(streams.count + 1)
            writer.streamHeader(id: id, xml: streamXML(name: "markers", type: "Markers", channels: ["label"], format: .string, rate: 0,
                                                      source: manifest["hub_id"]?.stringValue ?? "lockstep", codec: "", clock: "hub timeline (s)"))
            writer.stringSamples(id: id, markers.map { (Double($0.hubNanos) / 1e9, $0.label) })
            // Already on the hub timeline: a zero offset at each end says so to readers that sync every stream
            // (two distinct instants, or none: a fit through one point is undefined).
            if let firstMarker = markers.first, let lastMarker = markers.last, lastMarker.hubNanos > firstMarker.hubNanos {
                for time in [firstMarker.hubNanos, lastMarker.hubNanos] { writer.clockOffset(id: id, collectionTime: Double(time) / 1e9, offset: 0) }
            }
            writer.streamFooter(id: id, xml: footerXML(first: markers.first?.hubNanos, last: markers.last?.hubNanos, count: Int64(markers.count),
                                                       offsets: []))
            summary.markers = markers.count
        }
        writer.boundary()
        try writer.finish()
        return summary
    }

    /// Writes one CSV per stream (`<device>/stream-<id>.csv`) and markers.csv into `directory`.
    public static func writeCSV(folder: String, to directory: String, progress: (String) -> Void = { _ in }) throws -> ExportSummary {
        let (streams, _) = try streams(folder: folder)
        var summary = ExportSummary()
        for stream in streams {
            let streamID = stream.description["id"]?.intValue ?? 0
            try FileIO.makeDirectories("\(directory)/\(stream.deviceID)")
            let path = "\(directory)/\(stream.deviceID)/stream-\(streamID).csv"
            progress(path)
            var text = "sequence,device_ns,hub_ns,hub_receive_ns,file_offset,payload_bytes,key_frame\n"
            var count: Int64 = 0
            _ = try StreamFileReader.scan(stream.path) { record in
                let header = record.header
                let hub = hubNanos(header.captureNanos, received: record.hubReceiveNanos, stream.timing).map(String.init) ?? ""
                text += "\(header.sequence),\(header.captureNanos),\(hub),\(record.hubReceiveNanos),\(record.fileOffset),"
                    + "\(record.payload.count),\(header.flags & FrameHeader.keyFrameFlag != 0 ? 1 : 0)\n"
                count += 1
            }
            try FileIO.replaceAtomically(path, with: Array(text.utf8))
            summary.files.append(path)
            summary.streams += 1
            summary.frames += count
        }
        let markers = markerRows(folder: folder, streams: streams)
        var text = "hub_ns,label,source,device_id,device_ns\n"
        for marker in markers {
            let label = "\"" + marker.label.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            text += "\(marker.hubNanos),\(label),\(marker.deviceID == nil ? "operator" : "device"),\(marker.deviceID ?? ""),"
                + "\(marker.deviceNanos.map(String.init) ?? "")\n"
        }
        try FileIO.replaceAtomically("\(directory)/markers.csv", with: Array(text.utf8))
        summary.files.append("\(directory)/markers.csv")
        summary.markers = markers.count
        return summary
    }

    struct MarkerRow {
        var hubNanos: Int64
        var label: String
        var deviceID: String?
        var deviceNanos: Int64?
    }

    /// Operator markers at their hub instant; device markers at their device instant mapped to the hub
    /// timeline (their hub receive instant when the device has no mapping). Sorted by time.
    static func markerRows(folder: String, streams: [Stream]) -> [MarkerRow] {
        let timings = Dictionary(streams.compactMap { s in s.timing.map { (s.deviceID, $0) } }, uniquingKeysWith: { a, _ in a })
        return SessionReport.readJournal(folder).compactMap { event -> MarkerRow? in
            guard event["event"] == .string("marker"), let label = event["label"]?.stringValue else { return nil }
            if let operatorNanos = event["hub_ns_operator"]?.intValue { return MarkerRow(hubNanos: operatorNanos, label: label) }
            guard let id = event["device_id"]?.stringValue else { return nil }
            let deviceNanos = event["device_ns"]?.intValue
            let received = event["hub_receive_ns"]?.intValue
            let mapped = deviceNanos.flatMap { device in received.flatMap { hubNanos(device, received: $0, timings[id]) } }
            guard let hub = mapped ?? received else { return nil }
            return MarkerRow(hubNanos: hub, label: label, deviceID: id, deviceNanos: deviceNanos)
        }.sorted { $0.hubNanos < $1.hubNanos }
    }

    static func streamXML(name: String, type: String, channels: [String], format: XDFWriter.Format, rate: Double, source: String,
                          codec: String, clock: String) -> String {
        let e = XDFWriter.escape
        let labels = channels.map { "<channel><label>\(e($0))</label></channel>" }.joined()
        return "<?xml version=\"1.0\"?><info><name>\(e(name))</name><type>\(e(type))</type><channel_count>\(channels.count)</channel_count>"
            + "<nominal_srate>\(rate)</nominal_srate><channel_format>\(format.rawValue)</channel_format><source_id>\(e(source))</source_id>"
            + "<desc><channels>\(labels)</channels><codec>\(e(codec))</codec><clock>\(e(clock))</clock></desc></info>"
    }

    static func footerXML(first: Int64?, last: Int64?, count: Int64, offsets: [(Double, Double)]) -> String {
        let clock = offsets.map { "<offset><time>\($0.0)</time><value>\($0.1)</value></offset>" }.joined()
        return "<?xml version=\"1.0\"?><info><first_timestamp>\(first.map { Double($0) / 1e9 } ?? 0)</first_timestamp>"
            + "<last_timestamp>\(last.map { Double($0) / 1e9 } ?? 0)</last_timestamp><sample_count>\(count)</sample_count>"
            + "<clock_offsets>\(clock)</clock_offsets></info>"
    }
}
