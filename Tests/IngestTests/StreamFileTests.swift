import Foundation
import Platform
import Testing
import Wire
@testable import Ingest

/// A fresh temporary folder per test.
func temporaryFolder() -> String {
    let path = NSTemporaryDirectory() + "lockstep-test-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Writes `count` frames of stream 1 through a StreamWriter, as a data connection would.
func writeFrames(_ writer: StreamWriter, from start: UInt64 = 0, count: Int) throws {
    for sequence in start..<(start + UInt64(count)) {
        let payload = (0..<(100 + Int(sequence) % 50)).map { UInt8(truncatingIfNeeded: $0 &+ Int(sequence)) }
        let frame = DataFrame.encode(streamID: 1, sequence: sequence, captureNanos: Int64(sequence) * 1000, payload: payload)
        let header = try FrameHeader.decode(frame.span, payloadBytesMax: 1 << 20)
        var record = [UInt8](repeating: 0, count: StreamFileFormat.recordHeaderByteCount) + frame
        record.withUnsafeMutableBytes { raw in
            StreamFileFormat.storeRecordHeader(hubReceiveNanos: Int64(sequence) * 1000 + 7, frameCRC: header.crc,
                                               into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<16]))
        }
        try record.withUnsafeBytes { raw in try writer.append(record: raw, sequence: sequence, payloadByteCount: payload.count,
                             hubReceiveNanos: HostClock.monotonicNanos()) }
    }
}

func makeWriter(_ folder: String, resume: StreamFileScan? = nil) throws -> StreamWriter {
    try StreamWriter(sessionID: "s", deviceID: "d", streamID: 1, path: folder + "/stream-1.lss",
                     header: StreamFileFormat.fileHeader(description: .object(["device_id": .string("d")])), resume: resume)
}

@Suite struct StreamFileTests {
    @Test func writtenFramesScanBackIntact() throws {
        let folder = temporaryFolder()
        let writer = try makeWriter(folder)
        try writeFrames(writer, count: 50)
        let outcome = try #require(try writer.sync())
        #expect(outcome.durableNextSequence == 50)
        #expect(outcome.latenciesNanos.count == 50)
        #expect(outcome.latenciesNanos.allSatisfy { $0 >= 0 })
        #expect(try writer.sync() == nil, "nothing new to sync")
        try writer.close()
        var seen: [UInt64] = []
        let scan = try StreamFileReader.scan(folder + "/stream-1.lss") { record in
            seen.append(record.header.sequence)
            #expect(record.hubReceiveNanos == Int64(record.header.sequence) * 1000 + 7)
        }
        #expect(scan.isClean)
        #expect(scan.frameCount == 50)
        #expect(seen == Array(0..<50))
        #expect(scan.description == .object(["device_id": .string("d")]))
    }

    @Test func aTornTailIsFoundAndRecoveryKeepsEveryWholeFrame() throws {
        let folder = temporaryFolder()
        let writer = try makeWriter(folder)
        try writeFrames(writer, count: 20)
        try writer.close()
        let path = folder + "/stream-1.lss"
        let whole = try StreamFileReader.scan(path)
        // Power loss mid-write: cut the file inside the last record.
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.truncate(atOffset: UInt64(whole.fileByteCount - 30))
        try handle.close()
        let torn = try StreamFileReader.scan(path)
        #expect(!torn.isClean)
        #expect(torn.frameCount == 19)
        #expect(torn.problem?.contains("incomplete") == true)
        // Reopening with the scan truncates to the last valid record and continues the sequence.
        let resumed = try makeWriter(folder, resume: torn)
        #expect(resumed.nextSequence == 19)
        try writeFrames(resumed, from: 19, count: 5)
        try resumed.close()
        let after = try StreamFileReader.scan(path)
        #expect(after.isClean)
        #expect(after.frameCount == 24)
    }

    @Test func aFlippedPayloadByteStopsTheScanAtThatFrame() throws {
        let folder = temporaryFolder()
        let writer = try makeWriter(folder)
        try writeFrames(writer, count: 10)
        try writer.close()
        let path = folder + "/stream-1.lss"
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes[bytes.count - 5] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: path))
        let scan = try StreamFileReader.scan(path)
        #expect(scan.frameCount == 9)
        #expect(scan.problem?.contains("checksum") == true)
    }

    @Test func claimsPreemptionAndClosing() throws {
        let writer = try makeWriter(temporaryFolder())
        // A real connection pair, so preemption can be observed from the other end.
        let listener = try Socket.listenTCP(try IPv4Endpoint(host: "127.0.0.1", port: 0))
        let client = try Socket.connectTCP(try Socket.localEndpoint(listener))
        let (server, _) = try Socket.accept(listener)
        defer { [listener, client, server].forEach { try? $0.close() } }
        #expect(writer.claim(socket: server))
        #expect(!writer.claim(socket: server), "one connection per stream")
        writer.preemptHolder()
        var byte = [UInt8](repeating: 0, count: 1)
        let read = try byte.withUnsafeMutableBytes { try Socket.receive(client, into: $0) }
        #expect(read == 0, "the holder's socket was shut down")
        writer.release()
        #expect(writer.claim(socket: server))
        writer.release()
        writer.beginClosing()
        #expect(!writer.claim(socket: server), "a closing stream takes no new connection")
        try writer.close()
        #expect(!writer.claim(socket: server))
        #expect(writer.failure == nil)
    }

    /// Once closing, no sync starts (close makes the final one), so close can never find a sync that
    /// began after its wait and leave the descriptor open.
    @Test func noSyncStartsOnceClosing() throws {
        let folder = temporaryFolder()
        let writer = try makeWriter(folder)
        try writeFrames(writer, count: 3)
        writer.beginClosing()
        #expect(writer.beginSync() == nil)
        let outcome = try #require(try writer.close())
        #expect(outcome.durableNextSequence == 3)
        #expect(writer.failure == nil)
    }

    @Test func notAStreamFile() throws {
        let path = temporaryFolder() + "/junk.lss"
        try Data("garbage garbage garbage".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: WireError.self) { try StreamFileReader.scan(path) }
    }
}
