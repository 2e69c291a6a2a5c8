// The device side of time sync: announces itself with `register` packets until the hub's syncs
// arrive, then answers each sync with t2 (receive) and t3 (send) on the device clock. With kernel
// timestamps, t2 is the kernel's receive stamp and the precise t3 (the kernel's transmit stamp, known
// only after sending) follows in a follow-up packet.
import Logging
import Platform
import Synchronization
import SystemPackage
import Wire

public final class SyncResponder: Sendable {
    private let fd: FileDescriptor
    private let hub: IPv4Endpoint
    private let key: UInt64
    private let deviceTime: @Sendable (Int64) -> Int64
    private let kernelTimestamps: Bool
    private let running = Atomic<Bool>(true)
    private let answered = Atomic<Int>(0)
    private let thread = Locked<PlatformThread?>(nil)

    /// - Parameters:
    ///   - hub: the hub's sync endpoint from `welcome`.
    ///   - key: the `sync_key` from `welcome`.
    ///   - deviceTime: the device clock reading at a given CLOCK_MONOTONIC instant of this process, in ns.
    public init(hub: IPv4Endpoint, key: UInt64, kernelTimestamps: Bool = true, deviceTime: @escaping @Sendable (Int64) -> Int64) throws(Errno) {
        self.hub = hub
        self.key = key
        self.deviceTime = deviceTime
        fd = try Socket.bindUDP(try IPv4Endpoint(host: "0.0.0.0", port: 0))
        self.kernelTimestamps = kernelTimestamps && (try? SocketTimestamping.enableSoftware(fd)) != nil
    }

    /// Sync requests answered so far.
    public var answeredCount: Int { answered.load(ordering: .relaxed) }

    public func start() {
        let spawned = PlatformThread.spawn(name: "ls-sync-dev") { [self] in run() }
        thread.withLock { $0 = spawned }
    }

    public func stop() {
        running.store(false, ordering: .releasing)
        thread.withLock { $0 }?.join()
        try? fd.close()
    }

    func run() {
        var buffer = [UInt8](repeating: 0, count: 512)
        var lastRegisterNanos: Int64 = 0
        var sentCount: UInt32 = 0  // OPT_ID keys count every datagram this socket sent
        while running.load(ordering: .acquiring) {
            let now = HostClock.monotonicNanos()
            // Keep announcing at 2 Hz; it also re-teaches the hub our port after a hub restart.
            if now - lastRegisterNanos > 500_000_000 {
                let packet = SyncPacket(kind: .register, key: key, exchangeID: 0, timestampA: 0, sourceA: .none)
                if (try? Socket.send(fd, packet.encoded(), to: hub)) != nil { sentCount &+= 1 }
                lastRegisterNanos = now
            }
            guard let events = try? Socket.waitEvents(fd, timeoutMillis: 100) else { continue }
            if events.errorQueue { _ = transmitStamp(key: nil) }  // stamps of register packets: discard
            guard events.readable else { continue }
            let userT2 = HostClock.monotonicNanos()
            guard let (count, _, kernel) = try? buffer.withUnsafeMutableBytes({ raw in try SocketTimestamping.receive(fd, into: raw) }),
                let packet = try? SyncPacket.decode(Array(buffer[..<count]).span), packet.kind == .sync, packet.key == key
            else { continue }
            let t2 = deviceTime(kernel?.monotonicNanos ?? userT2)
            let t2Source: TimestampSource = kernel == nil ? .user : .kernel
            _ = transmitStamp(key: nil)  // drop any stale stamps so the next one is this reply's
            let provisionalT3 = deviceTime(HostClock.monotonicNanos())
            let reply = SyncPacket(
                kind: .response, key: key, exchangeID: packet.exchangeID, timestampA: t2, timestampB: provisionalT3,
                sourceA: t2Source, sourceB: .user, flags: kernelTimestamps ? SyncPacket.followUpPendingFlag : 0)
            guard (try? Socket.send(fd, reply.encoded(), to: hub)) != nil else { continue }
            let replyKey = sentCount
            sentCount &+= 1
            answered.add(1, ordering: .relaxed)
            guard kernelTimestamps else { continue }
            let precise = transmitStamp(key: replyKey)
            let followUp = SyncPacket(
                kind: .followUp, key: key, exchangeID: packet.exchangeID,
                timestampA: precise.map { deviceTime($0.monotonicNanos) } ?? provisionalT3, sourceA: precise == nil ? .user : .kernel)
            if (try? Socket.send(fd, followUp.encoded(), to: hub)) != nil { sentCount &+= 1 }
        }
    }

    /// Waits up to 20 ms for the transmit stamp of datagram `key` (nil: drain whatever is queued).
    func transmitStamp(key: UInt32?) -> KernelStamp? {
        let deadline = HostClock.monotonicNanos() + 20_000_000
        while true {
            if let (found, stamp) = try? SocketTimestamping.readTransmitStamp(fd) {
                if let key, found == key { return stamp }
                continue
            }
            guard key != nil, HostClock.monotonicNanos() < deadline else { return nil }
            _ = try? Socket.waitEvents(fd, timeoutMillis: 1)
        }
    }
}
