// The ingest engine's storage stage: one per lane, on its own thread with its own io_uring.
//
// It takes checked records of its lane's streams from the network stage as segment descriptors and
// appends them to their stream files. The records lie in the pool exactly as the file holds them (the
// network stage wrote each record header into the gap it left before the frame), so a write gathers
// them where the kernel received them: with O_DIRECT (the default) as whole blocks straight from the
// pool (DirectStaging.swift), otherwise the records exactly, at the file's end, through the page cache.
// The chunks go back to the network stage when the write completes. One write is in flight per stream,
// at the file offset after the last whole record (a block write starts at the block holding it and
// rewrites the bytes before it unchanged), so records land in order and a failed or short write is cut
// back to whole records. fdatasync and acknowledgements stay with the durability flusher, which syncs
// whatever the stage has completed.
import Logging
import Platform
import SystemPackage
import Wire

#if canImport(Glibc)
import Glibc
#endif

final class StorageStream {
    static let framesPerWriteMax = 256
    static let vectorsPerWriteMax = 1024

    let slot: Int32
    let writer: StreamWriter
    let fd: FileDescriptor
    var fileEnd: Int64
    var nextSequence: UInt64
    /// Segments of whole frames not yet written, oldest first (from `pendingStart`).
    var pending: [IngestEvent] = []
    var pendingStart = 0
    /// End of the last whole frame in `pending`: the storage thread may pop a frame's first segments
    /// before the network thread has pushed its last.
    var pendingEnd = 0
    var inFlight: [IngestEvent] = []
    var inFlightBytes = 0
    var inFlightFrames = 0
    var inFlightPayload: Int64 = 0
    /// What the write in flight should report: the record bytes, or the whole blocks covering them.
    var inFlightWriteBytes = 0
    var inFlightKind = WriteKind.gathered
    var inFlightVectorCount = 0
    var inFlightOffset: Int64 = 0
    /// A write is in flight.
    var writing = false
    /// The stream's O_DIRECT state, or nil when its records are appended through the page cache.
    var direct: DirectStaging?
    let vectors = unsafe UnsafeMutablePointer<iovec>.allocate(capacity: StorageStream.vectorsPerWriteMax)
    let stamps = unsafe UnsafeMutablePointer<Int64>.allocate(capacity: StorageStream.framesPerWriteMax)
    var ended = false
    var failed = false

    init(slot: Int32, writer: StreamWriter, firstSequence: UInt64) {
        self.slot = slot
        self.writer = writer
        fd = writer.descriptor
        fileEnd = writer.writtenByteCount
        nextSequence = firstSequence
        pending.reserveCapacity(1024)
        inFlight.reserveCapacity(StorageStream.vectorsPerWriteMax)
    }

    deinit {
        unsafe vectors.deallocate()
        unsafe stamps.deallocate()
    }

    var hasPending: Bool { pendingStart < pendingEnd }
}

final class StorageStage: @unchecked Sendable {
    static let writeTag: UInt64 = 1 << 56
    static let bellTag: UInt64 = 2 << 56

    // The ring first, as in NetworkStage.
    var ring: URing
    let engine: IngestEngineShared
    let lane: StorageLane
    var streams: [StorageStream?] = []
    var active = 0
    var releases: [IngestEvent] = []
    var completions: [URingCompletion] = []
    var writesSubmitted = 0
    /// The eventfd read target; owned by the lane, so it outlives this stage's ring.
    var bellBuffer: UnsafeMutablePointer<UInt64> { lane.bellBuffer }
    /// How log lines and the watchdog name this stage.
    var name: String { engine.lanes.count == 1 ? "ingest storage stage" : "ingest storage stage \(lane.index)" }

    init(engine: IngestEngineShared, lane: StorageLane, entryCount: UInt32) throws(URingError) {
        self.engine = engine
        self.lane = lane
        ring = try URing(entryCount: entryCount)
        releases.reserveCapacity(4096)
        completions.reserveCapacity(256)
    }

    func run() {
        armBell()
        while true {
            takeEvents()
            for case let stream? in streams { advance(stream) }
            flushReleases()
            if lane.stopRequested.load(ordering: .acquiring) && active == 0 && lane.toStorage.count == 0 { break }
            lane.loops.add(1, ordering: .relaxed)
            do { try ring.submitAndWait(timeoutNanos: 100_000_000) } catch {
                engine.logger.critical("\(name): \(error)")
                HostClock.sleep(nanos: 10_000_000)
            }
            completions.removeAll(keepingCapacity: true)
            _ = ring.reap(into: &completions, limit: 256)
            for completion in completions {
                if completion.userData == StorageStage.bellTag {
                    lane.bell.answer()
                    armBell()
                } else if completion.userData & StorageStage.writeTag != 0, let stream = streams[Int(completion.userData & 0xFFFF_FFFF)] {
                    writeCompleted(stream, result: completion.result)
                }
            }
        }
    }

    func armBell() {
        if unsafe ring.prepareRead(fd: lane.bell.fd, buffer: bellBuffer, count: 8, userData: StorageStage.bellTag) { return }
        try? ring.submit()
        _ = unsafe ring.prepareRead(fd: lane.bell.fd, buffer: bellBuffer, count: 8, userData: StorageStage.bellTag)
    }

    func takeEvents() {
        while let event = lane.toStorage.pop() {
            let slot = Int(event.slot)
            switch event.kind {
            case .open:
                guard let writer = engine.slotWriters.withLock({ $0[event.slot] }) else {
                    engine.logger.critical("\(name): slot \(slot) opened without a writer")
                    continue
                }
                while streams.count <= slot { streams.append(nil) }
                let stream = StorageStream(slot: event.slot, writer: writer, firstSequence: event.sequence)
                stream.direct = makeDirectStaging(for: writer, fileEnd: stream.fileEnd)
                streams[slot] = stream
                active += 1
            case .segment:
                guard slot < streams.count, let stream = streams[slot] else {
                    release(event)
                    continue
                }
                if stream.failed {
                    release(event)
                } else {
                    stream.pending.append(event)
                    if event.flags & IngestEvent.frameEnd != 0 { stream.pendingEnd = stream.pending.count }
                }
            case .end:
                if slot < streams.count, let stream = streams[slot] {
                    stream.ended = true
                } else {
                    releases.append(IngestEvent(kind: .drained, slot: event.slot))
                }
            default:
                engine.logger.error("\(name): unexpected event \(event.kind)")
            }
        }
    }

    /// Starts the stream's next write, or reports it drained once it has ended and nothing is left.
    func advance(_ stream: StorageStream) {
        // A failed fdatasync (the flusher's) is final for the stream, as a failed write is.
        if !stream.failed, !stream.writing, stream.hasPending, stream.writer.failure != nil {
            stream.failed = true
            releases.append(IngestEvent(kind: .failed, slot: stream.slot))
        }
        if !stream.writing && stream.hasPending && !stream.failed { submitWrite(stream) }
        if stream.ended && !stream.writing && (!stream.hasPending || stream.failed) {
            for index in stream.pendingStart..<stream.pending.count { release(stream.pending[index]) }
            if stream.direct != nil { cutZeros(stream) }
            streams[Int(stream.slot)] = nil
            active -= 1
            releases.append(IngestEvent(kind: .drained, slot: stream.slot))
        }
    }

    /// One write of as many whole pending records as fit, gathered from the pool: whole blocks (with
    /// O_DIRECT or through the page cache), or the records exactly when the stream has no O_DIRECT.
    func submitWrite(_ stream: StorageStream) {
        let lead = stream.direct == nil ? 0 : Int(stream.fileEnd % Int64(FileIO.directBlockByteCount))
        var vectorCount = 0
        var bytes = 0
        takeFrames(stream) { _, _, segments in
            // Room for the frame's segments and the block buffer.
            guard vectorCount + segments.count + 1 <= StorageStream.vectorsPerWriteMax else { return false }
            let recordBytes = segments.reduce(0) { $0 + Int($1.length) }
            // An O_DIRECT write stays within writeBytesMax, but takes at least one record.
            guard bytes == 0 || stream.direct == nil || lead + bytes + recordBytes <= DirectStaging.writeBytesMax else { return false }
            for segment in segments {
                let base = unsafe engine.pool.chunk(segment.chunk) + Int(segment.offset)
                let previous = vectorCount - 1
                // Records follow each other in a chunk: extend the last vector where this one continues it.
                if previous >= 0, unsafe stream.vectors[previous].iov_base! + stream.vectors[previous].iov_len == base {
                    unsafe stream.vectors[previous].iov_len += Int(segment.length)
                } else {
                    unsafe stream.vectors[vectorCount] = iovec(iov_base: base, iov_len: Int(segment.length))
                    vectorCount += 1
                }
                stream.inFlight.append(segment)
            }
            bytes += recordBytes
            return true
        }
        // The configuration keeps every record within one write's vectors (IngestEngineConfiguration.problem).
        precondition(stream.inFlightFrames > 0, "a pending record did not fit one write")
        stream.inFlightBytes = bytes
        if let direct = stream.direct {
            submitBlockWrite(stream, direct, vectorCount: vectorCount, recordBytes: bytes)
            return
        }
        stream.inFlightKind = .gathered
        stream.inFlightWriteBytes = bytes
        issueWrite(stream, fd: stream.fd, vectorCount: vectorCount, offset: stream.fileEnd)
    }

    /// Takes whole pending frames, oldest first, into the write being made, while `take(frame index,
    /// first segment, all its segments)` accepts them (it returns false, having done nothing, for a
    /// frame that does not fit). Records each taken frame's stamp and the write's frame and payload
    /// counts, and drops the taken segments from `pending`.
    func takeFrames(_ stream: StorageStream, _ take: (Int, IngestEvent, ArraySlice<IngestEvent>) -> Bool) {
        var frames = 0
        var payload: Int64 = 0
        var index = stream.pendingStart
        while index < stream.pendingEnd, frames < StorageStream.framesPerWriteMax {
            // The frame's segments run from `index` to the one flagged frameEnd.
            var last = index
            while stream.pending[last].flags & IngestEvent.frameEnd == 0 { last += 1 }
            let first = stream.pending[index]
            guard take(frames, first, stream.pending[index...last]) else { break }
            unsafe stream.stamps[frames] = first.hubReceiveNanos
            payload += Int64(first.payloadByteCount)
            frames += 1
            index = last + 1
        }
        consumePending(stream, through: index)
        stream.inFlightFrames = frames
        stream.inFlightPayload = payload
    }

    /// Drops the pending segments before `index` (taken into the write being made).
    func consumePending(_ stream: StorageStream, through index: Int) {
        stream.pendingStart = index
        if stream.pendingStart == stream.pending.count {
            stream.pending.removeAll(keepingCapacity: true)
            stream.pendingStart = 0
            stream.pendingEnd = 0
        } else if stream.pendingStart > 4096 {
            stream.pending.removeFirst(stream.pendingStart)
            stream.pendingEnd -= stream.pendingStart
            stream.pendingStart = 0
        }
    }

    /// Submits the stream's prepared vectors as one write at `offset` (or writes them inline).
    func issueWrite(_ stream: StorageStream, fd: FileDescriptor, vectorCount: Int, offset: Int64) {
        stream.writing = true
        stream.inFlightVectorCount = vectorCount
        stream.inFlightOffset = offset
        if engine.storageDelayNanos > 0 { HostClock.sleep(nanos: engine.storageDelayNanos) }
        writesSubmitted += 1
        if let injected = engine.injectedWriteFailure, writesSubmitted == injected.afterWrites + 1 {
            writeCompleted(stream, result: -injected.errno.rawValue)
            return
        }
        if engine.writeMode == .inline {
            let result: Int
            do throws(Errno) {
                result = try unsafe FileIO.writeVector(fd, stream.vectors, count: vectorCount, at: offset)
            } catch { result = -Int(error.rawValue) }
            writeCompleted(stream, result: Int32(clamping: result))
            return
        }
        let tag = StorageStage.writeTag | UInt64(stream.slot)
        let count = UInt32(vectorCount)
        var queued = unsafe ring.prepareWriteVector(fd: fd, vectors: stream.vectors, count: count, offset: UInt64(offset), userData: tag)
        if !queued {
            try? ring.submit()
            queued = unsafe ring.prepareWriteVector(fd: fd, vectors: stream.vectors, count: count, offset: UInt64(offset), userData: tag)
        }
        if !queued { writeCompleted(stream, result: -Errno.resourceTemporarilyUnavailable.rawValue) }
    }

    func writeCompleted(_ stream: StorageStream, result: Int32) {
        stream.writing = false
        defer {
            for segment in stream.inFlight { release(segment) }
            stream.inFlight.removeAll(keepingCapacity: true)
        }
        var result = result
        if stream.inFlightKind == .blocksDirect, result == -Errno.invalidArgument.rawValue, let direct = stream.direct {
            result = directWriteRefused(stream, direct)
        }
        guard Int(result) == stream.inFlightWriteBytes else {
            let reason =
                result < 0
                ? "writing \(stream.writer.path) failed: \(Errno(rawValue: -result))"
                : "writing \(stream.writer.path) stopped short (\(result) of \(stream.inFlightWriteBytes) bytes; is the disk full?)"
            // Cut back to the last whole record; if even that fails, recovery's scan stops there.
            try? FileIO.truncate(stream.fd, to: stream.fileEnd)
            stream.writer.recordFailure(reason)
            stream.failed = true
            engine.logger.error("\(reason)")
            releases.append(IngestEvent(kind: .failed, slot: stream.slot))
            return
        }
        unsafe stream.writer.recordWritten(
            firstSequence: stream.nextSequence, frameCount: stream.inFlightFrames, payloadByteCount: stream.inFlightPayload,
            recordByteCount: Int64(stream.inFlightBytes), receiveNanos: UnsafeBufferPointer(start: stream.stamps, count: stream.inFlightFrames))
        stream.nextSequence += UInt64(stream.inFlightFrames)
        stream.fileEnd += Int64(stream.inFlightBytes)
        engine.statistics.bytesWritten.add(stream.inFlightBytes, ordering: .relaxed)
        if let direct = stream.direct { finishDirectWrite(stream, direct) }
    }

    func release(_ segment: IngestEvent) {
        var event = IngestEvent(kind: .released, slot: segment.slot)
        event.chunk = segment.chunk
        releases.append(event)
    }

    /// Hands released chunks and stream events back to the network stage (what does not fit waits).
    func flushReleases() {
        guard !releases.isEmpty else { return }
        var sent = 0
        for event in releases {
            guard lane.toNetwork.push(event) else { break }
            sent += 1
        }
        releases.removeFirst(sent)
        if sent > 0 { engine.networkBell.ring() }
    }
}
