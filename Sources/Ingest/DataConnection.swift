// One device stream's data connection: handshake, then frames until the device or the hub ends it.
// With the io_uring engine running, the frames go to the engine after the handshake; this file's
// frame loop is the POSIX fallback path.
//
// Per frame (POSIX path): read the 32-byte header into the buffer after a 16-byte gap, check it (magic, flags,
// length limit, stream id, sequence), read the payload, check the CRC32C, stamp the hub receive time,
// fill the gap with the record header, and append header+frame with one write. Any bad frame ends
// the connection with a stable error code; records already written are whole and stay valid.
import Logging
import Platform
import SystemPackage
import Wire

final class DataConnection: @unchecked Sendable {
    let fd: FileDescriptor
    let peer: IPv4Endpoint
    let configuration: DataServerConfiguration
    let delegate: any DataChannelDelegate
    let logger: Logger
    let onAuthorized: @Sendable (String) -> Void
    /// Called once a connection handed to the engine is over (the data server then closes it).
    let onEnded: @Sendable () -> Void

    init(
        fd: FileDescriptor, peer: IPv4Endpoint, configuration: DataServerConfiguration, delegate: any DataChannelDelegate,
        logger: Logger, onAuthorized: @escaping @Sendable (String) -> Void, onEnded: @escaping @Sendable () -> Void
    ) {
        self.fd = fd
        self.peer = peer
        self.configuration = configuration
        self.delegate = delegate
        self.logger = logger
        self.onAuthorized = onAuthorized
        self.onEnded = onEnded
    }

    /// Runs the handshake on the calling (dedicated) thread, then either hands the connection to the
    /// io_uring engine (returns true: the engine ends it and closes nothing here) or receives its
    /// frames on this thread until it ends (returns false).
    func run(engine: IngestEngine?) -> Bool {
        let handshake: DataHandshake
        do {
            guard let received = try readHandshake() else { return false }
            handshake = received
        } catch {
            refuse(error)
            return false
        }
        // Registered before authorizing, so a session that is closing finds and ends this connection.
        onAuthorized(handshake.sessionID)
        let writer: StreamWriter
        switch delegate.authorize(handshake, peer: peer, socket: fd) {
        case .success(let claimed): writer = claimed
        case .failure(let error):
            refuse(error)
            return false
        }
        do {
            try Socket.sendAll(fd, DataHandshakeReply(error: nil, nextSequence: writer.nextSequence).encoded())
            try Socket.setReceiveTimeout(fd, millis: 0)
        } catch {
            writer.release()
            return false
        }
        if let engine {
            engine.adopt(Adoption(fd: fd, writer: writer) { [self] failure in
                if let failure { reportFailure(failure, handshake) }
                onEnded()
            })
            return true
        }
        defer { writer.release() }
        do {
            try receiveFrames(into: writer)
        } catch let error as WireError {
            reportFailure(error, handshake)
        } catch {
            logger.debug("data connection ended: \(error)", metadata: ["device": "\(handshake.deviceID)"])
        }
        return false
    }

    func reportFailure(_ error: WireError, _ handshake: DataHandshake) {
        logger.warning("data connection closed: \(error)", metadata: ["device": "\(handshake.deviceID)", "stream": "\(handshake.streamID)"])
        delegate.dataConnectionFailed(deviceID: handshake.deviceID, streamID: handshake.streamID, error: error)
    }

    func refuse(_ error: Error) {
        let wire: WireError
        if let error = error as? WireError { wire = error } else if let errno = error as? Errno, errno.isWouldBlock {
            wire = WireError(.handshakeTimeout, "no complete handshake within \(configuration.handshakeTimeoutMillis) ms")
        } else {
            wire = WireError(.badFrame, "connection ended inside the handshake: \(error)")
        }
        logger.warning("data handshake refused: \(wire)", metadata: ["peer": "\(peer)"])
        try? Socket.sendAll(fd, DataHandshakeReply(error: wire.code, nextSequence: 0).encoded())
    }

    /// Reads the handshake within one deadline for the whole of it (a client trickling a byte at a
    /// time cannot hold a connection slot longer than `handshakeTimeoutMillis`).
    func readHandshake() throws -> DataHandshake? {
        let deadline = HostClock.monotonicNanos() + configuration.handshakeTimeoutMillis * 1_000_000
        var fixed = [UInt8](repeating: 0, count: DataHandshake.fixedByteCount)
        guard try receive(into: &fixed, deadline: deadline) else { return nil }
        let total = try DataHandshake.totalByteCount(fixedPart: fixed.span)
        var rest = [UInt8](repeating: 0, count: total - fixed.count)
        guard try receive(into: &rest, deadline: deadline) else { throw WireError(.badFrame, "connection closed inside the handshake") }
        return try DataHandshake.decode((fixed + rest).span)
    }

    /// Fills `bytes` before `deadline`; false on a clean end of stream before the first byte.
    func receive(into bytes: inout [UInt8], deadline: Int64) throws -> Bool {
        var filled = 0
        while filled < bytes.count {
            let remainingMillis = (deadline - HostClock.monotonicNanos()) / 1_000_000
            guard remainingMillis > 0 else { throw Errno.resourceTemporarilyUnavailable }
            try Socket.setReceiveTimeout(fd, millis: remainingMillis)
            let count = try bytes.withUnsafeMutableBytes { raw in
                try Socket.receive(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]))
            }
            if count == 0 {
                if filled == 0 { return false }
                throw WireError(.badFrame, "connection closed inside the handshake")
            }
            filled += count
        }
        return true
    }

    func receiveFrames(into writer: StreamWriter) throws {
        let gap = StreamFileFormat.recordHeaderByteCount
        var buffer = ConnectionBuffer(byteCount: gap + FrameHeader.byteCount + 65_536)
        defer { buffer.deallocate() }
        while true {
            guard try buffer.receive(from: fd, at: gap, count: FrameHeader.byteCount) else { return }
            let header = try buffer.frameHeader(at: gap, payloadBytesMax: configuration.frameBytesMax)
            try header.checkPlace(streamID: writer.streamID, nextSequence: writer.nextSequence)
            let payloadCount = Int(header.payloadByteCount)
            let total = gap + FrameHeader.byteCount + payloadCount
            buffer.reserve(total, limit: StreamFileFormat.recordHeaderByteCount + FrameHeader.byteCount + configuration.frameBytesMax)
            guard try buffer.receive(from: fd, at: gap + FrameHeader.byteCount, count: payloadCount) else {
                throw WireError(.badFrame, "connection closed inside a frame")
            }
            guard buffer.checksum(header, payloadAt: gap + FrameHeader.byteCount) == header.crc else {
                throw header.crcMismatch
            }
            let received = HostClock.monotonicNanos()
            buffer.storeRecordHeader(hubReceiveNanos: received, frameCRC: header.crc)
            do {
                try buffer.withBytes(count: total) { record throws(Errno) in
                    try unsafe writer.append(record: record, sequence: header.sequence, payloadByteCount: payloadCount, hubReceiveNanos: received)
                }
            } catch {
                throw WireError(.storageError, "writing \(writer.path) failed: \(error)")
            }
        }
    }
}

/// A growable, owned receive buffer (grown only up to the frame limit; the buffer pool replaces it).
struct ConnectionBuffer {
    private var storage: UnsafeMutableRawBufferPointer

    init(byteCount: Int) {
        storage = unsafe UnsafeMutableRawBufferPointer.allocate(byteCount: byteCount, alignment: 64)
    }

    /// Grows to hold `byteCount` bytes (doubling, but never past `limit`).
    mutating func reserve(_ byteCount: Int, limit: Int) {
        guard byteCount > storage.count else { return }
        let size = min(max(byteCount, storage.count * 2), max(limit, byteCount))
        let bigger = unsafe UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        unsafe bigger.copyMemory(from: UnsafeRawBufferPointer(storage))
        unsafe storage.deallocate()
        unsafe storage = bigger
    }

    func deallocate() { unsafe storage.deallocate() }

    /// Fills `count` bytes at `offset`; false on a clean end of stream before the first byte.
    func receive(from fd: FileDescriptor, at offset: Int, count: Int) throws(Errno) -> Bool {
        guard count > 0 else { return true }
        return try unsafe Socket.receiveExactly(fd, into: UnsafeMutableRawBufferPointer(rebasing: storage[offset..<(offset + count)]))
    }

    func frameHeader(at offset: Int, payloadBytesMax: Int) throws(WireError) -> FrameHeader {
        let raw = unsafe UnsafeRawBufferPointer(rebasing: storage[offset..<(offset + FrameHeader.byteCount)])
        let bytes = unsafe raw.assumingMemoryBound(to: UInt8.self)
        return try FrameHeader.decode(unsafe bytes.span, payloadBytesMax: payloadBytesMax)
    }

    func checksum(_ header: FrameHeader, payloadAt offset: Int) -> UInt32 {
        unsafe header.expectedCRC(
            payload: UnsafeRawBufferPointer(rebasing: storage[offset..<(offset + Int(header.payloadByteCount))]))
    }

    func storeRecordHeader(hubReceiveNanos: Int64, frameCRC: UInt32) {
        unsafe StreamFileFormat.storeRecordHeader(
            hubReceiveNanos: hubReceiveNanos, frameCRC: frameCRC,
            into: UnsafeMutableRawBufferPointer(rebasing: storage[0..<StreamFileFormat.recordHeaderByteCount]))
    }

    func withBytes<T>(count: Int, _ body: (UnsafeRawBufferPointer) throws(Errno) -> T) throws(Errno) -> T {
        try unsafe body(UnsafeRawBufferPointer(rebasing: storage[0..<count]))
    }
}

/// The rules both data paths apply to each frame of a stream connection (one wording for both).
extension FrameHeader {
    /// Checks that the frame belongs to `streamID` and carries `nextSequence`.
    func checkPlace(streamID: UInt16, nextSequence: UInt64) throws(WireError) {
        guard self.streamID == streamID else {
            throw WireError(.unknownStream, "frame for stream \(self.streamID) on the connection of stream \(streamID)")
        }
        guard sequence == nextSequence else { throw WireError(.sequenceMismatch, "frame sequence \(sequence), expected \(nextSequence)") }
    }

    /// The error for a frame whose payload does not match its checksum.
    var crcMismatch: WireError { WireError(.crcMismatch, "frame \(sequence) of stream \(streamID) failed its CRC32C check") }
}
