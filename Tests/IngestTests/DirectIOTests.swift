// The engine's ways of writing stream files: whole blocks from the pool with O_DIRECT (small batches,
// and records over 2 MiB, through the page cache), and the records alone through the page cache;
// submitted to io_uring or written inline. Records of every size, records placed across chunk
// boundaries, a stream resumed on a second connection at an offset inside a block, an O_DIRECT write
// refused with EINVAL. Each file must hold exactly its records, byte for byte, with the zeros after
// the last record cut off.
import Foundation
import Platform
import SystemPackage
import TestSupport
import Testing
import Wire
@testable import Ingest

@Suite(.serialized) struct DirectIOTests {
    /// Sizes around the 4 KiB block, the 64 KiB threshold of O_DIRECT writes and the 2 MiB limit of
    /// one O_DIRECT write (records of 2 MiB − 48 payload bytes and more never fit after a partial block).
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

    /// Payload sizes that place a connection's records (16-byte record header, 32-byte frame header,
    /// payload; the first at `lead`, the file's end modulo 4 KiB) on every kind of chunk boundary of
    /// `chunk` bytes: a record header's gap across one, a frame header across one, a record ending on
    /// one, a record spanning three chunks, records ending one byte into a block and on a block's end.
    static func boundarySizes(lead: Int, chunk: Int) -> [Int] {
        let overhead = StreamFileFormat.recordHeaderByteCount + FrameHeader.byteCount
        var sizes: [Int] = []
        var position = lead
        func end(at target: Int) {
            sizes.append(target - position - overhead)
            position = target
        }
        func add(_ payload: Int) {
            sizes.append(payload)
            position += overhead + payload
        }
        end(at: chunk - 8)  // the next record's gap straddles chunks 0 and 1
        end(at: 2 * chunk - 30)  // the next frame header straddles chunks 1 and 2
        end(at: 3 * chunk)  // ends on a chunk's end
        add(0)
        add(100)
        end(at: 4 * chunk - 4095)  // one byte into a block
        add(2 * chunk + 5)  // spans three chunks
        end(at: (position + overhead + 4095) / 4096 * 4096 + 4096)  // on a block's end
        for payload in [17, 5, 4079, 1] { add(payload) }
        return sizes
    }

    /// Records on every kind of chunk and block boundary, written one per write and then in batches,
    /// with O_DIRECT and without: the file holds exactly the records.
    @Test(arguments: [true, false]) func recordsAcrossChunkBoundariesLandExactly(direct: Bool) throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let harness = try EngineHarness(folder: folder, streams: [1])
        let chunk = 1 << 16
        var configuration = IngestEngineConfiguration(chunkByteCount: chunk, chunkCount: 16, frameBytesMax: 200_000)
        configuration.directIO = direct
        let server = try harness.serve(configuration)
        let engine = try #require(server.engine)
        let writer = harness.writers[1]!
        let sizes = DirectIOTests.boundarySizes(lead: Int(writer.writtenByteCount % 4096), chunk: chunk)
        #expect(sizes.allSatisfy { (0...200_000).contains($0) }, "\(sizes)")
        let fd = try openStream(server, stream: 1)
        for sequence in 0..<UInt64(sizes.count) {
            let payload = DirectIOTests.payload(sequence, sizes: sizes)
            try Socket.sendAll(fd, DataFrame.encode(streamID: 1, sequence: sequence, captureNanos: 0, payload: payload))
            // The first half one write each, each rewriting the previous record's last block from the pool.
            if sequence < UInt64(sizes.count / 2) { harness.waitForWritten(1, sequence + 1) }
        }
        try fd.close()
        harness.waitForWritten(1, UInt64(sizes.count))
        for _ in 0..<2000 where engine.statistics.connections.load(ordering: .relaxed) > 0 { HostClock.sleep(nanos: 5_000_000) }
        server.shutdown()
        #expect(harness.failures.withLock { $0.isEmpty }, "\(harness.failures.withLock { $0 })")
        #expect(engine.statistics.chunksInUse.load(ordering: .relaxed) == 0)
        try writer.close()
        try DirectIOTests.verify(writer.path, frames: UInt64(sizes.count), sizes: sizes)
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
    /// injected here where the kernel's result arrives): the refused write's blocks go through the page
    /// cache from the pool, the later writes append the records alone, nothing is lost, and status says why.
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

    /// A crash leaves the last block's zero padding after the last record: the scan stops there, keeping
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
    /// a record larger than one O_DIRECT write), and the file holds exactly the records.
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
