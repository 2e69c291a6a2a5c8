// The ingest engine's network stage, on its own thread with its own io_uring.
//
// Each adopted data connection receives straight into chunks of the buffer pool, laid out as the stream
// file will be: for each frame, 16 bytes left free for the record header, then the frame's 32-byte
// header (receives up to the header's end), then exactly its payload (receives up to the frame's end,
// so the next frame's header lands after a gap of its own). Once a frame is whole the stage checks
// stream, sequence, length and the CRC32C over the payload where it lies, writes the record header into
// the gap, and hands the record to the storage stage as segment descriptors (chunk, offset, length).
// Nothing is copied between the socket and the disk write: the storage stage writes the records from
// the pool.
//
// Positions are counted in layout bytes from the start of the connection's first chunk, which maps to
// the stream file's offset `fileEnd - fileEnd % 4096` (the block holding the file's end when the
// connection was adopted); the first record starts at `fileEnd % 4096`. Chunks are 4 KiB-aligned, so
// every pool address is congruent to its file offset modulo 4096 and the storage stage can write whole
// blocks with O_DIRECT straight from the pool. `received` (the kernel has filled up to here), `parsed`
// (whole records handed on up to here). A connection holds the chunks covering [0 or its first held
// chunk's start, received); a chunk is referenced once by its holder and once per segment in flight,
// and returns to the free list at zero. The chunk holding the end of the last record handed on is
// always still held (by the holder, or by the next record's segments), which the storage stage relies
// on to rewrite that record's last block from the pool.
//
// Backpressure: when a connection needs a chunk and the pool has none, it stops receiving and waits
// in a FIFO; TCP flow control then slows the device. A connection that knows its frame's length asks
// for every chunk the frame still needs at once, so waiters hold at most two chunks each. If every
// chunk is held by waiters and nothing is in flight to the disk (a configuration with too small a
// pool for its connections), the newest waiter is ended with `hub_full`; its device reconnects and
// resends from its last acknowledged frame, so nothing is lost.
import Logging
import Platform
import SystemPackage
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// A data connection handed to the engine after its handshake.
struct Adoption: Sendable {
    var fd: FileDescriptor
    var writer: StreamWriter
    /// Called on the network thread once the connection is over and its writes are done (the writer
    /// claim is released first); the argument is the protocol or storage error that ended it, if any.
    var onEnd: @Sendable (WireError?) -> Void
}

final class NetworkConnection {
    let slot: Int32
    let adoption: Adoption
    var chunks: [(index: Int32, start: UInt64)] = []
    /// The layout position where the chunks taken so far end (held ones and ones already given back).
    var chunksEnd: UInt64 = 0
    var reserved: [Int32] = []
    var received: UInt64 = 0
    var parsed: UInt64 = 0
    var nextSequence: UInt64
    var header: FrameHeader?
    /// The frame's checksum so far: its header's first 28 bytes and the payload up to `checkedThrough`.
    var crc = CRC32C()
    var checkedThrough: UInt64 = 0
    var receiving = false
    var waiting = false
    var parseBlocked = false
    var ending = false
    var endQueued = false
    var shutDown = false
    var failure: WireError?

    init(slot: Int32, adoption: Adoption) {
        self.slot = slot
        self.adoption = adoption
        nextSequence = adoption.writer.nextSequence
        // The first record goes where the file's end falls in its block (see the top of the file).
        parsed = UInt64(adoption.writer.writtenByteCount % Int64(FileIO.directBlockByteCount))
        received = parsed
    }

    /// Where the next record's frame header starts (after the gap for its record header).
    var headerStart: UInt64 { parsed + UInt64(StreamFileFormat.recordHeaderByteCount) }

    /// Where the frame being received ends (its header's end while the header is not yet known).
    var frameEnd: UInt64 {
        headerStart + UInt64(FrameHeader.byteCount) + UInt64(header?.payloadByteCount ?? 0)
    }

    /// Takes the next chunk: it covers the layout positions after the last one taken.
    func appendChunk(_ index: Int32, byteCount: Int) {
        chunks.append((index, chunksEnd))
        chunksEnd += UInt64(byteCount)
    }

    /// A frame's bytes have arrived that do not yet make a whole frame.
    var insideFrame: Bool { received > headerStart }
}

final class NetworkStage: @unchecked Sendable {
    static let receiveTag: UInt64 = 1 << 56
    static let bellTag: UInt64 = 2 << 56

    // The ring first: stored properties are destroyed in order, so it is torn down (cancelling the
    // queued eventfd read) while `engine` still keeps the read's buffer alive.
    var ring: URing
    let engine: IngestEngineShared
    var connections: [NetworkConnection?] = []
    var freeSlots: [Int32] = []
    var freeChunks: [Int32]
    var chunkReferences: [Int32]
    var waiters: [Int32] = []
    var segmentsInFlight = 0
    var pendingEnds: [Int32] = []
    var completions: [URingCompletion] = []
    /// The eventfd read target; owned by the shared state, so it outlives this stage's ring.
    var bellBuffer: UnsafeMutablePointer<UInt64> { engine.networkBellBuffer }
    var stopping = false

    init(engine: IngestEngineShared, entryCount: UInt32) throws(URingError) {
        self.engine = engine
        ring = try URing(entryCount: entryCount)
        freeChunks = (0..<Int32(engine.pool.chunkCount)).reversed()
        chunkReferences = [Int32](repeating: 0, count: engine.pool.chunkCount)
        completions.reserveCapacity(256)
    }

    var chunkBytes: Int { engine.pool.chunkByteCount }

    /// The thread body: runs until stopped and every connection has drained.
    func run() {
        armBell()
        while true {
            stopping = stopping || engine.stopRequested.load(ordering: .acquiring)
            adoptNew()
            drainStorageEvents()
            retryBlocked()
            serveWaiters()
            if stopping {
                for case let connection? in connections where !connection.shutDown {
                    connection.shutDown = true
                    Socket.shutdown(connection.adoption.fd)
                }
                if connections.allSatisfy({ $0 == nil }) && engine.inbox.withLock({ $0.isEmpty }) { break }
            }
            publishStatistics()
            engine.statistics.networkLoops.add(1, ordering: .relaxed)
            do { try ring.submitAndWait(timeoutNanos: 100_000_000) } catch {
                engine.logger.critical("ingest network stage: \(error)")
                HostClock.sleep(nanos: 10_000_000)
            }
            completions.removeAll(keepingCapacity: true)
            _ = ring.reap(into: &completions, limit: 256)
            let now = HostClock.monotonicNanos()
            for completion in completions {
                if completion.userData == NetworkStage.bellTag {
                    engine.networkBell.answer()
                    armBell()
                } else if completion.userData & NetworkStage.receiveTag != 0 {
                    let slot = Int(completion.userData & 0xFFFF_FFFF)
                    if let connection = connections[slot] { receiveCompleted(connection, result: completion.result, now: now) }
                }
            }
        }
    }

    func armBell() {
        prepare { unsafe ring.prepareRead(fd: engine.networkBell.fd, buffer: bellBuffer, count: 8, userData: NetworkStage.bellTag) }
    }

    /// Queues one submission, submitting the queue first when it is full; false if it still did not fit.
    @discardableResult
    func prepare(_ body: () -> Bool) -> Bool {
        if body() { return true }
        try? ring.submit()
        if body() { return true }
        engine.logger.critical("ingest network stage: submission queue still full")
        return false
    }

    func adoptNew() {
        let adopted = engine.inbox.withLock { inbox in
            defer { inbox.removeAll() }
            return inbox
        }
        for adoption in adopted {
            let slot = takeSlot()
            let connection = NetworkConnection(slot: slot, adoption: adoption)
            connections[Int(slot)] = connection
            engine.slotWriters.withLock { $0[slot] = adoption.writer }
            var open = IngestEvent(kind: .open, slot: slot)
            open.sequence = connection.nextSequence
            pushToStorage(open)
            engine.lane(slot).bell.ring()
            if stopping {
                connection.failure = nil
                end(connection)
            } else {
                startReceive(connection)
            }
        }
    }

    /// A free slot in the storage lane with the fewest connections (a slot's lane is `slot % lanes`),
    /// so streams stay spread over the lanes as connections come and go.
    func takeSlot() -> Int32 {
        var count = connections.count
        let live = connections.compactMap { $0?.slot }
        let slot = NetworkStage.takeSlot(lanes: engine.lanes.count, live: live, free: &freeSlots, count: &count)
        while connections.count < count { connections.append(nil) }
        return slot
    }

    /// The slot `takeSlot` gives, given the `live` slots, the `free` ones and the `count` made so far
    /// (new slots on other lanes made on the way join `free`).
    static func takeSlot(lanes: Int, live: [Int32], free: inout [Int32], count: inout Int) -> Int32 {
        var load = [Int](repeating: 0, count: lanes)
        for slot in live { load[Int(slot) % lanes] += 1 }
        let lane = load.indices.min { load[$0] < load[$1] } ?? 0
        if let index = free.lastIndex(where: { Int($0) % lanes == lane }) { return free.remove(at: index) }
        while true {
            let slot = Int32(count)
            count += 1
            if Int(slot) % lanes == lane { return slot }
            free.append(slot)
        }
    }

    /// The forward ring is sized for every segment the pool can hold plus one control event per
    /// connection, so a push for an open or end event never finds it full; a frame waits when it is.
    func pushToStorage(_ event: IngestEvent) {
        let lane = engine.lane(event.slot)
        while !lane.toStorage.push(event) {
            lane.bell.ring()
            HostClock.sleep(nanos: 100_000)
        }
    }

    func drainStorageEvents() {
        for lane in engine.lanes { drainStorageEvents(lane) }
    }

    func drainStorageEvents(_ lane: StorageLane) {
        while let event = lane.toNetwork.pop() {
            switch event.kind {
            case .released:
                segmentsInFlight -= 1
                dropReference(event.chunk)
            case .drained:
                guard let connection = connections[Int(event.slot)] else { continue }
                connections[Int(event.slot)] = nil
                freeSlots.append(event.slot)
                engine.slotWriters.withLock { $0[event.slot] = nil }
                connection.adoption.writer.release()
                connection.adoption.onEnd(connection.failure)
            case .failed:
                guard let connection = connections[Int(event.slot)], !connection.ending else { continue }
                let reason = connection.adoption.writer.failure ?? "writing the stream file failed"
                connection.failure = WireError(.storageError, reason)
                if connection.receiving {
                    Socket.shutdown(connection.adoption.fd)
                } else {
                    end(connection)
                }
            default:
                engine.logger.error("ingest network stage: unexpected event \(event.kind)")
            }
        }
    }

    func retryBlocked() {
        for index in pendingEnds.indices.reversed() {
            let slot = pendingEnds[index]
            if engine.lane(slot).toStorage.push(IngestEvent(kind: .end, slot: slot)) {
                pendingEnds.remove(at: index)
                engine.lane(slot).bell.ring()
            }
        }
        for case let connection? in connections where connection.parseBlocked && !connection.ending {
            connection.parseBlocked = false
            parse(connection, now: HostClock.monotonicNanos())
            if !connection.ending { startReceive(connection) }
        }
    }

    // MARK: ending

    func fail(_ connection: NetworkConnection, _ error: WireError) {
        connection.failure = error
        end(connection)
    }

    /// Stops receiving, gives back held chunks, and asks the storage stage to finish the stream.
    /// The connection is reported ended when the storage stage answers `drained`.
    func end(_ connection: NetworkConnection) {
        guard !connection.endQueued else { return }
        connection.ending = true
        guard !connection.receiving else {
            // The receive in flight completes (the socket is shut down) and calls back here.
            if !connection.shutDown {
                connection.shutDown = true
                Socket.shutdown(connection.adoption.fd)
            }
            return
        }
        connection.endQueued = true
        if connection.waiting {
            connection.waiting = false
            waiters.removeAll { $0 == connection.slot }
        }
        for held in connection.chunks { dropReference(held.index) }
        connection.chunks.removeAll()
        for chunk in connection.reserved {
            chunkReferences[Int(chunk)] = 0
            freeChunks.append(chunk)
        }
        connection.reserved.removeAll()
        if engine.lane(connection.slot).toStorage.push(IngestEvent(kind: .end, slot: connection.slot)) {
            engine.lane(connection.slot).bell.ring()
        } else {
            pendingEnds.append(connection.slot)
        }
    }

    func publishStatistics() {
        let inUse = engine.pool.chunkCount - freeChunks.count
        engine.statistics.chunksInUse.store(inUse, ordering: .relaxed)
        if inUse > engine.statistics.chunksInUsePeak.load(ordering: .relaxed) {
            engine.statistics.chunksInUsePeak.store(inUse, ordering: .relaxed)
        }
        engine.statistics.connections.store(connections.count - freeSlots.count, ordering: .relaxed)
    }
}
