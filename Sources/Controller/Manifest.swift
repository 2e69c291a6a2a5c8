// manifest.json: the self-description of a session folder (docs/recording-format.md).
import Platform
import Timing
import Wire

enum Manifest {
    static let formatVersion: Int64 = 1

    static func streamJSON(_ stream: StreamDescriptor) -> JSONValue {
        .object([
            "id": .int(Int64(stream.id)), "kind": .string(stream.kind.rawValue), "codec": .string(stream.codec),
            "rate_hz": .double(stream.rateHz), "nominal_bytes_per_s": .int(stream.nominalBytesPerSecond),
        ])
    }

    static func mappingJSON(_ mapping: ClockMapping?) -> JSONValue {
        guard let mapping, mapping.uncertaintyNanos.isFinite else { return .null }
        return .object([
            "reference_hub_ns": .int(mapping.reference.nanos), "offset_ns": .double((mapping.offsetNanos * 10).rounded() / 10),
            "skew_ppm": .double((mapping.skewPPM * 1000).rounded() / 1000), "uncertainty_ns": .int(Int64(mapping.uncertaintyNanos.rounded(.up))),
        ])
    }

    static func make(_ session: SessionRecorder, hubID: String) -> JSONValue {
        session.state.withLock { s in
            var totalFrames: Int64 = 0
            var totalBytes: Int64 = 0
            let devices: [JSONValue] = s.devices.keys.sorted().map { id in
                let device = s.devices[id]!
                let streams: [JSONValue] = device.hello.streams.map { stream in
                    let writer = device.writers[stream.id]!
                    let totals = writer.totals
                    totalFrames += totals.frameCount
                    totalBytes += totals.payloadByteCount
                    guard case .object(var members) = streamJSON(stream) else { preconditionFailure("stream JSON is an object") }
                    members["file"] = .string("devices/\(id)/stream-\(stream.id).lss")
                    members["frames"] = .int(totals.frameCount)
                    members["payload_bytes"] = .int(totals.payloadByteCount)
                    members["frames_announced"] = device.expectedFrames?[stream.id].map(JSONValue.int) ?? .null
                    return .object(members)
                }
                return .object([
                    "device_id": .string(id), "model": .string(device.hello.model),
                    "clock": .object(["domain": .string(device.hello.clock.domain), "resolution_ns": .int(device.hello.clock.resolutionNanos)]),
                    "start_device_ns": .int(device.start.startDeviceNanos),
                    "started_device_ns": device.startedDeviceNanos.map(JSONValue.int) ?? .null,
                    "started_hub_ns": device.startedDeviceNanos.map {
                        JSONValue.int(device.mappingAtStart.hubInstant(at: DeviceInstant(nanos: $0)).nanos)
                    } ?? .null,
                    "mapping_at_start": mappingJSON(device.mappingAtStart), "mapping_at_stop": mappingJSON(device.mappingAtStop),
                    "clock_samples": .string("clock/\(id).csv"), "streams": .array(streams),
                ])
            }
            // The actual start of each device on the hub timeline, and their spread.
            let startedHub: [Int64] = s.devices.values.compactMap { device in
                guard let started = device.startedDeviceNanos, device.mappingAtStart.uncertaintyNanos.isFinite else { return nil }
                return device.mappingAtStart.hubInstant(at: DeviceInstant(nanos: started)).nanos
            }
            return .object([
                "start_spread_ns": startedHub.count >= 2 ? .int(startedHub.max()! - startedHub.min()!) : .null,
                "format": .string("lockstep-session"), "format_version": .int(formatVersion), "session_id": .string(session.id),
                "name": .string(session.name), "participant": .string(session.participant), "notes": .string(session.notes),
                "status": .string(s.status), "hub_id": .string(hubID),
                "software_version": .string(softwareVersion), "hub_timeline": .string("CLOCK_MONOTONIC of the hub, nanoseconds"),
                "created_realtime_ns": .int(session.createdRealtimeNanos), "start_hub_ns": .int(session.startHubNanos),
                "stop_hub_ns": s.stopHubNanos.map(JSONValue.int) ?? .null,
                "realtime_anchor": .object(["hub_ns": .int(HostClock.monotonicNanos()), "realtime_ns": .int(HostClock.realtimeNanos())]),
                "devices": .array(devices), "markers": .int(Int64(s.markers)),
                "totals": .object(["frames": .int(totalFrames), "payload_bytes": .int(totalBytes)]),
                "problems": .array(s.problems.map(JSONValue.string)), "events": .string("events.jsonl"),
            ])
        }
    }
}
