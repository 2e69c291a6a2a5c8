// The control channel, hub side: hello → welcome, then heartbeats, status, markers, started and
// stopped from the device. Any malformed or out-of-place message gets an `error` with its stable
// code and the connection is closed; other devices are untouched.
import HummingbirdWebSocket
import Platform
import TimeSync
import Wire

extension Hub {
    /// Serves one device's control WebSocket until it closes.
    func serveControl(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        var deviceID: String?
        var connectionID = 0
        let greeted = Locked(false)
        let deadline = helloDeadline(outbound, greeted: greeted)
        defer { deadline.cancel() }
        do {
            for try await message in inbound.messages(maxSize: ControlLimits.messageBytesMax) {
                guard case .text(let text) = message else {
                    throw WireError(.malformedJSON, "control messages are JSON text, not binary")
                }
                greeted.withLock { $0 = true }  // it spoke: what it said is judged below, not by the deadline
                let envelope = try ControlEnvelope.decode(text)
                if let deviceID {
                    try handle(envelope, from: deviceID)
                } else {
                    guard case .hello(let hello) = envelope.message else {
                        throw WireError(.notRegistered, "the first message must be hello, got \(envelope.message.type)")
                    }
                    connectionID = try admit(hello, outbound: outbound, re: envelope.id)
                    deviceID = hello.deviceID
                }
            }
        } catch let error as WireError {
            logger.warning("control connection closed: \(error)", metadata: ["device": "\(deviceID ?? "?")"])
            let report = ErrorReport(code: error.code, message: error.message, fatal: true)
            try? await outbound.write(.text(ControlEnvelope(id: "hub-error", message: .error(report)).encoded()))
            try? await outbound.close(.policyViolation, reason: error.code.rawValue)
        } catch {
            // Oversized WebSocket frames and transport errors end up here.
            let report = ErrorReport(code: .messageTooLarge, message: "control message rejected: \(error)", fatal: true)
            try? await outbound.write(.text(ControlEnvelope(id: "hub-error", message: .error(report)).encoded()))
        }
        if let deviceID { depart(deviceID, connectionID: connectionID) }
    }

    /// Registers a device after its hello and sends the welcome. - Returns: the connection id.
    func admit(_ hello: Hello, outbound: WebSocketOutboundWriter, re: String) throws(WireError) -> Int {
        guard configuration.accepts(deviceID: hello.deviceID, token: hello.token) else {
            throw WireError(.unauthorized, "bad token for device \(hello.deviceID)")
        }
        let now = HostClock.monotonicNanos()
        let key = newSyncKey()
        let (connectionID, dataKey): (Int, String) = try state.withLock { s throws(WireError) in
            if let existing = s.devices[hello.deviceID], existing.state == "connected" {
                throw WireError(.duplicateDevice, "device id \(hello.deviceID) is already connected")
            }
            guard s.devices.values.filter({ $0.state == "connected" }).count < configuration.devicesMax else {
                throw WireError(.hubFull, "the hub serves at most \(configuration.devicesMax) devices")
            }
            if let session = s.session, session.isParticipant(hello.deviceID),
                session.state.withLock({ $0.devices[hello.deviceID]?.hello.streams != hello.streams }) {
                throw WireError(.invalidMessage, "device \(hello.deviceID) rejoined the recording with different streams")
            }
            s.nextConnectionID += 1
            // The data key outlives a reconnection (streams resume with it), but not a change of token.
            let previous = s.devices[hello.deviceID]
            let dataKey = previous.flatMap { constantTimeEquals($0.hello.token, hello.token) ? $0.dataKey : nil } ?? newDataKey()
            s.devices[hello.deviceID] = DeviceEntry(
                hello: hello, syncKey: key, dataKey: dataKey, outbound: outbound, connectionID: s.nextConnectionID, state: "connected",
                connectedHubNanos: now, lastSeenHubNanos: now)
            return (s.nextConnectionID, dataKey)
        }
        syncService.register(deviceID: hello.deviceID, key: key)
        let welcome = Welcome(
            hubID: configuration.hubID, deviceID: hello.deviceID, dataPort: dataEndpoint.port, syncPort: syncEndpoint.port,
            syncKey: key, dataKey: dataKey, heartbeatIntervalMillis: configuration.heartbeatIntervalMillis,
            lostAfterMillis: configuration.lostAfterMillis,
            frameBytesMax: configuration.frameBytesMax, hubTimeNanos: now)
        send(.welcome(welcome), to: hello.deviceID, re: re)
        logger.info("device joined", metadata: ["device": "\(hello.deviceID)", "streams": "\(hello.streams.count)"])
        state.withLock { $0.session }?.journal.record("joined", ["device_id": .string(hello.deviceID)])
        events.publish("device", .object(["device_id": .string(hello.deviceID), "state": .string("connected")]))
        return connectionID
    }

    func handle(_ envelope: ControlEnvelope, from deviceID: String) throws(WireError) {
        let now = HostClock.monotonicNanos()
        state.withLock { s in
            s.devices[deviceID]?.lastSeenHubNanos = now
            if s.devices[deviceID]?.state == "lost" { s.devices[deviceID]?.state = "connected" }
        }
        let session = state.withLock { $0.session }
        switch envelope.message {
        case .heartbeat:
            break
        case .status(let status):
            state.withLock { $0.devices[deviceID]?.status = status }
        case .started(let started):
            guard let session, session.id == started.sessionID else { return }
            session.state.withLock { $0.devices[deviceID]?.startedDeviceNanos = started.startDeviceNanos }
            session.journal.record("started", ["device_id": .string(deviceID), "start_device_ns": .int(started.startDeviceNanos)])
        case .stopped(let stopped):
            guard let session, session.id == stopped.sessionID else { return }
            let totals = Dictionary(stopped.streams.map { ($0.streamID, $0.frameCount) }, uniquingKeysWith: { $1 })
            session.state.withLock { $0.devices[deviceID]?.expectedFrames = totals }
            session.journal.record("stopped", ["device_id": .string(deviceID),
                                               "frames": .object(Dictionary(uniqueKeysWithValues: totals.map {
                                                   ("\($0.key)", JSONValue.int($0.value))
                                               }))])
        case .marker(let marker):
            guard let session else { return }
            session.state.withLock { $0.markers += 1 }
            let fields: [String: JSONValue] = [
                "device_id": .string(deviceID), "label": .string(marker.label),
                "device_ns": marker.deviceNanos.map(JSONValue.int) ?? .null, "hub_receive_ns": .int(now),
            ]
            session.journal.record("marker", fields)
            events.publish("marker", .object(fields.merging(["session_id": .string(session.id), "source": .string("device")]) { $1 }))
        case .error(let report):
            logger.warning("device reported \(report.code.rawValue): \(report.message)", metadata: ["device": "\(deviceID)"])
            session?.journal.record("device_error", ["device_id": .string(deviceID), "code": .string(report.code.rawValue),
                                                     "message": .string(report.message)])
        case .hello, .welcome, .start, .stop, .durable:
            throw WireError(.invalidMessage, "a device may not send \(envelope.message.type) here")
        }
    }

    /// Forgets a device's control connection (it may rejoin; its data connections are independent).
    func depart(_ deviceID: String, connectionID: Int) {
        let key: UInt64? = state.withLock { s in
            guard let entry = s.devices[deviceID], entry.connectionID == connectionID else { return nil }
            s.devices[deviceID]?.state = "left"
            s.devices[deviceID]?.outbound = nil
            return entry.syncKey
        }
        guard let key else { return }
        syncService.unregister(key: key)
        logger.info("device left", metadata: ["device": "\(deviceID)"])
        state.withLock { $0.session }?.journal.record("left", ["device_id": .string(deviceID)])
        events.publish("device", .object(["device_id": .string(deviceID), "state": .string("left")]))
    }

    /// Detects steps of the hub's wall clock: the hub timeline (CLOCK_MONOTONIC) never jumps, but the
    /// wall-clock labels of the session (realtime anchor, journal) do. A change of REALTIME − MONOTONIC
    /// by more than 1 ms between two checks is journalled with its size, so labels can be corrected.
    func checkWallClock() {
        let difference = HostClock.realtimeMinusMonotonicNanos()
        let previous = wallClockDifference.withLock { value in
            defer { value = difference }
            return value
        }
        guard let previous, abs(difference - previous) > 1_000_000 else { return }
        let step = difference - previous
        logger.warning("wall clock stepped by \(step) ns; the hub timeline is unaffected")
        state.withLock { $0.session }?.journal.record("wall_clock_step", ["step_ns": .int(step)])
    }

    /// Marks devices silent for longer than `lost_after_ms` as lost (called periodically).
    func checkLiveness() {
        let now = HostClock.monotonicNanos()
        let lost: [String] = state.withLock { s in
            var marked: [String] = []
            for (id, entry) in s.devices where entry.state == "connected"
                && now - entry.lastSeenHubNanos > configuration.lostAfterMillis * 1_000_000 {
                s.devices[id]?.state = "lost"
                marked.append(id)
            }
            return marked
        }
        for id in lost {
            logger.warning("device lost: no message for \(configuration.lostAfterMillis) ms", metadata: ["device": "\(id)"])
            state.withLock { $0.session }?.journal.record("lost", ["device_id": .string(id)])
            events.publish("device", .object(["device_id": .string(id), "state": .string("lost")]))
        }
    }
}
