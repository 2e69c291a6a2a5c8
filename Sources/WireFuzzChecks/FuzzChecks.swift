// The properties the fuzzers hold the wire decoders to, for any input bytes: no crash, no hang, and
// whatever decodes re-encodes to the same bytes (so nothing is half-understood). Used by the libFuzzer
// targets (Fuzz/, `make fuzz`, compiled into one module with Wire) and by WireTests, which replays the
// seed corpus and every crash ever found (Fuzz/regressions/) on each `make test`.
#if canImport(Wire)
import Wire
#endif

public enum FuzzChecks {
    /// A data frame: the header decoder, the CRC (hardware and portable agree), the re-encoding; also
    /// with the checksum made valid, so a mutated frame can pass as whole.
    public static func frame(_ bytes: [UInt8]) {
        checkFrame(bytes)
        guard let header = try? FrameHeader.decode(bytes.span, payloadBytesMax: 1 << 20),
            bytes.count >= FrameHeader.byteCount + Int(header.payloadByteCount)
        else { return }
        var fixed = bytes
        let payload = Array(bytes[FrameHeader.byteCount..<(FrameHeader.byteCount + Int(header.payloadByteCount))])
        let crc = header.expectedCRC(payload: payload.span)
        for index in 0..<4 { fixed[28 + index] = UInt8(truncatingIfNeeded: crc >> UInt32(8 * index)) }
        checkFrame(fixed)
    }

    static func checkFrame(_ bytes: [UInt8]) {
        guard let header = try? FrameHeader.decode(bytes.span, payloadBytesMax: 1 << 20) else { return }
        precondition(header.encoded() == Array(bytes[..<FrameHeader.byteCount]), "a decoded frame header does not re-encode")
        let payload = Array(bytes[FrameHeader.byteCount..<min(bytes.count, FrameHeader.byteCount + Int(header.payloadByteCount))])
        let expected = header.expectedCRC(payload: payload.span)
        var portable = CRC32C()
        header.encoded()[..<28].withUnsafeBytes { portable.updatePortable($0) }
        payload.withUnsafeBytes { portable.updatePortable($0) }
        precondition(portable.value == expected, "hardware and portable CRC32C disagree")
        if payload.count == Int(header.payloadByteCount), expected == header.crc {
            let encoded = DataFrame.encode(
                streamID: header.streamID, sequence: header.sequence, captureNanos: header.captureNanos, flags: header.flags, payload: payload)
            precondition(encoded == Array(bytes[..<(FrameHeader.byteCount + payload.count)]), "a valid frame does not re-encode")
        }
    }

    /// A data-channel handshake request, and the same bytes as a reply.
    public static func handshake(_ bytes: [UInt8]) {
        if let request = try? DataHandshake.decode(bytes.span) {
            precondition(request.encoded() == bytes, "a decoded handshake does not re-encode")
        }
        _ = try? DataHandshakeReply.decode(bytes.span)
        if bytes.count >= DataHandshake.fixedByteCount {
            _ = try? DataHandshake.totalByteCount(fixedPart: bytes.span)
        }
    }

    /// A control message: decode, re-encode, decode again to the same envelope.
    public static func control(_ bytes: [UInt8]) {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            _ = try? JSONValue.parse(bytes)  // the JSON reader must refuse bad UTF-8 without crashing
            return
        }
        guard let envelope = try? ControlEnvelope.decode(text) else { return }
        let again: ControlEnvelope
        do { again = try ControlEnvelope.decode(envelope.encoded()) } catch {
            preconditionFailure("a decoded control message does not decode after re-encoding: \(error)")
        }
        precondition(again == envelope, "a control message changes through re-encoding")
    }

    /// A time-sync datagram: decode, and re-encode to the same 48 bytes. Checked twice: as given, and
    /// with its checksum made valid, so mutations reach the checks behind the CRC (anyone can compute
    /// one, so a checksum keeps out noise, not attackers).
    public static func sync(_ bytes: [UInt8]) {
        for candidate in [bytes, withValidChecksum(bytes, coveredCount: 44)] {
            guard let packet = try? SyncPacket.decode(candidate.span) else { continue }
            precondition(packet.encoded() == candidate, "a decoded sync packet does not re-encode")
        }
    }

    /// `bytes` with the CRC32C of its first `coveredCount` bytes stored after them (little-endian), when
    /// long enough; otherwise unchanged.
    static func withValidChecksum(_ bytes: [UInt8], coveredCount: Int) -> [UInt8] {
        guard bytes.count >= coveredCount + 4 else { return bytes }
        var fixed = bytes
        let crc = CRC32C.checksum(Array(bytes[..<coveredCount]))
        for index in 0..<4 { fixed[coveredCount + index] = UInt8(truncatingIfNeeded: crc >> UInt32(8 * index)) }
        return fixed
    }
}
