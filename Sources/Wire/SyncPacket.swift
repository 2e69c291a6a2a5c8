// Time-sync packets: 48 bytes over UDP, little-endian (docs/protocol.md, "Time sync").
//
//   0  4 magic "LSY1"     4 1 version (1)    5 1 type (1 sync, 2 response, 3 follow-up, 4 register)
//   6  1 source_a         7 1 source_b       (timestamp sources of ts_a and ts_b)
//   8  8 key              (the sync_key from welcome; packets with another key are dropped)
//  16  8 exchange_id      (chosen by the hub, echoed by the device)
//  24  8 ts_a             sync: t1 (may be coarse)   response: t2   follow-up: precise t1 or t3
//  32  8 ts_b             response: t3 (coarse when a follow-up is pending); otherwise 0
//  40  2 flags            bit 0: a follow-up with a more precise send stamp comes next
//  42  2 reserved (0)
//  44  4 crc32c of bytes 0..<44
//
// t1 = hub send, t2 = device receive, t3 = device send, t4 = hub receive (never on the wire).

/// Where a timestamp came from, best first. Every sync sample records one per stamp.
public enum TimestampSource: UInt8, Sendable, CaseIterable, Equatable {
    case none = 0
    case hardware = 1
    case kernel = 2
    case pcap = 3
    case user = 4

    public var name: String {
        switch self {
        case .none: "none"
        case .hardware: "hardware"
        case .kernel: "kernel"
        case .pcap: "pcap"
        case .user: "user"
        }
    }
}

public struct SyncPacket: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        case sync = 1
        case response = 2
        case followUp = 3
        /// Device → hub, sent until syncs arrive: tells the hub where the device's sync socket is.
        case register = 4
    }

    public static let byteCount = 48
    public static let magic: [UInt8] = Array("LSY1".utf8)
    public static let followUpPendingFlag: UInt16 = 1

    public var kind: Kind
    public var key: UInt64
    public var exchangeID: UInt64
    public var timestampA: Int64
    public var timestampB: Int64
    public var sourceA: TimestampSource
    public var sourceB: TimestampSource
    public var flags: UInt16

    public init(
        kind: Kind, key: UInt64, exchangeID: UInt64, timestampA: Int64, timestampB: Int64 = 0,
        sourceA: TimestampSource, sourceB: TimestampSource = .none, flags: UInt16 = 0
    ) {
        self.kind = kind
        self.key = key
        self.exchangeID = exchangeID
        self.timestampA = timestampA
        self.timestampB = timestampB
        self.sourceA = sourceA
        self.sourceB = sourceB
        self.flags = flags
    }

    public func encoded() -> [UInt8] {
        var out = SyncPacket.magic
        out.append(1)
        out.append(kind.rawValue)
        out.append(sourceA.rawValue)
        out.append(sourceB.rawValue)
        out.appendLE64(key)
        out.appendLE64(exchangeID)
        out.appendLE64(UInt64(bitPattern: timestampA))
        out.appendLE64(UInt64(bitPattern: timestampB))
        out.appendLE16(flags)
        out.appendLE16(0)
        out.appendLE32(CRC32C.checksum(out))
        return out
    }

    /// Decodes one datagram. - Throws: `bad_frame`, `crc_mismatch` or `unsupported_version`.
    public static func decode(_ bytes: Span<UInt8>) throws(WireError) -> SyncPacket {
        guard bytes.count == byteCount else { throw WireError(.badFrame, "sync packet must be 48 bytes, got \(bytes.count)") }
        for index in 0..<4 where bytes[index] != magic[index] {
            throw WireError(.badFrame, "bad sync magic (expected \"LSY1\")")
        }
        var crc = CRC32C()
        crc.update(bytes.extracting(0..<44))
        guard crc.value == loadLE32(bytes, 44) else { throw WireError(.crcMismatch, "sync packet checksum mismatch") }
        guard bytes[4] == 1 else { throw WireError(.unsupportedVersion, "sync packet version \(bytes[4])") }
        guard let kind = Kind(rawValue: bytes[5]) else { throw WireError(.badFrame, "unknown sync packet type \(bytes[5])") }
        guard let sourceA = TimestampSource(rawValue: bytes[6]), let sourceB = TimestampSource(rawValue: bytes[7]) else {
            throw WireError(.badFrame, "unknown timestamp source")
        }
        let timestampA = Int64(bitPattern: loadLE64(bytes, 24))
        let timestampB = Int64(bitPattern: loadLE64(bytes, 32))
        // magnitude, not abs(): abs(Int64.min) traps, and a checksum is no protection (Fuzz/regressions/sync).
        let limit = UInt64(Wire.instantMagnitudeMax)
        guard timestampA.magnitude <= limit, timestampB.magnitude <= limit else {
            throw WireError(.badFrame, "sync timestamp out of range")
        }
        let flags = loadLE16(bytes, 40)
        guard flags & ~followUpPendingFlag == 0, loadLE16(bytes, 42) == 0 else {
            throw WireError(.badFrame, "unknown sync flags 0x\(String(flags, radix: 16)) or nonzero reserved bytes")
        }
        return SyncPacket(
            kind: kind, key: loadLE64(bytes, 8), exchangeID: loadLE64(bytes, 16),
            timestampA: timestampA, timestampB: timestampB,
            sourceA: sourceA, sourceB: sourceB, flags: flags)
    }
}
