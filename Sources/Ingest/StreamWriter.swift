// One open stream file of a recording session: appended by exactly one data connection at a time,
// synced by the durability flusher. Plain POSIX writes (the io_uring storage stage replaces this).
import Platform
import Synchronization
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
        var claimed = false
        var closed = false
        var failure: Errno?
        /// Receive stamps of recent frames, indexed by sequence modulo the capacity, to measure
        /// receive-to-durable latency at the next sync. Allocated once; frames older than the ring
        /// at sync time are not measured (`unmeasuredCount`).
        var receiveNanos = [Int64](repeating: 0, count: StreamWriter.receiveRingCount)
        var unmeasuredCount: Int64 = 0
    }

    static let receiveRingCount = 4096

    private let state: Mutex<State>
    /// Serialises fdatasync against close, so the flusher never syncs a descriptor that was closed
    /// (and possibly reused). The data connection's append never takes it.
    private let fileLifetime = Mutex(())

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
        var initial = State(nextSequence: next, durableNextSequence: next)
        initial.frameCount = resume?.frameCount ?? 0
        initial.payloadByteCount = resume?.payloadByteCount ?? 0
        state = Mutex(initial)
    }

    /// The sequence number the next frame must carry.
    public var nextSequence: UInt64 { state.withLock { $0.nextSequence } }

    /// All frames with a sequence below this are synced to disk.
    public var durableNextSequence: UInt64 { state.withLock { $0.durableNextSequence } }

    /// Frames and payload bytes written so far.
    public var totals: (frameCount: Int64, payloadByteCount: Int64) {
        state.withLock { ($0.frameCount, $0.payloadByteCount) }
    }

    /// The write error that stopped this stream, if any.
    public var failure: Errno? { state.withLock { $0.failure } }

    /// Claims the writer for one data connection. Returns false if another connection holds it or it is closed.
    public func claim() -> Bool {
        state.withLock { s in
            guard !s.claimed, !s.closed else { return false }
            s.claimed = true
            return true
        }
    }

    /// Releases the claim when a data connection ends.
    public func release() {
        state.withLock { $0.claimed = false }
    }

    /// Appends one record (record header + frame) whose frame has sequence `sequence`.
    /// Data-connection thread only. The caller has checked the frame's CRC and sequence.
    public func append(record: UnsafeRawBufferPointer, sequence: UInt64, payloadByteCount: Int, hubReceiveNanos: Int64) throws(Errno) {
        let expected = state.withLock { $0.nextSequence }
        precondition(sequence == expected, "append out of order: \(sequence) != \(expected)")
        do {
            try unsafe FileIO.writeAll(fd, record)
        } catch {
            state.withLock { $0.failure = error }
            throw error
        }
        state.withLock { s in
            s.receiveNanos[Int(sequence % UInt64(StreamWriter.receiveRingCount))] = hubReceiveNanos
            s.nextSequence = sequence + 1
            s.frameCount += 1
            s.payloadByteCount += Int64(payloadByteCount)
        }
    }

    /// Syncs written data to disk; returns the new durable bound if it advanced, with the
    /// receive-to-durable latency of each frame it made durable. Flusher thread only.
    public func sync() throws(Errno) -> SyncOutcome? {
        try fileLifetime.withLock { _ throws(Errno) -> SyncOutcome? in
            let (written, durable, closed) = state.withLock { ($0.nextSequence, $0.durableNextSequence, $0.closed) }
            guard !closed, written > durable else { return nil }
            try FileIO.dataSync(fd)
            return markDurable(through: written, previous: durable, at: HostClock.monotonicNanos())
        }
    }

    /// Records the new durable bound and collects the latencies of the frames it covers.
    func markDurable(through written: UInt64, previous durable: UInt64, at now: Int64) -> SyncOutcome {
        state.withLock { s in
            s.durableNextSequence = max(s.durableNextSequence, written)
            let ring = UInt64(StreamWriter.receiveRingCount)
            let measuredFrom = written > ring ? max(durable, written - ring) : durable
            s.unmeasuredCount += Int64(measuredFrom - durable)
            let latencies = (measuredFrom..<written).map { now - s.receiveNanos[Int($0 % ring)] }
            return SyncOutcome(durableNextSequence: written, latenciesNanos: latencies)
        }
    }

    /// Syncs and closes the file; later appends fail. Call after the data connection ended.
    /// - Returns: the final sync's outcome (nil if already closed).
    @discardableResult
    public func close() throws(Errno) -> SyncOutcome? {
        // The data connection was shut down by the caller; wait (bounded) for its thread to let go.
        for _ in 0..<5000 where state.withLock({ $0.claimed }) { HostClock.sleep(nanos: 1_000_000) }
        return try fileLifetime.withLock { _ throws(Errno) -> SyncOutcome? in
            let wasClosed = state.withLock { s in
                defer { s.closed = true }
                return s.closed
            }
            guard !wasClosed else { return nil }
            defer { try? fd.close() }
            try FileIO.dataSync(fd)
            let (written, durable) = state.withLock { ($0.nextSequence, $0.durableNextSequence) }
            return markDurable(through: written, previous: durable, at: HostClock.monotonicNanos())
        }
    }
}

/// What one sync made durable.
public struct SyncOutcome: Sendable {
    /// Every frame below this sequence is on disk.
    public var durableNextSequence: UInt64
    /// Receive-to-durable latency of each frame this sync covered, in nanoseconds.
    public var latenciesNanos: [Int64]
}
