// Control-channel messages: one JSON object per WebSocket text message (docs/protocol.md).
//
// Every message carries `v` (protocol version), `type` and `id` (the sender's message id); replies
// carry `re`, the id they answer. Body fields sit beside them in the same object. Decoding checks
// the size limit first, then JSON syntax, version, type and every field, in that order, so each
// failure has exactly one stable error code.

/// The one protocol version this build speaks.
public let protocolVersion: Int64 = 1

/// Limits on control messages; the hub announces its own in `welcome`.
public enum ControlLimits {
    public static let messageBytesMax = 65_536
    public static let streamsPerDeviceMax = 16
    public static let labelBytesMax = 256
    public static let idBytesMax = 64
}

public enum ControlMessage: Sendable, Equatable {
    case hello(Hello)
    case welcome(Welcome)
    case start(Start)
    case started(Started)
    case stop(Stop)
    case stopped(Stopped)
    case status(DeviceStatus)
    case heartbeat(Heartbeat)
    case marker(Marker)
    case durable(Durable)
    case error(ErrorReport)

    /// The `type` string of this message.
    public var type: String {
        switch self {
        case .hello: "hello"
        case .welcome: "welcome"
        case .start: "start"
        case .started: "started"
        case .stop: "stop"
        case .stopped: "stopped"
        case .status: "status"
        case .heartbeat: "heartbeat"
        case .marker: "marker"
        case .durable: "durable"
        case .error: "error"
        }
    }
}

/// A control message with its envelope.
public struct ControlEnvelope: Sendable, Equatable {
    /// The sender's id for this message (at most 64 bytes).
    public var id: String
    /// The id of the message this one answers, if any.
    public var re: String?
    public var message: ControlMessage

    public init(id: String, re: String? = nil, message: ControlMessage) {
        self.id = id
        self.re = re
        self.message = message
    }

    /// The canonical JSON text of this message.
    public func encoded() -> String {
        var members = message.bodyMembers()
        members["v"] = .int(protocolVersion)
        members["type"] = .string(message.type)
        members["id"] = .string(id)
        if let re { members["re"] = .string(re) }
        return JSONValue.object(members).serialized
    }

    /// Decodes one control message.
    /// - Throws: `WireError`: `message_too_large`, `malformed_json`, `unsupported_version`,
    ///   `unknown_type` or `invalid_message`.
    public static func decode(_ text: String) throws(WireError) -> ControlEnvelope {
        let bytes = Array(text.utf8)
        guard bytes.count <= ControlLimits.messageBytesMax else {
            throw WireError(.messageTooLarge, "message of \(bytes.count) bytes exceeds \(ControlLimits.messageBytesMax)")
        }
        let value = try JSONValue.parse(bytes)
        let fields = try JSONFields(value, context: "message")
        let version = try fields.int("v")
        guard version == protocolVersion else {
            throw WireError(.unsupportedVersion, "protocol version \(version) is not supported; this hub speaks \(protocolVersion)")
        }
        let type = try fields.string("type", byteCountMax: 32)
        let id = try fields.string("id", byteCountMax: ControlLimits.idBytesMax)
        let re = try fields.optionalString("re", byteCountMax: ControlLimits.idBytesMax)
        return ControlEnvelope(id: id, re: re, message: try decodeBody(type: type, fields: fields))
    }

    static func decodeBody(type: String, fields: JSONFields) throws(WireError) -> ControlMessage {
        let f = JSONFields(fieldsOf: fields, context: type)
        switch type {
        case "hello": return .hello(try Hello(f))
        case "welcome": return .welcome(try Welcome(f))
        case "start": return .start(try Start(f))
        case "started": return .started(Started(sessionID: try f.sessionID(), startDeviceNanos: try f.instant("start_device_ns")))
        case "stop": return .stop(Stop(
                sessionID: try f.sessionID(), stopHubNanos: try f.instant("stop_hub_ns"),
                stopDeviceNanos: try f.instant("stop_device_ns")))
        case "stopped": return .stopped(try Stopped(f))
        case "status": return .status(try DeviceStatus(f))
        case "heartbeat": return .heartbeat(Heartbeat(timeNanos: try f.instant("time_ns")))
        case "marker": return .marker(try Marker(f))
        case "durable": return .durable(Durable(
                sessionID: try f.sessionID(), streamID: try f.streamID("stream_id"),
                throughSequence: try f.int("through_sequence", in: -1...Int64.max)))
        case "error": return .error(try ErrorReport(f))
        default: throw WireError(.unknownType, "unknown message type \"\(type)\"")
        }
    }
}

extension JSONFields {
    init(fieldsOf other: JSONFields, context: String) {
        self.members = other.members
        self.context = context
    }

    func sessionID() throws(WireError) -> String {
        let id = try string("session_id", byteCountMax: ControlLimits.idBytesMax)
        try Identifier.validate(id, what: "session id", code: .invalidMessage)
        return id
    }

    func streamID(_ key: String) throws(WireError) -> UInt16 {
        UInt16(try int(key, in: 0...Int64(UInt16.max)))
    }
}
