// How the reference device reacts to each control message from the hub.
import Logging
import Platform
import TimeSync
import Wire

extension DeviceAgent {
    typealias Send = @Sendable (ControlMessage, String?) async throws -> Void

    func hello() -> Hello {
        Hello(
            deviceID: configuration.deviceID, token: configuration.token, model: configuration.model, software: "lockstep-device",
            clock: ClockDescription(domain: configuration.clock.offsetNanos == 0 && configuration.clock.skewPPM == 0 ? "monotonic" : "synthetic",
                                    resolutionNanos: 1),
            streams: configuration.profiles.map(\.descriptor))
    }

    func heartbeats(_ send: Send) async throws {
        var count = 0
        while !Task.isCancelled {
            let interval = state.withLock { $0.welcome?.heartbeatIntervalMillis } ?? 1000
            try await Task.sleep(nanoseconds: UInt64(interval) * 1_000_000)
            guard state.withLock({ $0.welcome != nil }) else { continue }
            try await send(.heartbeat(Heartbeat(timeNanos: now())), nil)
            count += 1
            if count % 5 == 1 {
                let recording = state.withLock { $0.sessionID != nil }
                let status = DeviceStatus(batteryPercent: 87, storageFreeBytes: 32 << 30, temperatureCelsius: 31.5, recording: recording)
                try await send(.status(status), nil)
            }
        }
    }

    func handle(_ envelope: ControlEnvelope, send: @escaping Send, group: inout ThrowingTaskGroup<Void, any Error>) async throws {
        switch envelope.message {
        case .welcome(let welcome):
            try welcomed(welcome)
        case .start(let start):
            beginRecording(start)
            group.addTask { try await self.announceStart(start, send: send) }
        case .stop(let stop):
            group.addTask { try await self.endRecording(stop, send: send) }
        case .durable(let durable):
            state.withLock { s in
                s.durable[durable.streamID] = max(s.durable[durable.streamID] ?? -1, durable.throughSequence)
                if let index = s.finished.firstIndex(where: { $0.sessionID == durable.sessionID }) {
                    s.finished[index].durableThrough[durable.streamID] = durable.throughSequence
                }
            }
        case .error(let report):
            state.withLock { $0.lastError = report }
            logger.warning("hub error \(report.code.rawValue): \(report.message)", metadata: ["device": "\(configuration.deviceID)"])
        case .heartbeat, .status, .marker, .hello, .started, .stopped:
            break
        }
    }

    func welcomed(_ welcome: Welcome) throws {
        let hub = try IPv4Endpoint(host: configuration.hubHost, port: welcome.syncPort)
        let clock = configuration.clock
        let responder = try SyncResponder(hub: hub, key: welcome.syncKey) { host in clock.reading(atHost: host) }
        let previous = state.withLock { s in
            defer { s.welcome = welcome; s.responder = responder }
            return s.responder
        }
        previous?.stop()
        responder.start()
        logger.info("welcomed by hub \(welcome.hubID)", metadata: ["device": "\(configuration.deviceID)"])
    }

    func beginRecording(_ start: Start) {
        let (welcome, already) = state.withLock { ($0.welcome, $0.sessionID == start.sessionID) }
        guard let welcome, !already, let hub = try? IPv4Endpoint(host: configuration.hubHost, port: welcome.dataPort) else { return }
        let senders = configuration.profiles.map {
            StreamSender(profile: $0, deviceID: configuration.deviceID, token: welcome.dataKey ?? configuration.token, sessionID: start.sessionID,
                         hub: hub, clock: configuration.clock, startDeviceNanos: start.startDeviceNanos, logger: logger)
        }
        state.withLock { s in
            s.sessionID = start.sessionID
            s.startDeviceNanos = start.startDeviceNanos
            s.senders = senders
            s.durable = [:]
        }
        for sender in senders { sender.start() }
    }

    func announceStart(_ start: Start, send: @escaping Send) async throws {
        let wait = configuration.clock.hostInstant(atDevice: start.startDeviceNanos) - HostClock.monotonicNanos()
        if wait > 0 { try await Task.sleep(nanoseconds: UInt64(wait)) }
        try await send(.started(Started(sessionID: start.sessionID, startDeviceNanos: now())), nil)
        var markerCount = 0
        while configuration.markerIntervalMillis > 0, state.withLock({ $0.sessionID == start.sessionID }) {
            try await Task.sleep(nanoseconds: UInt64(configuration.markerIntervalMillis) * 1_000_000)
            guard state.withLock({ $0.sessionID == start.sessionID }) else { break }
            markerCount += 1
            try await send(.marker(Marker(sessionID: start.sessionID, label: "flash-\(markerCount)", deviceNanos: now())), nil)
        }
    }

    func endRecording(_ stop: Stop, send: @escaping Send) async throws {
        let senders: [StreamSender] = state.withLock { s in
            guard s.sessionID == stop.sessionID else { return [] }
            s.sessionID = nil
            defer { s.senders = [] }
            return s.senders
        }
        guard !senders.isEmpty else { return }
        // Joining sender threads blocks; do it off the cooperative pool.
        let counts: [(UInt16, UInt64)] = await withCheckedContinuation { continuation in
            _ = PlatformThread.spawn(name: "ls-stop") {
                continuation.resume(returning: senders.map { ($0.profile.descriptor.id, $0.finish(stopDeviceNanos: stop.stopDeviceNanos)) })
            }
        }
        let summary = state.withLock { s in
            DeviceSessionSummary(sessionID: stop.sessionID, startDeviceNanos: s.startDeviceNanos,
                                 frameCounts: Dictionary(uniqueKeysWithValues: counts), durableThrough: s.durable,
                                 dataReconnectCount: senders.reduce(0) { $0 + $1.state.withLock { $0.reconnects } })
        }
        state.withLock { $0.finished.append(summary) }
        let totals = counts.map { StreamTotal(streamID: $0.0, frameCount: Int64($0.1)) }
        try await send(.stopped(Stopped(sessionID: stop.sessionID, streams: totals)), nil)
    }
}
