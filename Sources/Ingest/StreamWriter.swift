// One open stream file of a recording session: appended by exactly one data connection at a time,
// synced by the durability flusher. Written either by `append` (the POSIX data path) or by the io_uring
// storage stage, which writes at `writtenByteCount` and then calls `recordWritten`.
//
// Failure rules (nothing acknowledged may be lost or hidden behind damage):
// - a failed or short write is cut back to the end of the last whole record, and the stream takes no
//   more frames (a later record after a torn one would be unreadable);
// - a failed fdatasync is final for the stream: Linux reports a writeback error once, so a later
//   successful sync would acknowledge data that never reached the disk;
// - `close` never closes the descriptor while a data connection still holds the writer.
import Platform
import SystemPackage
import Wire

/// Appends records to one stream file and tracks what is written and what is durable.
public final class StreamWriter: Sendable {
    public let sessionID: String
    public let deviceID: String
    public let streamID: UInt16
    public let path: String
    private let fd: FileDescriptor

    struct State {
        var nextSequence: UInt64
        var frameCount: Int64 = 0
        var payloadByteCount: Int64 = 0
        var durableNextSequence: UInt64
        /// Bytes up to the end of the last whole record.
        var fileByteCount: Int64
        var claimed = false
        /// The holding connection's socket, so a newer connection for the stream can end a dead one.
        var holder: FileDescriptor?
        var closing = false
        var closed = false
        var failure: String?
        /// An fdatasync of the descriptor is running (close waits for it, so it never syncs a closed,
        /// possibly reused, descriptor).
        var syncing = false
        /// Receive stamps of recent frames, indexed by sequence modulo the capacity, to measure
        /// receive-to-durable latency at the next sync. Allocated once; when more than 4096 frames
        /// arrive between two syncs, only the newest 4096 are measured.
        var receiveNanos = [Int64](repeating: 0, count: StreamWriter.receiveRingCount)
    }

    static let receiveRingCount = 4096

    private let state: Locked<State>

    /// Opens (or creates) the stream file. A new file gets `header`; an existing one is appended after
    /// its last valid record (`resume` from recovery gives that sequence).
    public init(
        sessionID: String, deviceID: String, streamID: UInt16, path: String, header: [UInt8],
        resume: StreamFileScan? = nil
    ) throws(Errno) {
        self.sessionID = sessionID
        self.deviceID = deviceID
        self.streamID = streamID
        self.path = path
        let fd = try FileIO.openAppend(path)
        do throws(Errno) {
            if let resume {
                try FileIO.truncate(fd, to: resume.validByteCount)
            } else {
                try FileIO.truncate(fd, to: 0)
                try FileIO.writeAll(fd, header)
            }
            try FileIO.dataSync(fd)
        } catch {
            try? fd.close()
            throw error
        }
        self.fd = fd
        let next = resume?.nextSequence ?? 0
        var initial = State(nextSequence: next, durableNextSequence: next, fileByteCount: resume?.validByteCount ?? Int64(header.count))
        initial.frameCount = resume?.frameCount ?? 0
        initial.payloadByteCount = resume?.payloadByteCount ?? 0
        state = Locked(initial)
    }

    /// The sequence number the next frame must carry.
    public var nextSequence: UInt64 { state.withLock { $0.nextSequence } }

    /// All frames with a sequence below this are synced to disk.
    public var durableNextSequence: UInt64 { state.withLock { $0.durableNextSequence } }

    /// Frames and payload bytes written so far.
    public var totals: (frameCount: Int64, payloadByteCount: Int64) {
        state.withLock { ($0.frameCount, $0.payloadByteCount) }
    }

    /// Why this stream stopped taking frames, if it did.
    public var failure: String? { state.withLock { $0.failure } }

    /// Claims the writer for the data connection on `socket`. Returns false if another connection
    /// holds it, or the stream is closing, closed or failed.
    public func claim(socket: FileDescriptor) -> Bool {
        state.withLock { s in
            guard !s.claimed, !s.closing, !s.closed, s.failure == nil else { return false }
            s.claimed = true
            s.holder = socket
            return true
        }
    }

    /// Ends the holding connection (a device reconnected while its old connection hangs, e.g. after a
    /// Wi-Fi roam). The shutdown happens under the lock, so the holder cannot have closed its socket yet.
    public func preemptHolder() {
        state.withLock { s in s.holder.map(Socket.shutdown) }
    }

    /// Releases the claim when a data connection ends (before it closes its socket).
    public func release() {
        state.withLock { s in
            s.claimed = false
            s.holder = nil
        }
    }

    /// Refuses new claims from now on (the session is finishing).
    public func beginClosing() {
        state.withLock { $0.closing = true }
    }

    /// Appends one record (record header + frame) whose frame has sequence `sequence`.
    /// Data-connection thread only. The caller has checked the frame's CRC and sequence.
    public func append(record: UnsafeRawBufferPointer, sequence: UInt64, payloadByteCount: Int, hubReceiveNanos: Int64) throws(Errno) {
        let (expected, end, failed) = state.withLock { ($0.nextSequence, $0.fileByteCount, $0.failure != nil) }
        precondition(sequence == expected, "append out of order: \(sequence) != \(expected)")
        guard !failed else { throw Errno.ioError }
        do throws(Errno) {
            try unsafe FileIO.writeAll(fd, record)
        } catch {
            // Cut a partial record back off; if even that fails, the scan on recovery stops there.
            try? FileIO.truncate(fd, to: end)
            state.withLock { $0.failure = "writing \(path) failed: \(error)" }
            throw error
        }
        state.withLock { s in
            s.receiveNanos[Int(sequence % UInt64(StreamWriter.receiveRingCount))] = hubReceiveNanos
            s.nextSequence = sequence + 1
            s.frameCount += 1
            s.payloadByteCount += Int64(payloadByteCount)
            s.fileByteCount += Int64(record.count)
        }
    }

    /// The file, for the io_uring storage stage (which writes only while a connection holds the claim,
    /// so `close` cannot close it under a write).
    var descriptor: FileDescriptor { fd }

    /// Bytes up to the end of the last whole record written.
    var writtenByteCount: Int64 { state.withLock { $0.fileByteCount } }

    /// Records `frameCount` whole records written by the storage stage, starting at `firstSequence`;
    /// `receiveNanos` holds each frame's hub receive stamp in order.
    func recordWritten(
        firstSequence: UInt64, frameCount: Int, payloadByteCount: Int64, recordByteCount: Int64, receiveNanos: UnsafeBufferPointer<Int64>
    ) {
        state.withLock { s in
            precondition(firstSequence == s.nextSequence, "storage stage wrote out of order: \(firstSequence) != \(s.nextSequence)")
            for index in 0..<frameCount {
                let sequence = firstSequence + UInt64(index)
                s.receiveNanos[Int(sequence % UInt64(StreamWriter.receiveRingCount))] = unsafe receiveNanos[index]
            }
            s.nextSequence = firstSequence + UInt64(frameCount)
            s.frameCount += Int64(frameCount)
            s.payloadByteCount += payloadByteCount
            s.fileByteCount += recordByteCount
        }
    }

    /// Stops the stream after a failed write (the caller has cut the file back to `writtenByteCount`).
    func recordFailure(_ reason: String) {
        state.withLock { $0.failure = $0.failure ?? reason }
    }

    /// What one fdatasync covers: frames below `written`, on `fd`. See `beginSync`.
    public struct PendingSync: Sendable {
        public let fd: FileDescriptor
        let written: UInt64
        let durable: UInt64
    }

    /// Starts a sync if there is written data not yet durable: marks the writer as syncing (so `close`
    /// waits) and returns what to sync. Finish with `endSync` whatever the fdatasync did.
    public func beginSync() -> PendingSync? {
        state.withLock { s in
            // Not once closing: `close` makes the final sync itself, and a sync that starts after its
            // wait would keep it from closing the descriptor.
            guard !s.closed, !s.closing, !s.syncing, s.failure == nil, s.nextSequence > s.durableNextSequence else { return nil }
            s.syncing = true
            return PendingSync(fd: fd, written: s.nextSequence, durable: s.durableNextSequence)
        }
    }

    /// Ends a sync begun with `beginSync`: the new durable bound and its latencies, or the failure
    /// (final for the stream: Linux reports a writeback error once).
    public func endSync(_ pending: PendingSync, error: Errno?) throws(Errno) -> SyncOutcome {
        if let error {
            state.withLock { s in
                s.syncing = false
                s.failure = s.failure ?? "fdatasync of \(path) failed: \(error)"
            }
            throw error
        }
        let outcome = markDurable(through: pending.written, previous: pending.durable, at: HostClock.monotonicNanos())
        state.withLock { $0.syncing = false }
        return outcome
    }

    /// Syncs written data to disk; returns the new durable bound if it advanced, with the
    /// receive-to-durable latency of each frame it made durable.
    /// - Throws: the fdatasync error, after which the stream never acknowledges again.
    public func sync() throws(Errno) -> SyncOutcome? {
        guard let pending = beginSync() else { return nil }
        do throws(Errno) { try FileIO.dataSync(fd) } catch { return try endSync(pending, error: error) }
        return try endSync(pending, error: nil)
    }

    /// Records the new durable bound and collects the latencies of the frames it covers.
    func markDurable(through written: UInt64, previous durable: UInt64, at now: Int64) -> SyncOutcome {
        state.withLock { s in
            s.durableNextSequence = max(s.durableNextSequence, written)
            let ring = UInt64(StreamWriter.receiveRingCount)
            let measuredFrom = written > ring ? max(durable, written - ring) : durable
            let latencies = (measuredFrom..<written).map { now - s.receiveNanos[Int($0 % ring)] }
            return SyncOutcome(durableNextSequence: written, latenciesNanos: latencies)
        }
    }

    /// Syncs and closes the file; later appends fail. Call after the data connection was shut down.
    /// - Returns: the final sync's outcome (nil if already closed, failed, or the connection never let go).
    @discardableResult
    public func close() throws(Errno) -> SyncOutcome? {
        beginClosing()
        // The data connection was shut down by the caller; wait (bounded) for it and any running sync.
        for _ in 0..<5000 where state.withLock({ $0.claimed || $0.syncing }) { HostClock.sleep(nanos: 1_000_000) }
        let (wasClosed, busy, failed, written, durable) = state.withLock { s in
            let busy = s.claimed || s.syncing
            let wasClosed = s.closed
            // Marked closed under the same lock that `beginSync` checks, so no sync can start after this.
            if !busy { s.closed = true }
            return (wasClosed, busy, s.failure != nil, s.nextSequence, s.durableNextSequence)
        }
        guard !wasClosed else { return nil }
        guard !busy else {
            // Never close a descriptor a thread may still use: it could be reused by another file.
            state.withLock { $0.failure = $0.failure ?? "data connection or sync did not end; \(path) left open" }
            return nil
        }
        defer { try? fd.close() }
        guard !failed else { return nil }
        do throws(Errno) { try FileIO.dataSync(fd) } catch {
            state.withLock { $0.failure = $0.failure ?? "final fdatasync of \(path) failed: \(error)" }
            throw error
        }
        return markDurable(through: written, previous: durable, at: HostClock.monotonicNanos())
    }
}

/// What one sync made durable.
public struct SyncOutcome: Sendable {
    /// Every frame below this sequence is on disk.
    public var durableNextSequence: UInt64
    /// Receive-to-durable latency of each frame this sync covered, in nanoseconds.
    public var latenciesNanos: [Int64]
}
