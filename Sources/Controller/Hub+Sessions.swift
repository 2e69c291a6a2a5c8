// Sessions: a synchronized start at a scheduled hub instant, a stop that waits until every frame
// the devices sent is on disk, and the manifest and timing report written at the end.
import Foundation
import Ingest
import Platform
import Report
import SystemPackage
import TimeSync
import Timing
import Wire

/// What a session start or stop reports to the operator.
public struct SessionSummary: Sendable {
    public var id: String
    public var name: String
    public var participant: String
    public var folder: String
    public var status: String
    public var startHubNanos: Int64
    public var stopHubNanos: Int64?
    public var devices: [String]
    public var frameCount: Int64
    public var payloadByteCount: Int64
    public var problems: [String]
    public var markers: Int
}

/// An operator-facing failure with an HTTP-friendly kind.
public struct HubError: Error, CustomStringConvertible {
    public enum Kind: Sendable { case conflict, notFound, badRequest, internalFailure }
    public var kind: Kind
    public var code: ErrorCode
    public var description: String
}

/// What the operator asks for when starting a session (API body, CLI options).
public struct SessionRequest: Sendable, Equatable {
    public var name: String
    public var participant: String
    public var notes: String
    /// Devices that must be connected and in sync, or the start is refused (409 device_missing).
    public var requiredDevices: [String]

    public static let nameBytesMax = 128
    public static let notesBytesMax = 4096

    public init(name: String = "", participant: String = "", notes: String = "", requiredDevices: [String] = []) {
        self.name = name
        self.participant = participant
        self.notes = notes
        self.requiredDevices = requiredDevices
    }

    /// Reads an API body: `{"name", "participant", "notes", "required_devices"}`, all optional; anything
    /// else, a wrong type or an oversized field is refused, so a typo cannot start the wrong recording.
    public static func parse(_ body: JSONValue) throws(HubError) -> SessionRequest {
        func bad(_ message: String) -> HubError { HubError(kind: .badRequest, code: .invalidMessage, description: message) }
        guard case .object(let members) = body else { throw bad("the body must be a JSON object") }
        var request = SessionRequest()
        for (key, value) in members {
            switch (key, value) {
            case ("name", .string(let text)), ("participant", .string(let text)), ("notes", .string(let text)):
                let limit = key == "notes" ? notesBytesMax : nameBytesMax
                guard text.utf8.count <= limit else { throw bad("\(key) is longer than \(limit) bytes") }
                switch key {
                case "name": request.name = text
                case "participant": request.participant = text
                default: request.notes = text
                }
            case ("required_devices", .array(let items)):
                for item in items {
                    guard case .string(let id) = item else { throw bad("required_devices must be an array of device ids") }
                    do throws(WireError) { try Identifier.validateDeviceID(id) } catch { throw bad("required_devices: \(error.message)") }
                    if !request.requiredDevices.contains(id) { request.requiredDevices.append(id) }
                }
            case ("name", _), ("participant", _), ("notes", _), ("required_devices", _):
                throw bad("\(key) has the wrong type")
            default:
                throw bad("unknown field \"\(key)\" (expected name, participant, notes, required_devices)")
            }
        }
        return request
    }
}

extension Hub {
    /// Starts a session named `name` with every connected device.
    public func startSession(name: String) async throws -> SessionSummary {
        try await startSession(SessionRequest(name: name))
    }

    /// Starts a session with every connected device at `now + start_lead_ms` on the hub timeline.
    /// - Throws: `HubError` (conflict) when a session runs, no device is connected, or a required device
    ///   is missing or has no clock estimate.
    public func startSession(_ request: SessionRequest) async throws -> SessionSummary {
        let name = request.name
        let slug = String(name.unicodeScalars.prefix(40).map { $0.isASCII && Identifier.isAllowed(UInt8($0.value)) ? Character($0) : "_" })
        let id = Self.timestampID(HostClock.realtimeNanos()) + (slug.isEmpty ? "" : "-" + slug)
        let connected: [DeviceEntry] = try state.withLock { s in
            guard s.session == nil, !s.stopping, !s.starting else {
                throw HubError(kind: .conflict, code: .sessionActive, description: "a session is already recording; stop it first")
            }
            s.starting = true
            return s.devices.values.filter { $0.state == "connected" }.sorted { $0.hello.deviceID < $1.hello.deviceID }
        }
        defer { state.withLock { $0.starting = false } }
        let absent = request.requiredDevices.filter { id in !connected.contains { $0.hello.deviceID == id } }
        guard absent.isEmpty else {
            throw HubError(kind: .conflict, code: .deviceMissing, description: "required device(s) not connected: \(absent.joined(separator: ", "))")
        }
        guard !connected.isEmpty else {
            throw HubError(kind: .conflict, code: .noSession, description: "no device is connected; start lockstep-device or plug devices in first")
        }
        ensureStorageReserve()
        let mappings = await waitForClockEstimates(connected)
        guard !mappings.isEmpty else {
            let reason = "no device has a clock estimate yet (is UDP to the sync port blocked?)"
            throw HubError(kind: .conflict, code: .noSession, description: reason)
        }
        let unsynced = request.requiredDevices.filter { mappings[$0] == nil }
        guard unsynced.isEmpty else {
            throw HubError(kind: .conflict, code: .deviceMissing,
                           description: "required device(s) without a clock estimate after 3 s: \(unsynced.joined(separator: ", "))")
        }
        let startHub = HubInstant(nanos: HostClock.monotonicNanos() + configuration.startLeadMillis * 1_000_000)
        let session: SessionRecorder
        do {
            session = try SessionRecorder(
                id: try reserveSessionFolder(id), request: request, dataDirectory: configuration.dataDirectory, startHubNanos: startHub.nanos)
        } catch {
            throw HubError(kind: .internalFailure, code: .storageError, description: "cannot create the session folder: \(error)")
        }
        var starts: [(String, Start)] = []
        for entry in connected {
            guard let mapping = mappings[entry.hello.deviceID] else {
                session.problem("device \(entry.hello.deviceID) left out: no clock estimate within 3 s")
                continue
            }
            let start = Start(sessionID: session.id, startHubNanos: startHub.nanos, startDeviceNanos: mapping.deviceInstant(at: startHub).nanos,
                              uncertaintyNanos: Int64(mapping.uncertaintyNanos.rounded(.up)))
            do {
                for writer in try session.addDevice(entry.hello, syncKey: entry.syncKey, start: start, mapping: mapping) { flusher.register(writer) }
            } catch {
                session.problem("cannot open stream files of \(entry.hello.deviceID): \(error)")
                continue
            }
            starts.append((entry.hello.deviceID, start))
        }
        let installed = state.withLock { s in
            guard s.session == nil else { return false }
            s.session = session
            return true
        }
        guard installed else { throw HubError(kind: .conflict, code: .sessionActive, description: "a session started concurrently") }
        ingestLatency.withLock { $0.reset() }
        session.journal.record("session_started", ["session_id": .string(session.id), "start_hub_ns": .int(startHub.nanos), "name": .string(name),
                                                   "participant": .string(request.participant)])
        try? writeManifest(session)
        for (deviceID, start) in starts { send(.start(start), to: deviceID) }
        events.publish("session", .object(["event": .string("started"), "session": summaryJSON(summary(session))]))
        logger.info("session \(session.id) starts in \(configuration.startLeadMillis) ms with \(starts.count) device(s)")
        return summary(session)
    }

    /// Waits (up to 3 s) until every device has a clock estimate; returns the ones that do.
    func waitForClockEstimates(_ devices: [DeviceEntry]) async -> [String: ClockMapping] {
        var mappings: [String: ClockMapping] = [:]
        for _ in 0..<60 {
            for entry in devices where mappings[entry.hello.deviceID] == nil {
                if let status = syncService.status(key: entry.syncKey), status.acceptedCount >= 4 {
                    mappings[entry.hello.deviceID] = status.mapping
                }
            }
            if mappings.count == devices.count { break }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        return mappings
    }

    /// Stops the running session, waits for every announced frame to be stored, and finalises it.
    public func stopSession(waitMillis: Int64 = 15_000) async throws -> SessionSummary {
        let session: SessionRecorder = try state.withLock { s in
            guard let session = s.session, !s.stopping else {
                throw HubError(kind: .conflict, code: .noSession, description: "no session is recording")
            }
            s.stopping = true
            return session
        }
        let stopHub = HubInstant(nanos: HostClock.monotonicNanos())
        session.state.withLock { $0.stopHubNanos = stopHub.nanos }
        let participants = session.state.withLock { Array($0.devices.values) }
        for device in participants {
            // The device may have reconnected since the start: its current key has the live estimate.
            let key = state.withLock { $0.devices[device.hello.deviceID]?.syncKey } ?? device.syncKey
            let mapping = syncService.status(key: key)?.mapping ?? device.mappingAtStart
            session.state.withLock { $0.devices[device.hello.deviceID]?.mappingAtStop = mapping }
            send(.stop(Stop(sessionID: session.id, stopHubNanos: stopHub.nanos, stopDeviceNanos: mapping.deviceInstant(at: stopHub).nanos)),
                 to: device.hello.deviceID)
        }
        session.journal.record("session_stopping", ["stop_hub_ns": .int(stopHub.nanos)])
        await waitForFrames(session, deadline: HostClock.monotonicNanos() + waitMillis * 1_000_000)
        await finalize(session)
        Memory.trim()  // the report's transient objects: give the memory back (docs/reliability.md, soak)
        state.withLock { s in
            s.session = nil
            s.stopping = false
            s.lastSession = session.id
        }
        events.publish("session", .object(["event": .string("stopped"), "session": summaryJSON(summary(session))]))
        return summary(session)
    }

    /// Waits until each device said `stopped` and its writers hold every frame it announced.
    func waitForFrames(_ session: SessionRecorder, deadline: Int64) async {
        while HostClock.monotonicNanos() < deadline {
            let complete = session.state.withLock { s in
                s.devices.values.allSatisfy { device in
                    guard let expected = device.expectedFrames else { return false }
                    return device.writers.allSatisfy { id, writer in UInt64(expected[id] ?? 0) <= writer.nextSequence }
                }
            }
            if complete { return }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// Closes connections and files, acknowledges the final durable bounds, writes manifest and report.
    func finalize(_ session: SessionRecorder) async {
        let writers = session.allWriters
        for writer in writers { writer.beginClosing() }  // no connection may claim a writer from here on
        dataServer.closeConnections(sessionID: session.id)
        for writer in writers {
            flusher.unregister(writer)
            do {
                if let outcome = try writer.close() { durable(writer, outcome) } else { acknowledge(writer, durableNext: writer.durableNextSequence) }
            } catch { session.problem("closing \(writer.path) failed: \(error)") }
            if let failure = writer.failure { session.problem(failure) }
        }
        releaseStorageReserve(session)  // every stream file is closed and every data connection gone by now
        let devices = session.state.withLock { Array($0.devices.values) }
        for device in devices {
            guard let expected = device.expectedFrames else {
                session.problem("device \(device.hello.deviceID) did not confirm the stop; its streams may end early")
                continue
            }
            for (id, writer) in device.writers where Int64(writer.nextSequence) != (expected[id] ?? 0) {
                session.problem("device \(device.hello.deviceID) stream \(id): \(writer.nextSequence) frames stored, \(expected[id] ?? 0) sent")
            }
        }
        session.state.withLock { $0.status = $0.problems.isEmpty ? "complete" : "incomplete" }
        session.journal.record("session_stopped", ["status": .string(session.state.withLock { $0.status })])
        session.closeFiles()
        do { try writeManifest(session) } catch { logger.error("writing the manifest failed: \(error)") }
        do { try writeReport(session) } catch { logger.error("writing the timing report failed: \(error)") }
        logger.info("session \(session.id) \(session.state.withLock { $0.status }) in \(session.folder)")
    }

    func writeManifest(_ session: SessionRecorder) throws {
        let manifest = Manifest.make(session, hubID: configuration.hubID)
        try FileIO.replaceAtomically(session.folder + "/manifest.json", with: Array((manifest.serialized + "\n").utf8))
    }

    func writeReport(_ session: SessionRecorder) throws {
        try SessionRecovery.writeReport(folder: session.folder, toleranceNanos: configuration.alignmentToleranceNanos)
    }

    func summary(_ session: SessionRecorder) -> SessionSummary {
        session.state.withLock { s in
            let totals = s.devices.values.flatMap { $0.writers.values.map(\.totals) }
            return SessionSummary(
                id: session.id, name: session.name, participant: session.participant, folder: session.folder, status: s.status,
                startHubNanos: session.startHubNanos, stopHubNanos: s.stopHubNanos,
                devices: s.devices.keys.sorted(), frameCount: totals.reduce(0) { $0 + $1.frameCount },
                payloadByteCount: totals.reduce(0) { $0 + $1.payloadByteCount }, problems: s.problems,
                markers: s.markers)
        }
    }

    /// Creates the session folder with an exclusive mkdir: `id`, or `id-2`, `id-3`, ... when a folder of
    /// that name exists. A session never reuses a folder. Returns the id it got.
    func reserveSessionFolder(_ id: String) throws(Errno) -> String {
        let root = configuration.dataDirectory + "/sessions/"
        var candidate = id
        var suffix = 2
        while true {
            do throws(Errno) {
                try FileIO.makeDirectoryExclusive(root + candidate)
                return candidate
            } catch where error == .fileExists {
                candidate = "\(id)-\(suffix)"
                suffix += 1
            }
        }
    }

    /// "20261129T034512Z" for a wall-clock instant (UTC).
    static func timestampID(_ realtimeNanos: Int64) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.locale = Locale(identifier: "en_US_POSIX")
        return formatter.string(from: Date(timeIntervalSince1970: Double(realtimeNanos) / 1e9))
    }
}
