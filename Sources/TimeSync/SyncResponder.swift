// The device side of time sync: announces itself with `register` packets until the hub's syncs
// arrive, then answers each sync with t2 (receive) and t3 (send) read from the device clock.
import Logging
import Platform
import Synchronization
import SystemPackage
import Wire

public final class SyncResponder: Sendable {
    private let fd: FileDescriptor
    private let hub: IPv4Endpoint
    private let key: UInt64
    private let clock: @Sendable () -> Int64
    private let running = Atomic<Bool>(true)
    private let answered = Atomic<Int>(0)
    private let thread = Mutex<PlatformThread?>(nil)

    /// - Parameters:
    ///   - hub: the hub's sync endpoint from `welcome`.
    ///   - key: the `sync_key` from `welcome`.
    ///   - clock: the device clock, in nanoseconds (synthetic offset and skew applied by the caller).
    public init(hub: IPv4Endpoint, key: UInt64, clock: @escaping @Sendable () -> Int64) throws(Errno) {
        self.hub = hub
        self.key = key
        self.clock = clock
        fd = try Socket.bindUDP(try IPv4Endpoint(host: "0.0.0.0", port: 0))
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
        while running.load(ordering: .acquiring) {
            let now = HostClock.monotonicNanos()
            // Keep announcing at 2 Hz; it also re-teaches the hub our port after a hub restart.
            if now - lastRegisterNanos > 500_000_000 {
                let packet = SyncPacket(kind: .register, key: key, exchangeID: 0, timestampA: 0, sourceA: .none)
                try? Socket.send(fd, packet.encoded(), to: hub)
                lastRegisterNanos = now
            }
            guard (try? Socket.waitReadable(fd, timeoutMillis: 100)) == true else { continue }
            let received = try? unsafe buffer.withUnsafeMutableBytes { raw in try unsafe Socket.receiveFrom(fd, into: raw) }
            let t2 = clock()
            guard let (count, _) = received, let packet = try? SyncPacket.decode(Array(buffer[..<count]).span),
                packet.kind == .sync, packet.key == key
            else { continue }
            let t3 = clock()
            let reply = SyncPacket(
                kind: .response, key: key, exchangeID: packet.exchangeID, timestampA: t2, timestampB: t3,
                sourceA: .user, sourceB: .user)
            if (try? Socket.send(fd, reply.encoded(), to: hub)) != nil { answered.add(1, ordering: .relaxed) }
        }
    }
}
