// Data-channel frames: a fixed 32-byte little-endian header followed by the payload.
//
//   offset size field
//        0    4 magic "LSF1"
//        4    4 payload_length   (bytes after the header; at most the hub's frame_bytes_max)
//        8    8 sequence         (per stream, 0, 1, 2, ... with no gaps)
//       16    8 capture_ns       (signed, device clock)
//       24    2 stream_id
//       26    2 flags            (bit 0: key frame; other bits 0)
//       28    4 crc32c           (CRC32C of header bytes 0..<28, then the payload)
//
// Decoding a header checks magic, reserved flag bits and the length limit before the payload
// is read, so an oversized or garbage frame is refused without buffering it.

/// The decoded header of one data frame.
public struct FrameHeader: Sendable, Equatable {
    public static let byteCount = 32
    public static let magic: [UInt8] = Array("LSF1".utf8)
    /// The magic "LSF1" read as a little-endian 32-bit word.
    static let magicWord: UInt32 = 0x3146_534C
    public static let keyFrameFlag: UInt16 = 1

    public var payloadByteCount: UInt32
    public var sequence: UInt64
    public var captureNanos: Int64
    public var streamID: UInt16
    public var flags: UInt16
    public var crc: UInt32

    public init(streamID: UInt16, sequence: UInt64, captureNanos: Int64, flags: UInt16, payloadByteCount: UInt32, crc: UInt32 = 0) {
        self.streamID = streamID
        self.sequence = sequence
        self.captureNanos = captureNanos
        self.flags = flags
        self.payloadByteCount = payloadByteCount
        self.crc = crc
    }

    /// Decodes a header from the first 32 bytes of `bytes`.
    /// - Throws: `bad_frame` (short input, bad magic, unknown flags) or `frame_too_large`.
    public static func decode(_ bytes: Span<UInt8>, payloadBytesMax: Int) throws(WireError) -> FrameHeader {
        guard bytes.count >= byteCount else { throw WireError(.badFrame, "frame header needs 32 bytes, got \(bytes.count)") }
        for index in 0..<4 where bytes[index] != magic[index] {
            throw WireError(.badFrame, "bad frame magic (expected \"LSF1\")")
        }
        let header = FrameHeader(
            streamID: loadLE16(bytes, 24), sequence: loadLE64(bytes, 8), captureNanos: Int64(bitPattern: loadLE64(bytes, 16)),
            flags: loadLE16(bytes, 26), payloadByteCount: loadLE32(bytes, 4), crc: loadLE32(bytes, 28))
        guard header.flags & ~keyFrameFlag == 0 else {
            throw WireError(.badFrame, "unknown frame flags 0x\(String(header.flags, radix: 16))")
        }
        guard Int(header.payloadByteCount) <= payloadBytesMax else {
            throw WireError(.frameTooLarge, "frame payload of \(header.payloadByteCount) bytes exceeds \(payloadBytesMax)")
        }
        return header
    }

    /// The 28 header bytes the checksum covers, followed by the checksum itself.
    public func encoded() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: FrameHeader.byteCount) { buffer, initialized in
            unsafe store(into: UnsafeMutableRawBufferPointer(buffer))
            initialized = FrameHeader.byteCount
        }
    }

    /// Writes the whole 32-byte header, checksum included, at the start of `raw`.
    func store(into raw: UnsafeMutableRawBufferPointer) {
        unsafe storePrefix(into: raw)
        unsafe raw.storeBytes(of: crc.littleEndian, toByteOffset: 28, as: UInt32.self)
    }

    /// The CRC32C this header and `payload` must carry.
    public func expectedCRC(payload: Span<UInt8>) -> UInt32 {
        var crc = prefixCRC()
        crc.update(payload)
        return crc.value
    }

    /// The CRC32C this header and `payload` must carry; the pointer is read only during the call.
    public func expectedCRC(payload: UnsafeRawBufferPointer) -> UInt32 {
        var crc = prefixCRC()
        unsafe crc.update(payload)
        return crc.value
    }

    /// The checksum state after the 28 covered header bytes, built on the stack (no heap allocation:
    /// this runs for every received frame).
    public func prefixCRC() -> CRC32C {
        unsafe withUnsafeTemporaryAllocation(byteCount: 28, alignment: 8) { raw in
            unsafe storePrefix(into: raw)
            var crc = CRC32C()
            unsafe crc.update(UnsafeRawBufferPointer(raw))
            return crc
        }
    }

    /// Writes the 28 header bytes the checksum covers at the start of `raw` (at least 28 bytes).
    func storePrefix(into raw: UnsafeMutableRawBufferPointer) {
        precondition(raw.count >= 28, "a frame header prefix needs 28 bytes")
        unsafe raw.storeBytes(of: FrameHeader.magicWord.littleEndian, toByteOffset: 0, as: UInt32.self)
        unsafe raw.storeBytes(of: payloadByteCount.littleEndian, toByteOffset: 4, as: UInt32.self)
        unsafe raw.storeBytes(of: sequence.littleEndian, toByteOffset: 8, as: UInt64.self)
        unsafe raw.storeBytes(of: UInt64(bitPattern: captureNanos).littleEndian, toByteOffset: 16, as: UInt64.self)
        unsafe raw.storeBytes(of: streamID.littleEndian, toByteOffset: 24, as: UInt16.self)
        unsafe raw.storeBytes(of: flags.littleEndian, toByteOffset: 26, as: UInt16.self)
    }
}

public enum DataFrame {
    /// Encodes a whole frame (header with checksum, then payload).
    public static func encode(streamID: UInt16, sequence: UInt64, captureNanos: Int64, flags: UInt16 = 0, payload: [UInt8]) -> [UInt8] {
        precondition(payload.count <= Int(UInt32.max), "payload exceeds the 32-bit length field")
        var header = FrameHeader(
            streamID: streamID, sequence: sequence, captureNanos: captureNanos, flags: flags,
            payloadByteCount: UInt32(payload.count))
        header.crc = header.expectedCRC(payload: payload.span)
        var out = header.encoded()
        out.append(contentsOf: payload)
        return out
    }

    /// Completes a frame built in place: `frame` holds the payload after its first 32 bytes, and this
    /// writes the header, with the checksum over it and that payload, into them. No allocation.
    public static func sealInPlace(
        _ frame: UnsafeMutableRawBufferPointer, streamID: UInt16, sequence: UInt64, captureNanos: Int64, flags: UInt16 = 0
    ) {
        let payloadCount = frame.count - FrameHeader.byteCount
        precondition(payloadCount >= 0 && payloadCount <= Int(UInt32.max), "a frame needs a 32-byte header and a 32-bit payload length")
        var header = FrameHeader(
            streamID: streamID, sequence: sequence, captureNanos: captureNanos, flags: flags, payloadByteCount: UInt32(payloadCount))
        header.crc = unsafe header.expectedCRC(payload: UnsafeRawBufferPointer(rebasing: frame[FrameHeader.byteCount...]))
        unsafe header.store(into: frame)
    }
}
