// The on-disk stream file: one per device stream per session, append-only (docs/recording-format.md).
//
//   file header  : magic "LSS1" (4) | version u16 = 1 | reserved u16 = 0 | json_length u32 | json_crc32c u32
//                  then json_length bytes of JSON describing the stream (session, device, stream descriptor)
//   records      : record header (16) | data frame exactly as received (32-byte header + payload)
//   record header: hub_receive_ns i64 | record_crc32c u32 | reserved u32 = 0
//                  record_crc32c = CRC32C(hub_receive_ns bytes ++ the frame's own crc32c bytes), so the
//                  hub stamp is covered and chained to the frame checksum without re-reading the payload.
// Little-endian throughout. A reader validates every record; recovery truncates at the first
// record that is incomplete or fails a check, which keeps every frame before it.
import Wire

public enum StreamFileFormat {
    public static let magic: [UInt8] = Array("LSS1".utf8)
    public static let fileHeaderFixedByteCount = 16
    public static let recordHeaderByteCount = 16
    public static let fileExtension = "lss"
    public static let headerJSONBytesMax = 16_384

    /// The file header for a stream: the fixed part and the JSON description.
    public static func fileHeader(description: JSONValue) -> [UInt8] {
        let json = Array(description.serialized.utf8)
        precondition(json.count <= headerJSONBytesMax, "stream description too large")
        var out = magic
        out.append(contentsOf: [1, 0, 0, 0])
        out.append(contentsOf: le32(UInt32(json.count)))
        out.append(contentsOf: le32(CRC32C.checksum(json)))
        out.append(contentsOf: json)
        return out
    }

    /// The record checksum over the hub stamp and the frame checksum (no heap allocation: per frame).
    public static func recordCRC(hubReceiveNanos: Int64, frameCRC: UInt32) -> UInt32 {
        unsafe withUnsafeTemporaryAllocation(byteCount: 12, alignment: 8) { raw in
            unsafe raw.storeBytes(of: UInt64(bitPattern: hubReceiveNanos).littleEndian, toByteOffset: 0, as: UInt64.self)
            unsafe raw.storeBytes(of: frameCRC.littleEndian, toByteOffset: 8, as: UInt32.self)
            var crc = CRC32C()
            unsafe crc.update(UnsafeRawBufferPointer(raw))
            return crc.value
        }
    }

    /// Writes the 16-byte record header into `target` (which must hold at least 16 bytes).
    public static func storeRecordHeader(hubReceiveNanos: Int64, frameCRC: UInt32, into target: UnsafeMutableRawBufferPointer) {
        precondition(target.count >= recordHeaderByteCount, "record header needs 16 bytes")
        unsafe target.storeBytes(of: UInt64(bitPattern: hubReceiveNanos).littleEndian, toByteOffset: 0, as: UInt64.self)
        unsafe target.storeBytes(of: recordCRC(hubReceiveNanos: hubReceiveNanos, frameCRC: frameCRC).littleEndian, toByteOffset: 8, as: UInt32.self)
        unsafe target.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)
    }

    static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    static func load32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }

    static func load64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
    }
}
