// JSON field mapping of each control message body (the tables in docs/protocol.md).

extension ControlMessage {
    func bodyMembers() -> [String: JSONValue] {
        switch self {
        case .hello(let hello): hello.members()
        case .welcome(let welcome): welcome.members()
        case .start(let start):
            [
                "session_id": .string(start.sessionID), "start_hub_ns": .int(start.startHubNanos),
                "start_device_ns": .int(start.startDeviceNanos), "uncertainty_ns": .int(start.uncertaintyNanos),
            ]
        case .started(let started):
            ["session_id": .string(started.sessionID), "start_device_ns": .int(started.startDeviceNanos)]
        case .stop(let stop):
            [
                "session_id": .string(stop.sessionID), "stop_hub_ns": .int(stop.stopHubNanos),
                "stop_device_ns": .int(stop.stopDeviceNanos),
            ]
        case .stopped(let stopped):
            [
                "session_id": .string(stopped.sessionID),
                "streams": .array(stopped.streams.map {
                    .object(["stream_id": .int(Int64($0.streamID)), "frame_count": .int($0.frameCount)])
                }),
            ]
        case .status(let status):
            [
                "battery_pct": .from(status.batteryPercent, JSONValue.double),
                "storage_free_bytes": .from(status.storageFreeBytes, JSONValue.int),
                "temperature_c": .from(status.temperatureCelsius, JSONValue.double),
                "recording": .bool(status.recording),
            ]
        case .heartbeat(let heartbeat): ["time_ns": .int(heartbeat.timeNanos)]
        case .marker(let marker):
            [
                "session_id": .from(marker.sessionID, JSONValue.string), "label": .string(marker.label),
                "device_ns": .from(marker.deviceNanos, JSONValue.int), "hub_ns": .from(marker.hubNanos, JSONValue.int),
            ]
        case .durable(let durable):
            [
                "session_id": .string(durable.sessionID), "stream_id": .int(Int64(durable.streamID)),
                "through_sequence": .int(durable.throughSequence),
            ]
        case .error(let report):
            ["code": .string(report.code.rawValue), "message": .string(report.message), "fatal": .bool(report.fatal)]
        }
    }
}

extension Hello {
    init(_ f: JSONFields) throws(WireError) {
        let deviceID = try f.string("device_id", byteCountMax: 1024)
        try Identifier.validateDeviceID(deviceID)
        let clock = try f.object("clock")
        let streamValues = try f.array("streams", countMax: .max)
        guard streamValues.count <= ControlLimits.streamsPerDeviceMax else {
            throw WireError(.tooManyStreams, "\(streamValues.count) streams exceed the limit of \(ControlLimits.streamsPerDeviceMax)")
        }
        var streams: [StreamDescriptor] = []
        for (position, value) in streamValues.enumerated() {
            let s = try JSONFields(value, context: "hello.streams[\(position)]")
            let kindName = try s.string("kind", byteCountMax: 32)
            guard let kind = StreamKind(rawValue: kindName) else {
                throw s.invalid("kind", "one of " + StreamKind.allCases.map(\.rawValue).joined(separator: ", "))
            }
            let stream = StreamDescriptor(
                id: try s.streamID("id"), kind: kind, codec: try s.string("codec", byteCountMax: 64),
                rateHz: try s.double("rate_hz", in: 0...1_000_000),
                nominalBytesPerSecond: try s.int("nominal_bytes_per_s", in: 0...10_000_000_000))
            guard !streams.contains(where: { $0.id == stream.id }) else {
                throw WireError(.invalidMessage, "hello.streams: stream id \(stream.id) appears twice")
            }
            streams.append(stream)
        }
        self.init(
            deviceID: deviceID, token: try f.string("token", byteCountMax: 256), model: try f.string("model"),
            software: try f.optionalString("software"),
            clock: ClockDescription(
                domain: try clock.string("domain", byteCountMax: 32),
                resolutionNanos: try clock.int("resolution_ns", in: 0...1_000_000_000)),
            streams: streams)
    }

    func members() -> [String: JSONValue] {
        [
            "device_id": .string(deviceID), "token": .string(token), "model": .string(model),
            "software": .from(software, JSONValue.string),
            "clock": .object(["domain": .string(clock.domain), "resolution_ns": .int(clock.resolutionNanos)]),
            "streams": .array(streams.map {
                .object([
                    "id": .int(Int64($0.id)), "kind": .string($0.kind.rawValue), "codec": .string($0.codec),
                    "rate_hz": .double($0.rateHz), "nominal_bytes_per_s": .int($0.nominalBytesPerSecond),
                ])
            }),
        ]
    }
}

extension Welcome {
    init(_ f: JSONFields) throws(WireError) {
        let keyText = try f.string("sync_key", byteCountMax: 16)
        guard keyText.utf8.count == 16, let key = UInt64(keyText, radix: 16) else {
            throw f.invalid("sync_key", "16 hexadecimal digits")
        }
        let dataKey = try f.optionalString("data_key", byteCountMax: 32)
        if let dataKey, dataKey.utf8.count != 32 || !dataKey.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) {
            throw f.invalid("data_key", "32 lowercase hexadecimal digits")
        }
        self.init(
            hubID: try f.string("hub_id", byteCountMax: 64), deviceID: try f.string("device_id", byteCountMax: 64),
            dataPort: UInt16(try f.int("data_port", in: 1...65535)), syncPort: UInt16(try f.int("sync_port", in: 1...65535)),
            syncKey: key, dataKey: dataKey, heartbeatIntervalMillis: try f.int("heartbeat_interval_ms", in: 1...3_600_000),
            lostAfterMillis: try f.int("lost_after_ms", in: 1...3_600_000),
            frameBytesMax: try f.int("frame_bytes_max", in: 1...Int64(UInt32.max)), hubTimeNanos: try f.instant("hub_time_ns"))
    }

    func members() -> [String: JSONValue] {
        var members: [String: JSONValue] = [
            "hub_id": .string(hubID), "device_id": .string(deviceID), "data_port": .int(Int64(dataPort)),
            "sync_port": .int(Int64(syncPort)), "sync_key": .string(syncKey.hex16),
            "heartbeat_interval_ms": .int(heartbeatIntervalMillis), "lost_after_ms": .int(lostAfterMillis),
            "frame_bytes_max": .int(frameBytesMax), "hub_time_ns": .int(hubTimeNanos),
        ]
        if let dataKey { members["data_key"] = .string(dataKey) }
        return members
    }
}

extension Start {
    init(_ f: JSONFields) throws(WireError) {
        self.init(
            sessionID: try f.sessionID(), startHubNanos: try f.instant("start_hub_ns"),
            startDeviceNanos: try f.instant("start_device_ns"), uncertaintyNanos: try f.int("uncertainty_ns", in: 0...Int64.max))
    }
}

extension Stopped {
    init(_ f: JSONFields) throws(WireError) {
        var totals: [StreamTotal] = []
        for (position, value) in try f.array("streams", countMax: ControlLimits.streamsPerDeviceMax).enumerated() {
            let s = try JSONFields(value, context: "stopped.streams[\(position)]")
            totals.append(StreamTotal(streamID: try s.streamID("stream_id"), frameCount: try s.int("frame_count", in: 0...Int64.max)))
        }
        self.init(sessionID: try f.sessionID(), streams: totals)
    }
}

extension DeviceStatus {
    init(_ f: JSONFields) throws(WireError) {
        self.init(
            batteryPercent: try f.optionalDouble("battery_pct", in: 0...100),
            storageFreeBytes: try f.optionalInt("storage_free_bytes", in: 0...Int64.max),
            temperatureCelsius: try f.optionalDouble("temperature_c", in: -100...200), recording: try f.bool("recording"))
    }
}

extension Marker {
    init(_ f: JSONFields) throws(WireError) {
        var sessionID: String? = nil
        if f.has("session_id") { sessionID = try f.sessionID() }
        self.init(
            sessionID: sessionID, label: try f.string("label", byteCountMax: ControlLimits.labelBytesMax),
            deviceNanos: try f.optionalInstant("device_ns"), hubNanos: try f.optionalInstant("hub_ns"))
    }
}

extension ErrorReport {
    init(_ f: JSONFields) throws(WireError) {
        let codeName = try f.string("code", byteCountMax: 64)
        // An unknown code from a newer peer is kept as internal_error; the message still says what happened.
        self.init(
            code: ErrorCode(rawValue: codeName) ?? .internalError, message: try f.string("message", byteCountMax: 1024),
            fatal: try f.optionalBool("fatal") ?? false)
    }
}

extension UInt64 {
    /// 16 lowercase hexadecimal digits, zero-padded (sync and data keys in control messages).
    public var hex16: String {
        let digits = String(self, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
