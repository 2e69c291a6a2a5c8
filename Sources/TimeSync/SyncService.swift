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
    /// The interface whose NIC should stamp sync packets in hardware (nil: software stamps). When it
    /// cannot (no PHC, no privilege, a driver without support), the service falls back to kernel
    /// software stamps and says why in `hardwareFallbackReason`.
    public var hardwareInterface: String?
    /// Interface to capture sync packets on with libpcap, as a cross-check on the socket stamps (and
    /// the send stamp when the socket gives none). Needs CAP_NET_RAW; without it, the reason is kept.
    public var pcapInterface: String?

    public init(endpoint: IPv4Endpoint, rateHz: Double = 8, burstCount: Int = 16, burstIntervalMillis: Int64 = 25,
                kernelTimestamps: Bool = true, hardwareInterface: String? = nil, pcapInterface: String? = nil) {
        self.hardwareInterface = hardwareInterface
        self.pcapInterface = pcapInterface
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
    /// The NIC's clock when sync packets are stamped in hardware.
    let hardwareClock: PHCClock?
    /// Why hardware stamps were asked for and not used (nil when not asked for, or in use).
    public let hardwareFallbackReason: String?
    /// The capture and its matcher when `pcapInterface` could be opened.
    let capture: PacketCapture?
    let crossCheck: PcapCrossCheck?
    /// Why the capture asked for is not running.
    public let pcapFallbackReason: String?
    private let captureThread = Locked<PlatformThread?>(nil)
    /// CLOCK_REALTIME − PHC, refreshed by the sync thread (hardware stamps only).
    let realtimeMinusPHC = Atomic<Int64>(0)
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

    let state = Locked(State())
    let running = Atomic<Bool>(true)
    /// Turns of the service loop (at least one per sync period): the watchdog's proof of progress.
    public let loopCount = Atomic<Int>(0)
    private let thread = Locked<PlatformThread?>(nil)

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
        let hardware = SyncService.setUpHardware(configuration, socket: fd, kernel: enabled, logger: logger)
        hardwareClock = hardware.0
        hardwareFallbackReason = hardware.1
        var capture: PacketCapture?
        var captureReason: String?
        if let interface = configuration.pcapInterface {
            do {
                capture = try PacketCapture(interface: interface, filter: "udp port \(boundEndpoint.port)")
            } catch {
                captureReason = error.description
                logger.warning("pcap cross-check unavailable: \(error)")
            }
        }
        self.capture = capture
        crossCheck = capture.map { PcapCrossCheck(interface: configuration.pcapInterface ?? "", timestampType: $0.timestampType) }
        pcapFallbackReason = captureReason
        if let hardwareClock, let offset = try? hardwareClock.realtimeMinusPHC() { realtimeMinusPHC.store(offset, ordering: .relaxed) }
    }

    /// Hardware stamps on the configured interface, or the reason they are not used.
    static func setUpHardware(
        _ configuration: SyncConfiguration, socket fd: FileDescriptor, kernel: Bool, logger: Logger
    ) -> (PHCClock?, String?) {
        guard let interface = configuration.hardwareInterface else { return (nil, nil) }
        guard kernel else { return (nil, "kernel timestamping is off, so hardware stamps cannot be delivered") }
        switch HardwareTimestamping.setUp(interface: interface) {
        case .unavailable(let reason):
            logger.warning("hardware timestamps unavailable (\(reason)); using kernel software stamps")
            return (nil, reason)
        case .enabled(let clock):
            do { try HardwareTimestamping.enableOnSocket(fd) } catch {
                let reason = "SO_TIMESTAMPING with hardware flags: \(error)"
                logger.warning("hardware timestamps unavailable (\(reason)); using kernel software stamps")
                return (nil, reason)
            }
            logger.info("sync packets stamped by the NIC of \(interface) (/dev/ptp\(clock.index))")
            return (clock, nil)
        }
    }

    /// The timestamp source in use for the hub's stamps: hardware, kernel or user.
    public var timestampMode: String { hardwareClock != nil ? "hardware" : kernelTimestamps ? "kernel" : "user" }

    /// A kernel stamp on the hub timeline, from the NIC's stamp when there is one.
    func hubStamp(_ stamp: KernelStamp) -> Stamp {
        if hardwareClock != nil, let hardware = stamp.hardwareNanos {
            let realtime = hardware + realtimeMinusPHC.load(ordering: .relaxed)
            return Stamp(nanos: realtime - HostClock.realtimeMinusMonotonicNanos(), source: .hardware)
        }
        return Stamp(nanos: stamp.monotonicNanos, source: .kernel)
    }

    /// Re-reads CLOCK_REALTIME − PHC (the NIC's clock is free-running and drifts against the system's).
    func refreshHardwareOffset() {
        guard let hardwareClock else { return }
        if let offset = try? hardwareClock.realtimeMinusPHC() { realtimeMinusPHC.store(offset, ordering: .relaxed) }
    }

    public func start() {
        let spawned = PlatformThread.spawn(name: "ls-sync") { [self] in run() }
        thread.withLock { $0 = spawned }
        if capture != nil {
            let capturing = PlatformThread.spawn(name: "ls-pcap") { [self] in runCapture() }
            captureThread.withLock { $0 = capturing }
        }
    }

    public func stop() {
        running.store(false, ordering: .releasing)
        thread.withLock { $0 }?.join()
        capture?.breakLoop()
        captureThread.withLock { $0 }?.join()
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
