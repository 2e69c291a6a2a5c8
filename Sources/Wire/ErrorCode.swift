// Stable error codes: the `code` of every `error` control message and data-handshake refusal.
// They are part of the protocol (docs/protocol.md, "Error codes"): never rename one, only add.

/// A protocol error code. The raw value is what travels in JSON; `number` is what travels in binary replies.
public enum ErrorCode: String, Sendable, CaseIterable, Equatable {
    case malformedJSON = "malformed_json"
    case unsupportedVersion = "unsupported_version"
    case unknownType = "unknown_type"
    case invalidMessage = "invalid_message"
    case messageTooLarge = "message_too_large"
    case invalidDeviceID = "invalid_device_id"
    case unauthorized = "unauthorized"
    case duplicateDevice = "duplicate_device"
    case notRegistered = "not_registered"
    case unknownStream = "unknown_stream"
    case unknownSession = "unknown_session"
    case noSession = "no_session"
    case tooManyStreams = "too_many_streams"
    case streamBusy = "stream_busy"
    case badFrame = "bad_frame"
    case frameTooLarge = "frame_too_large"
    case crcMismatch = "crc_mismatch"
    case sequenceMismatch = "sequence_mismatch"
    case handshakeTimeout = "handshake_timeout"
    case storageError = "storage_error"
    case sessionActive = "session_active"
    case hubFull = "hub_full"
    case internalError = "internal_error"
    case deviceMissing = "device_missing"
    case notFound = "not_found"
    case methodNotAllowed = "method_not_allowed"
    case serviceUnavailable = "service_unavailable"

    /// The 16-bit number used for this code in binary data-channel replies (0 means success).
    public var number: UInt16 {
        UInt16(ErrorCode.allCases.firstIndex(of: self)! + 1)
    }

    /// The code with binary number `number`, or nil for 0 and unknown numbers.
    public init?(number: UInt16) {
        let index = Int(number) - 1
        guard index >= 0, index < ErrorCode.allCases.count else { return nil }
        self = ErrorCode.allCases[index]
    }
}

/// A decoding or protocol failure: a stable code plus a human message naming the cause.
public struct WireError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: ErrorCode
    public let message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// Identifier rules shared by device ids, which also name folders on the hub's disk.
public enum Identifier {
    /// The longest accepted device id, in bytes.
    public static let byteCountMax = 64

    /// Checks a device id: 1 to 64 of `A-Z a-z 0-9 . _ -`, and not `.` or `..` (they would name folders).
    public static func validateDeviceID(_ id: String) throws(WireError) {
        try validate(id, what: "device id", code: .invalidDeviceID)
    }

    /// Checks an identifier that may name a folder (device ids, session ids), failing with `code`.
    public static func validate(_ id: String, what: String, code: ErrorCode) throws(WireError) {
        let bytes = Array(id.utf8)
        guard !bytes.isEmpty, bytes.count <= byteCountMax else {
            throw WireError(code, "\(what) must be 1 to \(byteCountMax) characters, got \(bytes.count)")
        }
        for byte in bytes where !isAllowed(byte) {
            throw WireError(code, "\(what) may hold only letters, digits, '.', '_' and '-'")
        }
        guard id != ".", id != ".." else {
            throw WireError(code, "\(what) must not be '.' or '..'")
        }
    }

    /// Whether `byte` may appear in an identifier.
    public static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
}
