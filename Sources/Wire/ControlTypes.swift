// The bodies of control messages (docs/protocol.md, "Control channel"). Plain values, no I/O.

/// What a stream carries. Unknown kinds are refused so a typo cannot pass silently.
public enum StreamKind: String, Sendable, CaseIterable, Equatable {
    case video, thermal, gsr, audio, imu, marker, generic
}

/// One stream a device offers in its `hello`.
public struct StreamDescriptor: Sendable, Equatable {
    /// The id carried in every data frame of this stream (0...65535, unique per device).
    public var id: UInt16
    public var kind: StreamKind
    /// Codec or sample format, e.g. "h264", "raw-y16", "f32le".
    public var codec: String
    /// Nominal frames (or samples) per second.
    public var rateHz: Double
    /// Nominal bandwidth in bytes per second, used for admission and disk-time estimates.
    public var nominalBytesPerSecond: Int64

    public init(id: UInt16, kind: StreamKind, codec: String, rateHz: Double, nominalBytesPerSecond: Int64) {
        self.id = id
        self.kind = kind
        self.codec = codec
        self.rateHz = rateHz
        self.nominalBytesPerSecond = nominalBytesPerSecond
    }
}

/// The clock a device stamps its frames and sync replies with.
public struct ClockDescription: Sendable, Equatable {
    /// Which clock: "monotonic", "boottime", "realtime", "synthetic" or another free-form name.
    public var domain: String
    /// The clock's resolution in nanoseconds.
    public var resolutionNanos: Int64

    public init(domain: String, resolutionNanos: Int64) {
        self.domain = domain
        self.resolutionNanos = resolutionNanos
    }
}

public struct Hello: Sendable, Equatable {
    public var deviceID: String
    public var token: String
    public var model: String
    public var software: String?
    public var clock: ClockDescription
    public var streams: [StreamDescriptor]

    public init(
        deviceID: String, token: String, model: String, software: String? = nil,
        clock: ClockDescription, streams: [StreamDescriptor]
    ) {
        self.deviceID = deviceID
        self.token = token
        self.model = model
        self.software = software
        self.clock = clock
        self.streams = streams
    }
}

public struct Welcome: Sendable, Equatable {
    public var hubID: String
    public var deviceID: String
    public var dataPort: UInt16
    public var syncPort: UInt16
    /// The 64-bit key the device must echo in every sync packet, as 16 hex digits in JSON.
    public var syncKey: UInt64
    /// 32 hex digits the device presents in its data handshakes in place of its token, so the token
    /// itself never crosses the plain data port (the control channel may be TLS; the data port is not).
    /// Optional on the wire: a hub without it expects the token there.
    public var dataKey: String?
    public var heartbeatIntervalMillis: Int64
    public var lostAfterMillis: Int64
    public var frameBytesMax: Int64
    public var hubTimeNanos: Int64

    public init(
        hubID: String, deviceID: String, dataPort: UInt16, syncPort: UInt16, syncKey: UInt64, dataKey: String?,
        heartbeatIntervalMillis: Int64, lostAfterMillis: Int64, frameBytesMax: Int64, hubTimeNanos: Int64
    ) {
        self.hubID = hubID
        self.deviceID = deviceID
        self.dataPort = dataPort
        self.syncPort = syncPort
        self.syncKey = syncKey
        self.dataKey = dataKey
        self.heartbeatIntervalMillis = heartbeatIntervalMillis
        self.lostAfterMillis = lostAfterMillis
        self.frameBytesMax = frameBytesMax
        self.hubTimeNanos = hubTimeNanos
    }
}

public struct Start: Sendable, Equatable {
    public var sessionID: String
    /// The start instant on the hub timeline.
    public var startHubNanos: Int64
    /// The same instant converted to the device's clock with the hub's current estimate.
    public var startDeviceNanos: Int64
    /// The estimate's uncertainty (half-width) in nanoseconds.
    public var uncertaintyNanos: Int64

    public init(sessionID: String, startHubNanos: Int64, startDeviceNanos: Int64, uncertaintyNanos: Int64) {
        self.sessionID = sessionID
        self.startHubNanos = startHubNanos
        self.startDeviceNanos = startDeviceNanos
        self.uncertaintyNanos = uncertaintyNanos
    }
}

public struct Started: Sendable, Equatable {
    public var sessionID: String
    /// The instant, on the device clock, at which the first frame of every stream was captured.
    public var startDeviceNanos: Int64

    public init(sessionID: String, startDeviceNanos: Int64) {
        self.sessionID = sessionID
        self.startDeviceNanos = startDeviceNanos
    }
}

public struct Stop: Sendable, Equatable {
    public var sessionID: String
    public var stopHubNanos: Int64
    public var stopDeviceNanos: Int64

    public init(sessionID: String, stopHubNanos: Int64, stopDeviceNanos: Int64) {
        self.sessionID = sessionID
        self.stopHubNanos = stopHubNanos
        self.stopDeviceNanos = stopDeviceNanos
    }
}

/// How many frames a device sent on one stream: sequences 0 ..< frameCount.
public struct StreamTotal: Sendable, Equatable {
    public var streamID: UInt16
    public var frameCount: Int64

    public init(streamID: UInt16, frameCount: Int64) {
        self.streamID = streamID
        self.frameCount = frameCount
    }
}

public struct Stopped: Sendable, Equatable {
    public var sessionID: String
    public var streams: [StreamTotal]

    public init(sessionID: String, streams: [StreamTotal]) {
        self.sessionID = sessionID
        self.streams = streams
    }
}

public struct DeviceStatus: Sendable, Equatable {
    public var batteryPercent: Double?
    public var storageFreeBytes: Int64?
    public var temperatureCelsius: Double?
    public var recording: Bool

    public init(batteryPercent: Double? = nil, storageFreeBytes: Int64? = nil, temperatureCelsius: Double? = nil, recording: Bool) {
        self.batteryPercent = batteryPercent
        self.storageFreeBytes = storageFreeBytes
        self.temperatureCelsius = temperatureCelsius
        self.recording = recording
    }
}

public struct Heartbeat: Sendable, Equatable {
    /// The sender's clock when sending (device clock from a device, hub timeline from the hub).
    public var timeNanos: Int64

    public init(timeNanos: Int64) { self.timeNanos = timeNanos }
}

public struct Marker: Sendable, Equatable {
    public var sessionID: String?
    public var label: String
    /// The event instant on the device clock (from devices) or nil when the hub stamps it.
    public var deviceNanos: Int64?
    /// The event instant on the hub timeline (set by the hub for operator markers).
    public var hubNanos: Int64?

    public init(sessionID: String?, label: String, deviceNanos: Int64? = nil, hubNanos: Int64? = nil) {
        self.sessionID = sessionID
        self.label = label
        self.deviceNanos = deviceNanos
        self.hubNanos = hubNanos
    }
}

/// Every frame of the stream with sequence number ≤ `throughSequence` is on the hub's disk, synced.
public struct Durable: Sendable, Equatable {
    public var sessionID: String
    public var streamID: UInt16
    public var throughSequence: Int64

    public init(sessionID: String, streamID: UInt16, throughSequence: Int64) {
        self.sessionID = sessionID
        self.streamID = streamID
        self.throughSequence = throughSequence
    }
}

public struct ErrorReport: Sendable, Equatable {
    public var code: ErrorCode
    public var message: String
    /// True when the sender closes the connection after this message.
    public var fatal: Bool

    public init(code: ErrorCode, message: String, fatal: Bool) {
        self.code = code
        self.message = message
        self.fatal = fatal
    }
}
