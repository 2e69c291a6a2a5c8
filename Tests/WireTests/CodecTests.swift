import Testing
@testable import Wire

@Suite struct CRC32CTests {
    @Test func checkValueFromRFC3720() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func emptyAndZeros() {
        #expect(CRC32C.checksum([]) == 0)
        // RFC 3720 B.4: 32 bytes of zeros.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    }

    @Test func incrementalEqualsOneShotAtEverySplit() {
        let bytes = (0..<67).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let whole = CRC32C.checksum(bytes)
        for split in 0...bytes.count {
            var crc = CRC32C()
            crc.update(Array(bytes[..<split]))
            crc.update(Array(bytes[split...]))
            #expect(crc.value == whole)
        }
    }

    /// The hardware path (when this CPU has it) and the portable path agree on random input of every
    /// length and alignment, around the hardware path's lane lengths (3 × 256 and 3 × 4096 bytes, one
    /// and several blocks, with and without remainders); on a CPU without the instruction both calls
    /// take the portable path.
    @Test func hardwareAndPortablePathsAgree() {
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<40_000).map { _ in UInt8.random(in: 0...255, using: &random) }
        let cases = [
            (0, 0), (1, 1), (3, 7), (5, 8), (7, 9), (0, 4099), (13, 4000), (1, 63), (0, 767), (0, 768), (3, 769), (1, 1536),
            (0, 12_287), (0, 12_288), (5, 12_289), (2, 24_576 + 768 + 5), (7, 39_993), (0, 40_000),
        ]
        bytes.withUnsafeBytes { raw in
            for (start, count) in cases {
                let slice = UnsafeRawBufferPointer(rebasing: raw[start..<(start + count)])
                var hardware = CRC32C()
                hardware.update(slice)
                var portable = CRC32C()
                portable.updatePortable(slice)
                #expect(hardware.value == portable.value, "start \(start) count \(count)")
            }
        }
    }
}

@Suite struct DataFrameTests {
    @Test func roundTrip() throws {
        let payload = Array("lockstep".utf8)
        let bytes = DataFrame.encode(streamID: 3, sequence: 42, captureNanos: -5, flags: FrameHeader.keyFrameFlag, payload: payload)
        #expect(bytes.count == FrameHeader.byteCount + payload.count)
        let header = try FrameHeader.decode(bytes.span, payloadBytesMax: 1024)
        #expect(header.streamID == 3)
        #expect(header.sequence == 42)
        #expect(header.captureNanos == -5)
        #expect(header.flags == FrameHeader.keyFrameFlag)
        #expect(header.payloadByteCount == UInt32(payload.count))
        #expect(header.expectedCRC(payload: payload.span) == header.crc)
    }

    @Test func refusesBadMagicShortInputFlagsAndOversize() {
        var bytes = DataFrame.encode(streamID: 1, sequence: 0, captureNanos: 0, payload: [1, 2, 3])
        #expect(throws: WireError(.badFrame, "frame header needs 32 bytes, got 31")) {
            try FrameHeader.decode(Array(bytes[..<31]).span, payloadBytesMax: 10)
        }
        #expect(throwsCode(.frameTooLarge) { try FrameHeader.decode(bytes.span, payloadBytesMax: 2) })
        bytes[26] = 0x02  // an unknown flag bit
        #expect(throwsCode(.badFrame) { try FrameHeader.decode(bytes.span, payloadBytesMax: 10) })
        bytes[0] = UInt8(ascii: "X")
        #expect(throwsCode(.badFrame) { try FrameHeader.decode(bytes.span, payloadBytesMax: 10) })
    }

    @Test func everyFlippedBitIsCaughtByTheChecksum() throws {
        let payload = (0..<40).map { UInt8($0) }
        let bytes = DataFrame.encode(streamID: 9, sequence: 1, captureNanos: 77, payload: payload)
        for bit in 0..<(bytes.count * 8) where !(28 * 8..<32 * 8).contains(bit) && !(0..<4 * 8).contains(bit) {
            var damaged = bytes
            damaged[bit / 8] ^= UInt8(1 << (bit % 8))
            guard let header = try? FrameHeader.decode(damaged.span, payloadBytesMax: 1 << 20),
                Int(header.payloadByteCount) == payload.count
            else { continue }  // refused outright, or a length change the stream would notice
            #expect(header.expectedCRC(payload: Array(damaged[32...]).span) != header.crc, "bit \(bit) went unnoticed")
        }
    }

    /// A frame sealed in place (how the simulated devices build theirs) is byte for byte the encoded one.
    @Test func sealingInPlaceMatchesEncoding() {
        for count in [0, 1, 7, 8, 4095, 65_537] {
            let payload = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let encoded = DataFrame.encode(streamID: 4, sequence: 99, captureNanos: -12, flags: FrameHeader.keyFrameFlag, payload: payload)
            var sealed = [UInt8](repeating: 0xAA, count: FrameHeader.byteCount) + payload
            unsafe sealed.withUnsafeMutableBytes { raw in
                unsafe DataFrame.sealInPlace(raw, streamID: 4, sequence: 99, captureNanos: -12, flags: FrameHeader.keyFrameFlag)
            }
            #expect(sealed == encoded, "payload of \(count) bytes")
        }
    }
}

@Suite struct HandshakeTests {
    @Test func roundTrip() throws {
        let handshake = DataHandshake(streamID: 2, resumeFrom: 99, deviceID: "phone-1", token: "secret", sessionID: "20261129T000000Z-x")
        let bytes = handshake.encoded()
        #expect(try DataHandshake.totalByteCount(fixedPart: Array(bytes[..<20]).span) == bytes.count)
        #expect(try DataHandshake.decode(bytes.span) == handshake)
        let reply = DataHandshakeReply(error: .crcMismatch, nextSequence: 17)
        #expect(try DataHandshakeReply.decode(reply.encoded().span) == reply)
        #expect(try DataHandshakeReply.decode(DataHandshakeReply(error: nil, nextSequence: 5).encoded().span).error == nil)
    }

    @Test func refusesPathTricksAndBadVersions() {
        let dotdot = DataHandshake(streamID: 1, resumeFrom: 0, deviceID: "..", token: "t", sessionID: "s").encoded()
        #expect(throwsCode(.invalidDeviceID) { try DataHandshake.decode(dotdot.span) })
        let slash = DataHandshake(streamID: 1, resumeFrom: 0, deviceID: "a", token: "t", sessionID: "../etc").encoded()
        #expect(throwsCode(.unknownSession) { try DataHandshake.decode(slash.span) })
        var version = DataHandshake(streamID: 1, resumeFrom: 0, deviceID: "a", token: "t", sessionID: "s").encoded()
        version[4] = 9
        #expect(throwsCode(.unsupportedVersion) { try DataHandshake.decode(version.span) })
    }
}

@Suite struct SyncPacketTests {
    @Test func roundTripEveryKind() throws {
        for kind in [SyncPacket.Kind.sync, .response, .followUp, .register] {
            let packet = SyncPacket(kind: kind, key: 0xDEAD_BEEF_0123_4567, exchangeID: 12, timestampA: 1_000, timestampB: -2,
                                    sourceA: .kernel, sourceB: .hardware, flags: SyncPacket.followUpPendingFlag)
            let bytes = packet.encoded()
            #expect(bytes.count == SyncPacket.byteCount)
            #expect(try SyncPacket.decode(bytes.span) == packet)
        }
    }

    @Test func refusesDamage() {
        var bytes = SyncPacket(kind: .sync, key: 1, exchangeID: 2, timestampA: 3, sourceA: .user).encoded()
        #expect(throwsCode(.badFrame) { try SyncPacket.decode(Array(bytes[..<47]).span) })
        bytes[30] ^= 1
        #expect(throwsCode(.crcMismatch) { try SyncPacket.decode(bytes.span) })
    }
}

@Suite struct IdentifierTests {
    @Test func deviceIDs() {
        for good in ["a", "phone-01", "A.b_c-9", String(repeating: "x", count: 64)] {
            #expect((try? Identifier.validateDeviceID(good)) != nil, "\(good) should pass")
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", String(repeating: "x", count: 65), "a\0b", "../x"] {
            #expect(throwsCode(.invalidDeviceID) { try Identifier.validateDeviceID(bad) }, "\(bad) should fail")
        }
    }

    @Test func errorCodeNumbersAreStable() {
        #expect(ErrorCode.malformedJSON.number == 1)
        for code in ErrorCode.allCases { #expect(ErrorCode(number: code.number) == code) }
        #expect(ErrorCode(number: 0) == nil)
        #expect(ErrorCode(number: 999) == nil)
    }
}

/// Whether `body` throws a WireError with `code`.
func throwsCode(_ code: ErrorCode, _ body: () throws -> Any) -> Bool {
    do {
        _ = try body()
        return false
    } catch {
        return (error as? WireError)?.code == code
    }
}
