// The io_uring engine against a real data server on loopback: frames of every size (spanning pool
// chunks) land byte for byte; a slow disk produces backpressure, not loss or growth; a full disk
// stops the stream with whole records only.
import DeviceAgent
import Foundation
import Logging
import Platform
import Synchronization
import SystemPackage
import TestSupport
import Testing
import Wire
@testable import Ingest

/// Authorizes every stream it has a writer for and records reported failures.
final class EngineHarness: DataChannelDelegate {
    let writers: [UInt16: StreamWriter]
    let failures = Locked<[WireError]>([])

    init(folder: String, streams: [UInt16]) throws {
        var writers: [UInt16: StreamWriter] = [:]
        for stream in streams {
            writers[stream] = try StreamWriter(
                sessionID: "s", deviceID: "d", streamID: stream, path: folder + "/stream-\(stream).lss",
                header: StreamFileFormat.fileHeader(description: .object(["stream": .int(Int64(stream))])))
        }
        self.writers = writers
    }

    func authorize(_ handshake: DataHandshake, peer: IPv4Endpoint, socket: FileDescriptor) -> Result<StreamWriter, WireError> {
        guard let writer = writers[handshake.streamID] else { return .failure(WireError(.unknownStream, "no such stream")) }
        return writer.claim(socket: socket) ? .success(writer) : .failure(WireError(.streamBusy, "busy"))
    }

    func dataConnectionFailed(deviceID: String, streamID: UInt16, error: WireError) {
        failures.withLock { $0.append(error) }
    }

    /// A data server on an ephemeral loopback port with an engine of `configuration`.
    func serve(_ configuration: IngestEngineConfiguration) throws -> DataServer {
        var logger = Logger(label: "engine-test")
        logger.logLevel = .error
        let engine = try IngestEngine(configuration: configuration, logger: logger)
        let server = try DataServer(
            configuration: DataServerConfiguration(
                endpoint: try IPv4Endpoint(host: "127.0.0.1", port: 0), frameBytesMax: configuration.frameBytesMax),
            delegate: self, engine: engine, logger: logger)
        server.start()
        return server
    }

    /// Waits (bounded) until `stream` has `count` frames written.
    func waitForWritten(_ stream: UInt16, _ count: UInt64, seconds: Int = 20) {
        for _ in 0..<(seconds * 100) where writers[stream]!.nextSequence < count { HostClock.sleep(nanos: 10_000_000) }
    }
}

/// The payload of frame `sequence` of `stream`: one of 32 generated payloads per stream and size
/// limit (generated once: a debug build is too slow to make one per frame at test speeds).
func enginePayload(stream: UInt16, sequence: UInt64, sizeMax: Int) -> [UInt8] {
    let key = "\(stream)/\(sizeMax)"
    if let cached = payloadCache.withLock({ $0[key] }) { return cached[Int(sequence % 32)] }
    let made = (0..<UInt64(32)).map { index in
        var state = SplitMix64(seed: UInt64(stream) << 32 | index)
        let size = Int(state.next() % UInt64(sizeMax + 1))
        var bytes = [UInt8](repeating: 0, count: size)
        for offset in stride(from: 0, to: size, by: 8) {
            let word = state.next()
            for byte in 0..<min(8, size - offset) { bytes[offset + byte] = UInt8(truncatingIfNeeded: word >> UInt64(byte * 8)) }
        }
        return bytes
    }
    payloadCache.withLock { $0[key] = made }
    return made[Int(sequence % 32)]
}

let payloadCache = Locked<[String: [[UInt8]]]>([:])

/// Connects and completes the handshake for `stream`.
func openStream(_ server: DataServer, stream: UInt16) throws -> FileDescriptor {
    let fd = try Socket.connectTCP(server.boundEndpoint)
    try Socket.sendAll(fd, DataHandshake(streamID: stream, resumeFrom: 0, deviceID: "d", token: "t", sessionID: "s").encoded())
    var reply = [UInt8](repeating: 0, count: DataHandshake.replyByteCount)
    _ = try reply.withUnsafeMutableBytes { try Socket.receiveExactly(fd, into: $0) }
    let decoded = try DataHandshakeReply.decode(reply.span)
    #expect(decoded.error == nil)
    return fd
}

/// Checks every record of `stream`'s file against the generator.
func verifyStream(_ harness: EngineHarness, _ stream: UInt16, frames: UInt64, sizeMax: Int) throws {
    var next: UInt64 = 0
    let scan = try StreamFileReader.scan(harness.writers[stream]!.path) { record in
        #expect(record.header.sequence == next)
        #expect(record.payload == enginePayload(stream: stream, sequence: next, sizeMax: sizeMax), "stream \(stream) frame \(next)")
        next += 1
    }
    #expect(scan.isClean, "\(scan.problem ?? "")")
    #expect(scan.frameCount == Int64(frames))
}

@Suite(.serialized) struct IngestEngineTests {
    /// Three streams at once; frames from 0 to 200 KiB cross 64 KiB chunk boundaries, headers included.
    /// With one storage lane, and with three (each stream written by its own thread and ring, all
    /// handing chunks back to the one network thread).
    @Test(arguments: [1, 3]) func framesOfEverySizeLandByteForByte(lanes: Int) throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let harness = try EngineHarness(folder: folder, streams: [1, 2, 3])
        let sizeMax = 200_000
        let configuration = IngestEngineConfiguration(chunkByteCount: 65_536, chunkCount: 16, frameBytesMax: sizeMax, storageLanes: lanes)
        let server = try harness.serve(configuration)
        let frames: UInt64 = 120
        let senders = [UInt16(1), 2, 3].map { stream in
            PlatformThread.spawn(name: "sender-\(stream)") {
                do {
                    let fd = try openStream(server, stream: stream)
                    for sequence in 0..<frames {
                        let payload = enginePayload(stream: stream, sequence: sequence, sizeMax: sizeMax)
                        let frame = DataFrame.encode(streamID: stream, sequence: sequence, captureNanos: Int64(sequence), payload: payload)
                        try Socket.sendAll(fd, frame)
                    }
                    try fd.close()
                } catch { Issue.record("sender \(stream): \(error)") }
            }
        }
        for sender in senders { sender.join() }
        for stream in [UInt16(1), 2, 3] { harness.waitForWritten(stream, frames) }
        server.shutdown()
        #expect(server.engine!.statistics.chunksInUse.load(ordering: .relaxed) == 0, "every chunk back in the pool")
        #expect(harness.failures.withLock { $0.isEmpty })
        for (stream, writer) in harness.writers {
            try writer.close()
            try verifyStream(harness, stream, frames: frames, sizeMax: sizeMax)
        }
    }

    /// A new connection goes to the storage lane with the fewest: after the two on lane 0 of four
    /// left, the next two take lane 0's free slots.
    @Test func newConnectionsJoinTheLeastLoadedLane() {
        var free: [Int32] = [0, 2]
        var count = 4
        #expect(NetworkStage.takeSlot(lanes: 2, live: [1, 3], free: &free, count: &count) == 2)
        #expect(NetworkStage.takeSlot(lanes: 2, live: [1, 2, 3], free: &free, count: &count) == 0)
        #expect(free.isEmpty && count == 4)
        // Every slot busy: a new one, which lands on the first of the emptiest lanes.
        count = 5
        #expect(NetworkStage.takeSlot(lanes: 3, live: [0, 1, 2, 3, 4], free: &free, count: &count) == 5)
        #expect(count == 6 && free.isEmpty)
        // Slots 1 and 4 in neither list (not a state the stage reaches): new slots are made until one is
        // on the chosen lane 1, and the one made on the way waits in `free`.
        #expect(NetworkStage.takeSlot(lanes: 3, live: [0, 2, 3, 5], free: &free, count: &count) == 7)
        #expect(free == [6] && count == 8)
        // One lane: the most recently freed slot, as before lanes.
        free = [4, 1]
        #expect(NetworkStage.takeSlot(lanes: 1, live: [0, 2, 3, 5], free: &free, count: &count) == 1)
    }

    /// Sizings the engine cannot work with are refused with a reason, before anything is allocated.
    @Test func sizingsThatCannotWorkAreRefused() {
        #expect(IngestEngineConfiguration().problem == nil)
        #expect(IngestEngineConfiguration(storageLanes: 0).problem?.contains("storage lanes") == true)
        #expect(IngestEngineConfiguration(chunkByteCount: 65_536 + 100).problem?.contains("multiple of 4096") == true)
        #expect(IngestEngineConfiguration(chunkCount: 8, frameBytesMax: 8 << 20).problem?.contains("two frames") == true)
        // 64 KiB chunks and 80 MB frames: a record spans more chunks than one write gathers (1024 vectors).
        let wide = IngestEngineConfiguration(chunkByteCount: 65_536, chunkCount: 4_000, frameBytesMax: 80_000_000)
        #expect(wide.problem?.contains("than one write can gather") == true)
        #expect(IngestEngineConfiguration(chunkByteCount: 65_536, chunkCount: 4_000, frameBytesMax: 60_000_000).problem == nil)
    }

    /// With every write delayed, the sender is held back by TCP: the bytes in the hub never exceed the
    /// pool plus the kernel's socket buffers, the engine reports waits, and nothing is lost.
    @Test func aSlowDiskPushesBackInsteadOfGrowing() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let harness = try EngineHarness(folder: folder, streams: [1])
        let sizeMax = 60_000
        let configuration = IngestEngineConfiguration(
            chunkByteCount: 65_536, chunkCount: 8, frameBytesMax: sizeMax, storageDelayNanos: 50_000_000)
        let server = try harness.serve(configuration)
        let engine = try #require(server.engine)
        let fd = try openStream(server, stream: 1)
        var sent = 0
        var sequence: UInt64 = 0
        var worstBacklog = 0
        let deadline = HostClock.monotonicNanos() + 1_500_000_000
        while HostClock.monotonicNanos() < deadline {
            let frame = DataFrame.encode(
                streamID: 1, sequence: sequence, captureNanos: 0, payload: enginePayload(stream: 1, sequence: sequence, sizeMax: sizeMax))
            try Socket.sendAll(fd, frame)
            sent += frame.count
            sequence += 1
            worstBacklog = max(worstBacklog, sent - engine.statistics.bytesWritten.load(ordering: .relaxed))
        }
        try fd.close()
        harness.waitForWritten(1, sequence, seconds: 60)
        let waits = engine.statistics.backpressureWaits.load(ordering: .relaxed)
        let peak = engine.statistics.chunksInUsePeak.load(ordering: .relaxed)
        print("slow disk: sent \(sent) bytes in \(sequence) frames, worst backlog \(worstBacklog) bytes, \(waits) waits, peak \(peak) chunks")
        server.shutdown()
        #expect(waits > 0, "the pool ran dry and connections waited")
        // Pool (512 KiB) + loopback socket buffers (a few MiB at most) + frames counted as written late.
        #expect(worstBacklog < 24 << 20, "the hub buffered \(worstBacklog) bytes")
        try harness.writers[1]!.close()
        try verifyStream(harness, 1, frames: sequence, sizeMax: sizeMax)
    }

    /// A 1 MiB tmpfs fills mid-stream: the connection ends with storage_error, the file holds only whole
    /// records that verify, and the engine gives every chunk back. Needs root (mount); CI requires it.
    @Test func aFullDiskStopsTheStreamWithWholeRecordsOnly() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        guard mountSmallTmpfs(folder) else { return }
        defer { _ = run("/bin/umount", [folder]) }
        let harness = try EngineHarness(folder: folder, streams: [1])
        let sizeMax = 50_000
        let server = try harness.serve(IngestEngineConfiguration(chunkByteCount: 65_536, chunkCount: 16, frameBytesMax: sizeMax))
        let fd = try openStream(server, stream: 1)
        var sequence: UInt64 = 0
        do {
            while sequence < 1000 {
                let payload = enginePayload(stream: 1, sequence: sequence, sizeMax: sizeMax)
                try Socket.sendAll(fd, DataFrame.encode(streamID: 1, sequence: sequence, captureNanos: 0, payload: payload))
                sequence += 1
            }
        } catch {
            // The hub ended the connection once the disk was full.
        }
        #expect(closedByHub(fd) || sequence < 1000)
        try? fd.close()
        for _ in 0..<500 where harness.failures.withLock({ $0.isEmpty }) { HostClock.sleep(nanos: 10_000_000) }
        server.shutdown()
        let failures = harness.failures.withLock { $0 }
        #expect(failures.map(\.code) == [.storageError], "\(failures)")
        let writer = harness.writers[1]!
        #expect(writer.failure != nil)
        #expect(server.engine!.statistics.chunksInUse.load(ordering: .relaxed) == 0)
        _ = try? writer.close()
        let written = writer.nextSequence
        #expect(written > 0 && written < 1000, "some frames fit before the disk filled")
        try verifyStream(harness, 1, frames: written, sizeMax: sizeMax)
    }
}

extension IngestEngineTests {
    /// An I/O error on a write (injected where the kernel's result comes in): the stream stops with
    /// storage_error and the errno in its failure, the file keeps the records written before, whole.
    @Test func anIOErrorStopsTheStreamAndKeepsWhatWasWritten() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let harness = try EngineHarness(folder: folder, streams: [1, 2])
        var configuration = IngestEngineConfiguration(chunkByteCount: 65_536, chunkCount: 16, frameBytesMax: 1000)
        configuration.injectedWriteFailure = (afterWrites: 3, errno: .ioError)
        let server = try harness.serve(configuration)
        let fd = try openStream(server, stream: 1)
        for sequence in 0..<UInt64(3) {
            let frame = DataFrame.encode(
                streamID: 1, sequence: sequence, captureNanos: 0, payload: enginePayload(stream: 1, sequence: sequence, sizeMax: 1000))
            try Socket.sendAll(fd, frame)
            harness.waitForWritten(1, sequence + 1)
        }
        // The fourth write fails.
        let fourth = DataFrame.encode(streamID: 1, sequence: 3, captureNanos: 0, payload: enginePayload(stream: 1, sequence: 3, sizeMax: 1000))
        try Socket.sendAll(fd, fourth)
        #expect(closedByHub(fd))
        try? fd.close()
        for _ in 0..<500 where harness.failures.withLock({ $0.isEmpty }) { HostClock.sleep(nanos: 10_000_000) }
        server.shutdown()
        #expect(harness.failures.withLock { $0.map(\.code) } == [.storageError])
        let writer = harness.writers[1]!
        #expect(writer.failure?.contains("Input/output error") == true, "\(writer.failure ?? "")")
        _ = try? writer.close()
        try verifyStream(harness, 1, frames: 3, sizeMax: 1000)
        #expect(server.engine!.statistics.chunksInUse.load(ordering: .relaxed) == 0)
    }
}

extension IngestEngineTests {
    /// A failed fdatasync is final for the stream: the engine ends the connection with storage_error
    /// at the next frame, as the POSIX path does, instead of writing on where nothing is acknowledged.
    @Test func aFailedSyncEndsTheConnection() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let harness = try EngineHarness(folder: folder, streams: [1])
        let server = try harness.serve(IngestEngineConfiguration(chunkByteCount: 65_536, chunkCount: 16, frameBytesMax: 1000))
        let fd = try openStream(server, stream: 1)
        let writer = harness.writers[1]!
        func send(_ sequence: UInt64) throws {
            let payload = enginePayload(stream: 1, sequence: sequence, sizeMax: 1000)
            try Socket.sendAll(fd, DataFrame.encode(streamID: 1, sequence: sequence, captureNanos: 0, payload: payload))
        }
        try send(0)
        harness.waitForWritten(1, 1)
        // What the flusher records when fdatasync reports EIO (StreamWriter.endSync).
        let pending = try #require(writer.beginSync())
        #expect(throws: Errno.self) { try writer.endSync(pending, error: .ioError) }
        try? send(1)
        #expect(closedByHub(fd))
        try? fd.close()
        for _ in 0..<500 where harness.failures.withLock({ $0.isEmpty }) { HostClock.sleep(nanos: 10_000_000) }
        server.shutdown()
        #expect(harness.failures.withLock { $0.map(\.code) } == [.storageError])
        #expect(writer.nextSequence == 1, "nothing written after the failed sync")
    }
}

/// Mounts a 1 MiB tmpfs on `folder`; false (with the reason printed, and a failure in CI) when it cannot.
func mountSmallTmpfs(_ folder: String) -> Bool {
    if run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", folder]) { return true }
    let required = ProcessInfo.processInfo.environment["LOCKSTEP_REQUIRE_INTEGRATION"] == "1"
    print("skipped: cannot mount a size-limited tmpfs here (needs root)")
    #expect(!required, "mounting a tmpfs is required in CI")
    return false
}

/// Runs a program and says whether it exited 0.
func run(_ executable: String, _ arguments: [String]) -> Bool {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    do { try process.run() } catch { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
}
