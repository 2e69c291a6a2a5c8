// Recovery of a stream file after a crash: the zeros the engine's O_DIRECT writes leave after the last
// record (the last block's padding) are cut off and reported as such, not as damage; other
// trailing bytes are reported as a cut with the scan's reason. Every record before them stays.
import Foundation
import Ingest
import Platform
import SystemPackage
import Testing
import Wire
@testable import Controller

@Suite struct RecoveryTests {
    /// A stream file of `frames` records followed by `trailer`.
    static func streamFile(_ path: String, frames: UInt64, trailer: [UInt8]) throws -> Int64 {
        let writer = try StreamWriter(
            sessionID: "s", deviceID: "d", streamID: 1, path: path, header: StreamFileFormat.fileHeader(description: .object([:])))
        for sequence in 0..<frames {
            let frame = DataFrame.encode(streamID: 1, sequence: sequence, captureNanos: 0, payload: [UInt8](repeating: 7, count: 5000))
            let crc = try FrameHeader.decode(frame.span, payloadBytesMax: 1 << 20).crc
            var record = [UInt8](repeating: 0, count: StreamFileFormat.recordHeaderByteCount)
            record.withUnsafeMutableBytes { StreamFileFormat.storeRecordHeader(hubReceiveNanos: 9, frameCRC: crc, into: $0) }
            record += frame
            try record.withUnsafeBytes { try writer.append(record: $0, sequence: sequence, payloadByteCount: 5000, hubReceiveNanos: 9) }
        }
        try writer.close()
        let end = try FileIO.size(path: path)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(trailer))
        try handle.close()
        return end
    }

    @Test func zerosAfterTheLastRecordAreCutAndSaidToBeZeros() throws {
        let folder = NSTemporaryDirectory() + "lockstep-recovery-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let zeros = folder + "/zeros.lss"
        let zerosEnd = try RecoveryTests.streamFile(zeros, frames: 3, trailer: [UInt8](repeating: 0, count: 3 << 20))
        let damaged = folder + "/damaged.lss"
        let damagedEnd = try RecoveryTests.streamFile(damaged, frames: 3, trailer: [UInt8](repeating: 0, count: 5000) + [1])
        var problems: [String] = []
        let zerosScan = try #require(try SessionRecovery.recoverStream(zeros, label: "zeros", problems: &problems))
        let damagedScan = try #require(try SessionRecovery.recoverStream(damaged, label: "damaged", problems: &problems))
        #expect(zerosScan.frameCount == 3 && damagedScan.frameCount == 3)
        #expect(try FileIO.size(path: zeros) == zerosEnd)
        #expect(try FileIO.size(path: damaged) == damagedEnd)
        #expect(problems.count == 2)
        #expect(problems.first?.contains("3145728 bytes of zeros after frame 3 removed") == true, "\(problems)")
        #expect(problems.last?.contains("damaged: cut from") == true, "\(problems)")
    }
}
