// The hub side of time sync: hub-initiated four-timestamp exchanges over UDP with every registered
// device, a dense burst when a device joins, then a steady rate, feeding one OffsetEstimator per device.
//
// Stamps, best available first (each sample records its sources): t1 is the kernel's software transmit
// stamp from the error queue and t4 the kernel's receive stamp (SO_TIMESTAMPING), falling back to
// user-space clock reads next to the syscalls when the kernel gives none. When a device announces a
// follow-up (its precise t3 is known only after sending), the sample completes when the follow-up
// arrives. Hardware and pcap stamps are not implemented yet.
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
    /// Ask the kernel for software timestamps (SO_TIMESTAMPING); off means user-space stamps only.
    public var kernelTimestamps: Bool

    public init(endpoint: IPv4Endpoint, rateHz: Double = 8, burstCount: Int = 16, burstIntervalMillis: Int64 = 25,
                kernelTimestamps: Bool = true) {
        self.endpoint = endpoint
        self.rateHz = rateHz
        self.burstCount = burstCount
        self.burstIntervalMillis = burstIntervalMillis
        self.kernelTimestamps = kernelTimestamps
    }
}

/// One device's sync state as reported to the controller.
public struct SyncStatus: Sendable {
    public var mapping: ClockMapping
    public var acceptedCount: Int
    public var rejectedCount: Int
    public var delayNanosMin: Int64?
    public var lastSample: SyncSample?
    /// Where the last sample's stamps came from ("kernel", "user" or "mixed").
    public var lastSource: String?
}

/// A stamp and where it came from.
struct Stamp {
    var nanos: Int64
    var source: TimestampSource
}

public final class SyncService: Sendable {
    public let configuration: SyncConfiguration
    public let boundEndpoint: IPv4Endpoint
    /// Whether the kernel timestamps this socket's packets.
    public let kernelTimestamps: Bool
    let fd: FileDescriptor
    let logger: Logger
    /// Called for every completed exchange: device id, sample, current mapping, source label, accepted.
    let onSample: @Sendable (String, SyncSample, ClockMapping, String, Bool) -> Void

    struct Peer {
        var deviceID: String
        var endpoint: IPv4Endpoint?
        var estimator = OffsetEstimator()
        var sentCount = 0
        var nextSendNanos: Int64 = 0
        var pending: [UInt64: Stamp] = [:]
        var awaitingFollowUp: [UInt64: (t1: Stamp, t2: Stamp, t3: Stamp, t4: Stamp)] = [:]
        var delayNanosMin: Int64?
        var lastSample: SyncSample?
        var lastSource: String?
    }

    struct State {
        var peers: [UInt64: Peer] = [:]
        var nextExchangeID: UInt64 = 1
        var ignoredCount = 0
        /// OPT_ID key of the next datagram sent → (peer key, exchange id), to match transmit stamps.
        var nextTransmitKey: UInt32 = 0
        var transmitKeys: [UInt32: (UInt64, UInt64)] = [:]
    }

    let state = Mutex(State())
    let running = Atomic<Bool>(true)
    private let thread = Mutex<PlatformThread?>(nil)

    public init(
        configuration: SyncConfiguration, logger: Logger,
        onSample: @escaping @Sendable (String, SyncSample, ClockMapping, String, Bool) -> Void = { _, _, _, _, _ in }
    ) throws(Errno) {
        self.configuration = configuration
        self.logger = logger
        self.onSample = onSample
        fd = try Socket.bindUDP(configuration.endpoint)
        boundEndpoint = try Socket.localEndpoint(fd)
        var enabled = false
        if configuration.kernelTimestamps {
            do {
                try SocketTimestamping.enableSoftware(fd)
                enabled = true
            } catch {
                logger.warning("kernel timestamps unavailable (SO_TIMESTAMPING: \(error)); using user-space stamps")
            }
        }
        kernelTimestamps = enabled
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
                    rejectedCount: $0.estimator.rejectedCount, delayNanosMin: $0.delayNanosMin, lastSample: $0.lastSample,
                    lastSource: $0.lastSource)
            }
        }
    }

    /// Packets dropped because their key, type or checksum was wrong.
    public var ignoredCount: Int { state.withLock { $0.ignoredCount } }
}
