// The io_uring ingest engine: a network thread and one or more storage threads (lanes), each with
// its own io_uring, joined per lane by two single-producer/single-consumer rings of `IngestEvent`
// descriptors and eventfd doorbells, sharing one buffer pool allocated at startup.
//
//   socket ──recv──▶ pool chunk, in the file's layout ──(frame check in place, record header into its gap)──▶
//                        ▲            lane's toStorage ring ──▶ whole blocks from the pool ──O_DIRECT──▶ file
//                        └──── lane's toNetwork ring (chunk released after the write) ◀┘
//
// A connection belongs to lane `slot % lanes` for its life; it is given a slot in the lane with the
// fewest connections. More than one lane matters where the writes themselves take CPU (tmpfs, fast
// NVMe, frames larger than an O_DIRECT write): io_uring runs a thread's page-cache writes to regular files
// on one io-wq worker at a time, so one storage thread copies at most one core's worth; each lane has
// its own workers (docs/benchmarks.md).
//
// The data server hands each connection over after its handshake (`adopt`); the durability flusher
// syncs and acknowledges what the storage stage has written, as on the POSIX path.
import Logging
import Platform
import Synchronization
import SystemPackage
import Wire

/// Sizing and test hooks of the engine.
public struct IngestEngineConfiguration: Sendable {
    /// Bytes per pool chunk (a multiple of 4096).
    public var chunkByteCount: Int
    /// Chunks in the pool; the pool is allocated once, `chunkByteCount × chunkCount` bytes.
    public var chunkCount: Int
    public var frameBytesMax: Int
    /// Descriptors each ring holds.
    public var ringCapacity: Int
    /// An artificial delay before each write (tests of a slow disk); 0 in service.
    public var storageDelayNanos: Int64
    /// Storage threads (lanes), each with its own io_uring and its share of the streams.
    public var storageLanes: Int
    /// How the storage stage writes: `.ring` submits each gathering write to its io_uring; `.inline`
    /// calls pwritev on the storage thread. Buffered writes to ext4 mostly cannot complete without
    /// blocking, so io_uring hands them to its io-wq worker threads; see docs/benchmarks.md for what
    /// each costs.
    public var writeMode: WriteMode
    /// Whether the storage stage writes whole blocks with O_DIRECT straight from the pool (see
    /// DirectStaging.swift); where the filesystem refuses it, writes go through the page cache.
    public var directIO: Bool
    /// Fault injection for tests: the write after the first `afterWrites` fails with `errno` without
    /// touching the file (the path a real EIO, ENOSPC or EINVAL from the kernel takes). Writes are
    /// counted per storage lane, so with several lanes it fires once in each.
    public var injectedWriteFailure: (afterWrites: Int, errno: Errno)?

    public enum WriteMode: String, Sendable, CaseIterable {
        case ring = "io_uring"
        case inline = "pwritev"
    }

    public init(
        chunkByteCount: Int = 1 << 20, chunkCount: Int = 128, frameBytesMax: Int = 8 << 20, ringCapacity: Int = 1 << 16,
        storageDelayNanos: Int64 = 0, writeMode: WriteMode = .ring, directIO: Bool = true, storageLanes: Int = 1
    ) {
        self.storageLanes = storageLanes
        self.writeMode = writeMode
        self.directIO = directIO
        self.chunkByteCount = chunkByteCount
        self.chunkCount = chunkCount
        self.frameBytesMax = frameBytesMax
        self.ringCapacity = ringCapacity
        self.storageDelayNanos = storageDelayNanos
    }

    public static let storageLanesMax = 16

    /// Chunks one record of the largest allowed frame can span (record header, frame header, payload),
    /// wherever it starts in a chunk.
    public var chunksPerLargestFrame: Int {
        (StreamFileFormat.recordHeaderByteCount + FrameHeader.byteCount + frameBytesMax + chunkByteCount - 1) / chunkByteCount + 1
    }

    /// Why this sizing cannot work, if it cannot.
    public var problem: String? {
        if !(1...IngestEngineConfiguration.storageLanesMax).contains(storageLanes) {
            return "storage lanes must be from 1 to \(IngestEngineConfiguration.storageLanesMax)"
        }
        if chunkByteCount < 65_536 || chunkByteCount % 4096 != 0 { return "chunk size must be a multiple of 4096 and at least 64 KiB" }
        if chunkCount < 2 * chunksPerLargestFrame {
            return "a pool of \(chunkCount) chunks of \(chunkByteCount) bytes cannot hold two frames of frame_bytes_max (\(frameBytesMax) bytes)"
        }
        // One write gathers a record's segments (one per chunk it touches) and the block buffer.
        if chunksPerLargestFrame + 1 > StorageStream.vectorsPerWriteMax {
            return "frame_bytes_max (\(frameBytesMax) bytes) spans more chunks of \(chunkByteCount) bytes than one write can gather"
        }
        return nil
    }
}

/// Counters the engine publishes for status and metrics (written by the engine threads, read anywhere).
public final class IngestEngineStatistics: Sendable {
    public let bytesReceived = Atomic<Int>(0)
    public let bytesWritten = Atomic<Int>(0)
    /// Writes made with O_DIRECT (whole blocks from the pool).
    public let directWrites = Atomic<Int>(0)
    public let chunksInUse = Atomic<Int>(0)
    public let chunksInUsePeak = Atomic<Int>(0)
    /// Times a connection had to stop receiving because the pool was empty.
    public let backpressureWaits = Atomic<Int>(0)
    /// Connections waiting for chunks right now.
    public let waitingConnections = Atomic<Int>(0)
    public let connections = Atomic<Int>(0)
    /// Turns of the network stage's loop (at least ten a second while it lives): the watchdog's proof
    /// of progress. Each storage lane counts its own (`IngestEngine.storageLoopCounts`).
    public let networkLoops = Atomic<Int>(0)
}

/// One storage thread's share of the engine: its rings to and from the network stage, its doorbell,
/// and its loop counter.
final class StorageLane: Sendable {
    let index: Int
    let toStorage: SPSCRing<IngestEvent>
    let toNetwork: SPSCRing<IngestEvent>
    let bell: Doorbell
    /// Where the lane's pending eventfd read lands; freed only with this object, which the stage keeps
    /// alive until its ring (and any read still queued in it) is torn down.
    nonisolated(unsafe) let bellBuffer = unsafe UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    let stopRequested = Atomic<Bool>(false)
    let loops = Atomic<Int>(0)

    init(index: Int, ringCapacity: Int) throws(Errno) {
        self.index = index
        toStorage = SPSCRing(capacity: ringCapacity)
        toNetwork = SPSCRing(capacity: ringCapacity)
        bell = try Doorbell()
    }

    deinit { unsafe bellBuffer.deallocate() }
}

/// What both stages share. Everything here is either immutable, atomic, or behind a mutex that is
/// taken only when a connection starts or ends.
final class IngestEngineShared: Sendable {
    let pool: BufferPool
    let lanes: [StorageLane]
    let networkBell: Doorbell
    let inbox = Locked<[Adoption]>([])
    let slotWriters = Locked<[Int32: StreamWriter]>([:])
    let stopRequested = Atomic<Bool>(false)
    let statistics = IngestEngineStatistics()
    let frameBytesMax: Int
    let storageDelayNanos: Int64
    /// Where the network stage's pending eventfd read lands. Freed only with this object, which the
    /// stage keeps alive until its ring (and any read still queued in it) is torn down.
    nonisolated(unsafe) let networkBellBuffer = unsafe UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    let writeMode: IngestEngineConfiguration.WriteMode
    let directIO: Bool
    /// Why O_DIRECT is not used although configured (the filesystem refused it), once that happened.
    let directIOState = Locked<String?>(nil)
    let injectedWriteFailure: (afterWrites: Int, errno: Errno)?
    let logger: Logger

    init(configuration: IngestEngineConfiguration, logger: Logger) throws(Errno) {
        pool = BufferPool(chunkByteCount: configuration.chunkByteCount, chunkCount: configuration.chunkCount)
        var lanes: [StorageLane] = []
        for index in 0..<configuration.storageLanes { lanes.append(try StorageLane(index: index, ringCapacity: configuration.ringCapacity)) }
        self.lanes = lanes
        networkBell = try Doorbell()
        frameBytesMax = configuration.frameBytesMax
        storageDelayNanos = configuration.storageDelayNanos
        writeMode = configuration.writeMode
        directIO = configuration.directIO
        injectedWriteFailure = configuration.injectedWriteFailure
        self.logger = logger
    }

    deinit { unsafe networkBellBuffer.deallocate() }

    /// The lane that writes the stream on `slot`.
    func lane(_ slot: Int32) -> StorageLane { lanes[Int(slot) % lanes.count] }
}

/// Why the engine could not start: the caller falls back to POSIX I/O and says so.
public struct IngestEngineError: Error, CustomStringConvertible {
    public let description: String
}

public final class IngestEngine: Sendable {
    public let configuration: IngestEngineConfiguration
    let shared: IngestEngineShared
    let network: NetworkStage
    let storage: [StorageStage]
    private let threads = Locked<(network: PlatformThread?, storage: [PlatformThread])>((nil, []))

    /// Allocates the pool and sets up both rings.
    /// - Throws: `IngestEngineError` with the cause (io_uring refused, bad sizing, no descriptors).
    public init(configuration: IngestEngineConfiguration, logger: Logger) throws(IngestEngineError) {
        if let problem = configuration.problem { throw IngestEngineError(description: problem) }
        self.configuration = configuration
        do {
            shared = try IngestEngineShared(configuration: configuration, logger: logger)
        } catch { throw IngestEngineError(description: "eventfd: \(error)") }
        do {
            network = try NetworkStage(engine: shared, entryCount: 256)
            var stages: [StorageStage] = []
            for lane in shared.lanes { stages.append(try StorageStage(engine: shared, lane: lane, entryCount: 256)) }
            storage = stages
        } catch { throw IngestEngineError(description: "\(error)") }
        let pool = "\(configuration.chunkCount) × \(configuration.chunkByteCount / 1024) KiB = \(shared.pool.totalByteCount >> 20) MiB"
        let writes = configuration.writeMode.rawValue + (configuration.directIO ? " with O_DIRECT" : "")
        // Each lane's two rings hold `ringCapacity` descriptors; their pages become resident as the indices wrap.
        let ringMiB = 2 * configuration.storageLanes * configuration.ringCapacity * MemoryLayout<IngestEvent>.stride >> 20
        let threads = configuration.storageLanes == 1 ? "1 storage thread" : "\(configuration.storageLanes) storage threads"
        let lanes = "\(threads) (descriptor rings \(ringMiB) MiB)"
        logger.info("ingest engine: io_uring, buffer pool of \(pool), writes \(writes), \(lanes), CRC32C \(CRC32C.implementation)")
    }

    public var statistics: IngestEngineStatistics { shared.statistics }

    /// Turns of each storage lane's loop (at least ten a second while it lives).
    public var storageLoopCounts: [Int] { shared.lanes.map { $0.loops.load(ordering: .relaxed) } }

    /// "on", "off" (configured), or "off: <why>" (the filesystem refused it).
    public var directIOStatus: String {
        guard configuration.directIO else { return "off" }
        return shared.directIOState.withLock { $0 }.map { "off: \($0)" } ?? "on"
    }
    public var pool: BufferPool { shared.pool }

    public func start() {
        let storageThreads = storage.map { stage in
            PlatformThread.spawn(name: storage.count == 1 ? "ls-storage" : "ls-storage-\(stage.lane.index)") { stage.run() }
        }
        let networkThread = PlatformThread.spawn(name: "ls-network") { [network] in network.run() }
        threads.withLock { $0 = (networkThread, storageThreads) }
    }

    /// Takes over a data connection whose handshake was accepted and answered. The writer is claimed
    /// for it; the engine releases the claim and then calls `onEnd` when the connection is over.
    func adopt(_ adoption: Adoption) {
        shared.inbox.withLock { $0.append(adoption) }
        shared.networkBell.ring()
    }

    /// Ends every connection (after their received frames are written) and stops every thread.
    public func stop() {
        shared.stopRequested.store(true, ordering: .releasing)
        shared.networkBell.ring()
        let (networkThread, storageThreads) = threads.withLock { $0 }
        networkThread?.join()
        for lane in shared.lanes {
            lane.stopRequested.store(true, ordering: .releasing)
            lane.bell.ring()
        }
        for thread in storageThreads { thread.join() }
        threads.withLock { $0 = (nil, []) }
    }
}
