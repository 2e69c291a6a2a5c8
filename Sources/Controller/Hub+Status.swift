// JSON views of the hub for the API and the CLI (docs/api.md).
import Foundation
import Histogram
import Ingest
import Platform
import TimeSync
import Timing
import Wire

extension Hub {
    func statusJSON() -> JSONValue {
        let (devices, session, last) = state.withLock { s in (s.devices.values.filter { $0.state == "connected" }.count, s.session, s.lastSession) }
        return .object([
            "hub_id": .string(configuration.hubID), "software_version": .string(softwareVersion),
            "hub_time_ns": .int(HostClock.monotonicNanos()), "devices_connected": .int(Int64(devices)),
            "recording": .bool(session != nil), "session": session.map { summaryJSON(summary($0)) } ?? .null,
            "last_session": last.map(JSONValue.string) ?? .null, "data_dir": .string(configuration.dataDirectory),
            "ports": .object(["http": .int(Int64(configuration.httpPort)), "data": .int(Int64(dataEndpoint.port)),
                              "sync": .int(Int64(syncEndpoint.port))]),
            "storage": .string(dataServer.engine == nil ? "posix" : "io_uring"),
            "timestamp_source": .string(syncService.timestampMode),
            "hardware_timestamps_fallback": syncService.hardwareFallbackReason.map(JSONValue.string) ?? .null,
            "pcap_cross_check": syncService.pcapCrossCheckJSON ?? .null, "ingest": ingestJSON(),
            "readiness": .string(readiness.withLock { $0 }),
            "timestamping_self_test": .object([
                "passed": .bool(timestampSelfTestFailure.withLock { $0 } == nil),
                "failure": timestampSelfTestFailure.withLock { $0 }.map(JSONValue.string) ?? .null,
            ]),
            "stalled_threads": .array(stalledParts.withLock { $0 }.map(JSONValue.string)),
            "disk": diskJSON(), "operator_token_required": .bool(configuration.operatorToken != nil),
            "alignment_tolerance_ns": .int(configuration.alignmentToleranceNanos),
        ])
    }

    /// Receive-to-durable latency of the current or last session's frames.
    /// The data plane: engine and pool state, backpressure, and receive-to-durable latency.
    func ingestJSON() -> JSONValue {
        var fields = ingestLatency.withLock { histogram -> [String: JSONValue] in
            guard histogram.totalCount > 0 else { return ["latency_us": .null, "frames_measured": .int(0)] }
            return [
                "latency_us": .object([
                    "p50": .int(Int64(histogram.valueAtPercentile(50))), "p99": .int(Int64(histogram.valueAtPercentile(99))),
                    "p999": .int(Int64(histogram.valueAtPercentile(99.9))), "max": .int(Int64(histogram.max)),
                ]),
                "frames_measured": .int(Int64(histogram.totalCount)),
            ]
        }
        fields["crc32c"] = .string(CRC32C.implementation)
        fields["durability"] = .object([
            "interval_ms": .int(configuration.durabilityIntervalMillis), "rounds": .int(Int64(flusher.roundCount.load(ordering: .relaxed))),
            "slowest_round_ms": .double(Double(flusher.slowestRoundNanos.load(ordering: .relaxed) / 10_000) / 100),
            "slowest_fdatasync_ms": .double(Double(flusher.slowestSyncNanos.load(ordering: .relaxed) / 10_000) / 100),
        ])
        guard let engine = dataServer.engine else {
            fields["engine"] = .string("posix")
            fields["fallback_reason"] = ingestFallbackReason.withLock { $0 }.map(JSONValue.string) ?? .null
            return .object(fields)
        }
        let stats = engine.statistics
        fields["engine"] = .string("io_uring")
        fields["writes"] = .string(engine.configuration.writeMode.rawValue)
        fields["direct_io"] = .string(engine.directIOStatus)
        fields["storage_threads"] = .int(Int64(engine.configuration.storageLanes))
        fields["pool"] = .object([
            "chunk_bytes": .int(Int64(engine.pool.chunkByteCount)), "chunks": .int(Int64(engine.pool.chunkCount)),
            "chunks_in_use": .int(Int64(stats.chunksInUse.load(ordering: .relaxed))),
            "chunks_in_use_peak": .int(Int64(stats.chunksInUsePeak.load(ordering: .relaxed))),
        ])
        fields["backpressure"] = .object([
            "waits": .int(Int64(stats.backpressureWaits.load(ordering: .relaxed))),
            "connections_waiting": .int(Int64(stats.waitingConnections.load(ordering: .relaxed))),
        ])
        fields["bytes_received"] = .int(Int64(stats.bytesReceived.load(ordering: .relaxed)))
        fields["bytes_written"] = .int(Int64(stats.bytesWritten.load(ordering: .relaxed)))
        fields["connections"] = .int(Int64(stats.connections.load(ordering: .relaxed)))
        return .object(fields)
    }

    /// Every known device with its clock estimate evaluated at hub instant `now`.
    func devicesJSON(now: Int64) -> JSONValue {
        let (entries, session) = state.withLock { s in (s.devices.values.sorted { $0.hello.deviceID < $1.hello.deviceID }, s.session) }
        let activity = activity.withLock { $0 }
        return .array(entries.map { entry in
            let sync = syncService.status(key: entry.syncKey)
            var clock: JSONValue = .null
            let id = entry.hello.deviceID
            let recording = session?.isParticipant(id) == true
            let (health, reason) = health(entry, sync: sync)
            if let sync, sync.acceptedCount > 0, entry.state == "connected" {
                clock = .object([
                    "offset_ns": .int(Int64(sync.mapping.offsetNanos(at: HubInstant(nanos: now)).rounded())),
                    "uncertainty_ns": .int(Int64(sync.mapping.uncertaintyNanos.rounded(.up))),
                    "skew_ppm": .double((sync.mapping.skewPPM * 1000).rounded() / 1000),
                    "samples": .int(Int64(sync.acceptedCount)), "delay_ns_min": sync.delayNanosMin.map(JSONValue.int) ?? .null,
                    "timestamp_source": .string(sync.lastSource ?? "none"),
                ])
            }
            return .object([
                "device_id": .string(entry.hello.deviceID), "model": .string(entry.hello.model), "state": .string(entry.state),
                "last_seen_ms_ago": .int((now - entry.lastSeenHubNanos) / 1_000_000),
                "streams": .array(entry.hello.streams.map(Manifest.streamJSON)), "clock": clock,
                "battery_pct": entry.status?.batteryPercent.map(JSONValue.double) ?? .null,
                "storage_free_bytes": entry.status?.storageFreeBytes.map(JSONValue.int) ?? .null,
                "temperature_c": entry.status?.temperatureCelsius.map(JSONValue.double) ?? .null,
                "last_error": entry.lastError.map(JSONValue.string) ?? .null,
                "health": .string(health), "health_reason": reason.map(JSONValue.string) ?? .null, "recording": .bool(recording),
                "throughput_bytes_per_s": recording ? activity.bytesPerSecond[id].map { .int(Int64($0.rounded())) } ?? .null : .null,
                "written_bytes": recording ? activity.payloadBytes[id].map(JSONValue.int) ?? .null : .null,
                "backlog_frames": recording ? activity.backlogFrames[id].map(JSONValue.int) ?? .null : .null,
            ])
        })
    }

    /// "in_sync", "degraded" (with why), "lost" or "left": what the dashboard colours a device by.
    func health(_ entry: DeviceEntry, sync: SyncStatus?) -> (String, String?) {
        switch entry.state {
        case "lost": return ("lost", "no message for over \(configuration.lostAfterMillis) ms")
        case "left": return ("left", "the control connection closed")
        default: break
        }
        guard let sync, sync.acceptedCount > 0 else { return ("degraded", "no clock estimate yet") }
        let bound = sync.mapping.uncertaintyNanos
        guard bound.isFinite, bound * 2 <= Double(configuration.alignmentToleranceNanos) else {
            return ("degraded", "clock uncertainty \(bound.isFinite ? "\(Int64(bound)) ns" : "unknown") is over half the tolerance")
        }
        return ("in_sync", nil)
    }

    /// Every session folder with its manifest's headline fields, newest first.
    func sessionsJSON() -> JSONValue {
        let root = configuration.dataDirectory + "/sessions"
        let names = (try? FileIO.list(root)) ?? []
        return .array(names.reversed().compactMap { name in
            guard let bytes = try? FileIO.readAll("\(root)/\(name)/manifest.json"), case .object(let m)? = try? JSONValue.parse(bytes) else {
                return nil
            }
            var members: [String: JSONValue] = ["folder": .string("\(root)/\(name)")]
            members["report_available"] = .bool(FileIO.exists("\(root)/\(name)/report.json"))
            for key in ["session_id", "name", "participant", "status", "start_hub_ns", "stop_hub_ns", "created_realtime_ns", "totals", "markers"] {
                members[key] = m[key] ?? JSONValue.null
            }
            return .object(members)
        })
    }

    func summaryJSON(_ summary: SessionSummary) -> JSONValue {
        .object([
            "session_id": .string(summary.id), "name": .string(summary.name), "participant": .string(summary.participant),
            "folder": .string(summary.folder), "status": .string(summary.status), "markers": .int(Int64(summary.markers)),
            "start_hub_ns": .int(summary.startHubNanos), "stop_hub_ns": summary.stopHubNanos.map(JSONValue.int) ?? .null,
            "devices": .array(summary.devices.map(JSONValue.string)), "frames": .int(summary.frameCount),
            "payload_bytes": .int(summary.payloadByteCount), "problems": .array(summary.problems.map(JSONValue.string)),
        ])
    }

    func addOperatorMarker(_ label: String) throws -> JSONValue {
        guard let session = state.withLock({ $0.session }) else {
            throw HubError(kind: .conflict, code: .noSession, description: "no session is recording")
        }
        let now = HostClock.monotonicNanos()
        session.state.withLock { $0.markers += 1 }
        session.journal.record("marker", ["label": .string(label), "hub_ns_operator": .int(now), "source": .string("operator")])
        let marker: JSONValue = .object([
            "session_id": .string(session.id), "label": .string(label), "hub_ns": .int(now), "source": .string("operator"),
        ])
        events.publish("marker", marker)
        return marker
    }
}
