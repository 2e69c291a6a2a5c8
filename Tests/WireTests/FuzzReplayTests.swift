// Every committed fuzz seed and every input that ever crashed a fuzzer (Fuzz/regressions/), through
// the same property checks the libFuzzer targets run (`make fuzz`). A regression crashes this test.
import Foundation
import Testing
import Wire
import WireFuzzChecks

@Suite struct FuzzReplayTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func inputs(_ target: String) -> [URL] {
        ["corpus", "regressions"].flatMap { folder in
            let directory = root.appendingPathComponent(folder).appendingPathComponent(target)
            return ((try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? [])
                .filter { !$0.lastPathComponent.hasPrefix(".") }
        }
    }

    @Test(arguments: ["frame", "control", "sync", "handshake"]) func seedsAndRegressionsHoldTheProperties(target: String) throws {
        let files = Self.inputs(target)
        #expect(files.count >= 4, "the \(target) corpus is missing (\(Self.root.path))")
        for file in files {
            let bytes = [UInt8](try Data(contentsOf: file))
            switch target {
            case "frame": FuzzChecks.frame(bytes)
            case "control": FuzzChecks.control(bytes)
            case "sync": FuzzChecks.sync(bytes)
            default: FuzzChecks.handshake(bytes)
            }
        }
    }

    /// The first fuzzing find: abs(Int64.min) trapped in the sync decoder, reachable by anyone who can
    /// send the hub a UDP datagram with a valid checksum.
    @Test func aSyncStampOfInt64MinIsRefusedNotACrash() {
        for stamp in [Int64.min, Int64.max, -Wire.instantMagnitudeMax - 1] {
            let packet = SyncPacket(kind: .response, key: 1, exchangeID: 1, timestampA: stamp, timestampB: stamp, sourceA: .kernel, sourceB: .kernel)
            #expect(throws: WireError.self) { try SyncPacket.decode(packet.encoded().span) }
        }
    }

    @Test func unknownSyncFlagsAndReservedBytesAreRefused() {
        var packet = SyncPacket(kind: .response, key: 1, exchangeID: 1, timestampA: 5, sourceA: .kernel)
        packet.flags = 2
        #expect(throws: WireError.self) { try SyncPacket.decode(packet.encoded().span) }
        var bytes = SyncPacket(kind: .response, key: 1, exchangeID: 1, timestampA: 5, sourceA: .kernel).encoded()
        bytes[42] = 1
        let crc = CRC32C.checksum(Array(bytes[..<44]))
        for index in 0..<4 { bytes[44 + index] = UInt8(truncatingIfNeeded: crc >> UInt32(8 * index)) }
        #expect(throws: WireError.self) { try SyncPacket.decode(bytes.span) }
    }
}
