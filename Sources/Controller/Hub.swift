// The hub: device registry, sessions, and the glue between the control channel, the data plane
// (Ingest) and time sync (TimeSync). State lives behind one lock; no lock is held across I/O.
import Histogram
import HummingbirdWebSocket
import Ingest
import Logging
import Platform
import SystemPackage
import TimeSync
import Timing
import Wire

public let softwareVersion = "0.1.0"

/// One connected (or recently seen) device.
struct DeviceEntry: Sendable {
    var hello: Hello
    var syncKey: UInt64
    /// What the device presents in data handshakes instead of its token (welcome's data_key): made when
    /// the device id first joins this hub process and kept across its reconnections, so streams resume.
    var dataKey: String
    var outbound: WebSocketOutboundWriter?
    var connectionID: Int
    var state: String  // "connected", "lost", "left"
    var connectedHubNanos: Int64
    var lastSeenHubNanos: Int64
    var status: DeviceStatus?
    var lastError: String?
}

public final class Hub: Sendable {
    /// The configuration in force; SIGHUP may change its reloadable keys (`reload(_:)`).
    public var configuration: HubConfiguration { settings.withLock { $0 } }
    let settings: Locked<HubConfiguration>
    let logger: Logger

    struct State {
        var devices: [String: DeviceEntry] = [:]
        var session: SessionRecorder?
        var stopping = false
        var starting = false
        var nextConnectionID = 0
        var lastSession: String?
    }

    let state = Locked(State())
    let services = Locked<(data: DataServer?, sync: SyncService?, flusher: DurabilityFlusher?)>((nil, nil, nil))
    let keySource = Locked(SystemRandomNumberGenerator())
    /// The exclusive lock on the data folder, held for the life of the hub.
    let dataLock = Locked<FileDescriptor?>(nil)
    /// CLOCK_REALTIME − CLOCK_MONOTONIC at the last check, to detect wall-clock steps.
    let wallClockDifference = Locked<Int64?>(nil)
    /// Receive-to-durable latency of every frame of the current (or last) session, in microseconds.
    /// Why the data plane runs on POSIX I/O instead of io_uring (nil while the engine runs).
    let ingestFallbackReason = Locked<String?>(nil)
    let ingestLatency = Locked(Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three))

    /// "starting", "ready" or "stopping", for /readyz and the status.
    let readiness = Locked("starting")
    /// Why the kernel-timestamp self-test failed at startup (nil: it passed, or has not run).
    let timestampSelfTestFailure = Locked<String?>(nil)
    /// Loop counters of the data plane and sync threads at the last progress check (watchdog).
    let lastProgress = Locked<ProgressSnapshot?>(nil)
    /// The threads found not turning at the last progress check (empty: healthy).
    let stalledParts = Locked<[String]>([])
    /// Data connections ended by an error, per device, over the hub's life (for /metrics).
    let dataErrorCounts = Locked<[String: Int]>([:])
    /// Per-device throughput and backlog of the running session (sampled once a second).
    let activity = Locked(ActivityState())
    /// The live event stream's clients (GET /api/v1/events).
    let events = EventBus()
    /// CLOCK_REALTIME when the hub was made (process_start_time_seconds).
    let startedRealtimeNanos = HostClock.realtimeNanos()

    /// The HTTP listener's TLS (tls_certificate, tls_private_key), loaded by startServices; nil: plain HTTP.
    let listenerTLS = Locked<ListenerTLS?>(nil)
    /// Per-address limits on HTTP connections (connection_rate_per_address, connections_per_address_max).
    let httpLimits: AddressLimits

    public init(configuration: HubConfiguration, logger: Logger) {
        self.settings = Locked(configuration)
        httpLimits = AddressLimits(
            rate: ConnectionRateLimiter(ratePerSecond: Double(configuration.connectionRatePerAddress)),
            open: ConnectionsPerAddress(perAddressMax: configuration.connectionsPerAddressMax))
        self.logger = logger
    }

    var dataServer: DataServer { services.withLock { $0.data! } }
    var syncService: SyncService { services.withLock { $0.sync! } }
    var flusher: DurabilityFlusher { services.withLock { $0.flusher! } }

    /// The bound data and sync endpoints (after `startServices`).
    public var dataEndpoint: IPv4Endpoint { dataServer.boundEndpoint }
    public var syncEndpoint: IPv4Endpoint { syncService.boundEndpoint }

    /// Binds the data and sync ports and starts their threads.
    /// - Throws: `StartupError` naming the port and the likely cause.
    public func startServices() throws {
        guard configuration.bindsLoopback || configuration.operatorToken != nil else {
            throw StartupError(
                "bind \(configuration.bindHost) is reachable from the network: set operator_token (or LOCKSTEP_OPERATOR_TOKEN) "
                    + "so that only operators can start and stop recordings")
        }
        if let tls = try configuration.makeListenerTLS() {
            listenerTLS.withLock { $0 = tls }
            logger.notice("TLS on the HTTP listener: \(tls.certificate), valid until \(HubConfiguration.utc(tls.notValidAfter))")
        }
        try FileIO.makeDirectories(configuration.dataDirectory + "/sessions")
        // One hub per data folder: recovery must never cut the files of a session another hub writes.
        do { try dataLock.withLock { $0 = try FileIO.lockExclusive(configuration.dataDirectory + "/lockstepd.lock") } } catch {
            throw StartupError("\(configuration.dataDirectory) is in use by another lockstepd (lockstepd.lock: \(error))")
        }
        for id in SessionRecovery.recoverAll(
            dataDirectory: configuration.dataDirectory, toleranceNanos: configuration.alignmentToleranceNanos, logger: logger) {
            logger.warning("session \(id) was interrupted and has been recovered up to its last valid frame")
        }
        ensureStorageReserve()
        let host = configuration.bindHost
        let engine = try startIngestEngine()
        let data: DataServer
        do {
            data = try DataServer(
                configuration: DataServerConfiguration(
                    endpoint: try IPv4Endpoint(host: host, port: configuration.dataPort), frameBytesMax: Int(configuration.frameBytesMax),
                    connectionCountMax: configuration.dataConnectionsMax,
                    connectionRatePerAddress: Double(configuration.connectionRatePerAddress),
                    connectionsPerAddressMax: configuration.connectionsPerAddressMax),
                delegate: self, engine: engine, logger: logger)
        } catch { throw StartupError("data port \(host):\(configuration.dataPort): \(error) (is another lockstepd running?)") }
        let sync: SyncService
        do {
            sync = try SyncService(
                configuration: SyncConfiguration(
                    endpoint: try IPv4Endpoint(host: host, port: configuration.syncPort), rateHz: configuration.syncRateHz,
                    hardwareInterface: configuration.syncHardwareInterface, pcapInterface: configuration.syncPcapInterface),
                logger: logger) { [weak self] deviceID, sample, _, source, accepted in
                    self?.recordSample(deviceID: deviceID, sample, source: source, accepted: accepted)
                }
        } catch { throw StartupError("sync port \(host):\(configuration.syncPort): \(error) (is another lockstepd running?)") }
        let flusher = DurabilityFlusher(
            intervalMillis: configuration.durabilityIntervalMillis, logger: logger,
            onDurable: { [weak self] writer, outcome in self?.durable(writer, outcome) },
            onFailure: { [weak self] writer, reason in self?.storageFailed(writer, reason) })
        services.withLock { $0 = (data, sync, flusher) }
        data.start()
        sync.start()
        flusher.start()
        if sync.timestampMode == "user" {
            timestampSelfTestFailure.withLock { $0 = "kernel timestamps could not be enabled; sync uses user-space clock reads" }
        } else if let failure = SocketTimestamping.selfTest() {
            timestampSelfTestFailure.withLock { $0 = failure }
            logger.error("timestamping self-test failed: \(failure); sync samples will carry the sources actually used")
        }
        logger.info("data channel on \(data.boundEndpoint), time sync on \(sync.boundEndpoint), data in \(configuration.dataDirectory)")
    }

    /// Sets up the io_uring engine as configured; nil means the POSIX fallback path, said loudly.
    func startIngestEngine() throws -> IngestEngine? {
        guard configuration.ingestEngine != "posix" else {
            ingestFallbackReason.withLock { $0 = "ingest_engine: posix in the configuration" }
            logger.notice("ingest engine: POSIX I/O (configured)")
            return nil
        }
        do {
            return try IngestEngine(configuration: configuration.ingestEngineConfiguration, logger: logger)
        } catch {
            if configuration.ingestEngine == "io_uring" { throw StartupError("ingest engine: \(error) (ingest_engine: io_uring requires it)") }
            ingestFallbackReason.withLock { $0 = "\(error)" }
            logger.error("ingest engine: io_uring unavailable (\(error)); FALLING BACK to POSIX I/O with a thread per connection")
            return nil
        }
    }

    /// Stops a running session (if any) and every service.
    public func shutdown() async {
        await finishRecording()
        events.finishAll()
        let (data, sync, flusher) = services.withLock { $0 }
        data?.shutdown()
        sync?.stop()
        flusher?.stop()
    }

    func newSyncKey() -> UInt64 { keySource.withLock { $0.next() } }

    /// 128 random bits as 32 lowercase hex digits (welcome's data_key).
    func newDataKey() -> String {
        keySource.withLock { $0.next() as UInt64 }.hex16 + keySource.withLock { $0.next() as UInt64 }.hex16
    }

    func recordSample(deviceID: String, _ sample: SyncSample, source: String, accepted: Bool) {
        let session = state.withLock { $0.session }
        guard let session, session.isParticipant(deviceID) else { return }
        session.recordSample(deviceID: deviceID, sample, source: source, accepted: accepted)
    }

    /// Sends a control message to a device if it is connected (fire and forget).
    func send(_ message: ControlMessage, to deviceID: String, re: String? = nil) {
        guard let outbound = state.withLock({ $0.devices[deviceID]?.outbound }) else { return }
        let text = ControlEnvelope(id: "hub-\(HostClock.monotonicNanos())", re: re, message: message).encoded()
        Task { try? await outbound.write(.text(text)) }
    }

    /// Records latencies and acknowledges: called after each sync of a stream file.
    func durable(_ writer: StreamWriter, _ outcome: SyncOutcome) {
        ingestLatency.withLock { histogram in
            for nanos in outcome.latenciesNanos { _ = histogram.record(UInt64(max(0, nanos / 1000))) }
        }
        acknowledge(writer, durableNext: outcome.durableNextSequence)
    }

    func acknowledge(_ writer: StreamWriter, durableNext: UInt64) {
        send(.durable(Durable(sessionID: writer.sessionID, streamID: writer.streamID, throughSequence: Int64(durableNext) - 1)), to: writer.deviceID)
    }

    func storageFailed(_ writer: StreamWriter, _ reason: String) {
        let session = state.withLock { $0.session }
        session?.problem(reason)
        send(.error(ErrorReport(code: .storageError, message: reason, fatal: false)), to: writer.deviceID)
        storageFailedStop(reason, sessionID: writer.sessionID)
    }
}

/// A startup failure with its cause and fix.
public struct StartupError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension Hub: DataChannelDelegate {
    public func authorize(_ handshake: DataHandshake, peer: IPv4Endpoint, socket: FileDescriptor) -> Result<StreamWriter, WireError> {
        let (entry, session) = state.withLock { ($0.devices[handshake.deviceID], $0.session) }
        // The data key from welcome (the device's token never needs to cross this plain port), or the
        // token itself for devices that predate data keys. Either way the device must have joined, and
        // the token it joined with must still be valid: a reload that revokes it revokes its key too.
        guard let entry, configuration.accepts(deviceID: handshake.deviceID, token: entry.hello.token),
            constantTimeEquals(entry.dataKey, handshake.token) || constantTimeEquals(entry.hello.token, handshake.token)
        else { return .failure(WireError(.unauthorized, "unknown device or bad key on the data channel")) }
        guard let session, session.id == handshake.sessionID else {
            return .failure(WireError(.noSession, "session \(handshake.sessionID) is not recording"))
        }
        guard let writer = session.writer(deviceID: handshake.deviceID, streamID: handshake.streamID) else {
            return .failure(WireError(.unknownStream, "stream \(handshake.streamID) is not part of this session"))
        }
        if writer.claim(socket: socket) { return .success(writer) }
        // The device reconnected while its old connection still hangs (a roam, a half-open socket):
        // end the old one and take over. Resuming is safe: the reply says which sequence comes next.
        writer.preemptHolder()
        for _ in 0..<400 {
            HostClock.sleep(nanos: 5_000_000)
            if writer.claim(socket: socket) { return .success(writer) }
        }
        if let failure = writer.failure { return .failure(WireError(.storageError, failure)) }
        return .failure(WireError(.streamBusy, "stream \(handshake.streamID) still has a data connection, or the session is closing"))
    }

    public func dataConnectionFailed(deviceID: String, streamID: UInt16, error: WireError) {
        state.withLock { $0.devices[deviceID]?.lastError = "\(error)" }
        dataErrorCounts.withLock { $0[deviceID, default: 0] += 1 }
        state.withLock { $0.session }?.journal.record(
            "data_error", ["device_id": .string(deviceID), "stream_id": .int(Int64(streamID)), "code": .string(error.code.rawValue),
                           "message": .string(error.message)])
        let message = "data connection of stream \(streamID) closed: \(error.message)"
        send(.error(ErrorReport(code: error.code, message: message, fatal: false)), to: deviceID)
        if error.code == .storageError { storageFailedStop(error.message) }
    }
}
