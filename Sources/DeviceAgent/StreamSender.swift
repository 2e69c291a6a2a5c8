// Sends one simulated stream over its own data connection, paced by the device clock, and resumes
// after a dropped connection from the sequence the hub says it holds (regenerating the frames).
import Logging
import Platform
import SystemPackage
import Wire

final class StreamSender: Sendable {
    let profile: StreamProfile
    let deviceID: String
    let token: String
    let sessionID: String
    let hub: IPv4Endpoint
    let clock: DeviceClock
    let startDeviceNanos: Int64
    let seed: UInt64
    let logger: Logger

    struct State {
        /// Frames with capture instants before this are produced; nil while recording.
        var stopDeviceNanos: Int64?
        var sentCount: UInt64 = 0
        var reconnects = 0
        var failure: String?
        var fd: FileDescriptor?
    }

    let state = Locked(State())
    private let thread = Locked<PlatformThread?>(nil)

    init(profile: StreamProfile, deviceID: String, token: String, sessionID: String, hub: IPv4Endpoint,
         clock: DeviceClock, startDeviceNanos: Int64, logger: Logger) {
        self.profile = profile
        self.deviceID = deviceID
        self.token = token
        self.sessionID = sessionID
        self.hub = hub
        self.clock = clock
        self.startDeviceNanos = startDeviceNanos
        self.seed = FramePayload.seed(deviceID: deviceID, streamID: profile.descriptor.id)
        self.logger = logger
    }

    /// The capture instant of frame `sequence` on the device clock.
    func captureNanos(_ sequence: UInt64) -> Int64 { startDeviceNanos + Int64(sequence) * profile.periodNanos }

    func start() {
        let spawned = PlatformThread.spawn(name: "ls-send-\(profile.descriptor.id)") { [self] in run() }
        thread.withLock { $0 = spawned }
    }

    /// Asks the sender to finish at `stopDeviceNanos` and waits until every earlier frame is sent.
    /// Returns the number of frames of this stream (sequences 0 ..< count).
    func finish(stopDeviceNanos: Int64) -> UInt64 {
        state.withLock { $0.stopDeviceNanos = stopDeviceNanos }
        thread.withLock { $0 }?.join()
        return state.withLock { $0.sentCount }
    }

    /// Drops the data connection (fault injection for tests: the sender reconnects and resumes).
    func dropConnection() {
        state.withLock { s in s.fd.map(Socket.shutdown) }
    }

    var frameCountToSend: UInt64? {
        state.withLock { s in
            guard let stop = s.stopDeviceNanos else { return nil }
            guard stop > startDeviceNanos else { return 0 }
            return UInt64((stop - startDeviceNanos + profile.periodNanos - 1) / profile.periodNanos)
        }
    }

    func run() {
        var backoffMillis: Int64 = 50
        // Each frame of the stream is built in this one buffer, across reconnects: at hundreds of MB/s a
        // fresh array per frame (zeroed, filled, copied behind its header, page-faulted in) cost the
        // simulated devices about twice what building it in place does, and they share the benchmark's
        // cores with the hub.
        var frameBuffer = FrameBuffer()
        while true {
            if let total = frameCountToSend, state.withLock({ $0.sentCount }) >= total { return }
            do {
                try sendOverOneConnection(&frameBuffer)
                backoffMillis = 50
            } catch let error as WireError where [.unknownSession, .noSession, .unauthorized, .unknownStream].contains(error.code) {
                state.withLock { $0.failure = "\(error)" }
                logger.error("data connection refused: \(error)", metadata: ["stream": "\(profile.descriptor.id)"])
                return
            } catch {
                logger.notice("data connection lost, resuming", metadata: ["stream": "\(profile.descriptor.id)", "error": "\(error)"])
                state.withLock { $0.reconnects += 1 }
                HostClock.sleep(nanos: backoffMillis * 1_000_000)
                backoffMillis = min(backoffMillis * 2, 2000)
            }
        }
    }

    /// One connection: handshake, then frames from the hub's next sequence until done or broken.
    func sendOverOneConnection(_ frameBuffer: inout FrameBuffer) throws {
        let fd = try Socket.connectTCP(hub)
        state.withLock { $0.fd = fd }
        defer {
            state.withLock { $0.fd = nil }
            try? fd.close()
        }
        let resume = state.withLock { $0.sentCount }
        let request = DataHandshake(streamID: profile.descriptor.id, resumeFrom: resume, deviceID: deviceID, token: token, sessionID: sessionID)
        try Socket.sendAll(fd, request.encoded())
        var replyBytes = [UInt8](repeating: 0, count: DataHandshake.replyByteCount)
        guard try unsafe replyBytes.withUnsafeMutableBytes({ raw in try unsafe Socket.receiveExactly(fd, into: raw) }) else {
            throw WireError(.badFrame, "hub closed the data connection during the handshake")
        }
        let reply = try DataHandshakeReply.decode(replyBytes.span)
        if let code = reply.error { throw WireError(code, "hub refused the data handshake") }
        var sequence = reply.nextSequence
        state.withLock { $0.sentCount = sequence }
        while true {
            if let total = frameCountToSend, sequence >= total { return }
            let capture = captureNanos(sequence)
            let hostDue = clock.hostInstant(atDevice: capture)
            let waitNanos = hostDue - HostClock.monotonicNanos()
            if waitNanos > 0 {
                // Sleep in short steps so a stop request is seen promptly.
                HostClock.sleep(nanos: min(waitNanos, 20_000_000))
                continue
            }
            let shape = profile.frameShape(sequence: sequence, seed: seed)
            try frameBuffer.withFrame(payloadByteCount: shape.byteCount) { frame throws(Errno) in
                unsafe FramePayload.fill(
                    seed: seed, sequence: sequence, into: UnsafeMutableRawBufferPointer(rebasing: frame[FrameHeader.byteCount...]))
                unsafe DataFrame.sealInPlace(
                    frame, streamID: profile.descriptor.id, sequence: sequence, captureNanos: capture,
                    flags: shape.isKey ? FrameHeader.keyFrameFlag : 0)
                try unsafe Socket.sendAll(fd, UnsafeRawBufferPointer(frame))
            }
            sequence += 1
            state.withLock { $0.sentCount = sequence }
        }
    }
}

/// One growing, reused buffer a sender builds its frames in; it owns its memory and cannot be copied.
struct FrameBuffer: ~Copyable {
    private var storage = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    deinit { unsafe storage.deallocate() }

    /// Calls `body` with the first `FrameHeader.byteCount + payloadByteCount` bytes of the buffer,
    /// grown when needed; the bytes are valid only during the call.
    mutating func withFrame(payloadByteCount: Int, _ body: (UnsafeMutableRawBufferPointer) throws(Errno) -> Void) throws(Errno) {
        let count = FrameHeader.byteCount + payloadByteCount
        if count > storage.count {
            unsafe storage.deallocate()
            unsafe storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 2 * storage.count), alignment: 64)
        }
        try unsafe body(UnsafeMutableRawBufferPointer(rebasing: storage[0..<count]))
    }
}
