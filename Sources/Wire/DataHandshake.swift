// The data-channel handshake: one request from the device, one reply from the hub, per stream.
//
// Request (20 bytes + three strings), little-endian:
//   0  4 magic "LSH1"        4  2 version (1)          6  2 stream_id
//   8  8 resume_from         (the next sequence the device holds; 0 on a fresh stream)
//  16  1 device_id length   17  1 token length       18  1 session_id length   19  1 reserved (0)
//  20  device_id, token, session_id bytes (UTF-8), in that order
// Reply (16 bytes): 0 4 magic "LSA1", 4 2 status (0 = accepted, else an error code number),
//   6 2 reserved, 8 8 next_sequence (the sequence the hub expects next; all below it are stored).
// After an accepted reply the device sends frames starting at next_sequence; on a refusal the hub
// closes the connection and the device reads the code from the reply. resume_from is informational.

public struct DataHandshake: Sendable, Equatable {
    public static let fixedByteCount = 20
    public static let replyByteCount = 16
    public static let magic: [UInt8] = Array("LSH1".utf8)
    public static let replyMagic: [UInt8] = Array("LSA1".utf8)

    public var streamID: UInt16
    public var resumeFrom: UInt64
    public var deviceID: String
    public var token: String
    public var sessionID: String

    public init(streamID: UInt16, resumeFrom: UInt64, deviceID: String, token: String, sessionID: String) {
        self.streamID = streamID
        self.resumeFrom = resumeFrom
        self.deviceID = deviceID
        self.token = token
        self.sessionID = sessionID
    }

    public func encoded() -> [UInt8] {
        let strings = [deviceID, token, sessionID].map { Array($0.utf8) }
        precondition(strings.allSatisfy { $0.count <= 255 }, "handshake strings are at most 255 bytes")
        var out = DataHandshake.magic
        out.appendLE16(1)
        out.appendLE16(streamID)
        out.appendLE64(resumeFrom)
        for string in strings { out.append(UInt8(string.count)) }
        out.append(0)
        for string in strings { out.append(contentsOf: string) }
        return out
    }

    /// The total request length announced by the fixed part (call with at least 20 bytes).
    public static func totalByteCount(fixedPart bytes: Span<UInt8>) throws(WireError) -> Int {
        guard bytes.count >= fixedByteCount else { throw WireError(.badFrame, "handshake needs 20 bytes") }
        for index in 0..<4 where bytes[index] != magic[index] {
            throw WireError(.badFrame, "bad handshake magic (expected \"LSH1\")")
        }
        let version = loadLE16(bytes, 4)
        guard version == 1 else { throw WireError(.unsupportedVersion, "data handshake version \(version) is not supported") }
        return fixedByteCount + Int(bytes[16]) + Int(bytes[17]) + Int(bytes[18])
    }

    /// Decodes a complete request.
    public static func decode(_ bytes: Span<UInt8>) throws(WireError) -> DataHandshake {
        let total = try totalByteCount(fixedPart: bytes)
        guard bytes.count == total else { throw WireError(.badFrame, "handshake length \(bytes.count), announced \(total)") }
        guard bytes[19] == 0 else { throw WireError(.badFrame, "handshake reserved byte must be 0") }
        var offset = fixedByteCount
        var strings: [String] = []
        for lengthIndex in 16..<19 {
            let length = Int(bytes[lengthIndex])
            var raw: [UInt8] = []
            for index in offset..<(offset + length) { raw.append(bytes[index]) }
            guard let text = String(validating: raw, as: UTF8.self) else { throw WireError(.badFrame, "handshake string is not UTF-8") }
            strings.append(text)
            offset += length
        }
        try Identifier.validateDeviceID(strings[0])
        try Identifier.validate(strings[2], what: "session id", code: .unknownSession)
        return DataHandshake(
            streamID: loadLE16(bytes, 6), resumeFrom: loadLE64(bytes, 8), deviceID: strings[0], token: strings[1],
            sessionID: strings[2])
    }
}

/// The hub's answer to a data handshake.
public struct DataHandshakeReply: Sendable, Equatable {
    /// nil when accepted.
    public var error: ErrorCode?
    public var nextSequence: UInt64

    public init(error: ErrorCode?, nextSequence: UInt64) {
        self.error = error
        self.nextSequence = nextSequence
    }

    public func encoded() -> [UInt8] {
        var out = DataHandshake.replyMagic
        out.appendLE16(error?.number ?? 0)
        out.appendLE16(0)
        out.appendLE64(nextSequence)
        return out
    }

    public static func decode(_ bytes: Span<UInt8>) throws(WireError) -> DataHandshakeReply {
        guard bytes.count == DataHandshake.replyByteCount else { throw WireError(.badFrame, "handshake reply needs 16 bytes") }
        for index in 0..<4 where bytes[index] != DataHandshake.replyMagic[index] {
            throw WireError(.badFrame, "bad handshake reply magic (expected \"LSA1\")")
        }
        let status = loadLE16(bytes, 4)
        let error: ErrorCode?
        if status == 0 { error = nil } else { error = ErrorCode(number: status) ?? .internalError }
        return DataHandshakeReply(error: error, nextSequence: loadLE64(bytes, 8))
    }
}
