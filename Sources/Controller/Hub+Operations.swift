// What the service manager and the operator's tooling see of the hub's own health: readiness, the
// progress proof behind watchdog pings, /healthz and /readyz, and the SIGHUP configuration reload.
import Ingest
import Logging
import Platform
import TimeSync

/// Loop counters of the threads that must keep turning while the hub lives.
struct ProgressSnapshot: Sendable, Equatable {
    var network: Int?
    /// One count per storage lane.
    var storage: [Int]?
    var sync: Int
    var flusher: Int
}

/// What a reload changed, and what it could not change without a restart.
public struct ReloadOutcome: Sendable, Equatable {
    public var applied: [String]
    public var needRestart: [String]
}

extension Hub {
    /// Marks the hub ready (listeners up) for /readyz.
    public func markReady() { readiness.withLock { if $0 == "starting" { $0 = "ready" } } }

    /// Marks the hub stopping: /readyz fails from now on.
    public func markStopping() { readiness.withLock { $0 = "stopping" } }

    public var isReady: Bool { readiness.withLock { $0 == "ready" } }

    func progressSnapshot() -> ProgressSnapshot {
        let engine = dataServer.engine
        return ProgressSnapshot(
            network: engine?.statistics.networkLoops.load(ordering: .relaxed),
            storage: engine?.storageLoopCounts,
            sync: syncService.loopCount.load(ordering: .relaxed), flusher: flusher.loopCount.load(ordering: .relaxed))
    }

    /// Compares the loop counters with the previous check and records the threads that did not turn
    /// (none on the first check). Each loop turns at least ten times a second; the housekeeping loop
    /// calls this once a second, so a stalled name means a thread stuck for a whole second.
    func checkProgress() {
        let now = progressSnapshot()
        let before = lastProgress.withLock { last in
            defer { last = now }
            return last
        }
        guard let before else { return }
        var stalled: [String] = []
        if let network = now.network, network == before.network { stalled.append("ingest network stage") }
        if let storage = now.storage, let previous = before.storage, storage.count == previous.count {
            let stuck = storage.indices.filter { storage[$0] == previous[$0] }
            if storage.count == 1, !stuck.isEmpty {
                stalled.append("ingest storage stage")
            } else {
                stalled += stuck.map { "ingest storage stage \($0)" }
            }
        }
        if now.sync == before.sync { stalled.append("time-sync service") }
        if now.flusher == before.flusher { stalled.append("durability flusher") }
        stalledParts.withLock { $0 = stalled }
    }

    /// Applies the reloadable keys of `new` (tokens, lost-after, start lead, log level) and names the
    /// changed keys that need a restart (listeners, data folder, data plane sizing, sync setup, the
    /// heartbeat interval already given to devices).
    /// - Throws: `ConfigurationError` when the new file would leave a network-facing API open.
    public func reload(_ new: HubConfiguration) throws(ConfigurationError) -> ReloadOutcome {
        let current = configuration
        if !current.bindsLoopback && new.operatorToken == nil {
            throw ConfigurationError(
                path: "reload", key: "operator_token", reason: "cannot be removed while bind \(current.bindHost) is reachable from the network")
        }
        // Connected devices heartbeat at the interval their welcome gave; only a restart changes it.
        if new.lostAfterMillis <= current.heartbeatIntervalMillis {
            throw ConfigurationError(
                path: "reload", key: "lost_after_ms",
                reason: "must exceed the heartbeat interval devices were given (\(current.heartbeatIntervalMillis) ms)")
        }
        return settings.withLock { current in
            var applied: [String] = []
            var restart: [String] = []
            func take<Value: Equatable>(_ key: String, _ path: WritableKeyPath<HubConfiguration, Value>) {
                if current[keyPath: path] != new[keyPath: path] {
                    current[keyPath: path] = new[keyPath: path]
                    applied.append(key)
                }
            }
            func keep<Value: Equatable>(_ key: String, _ path: KeyPath<HubConfiguration, Value>) {
                if current[keyPath: path] != new[keyPath: path] { restart.append(key) }
            }
            take("device_tokens", \.deviceTokens)
            take("site_token", \.siteToken)
            take("lost_after_ms", \.lostAfterMillis)
            take("start_lead_ms", \.startLeadMillis)
            take("alignment_tolerance_us", \.alignmentToleranceMicros)
            take("log_level", \.logLevel)
            take("operator_token", \.operatorToken)
            keep("heartbeat_interval_ms", \.heartbeatIntervalMillis)
            keep("hub_id", \.hubID)
            keep("bind", \.bindHost)
            keep("http_port", \.httpPort)
            keep("data_port", \.dataPort)
            keep("sync_port", \.syncPort)
            keep("data_dir", \.dataDirectory)
            keep("frame_bytes_max", \.frameBytesMax)
            keep("durability_interval_ms", \.durabilityIntervalMillis)
            keep("sync_rate_hz", \.syncRateHz)
            keep("sync_hardware_interface", \.syncHardwareInterface)
            keep("sync_pcap_interface", \.syncPcapInterface)
            keep("devices_max", \.devicesMax)
            keep("data_connections_max", \.dataConnectionsMax)
            keep("http_connections_max", \.httpConnectionsMax)
            keep("http_idle_timeout_ms", \.httpIdleTimeoutMillis)
            keep("hello_timeout_ms", \.helloTimeoutMillis)
            keep("connection_rate_per_address", \.connectionRatePerAddress)
            keep("connections_per_address_max", \.connectionsPerAddressMax)
            keep("tls_certificate", \.tlsCertificate)
            keep("tls_private_key", \.tlsPrivateKey)
            keep("ingest_engine", \.ingestEngine)
            keep("ingest_buffer_mib", \.ingestBufferMiB)
            keep("ingest_writes", \.ingestWrites)
            keep("ingest_direct_io", \.ingestDirectIO)
            keep("ingest_storage_threads", \.ingestStorageThreads)
            return ReloadOutcome(applied: applied, needRestart: restart)
        }
    }

    /// Pings the watchdog every half interval while every loop makes progress; withholds the ping
    /// (and says why, once) when one stalls, so systemd restarts a wedged hub. A withheld ping is
    /// retried at every tick, so a thread that was only slow for a moment costs a second, not a period.
    func watchdogTick(_ notifier: ServiceNotifier, now: Int64, next: inout Int64, withheld: inout Bool) {
        guard let interval = notifier.watchdogIntervalNanos, now >= next else { return }
        let stalled = stalledParts.withLock { $0 }
        if stalled.isEmpty {
            next = now + interval / 2
            notifier.watchdog()
            if withheld { logger.notice("watchdog: every loop turns again; pings resumed") }
            withheld = false
        } else if !withheld {
            withheld = true
            logger.critical("watchdog: withholding pings, no progress in: \(stalled.joined(separator: ", "))")
        }
    }
}
