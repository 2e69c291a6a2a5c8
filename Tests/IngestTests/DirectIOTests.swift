// The engine's ways of writing stream files: O_DIRECT through a staging window (small batches from the
// window through the page cache, records larger than the window gathered from the pool), and the
// page cache alone; submitted to io_uring or written inline. Records of every size, a stream resumed
// on a second connection at an offset inside a block, an O_DIRECT write refused with EINVAL. Each file
// must hold exactly its records, byte for byte, with the zeros after the last record cut off.
import Foundation
import Platform
import SystemPackage
import TestSupport
import Testing
import Wire
@testable import Ingest

@Suite(.serialized) struct DirectIOTests {
    /// Sizes around the 4 KiB block, the 64 KiB threshold of O_DIRECT writes and the 2 MiB window
    /// (records of 2 MiB − 48 payload bytes and more never fit after a partial block).
    static let sizes = [
        100, 2_500_000, 4_000, 0, 2_097_152 - 48, 17, 4_096, 3_000_000, 2_097_152 - 47, 1, 65_536, 1_000_000,
        5, 2_200_000, 4_079, 333_333, 65_000, 70_000, 9,
    ]

    static func payload(_ sequence: UInt64, sizes: [Int] = sizes) -> [UInt8] {
        let size = sizes[Int(sequence) % sizes.count]
        var bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: sequence &* 37 &+ 11), count: size)
        for index in stride(from: 0, to: size, by: 4093) { bytes[index] = UInt8(truncatingIfNeeded: index >> 12 &+ Int(sequence)) }
        if size > 0 { bytes[size - 1] = 0xA5 }
        return bytes
    }

    static let required = ProcessInfo.processInfo.environment["LOCKSTEP_REQUIRE_INTEGRATION"] == "1"

    @Test(arguments: [(true, IngestEngineConfiguration.WriteMode.ring), (true, .inline), (false, .ring)])
    func everyWritePathStoresExactlyTheRecords(direct: Bool, mode: IngestEngineConfiguration.WriteMode) throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let harness = try EngineHarness(folder: folder, streams: [1])
        var configuration = IngestEngineConfiguration(chunkByteCount: 1 << 20, chunkCount: 16, frameBytesMax: 3_000_000)
        configuration.directIO = direct
        configuration.writeMode = mode
        let server = try harness.serve(configuration)
        let engine = try #require(server.engine)
        #expect(engine.directIOStatus == (direct ? "on" : "off"))
        let writer = harness.writers[1]!
        let frames = UInt64(DirectIOTests.sizes.count)

        // Two connections: the second resumes where the first stopped, inside a block.
        for range in [0..<(frames / 2), (frames / 2)..<frames] {
            let fd = try openStream(server, stream: 1)
            for sequence in range {
                try Socket.sendAll(fd, DataFrame.encode(streamID: 1, sequence: sequence, captureNanos: 0, payload: DirectIOTests.payload(sequence)))
            }
            try fd.close()
            harness.waitForWritten(1, range.upperBound)
            for _ in 0..<2000 where engine.statistics.connections.load(ordering: .relaxed) > 0 { HostClock.sleep(nanos: 5_000_000) }
            // Drained: the file ends at its last record, and that end is not on a block boundary here.
            #expect(try FileIO.size(path: writer.path) == writer.writtenByteCount, "no padding after the connection ended")
            #expect(writer.writtenByteCount % 4096 != 0)
        }
        let status = engine.directIOStatus
        if direct && status != "on" { print("O_DIRECT not exercised here: \(status)") }
        #expect(direct ? status == "on" || (!DirectIOTests.required && status.hasPrefix("off: the filesystem")) : status == "off")
        server.shutdown()
        #expect(harness.failures.withLock { $0.isEmpty }, "\(harness.failures.withLock { $0 })")
        #expect(engine.statistics.chunksInUse.load(ordering: .relaxed) == 0)
        try writer.close()
        try DirectIOTests.verify(writer.path, frames: frames)
    }

    /// Every record of the file at `path` against `payload`, and nothing after the last.
    static func verify(_ path: String, frames: UInt64, sizes: [Int] = sizes) throws {
        var next: UInt64 = 0
        let scan = try StreamFileReader.scan(path) { record in
            #expect(record.header.sequence == next)
            #expect(record.payload == DirectIOTests.payload(next, sizes: sizes), "frame \(next)")
            next += 1
        }
        #expect(scan.isClean, "\(scan.problem ?? "")")
        #expect(scan.frameCount == Int64(frames))
        #expect(scan.validByteCount == scan.fileByteCount)
    }

    /// A filesystem that takes the O_DIRECT open but refuses the writes (EINVAL: a stricter alignment,
    /// injected here where the kernel's result arrives): the refused write's bytes go through the page
    /// cache from the window, so do all later ones, nothing is lost, and status says why.
    @Test func aRefusedDirectWriteFallsBackToThePageCache() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let harness = try EngineHarness(folder: folder, streams: [1])
        var configuration = IngestEngineConfiguration(chunkByteCount: 1 << 20, chunkCount: 16, frameBytesMax: 3_000_000)
        configuration.injectedWriteFailure = (afterWrites: 10, errno: .invalidArgument)
        let server = try harness.serve(configuration)
        let engine = try #require(server.engine)
        guard engine.directIOStatus == "on" else {
            #expect(!DirectIOTests.required, "O_DIRECT is off here: \(engine.directIOStatus)")
            return
        }
        let writer = harness.writers[1]!
        let fd = try openStream(server, stream: 1)
        // One frame per write; the 11th (frame 10, 64 KiB: an O_DIRECT write) is refused, and no
        // O_DIRECT write follows it (frame 11, 1 MB, would be one).
        let frames: UInt64 = 14
        var directWritesAtRefusal = 0
        for sequence in 0..<frames {
            try Socket.sendAll(fd, DataFrame.encode(streamID: 1, sequence: sequence, captureNanos: 0, payload: DirectIOTests.payload(sequence)))
            harness.waitForWritten(1, sequence + 1)
            if sequence == 10 { directWritesAtRefusal = engine.statistics.directWrites.load(ordering: .relaxed) }
        }
        #expect(directWritesAtRefusal > 0)
        #expect(engine.statistics.directWrites.load(ordering: .relaxed) == directWritesAtRefusal)
        try fd.close()
        for _ in 0..<2000 where engine.statistics.connections.load(ordering: .relaxed) > 0 { HostClock.sleep(nanos: 5_000_000) }
        server.shutdown()
        #expect(harness.failures.withLock { $0.isEmpty }, "\(harness.failures.withLock { $0 })")
        #expect(engine.directIOStatus.hasPrefix("off: O_DIRECT writes to"), "\(engine.directIOStatus)")
        try writer.close()
        try DirectIOTests.verify(writer.path, frames: frames)
    }

    /// A crash leaves the window's zero padding after the last record: the scan stops there, keeping
    /// every record before it, as recovery then truncates.
    @Test func zeroPaddingAfterTheLastRecordIsATornTail() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/stream-1.lss"
        var bytes = StreamFileFormat.fileHeader(description: .object(["stream": .int(1)]))
        for sequence in UInt64(0)..<3 {
            let frame = DataFrame.encode(streamID: 1, sequence: sequence, captureNanos: 0, payload: DirectIOTests.payload(sequence))
            var header = [UInt8](repeating: 0, count: StreamFileFormat.recordHeaderByteCount)
            let crc = try FrameHeader.decode(frame.span, payloadBytesMax: 1 << 30).crc
            header.withUnsafeMutableBytes { StreamFileFormat.storeRecordHeader(hubReceiveNanos: 5, frameCRC: crc, into: $0) }
            bytes += header + frame
        }
        let records = bytes.count
        bytes += [UInt8](repeating: 0, count: 4096 - records % 4096)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let scan = try StreamFileReader.scan(path)
        #expect(scan.frameCount == 3)
        #expect(scan.validByteCount == Int64(records))
        #expect(!scan.isClean)
    }

    /// A stream whose batches change size, one write per frame: large batches go with O_DIRECT,
    /// small ones through the page cache, switching both ways on the same partial block (and once to
    /// a record larger than the window), and the file holds exactly the records.
    @Test func aStreamSwitchingBetweenOdirectAndThePageCacheStaysExact() throws {
        let sizes = [100, 70_000, 100, 70_000, 20_000, 50_000, 70_000, 10_000, 3_000_000, 100, 70_000, 200_000, 300, 5]
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let harness = try EngineHarness(folder: folder, streams: [1])
        let server = try harness.serve(IngestEngineConfiguration(chunkByteCount: 1 << 20, chunkCount: 16, frameBytesMax: 3_000_000))
        let engine = try #require(server.engine)
        let writer = harness.writers[1]!
        let fd = try openStream(server, stream: 1)
        for sequence in 0..<UInt64(sizes.count) {
            let payload = DirectIOTests.payload(sequence, sizes: sizes)
            try Socket.sendAll(fd, DataFrame.encode(streamID: 1, sequence: sequence, captureNanos: 0, payload: payload))
            harness.waitForWritten(1, sequence + 1)
        }
        try fd.close()
        for _ in 0..<2000 where engine.statistics.connections.load(ordering: .relaxed) > 0 { HostClock.sleep(nanos: 5_000_000) }
        server.shutdown()
        #expect(harness.failures.withLock { $0.isEmpty }, "\(harness.failures.withLock { $0 })")
        if engine.directIOStatus == "on" {
            // 70 KB batches after small ones, 200 KB: O_DIRECT; 100-byte and 10 KB ones: the page cache.
            #expect(engine.statistics.directWrites.load(ordering: .relaxed) >= 4)
        } else {
            #expect(!DirectIOTests.required, "O_DIRECT is off here: \(engine.directIOStatus)")
        }
        try writer.close()
        try DirectIOTests.verify(writer.path, frames: UInt64(sizes.count), sizes: sizes)
    }
}
