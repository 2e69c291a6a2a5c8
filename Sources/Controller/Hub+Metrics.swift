// GET /metrics: the hub in the Prometheus text exposition format (version 0.0.4). Names start with
// lockstep_ (process_ for the standard process figures), values are in base units (bytes, seconds,
// ratios), counters end in _total. Rendered from the same state the status JSON reads, on request.
import Foundation
import Histogram
import Ingest
import Platform
import TimeSync
import Timing
import Wire

/// Accumulates metric families in exposition order.
struct MetricsText {
    private(set) var text = ""

    /// One family: its HELP and TYPE lines, then one line per sample.
    mutating func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: [(String, String)], value: Double)]) {
        header(name, type, help)
        for sample in samples { line(name, sample.labels, sample.value) }
    }

    mutating func header(_ name: String, _ type: String, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    mutating func single(_ name: String, _ type: String, _ help: String, _ value: Double) {
        family(name, type, help, [([], value)])
    }

    mutating func line(_ name: String, _ labels: [(String, String)], _ value: Double) {
        let rendered = labels.isEmpty ? "" : "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        text += "\(name)\(rendered) \(Self.format(value))\n"
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

extension Hub {
    func metricsText() -> String {
        var m = MetricsText()
        m.family("lockstep_build_info", "gauge", "Software version of this hub.", [([("version", softwareVersion)], 1)])
        m.single("lockstep_ready", "gauge", "1 once the listeners are up, 0 while starting or stopping.", isReady ? 1 : 0)
        m.single("lockstep_stalled_threads", "gauge", "Data plane and sync threads found not making progress.",
                 Double(stalledParts.withLock { $0.count }))
        deviceMetrics(&m)
        ingestMetrics(&m)
        syncAndStorageMetrics(&m)
        processMetrics(&m)
        return m.text
    }

    private func deviceMetrics(_ m: inout MetricsText) {
        let now = HostClock.monotonicNanos()
        let (entries, session) = state.withLock { s in (s.devices.values.sorted { $0.hello.deviceID < $1.hello.deviceID }, s.session) }
        let errors = dataErrorCounts.withLock { $0 }
        m.single("lockstep_devices_connected", "gauge", "Devices connected now.", Double(entries.filter { $0.state == "connected" }.count))
        m.single("lockstep_recording", "gauge", "1 while a session records.", session == nil ? 0 : 1)
        m.family("lockstep_connections_rate_limited_total", "counter", "New connections refused: over connection_rate_per_address.", [
            ([("port", "http")], Double(httpLimits.rate.refusedCount)), ([("port", "data")], Double(dataServer.rateLimiter.refusedCount)),
        ])
        m.family("lockstep_connections_over_address_cap_total", "counter", "New connections refused: over connections_per_address_max.", [
            ([("port", "http")], Double(httpLimits.open.refusedCount)), ([("port", "data")], Double(dataServer.openPerAddress.refusedCount)),
        ])
        m.single("lockstep_event_stream_clients", "gauge", "Clients of /api/v1/events now.", Double(events.clientCount))
        m.family("lockstep_device_up", "gauge", "1 while the device is connected, 0 when lost or gone.",
                 entries.map { ([("device", $0.hello.deviceID)], $0.state == "connected" ? 1 : 0) })
        var offset: [([(String, String)], Double)] = []
        var uncertainty: [([(String, String)], Double)] = []
        var skew: [([(String, String)], Double)] = []
        var samples: [([(String, String)], Double)] = []
        var rejected: [([(String, String)], Double)] = []
        var delay: [([(String, String)], Double)] = []
        var source: [([(String, String)], Double)] = []
        for entry in entries where entry.state == "connected" {
            guard let sync = syncService.status(key: entry.syncKey), sync.acceptedCount > 0 else { continue }
            let device = [("device", entry.hello.deviceID)]
            offset.append((device, sync.mapping.offsetNanos(at: HubInstant(nanos: now)) / 1e9))
            uncertainty.append((device, sync.mapping.uncertaintyNanos / 1e9))
            skew.append((device, sync.mapping.skewPPM / 1e6))
            samples.append((device, Double(sync.acceptedCount)))
            rejected.append((device, Double(sync.rejectedCount)))
            if let minimum = sync.delayNanosMin { delay.append((device, Double(minimum) / 1e9)) }
            source.append((device + [("source", sync.lastSource ?? "none")], 1))
        }
        m.family("lockstep_device_clock_offset_seconds", "gauge", "Device clock minus hub timeline, now.", offset)
        m.family("lockstep_device_clock_uncertainty_seconds", "gauge", "Bound on the offset's error.", uncertainty)
        m.family("lockstep_device_clock_skew_ratio", "gauge", "Device clock rate error (1e-6 is 1 ppm).", skew)
        m.family("lockstep_device_sync_samples_total", "counter", "Sync exchanges accepted since the device joined.", samples)
        m.family("lockstep_device_sync_rejected_total", "counter", "Sync exchanges rejected since the device joined.", rejected)
        m.family("lockstep_device_round_trip_min_seconds", "gauge", "Shortest sync round trip seen.", delay)
        m.family("lockstep_device_timestamp_source_info", "gauge", "Stamp source of the last sync sample.", source)
        m.family("lockstep_device_data_errors_total", "counter", "Data connections ended by an error, per device.",
                 errors.sorted { $0.key < $1.key }.map { ([("device", $0.key)], Double($0.value)) })
        let writers = session?.state.withLock { s in s.devices.values.flatMap { $0.writers.values } } ?? []
        let sorted = writers.sorted { ($0.deviceID, $0.streamID) < ($1.deviceID, $1.streamID) }
        m.family("lockstep_stream_written_bytes", "gauge", "Payload bytes stored for each stream of the current session.",
                 sorted.map { ([("device", $0.deviceID), ("stream", String($0.streamID))], Double($0.totals.payloadByteCount)) })
        m.family("lockstep_stream_durable_frames", "gauge", "Frames of each stream of the current session known durable.",
                 sorted.map { ([("device", $0.deviceID), ("stream", String($0.streamID))], Double($0.durableNextSequence)) })
    }

    private func ingestMetrics(_ m: inout MetricsText) {
        let engine = dataServer.engine
        m.family("lockstep_ingest_engine_info", "gauge", "Data plane in use: io_uring engine or the POSIX fallback.",
                 [([("engine", engine == nil ? "posix" : "io_uring"), ("writes", engine?.configuration.writeMode.rawValue ?? "write"),
                    ("crc32c", CRC32C.implementation)], 1)])
        m.single("lockstep_ingest_fallback", "gauge", "1 when io_uring could not start and POSIX I/O runs instead.",
                 ingestFallbackReason.withLock { $0 } != nil && configuration.ingestEngine != "posix" ? 1 : 0)
        if let engine {
            let stats = engine.statistics
            m.single("lockstep_ingest_received_bytes_total", "counter", "Bytes received on data connections.",
                     Double(stats.bytesReceived.load(ordering: .relaxed)))
            m.single("lockstep_ingest_written_bytes_total", "counter", "Bytes written to stream files.",
                     Double(stats.bytesWritten.load(ordering: .relaxed)))
            m.single("lockstep_ingest_connections", "gauge", "Open data connections.", Double(stats.connections.load(ordering: .relaxed)))
            m.single("lockstep_ingest_pool_bytes", "gauge", "Receive buffer pool size.",
                     Double(engine.pool.chunkByteCount * engine.pool.chunkCount))
            m.single("lockstep_ingest_pool_in_use_bytes", "gauge", "Pool bytes holding data not yet written.",
                     Double(stats.chunksInUse.load(ordering: .relaxed) * engine.pool.chunkByteCount))
            m.single("lockstep_ingest_pool_in_use_peak_bytes", "gauge", "Most pool bytes ever in use at once.",
                     Double(stats.chunksInUsePeak.load(ordering: .relaxed) * engine.pool.chunkByteCount))
            m.single("lockstep_ingest_backpressure_waits_total", "counter", "Times a connection stopped receiving for want of buffers.",
                     Double(stats.backpressureWaits.load(ordering: .relaxed)))
            m.single("lockstep_ingest_connections_waiting", "gauge", "Connections paused by backpressure now.",
                     Double(stats.waitingConnections.load(ordering: .relaxed)))
        }
        // Latencies are recorded in microseconds.
        let latency = ingestLatency.withLock { histogram -> (quantiles: [(String, Double)], count: Double, sum: Double)? in
            guard histogram.totalCount > 0 else { return nil }
            let quantiles = [("0.5", 50.0), ("0.99", 99), ("0.999", 99.9)].map { ($0.0, Double(histogram.valueAtPercentile($0.1)) / 1e6) }
            return (quantiles, Double(histogram.totalCount), histogram.mean * Double(histogram.totalCount) / 1e6)
        }
        if let latency {
            let name = "lockstep_ingest_durable_latency_seconds"
            m.header(name, "summary", "Receive to durable on disk, frames of the current or last session.")
            for (quantile, value) in latency.quantiles { m.line(name, [("quantile", quantile)], value) }
            m.line(name + "_sum", [], latency.sum)
            m.line(name + "_count", [], latency.count)
        }
    }

    private func syncAndStorageMetrics(_ m: inout MetricsText) {
        m.single("lockstep_durability_interval_seconds", "gauge", "fdatasync period before acknowledging data.",
                 Double(configuration.durabilityIntervalMillis) / 1000)
        m.single("lockstep_durability_rounds_total", "counter", "fdatasync rounds that synced something.",
                 Double(flusher.roundCount.load(ordering: .relaxed)))
        m.single("lockstep_durability_slowest_round_seconds", "gauge", "Slowest fdatasync round so far.",
                 Double(flusher.slowestRoundNanos.load(ordering: .relaxed)) / 1e9)
        let sync = syncService
        m.family("lockstep_sync_timestamp_mode_info", "gauge", "Best stamp source the sync service set up.",
                 [([("mode", sync.timestampMode)], 1)])
        m.single("lockstep_sync_timestamp_self_test_passed", "gauge", "1 when the startup kernel-stamp self-test passed.",
                 timestampSelfTestFailure.withLock { $0 } == nil ? 1 : 0)
        m.single("lockstep_sync_ignored_packets_total", "counter", "Sync datagrams dropped: malformed, bad checksum, unknown key.",
                 Double(sync.ignoredCount))
        m.single("lockstep_sync_hardware_fallback", "gauge", "1 when hardware stamps were asked for and are not in use.",
                 sync.hardwareFallbackReason == nil ? 0 : 1)
        m.single("lockstep_sync_pcap_fallback", "gauge", "1 when a pcap cross-check was asked for and is not running.",
                 sync.pcapFallbackReason == nil ? 0 : 1)
        if let space = try? FileIO.space(configuration.dataDirectory) {
            m.single("lockstep_storage_free_bytes", "gauge", "Space left for sessions (unprivileged).", Double(space.availableBytes))
            m.single("lockstep_storage_size_bytes", "gauge", "Size of the file system holding the data folder.", Double(space.totalBytes))
        }
    }

    private func processMetrics(_ m: inout MetricsText) {
        let process = ProcessFigures.read()
        m.single("process_cpu_seconds_total", "counter", "User and system CPU time spent.", process.cpuSeconds)
        m.single("process_resident_memory_bytes", "gauge", "Resident memory size.", Double(process.residentBytes))
        m.single("lockstep_heap_live_bytes", "gauge", "C heap held by live allocations (free memory the allocator keeps excluded).",
                 Double(Memory.liveHeapBytes))
        m.single("process_virtual_memory_bytes", "gauge", "Virtual memory size.", Double(process.virtualBytes))
        m.single("process_open_fds", "gauge", "Open file descriptors.", Double(process.openDescriptors))
        m.single("process_max_fds", "gauge", "Limit on open file descriptors.", Double(process.descriptorLimit))
        m.single("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch.", Double(startedRealtimeNanos) / 1e9)
    }
}
