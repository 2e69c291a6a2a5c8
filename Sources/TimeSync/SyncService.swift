// The hub side of time sync: hub-initiated four-timestamp exchanges over UDP with every registered
// device, a dense burst when a device joins, then a steady rate, feeding one OffsetEstimator per device.
//
// Stamps here are user-space clock reads next to the syscalls (source "user"); kernel, hardware and
// pcap stamps arrive with the clock-synchronisation issue and slot in where `stampSend`/`stampReceive` are.
import Logging
import Platform
import Synchronization
import SystemPackage
import Timing
import Wire

public struct SyncConfiguration: Sendable {
    public var endpoint: IPv4Endpoint
    /// Exchanges per second once a device is tracked.
    public var rateHz: Double
    /// Exchanges sent quickly right after a device registers, so a first estimate exists within ~0.5 s.
    public var burstCount: Int
    public var burstIntervalMillis: Int64

    public init(endpoint: IPv4Endpoint, rateHz: Double = 8, burstCount: Int = 16, burstIntervalMillis: Int64 = 25) {
        self.endpoint = endpoint
        self.rateHz = rateHz
        self.burstCount = burstCount
        self.burstIntervalMillis = burstIntervalMillis
    }
}

/// One device's sync state as reported to the controller.
public struct SyncStatus: Sendable {
    public var mapping: ClockMapping
    public var acceptedCount: Int
    public var rejectedCount: Int
    public var delayNanosMin: Int64?
    public var lastSample: SyncSample?
}

public final class SyncService: Sendable {
    public let configuration: SyncConfiguration
    public let boundEndpoint: IPv4Endpoint
    private let fd: FileDescriptor
    private let logger: Logger
    private let onSample: @Sendable (String, SyncSample, ClockMapping) -> Void

    struct Peer {
        var deviceID: String
        var endpoint: IPv4Endpoint?
        var estimator = OffsetEstimator()
        var sentCount = 0
        var nextSendNanos: Int64 = 0
        var pending: [UInt64: HubInstant] = [:]
        var delayNanosMin: Int64?
        var lastSample: SyncSample?
    }

    struct State {
        var peers: [UInt64: Peer] = [:]
        var nextExchangeID: UInt64 = 1
        var ignoredCount = 0
    }

    private let state = Mutex(State())
    private let running = Atomic<Bool>(true)
    private let thread = Mutex<PlatformThread?>(nil)

    public init(
        configuration: SyncConfiguration, logger: Logger,
        onSample: @escaping @Sendable (String, SyncSample, ClockMapping) -> Void = { _, _, _ in }
    ) throws(Errno) {
        self.configuration = configuration
        self.logger = logger
        self.onSample = onSample
        fd = try Socket.bindUDP(configuration.endpoint)
        boundEndpoint = try Socket.localEndpoint(fd)
    }

    public func start() {
        let spawned = PlatformThread.spawn(name: "ls-sync") { [self] in run() }
        thread.withLock { $0 = spawned }
    }

    public func stop() {
        running.store(false, ordering: .releasing)
        thread.withLock { $0 }?.join()
        try? fd.close()
    }

    /// Starts tracking a device that will send `register` packets with `key`.
    public func register(deviceID: String, key: UInt64) {
        state.withLock { $0.peers[key] = Peer(deviceID: deviceID) }
    }

    public func unregister(key: UInt64) {
        _ = state.withLock { $0.peers.removeValue(forKey: key) }
    }

    /// The current estimate for the device with `key`, or nil if it is not registered.
    public func status(key: UInt64) -> SyncStatus? {
        state.withLock { s in
            s.peers[key].map {
                SyncStatus(
                    mapping: $0.estimator.mapping, acceptedCount: $0.estimator.acceptedCount,
                    rejectedCount: $0.estimator.rejectedCount, delayNanosMin: $0.delayNanosMin, lastSample: $0.lastSample)
            }
        }
    }

    /// Packets dropped because their key, type or checksum was wrong.
    public var ignoredCount: Int { state.withLock { $0.ignoredCount } }

    func run() {
        var buffer = [UInt8](repeating: 0, count: 512)
        while running.load(ordering: .acquiring) {
            let waitMillis = sendDue()
            let readable = (try? Socket.waitReadable(fd, timeoutMillis: waitMillis)) ?? false
            guard readable else { continue }
            let received: (Int, IPv4Endpoint)?
            received = try? unsafe buffer.withUnsafeMutableBytes { raw in try unsafe Socket.receiveFrom(fd, into: raw) }
            let t4 = HubInstant(nanos: HostClock.monotonicNanos())
            guard let (count, peer) = received else { continue }
            handle(Array(buffer[..<count]), from: peer, t4: t4)
        }
    }

    /// Sends every exchange that is due; returns how long to wait for replies (ms).
    func sendDue() -> Int32 {
        let now = HostClock.monotonicNanos()
        var soonest = now + 100_000_000
        let due: [(UInt64, UInt64, IPv4Endpoint)] = state.withLock { s in
            var out: [(UInt64, UInt64, IPv4Endpoint)] = []
            for (key, peer) in s.peers {
                guard let endpoint = peer.endpoint else { continue }
                if peer.nextSendNanos <= now {
                    let id = s.nextExchangeID
                    s.nextExchangeID += 1
                    out.append((key, id, endpoint))
                    var updated = peer
                    updated.sentCount += 1
                    let interval = updated.sentCount < configuration.burstCount
                        ? configuration.burstIntervalMillis * 1_000_000 : Int64(1e9 / configuration.rateHz)
                    updated.nextSendNanos = now + interval
                    if updated.pending.count > 64 { updated.pending.removeAll() }  // replies lost: bound the table
                    s.peers[key] = updated
                }
                soonest = min(soonest, s.peers[key]!.nextSendNanos)
            }
            return out
        }
        for (key, id, endpoint) in due {
            let t1 = HubInstant(nanos: HostClock.monotonicNanos())
            let packet = SyncPacket(kind: .sync, key: key, exchangeID: id, timestampA: t1.nanos, sourceA: .user)
            state.withLock { $0.peers[key]?.pending[id] = t1 }
            do { try Socket.send(fd, packet.encoded(), to: endpoint) } catch {
                logger.debug("sync send failed", metadata: ["errno": "\(error)"])
            }
        }
        return Int32(max(1, min(100, (soonest - HostClock.monotonicNanos()) / 1_000_000)))
    }

    func handle(_ bytes: [UInt8], from endpoint: IPv4Endpoint, t4: HubInstant) {
        guard let packet = try? SyncPacket.decode(bytes.span) else {
            state.withLock { $0.ignoredCount += 1 }
            return
        }
        let result: (String, SyncSample, ClockMapping)? = state.withLock { s in
            guard var peer = s.peers[packet.key] else {
                s.ignoredCount += 1
                return nil
            }
            defer { s.peers[packet.key] = peer }
            switch packet.kind {
            case .register:
                if peer.endpoint != endpoint { peer.endpoint = endpoint; peer.sentCount = 0; peer.nextSendNanos = 0 }
                return nil
            case .response:
                guard let t1 = peer.pending.removeValue(forKey: packet.exchangeID) else { return nil }
                let sample = SyncSample(
                    t1: t1, t2: DeviceInstant(nanos: packet.timestampA), t3: DeviceInstant(nanos: packet.timestampB), t4: t4)
                guard peer.estimator.add(sample) else { return nil }
                peer.delayNanosMin = min(peer.delayNanosMin ?? .max, sample.delay.value)
                peer.lastSample = sample
                return (peer.deviceID, sample, peer.estimator.mapping)
            case .sync, .followUp:
                s.ignoredCount += 1
                return nil
            }
        }
        if let (deviceID, sample, mapping) = result { onSample(deviceID, sample, mapping) }
    }
}
