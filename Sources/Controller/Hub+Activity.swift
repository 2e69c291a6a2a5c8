// What the operator watches between two looks: per-device throughput and backlog of the running
// session, the disk's free space and the time left at the current write rate, and the live event
// stream (Server-Sent Events) that carries them to the dashboard and to scripts.
import Foundation
import Hummingbird
import NIOCore
import Platform
import Wire

/// Per-device write rates, sampled once a second by the housekeeping loop.
struct ActivityState: Sendable {
    var sessionID: String?
    var sampledAtNanos: Int64?
    var payloadBytes: [String: Int64] = [:]
    /// Payload bytes per second over the last sampling interval, per device.
    var bytesPerSecond: [String: Double] = [:]
    /// Frames received but not yet known durable, per device.
    var backlogFrames: [String: Int64] = [:]
}

/// One event for the stream: a name and a JSON payload.
struct ServerEvent: Sendable {
    var name: String
    var data: JSONValue

    /// The SSE wire form: `event:` and one `data:` line (our JSON never holds a raw newline).
    var wireText: String { "event: \(name)\ndata: \(data.serialized)\n\n" }
}

/// Fans events out to the connected event-stream clients. Each client gets a bounded buffer that
/// keeps the newest events: a client that stops reading costs memory it cannot grow.
final class EventBus: Sendable {
    static let clientCountMax = 32
    static let bufferedEventsMax = 64

    private let clients = Locked<[Int: AsyncStream<ServerEvent>.Continuation]>([:])
    /// Set by `finishAll`: the hub is stopping, no client is admitted any more.
    private let closed = Locked(false)
    private let nextID = Locked(0)

    var clientCount: Int { clients.withLock { $0.count } }

    /// A new client's id and stream, or nil when `clientCountMax` are connected.
    func subscribe() -> (id: Int, events: AsyncStream<ServerEvent>)? {
        let id = nextID.withLock { value -> Int in
            value += 1
            return value
        }
        let (stream, continuation) = AsyncStream<ServerEvent>.makeStream(bufferingPolicy: .bufferingNewest(Self.bufferedEventsMax))
        let admitted = clients.withLock { table -> Bool in
            guard table.count < Self.clientCountMax, !closed.withLock({ $0 }) else { return false }
            table[id] = continuation
            return true
        }
        guard admitted else { return nil }
        // Also when the response never runs (the client hung up first): the stream's end frees the slot.
        continuation.onTermination = { [weak self] _ in self?.clients.withLock { _ = $0.removeValue(forKey: id) } }
        return (id, stream)
    }

    /// Forgets a client whose connection ended.
    func unsubscribe(_ id: Int) {
        clients.withLock { $0.removeValue(forKey: id) }?.finish()
    }

    func publish(_ name: String, _ data: JSONValue) {
        let event = ServerEvent(name: name, data: data)
        for continuation in clients.withLock({ Array($0.values) }) { continuation.yield(event) }
    }

    /// Ends every client's stream (hub shutdown).
    func finishAll() {
        closed.withLock { $0 = true }
        for continuation in clients.withLock({ Array($0.values) }) { continuation.finish() }
    }
}

extension Hub {
    /// Samples per-device written bytes and backlog of the running session (once a second).
    func sampleActivity(now: Int64) {
        let session = state.withLock { $0.session }
        var bytes: [String: Int64] = [:]
        var backlog: [String: Int64] = [:]
        if let session {
            for (deviceID, device) in session.state.withLock({ $0.devices }) {
                bytes[deviceID] = device.writers.values.reduce(0) { $0 + $1.totals.payloadByteCount }
                backlog[deviceID] = device.writers.values.reduce(0) { $0 + Int64($1.nextSequence) - Int64($1.durableNextSequence) }
            }
        }
        activity.withLock { a in
            var rates: [String: Double] = [:]
            if let last = a.sampledAtNanos, a.sessionID == session?.id, now > last {
                let seconds = Double(now - last) / 1e9
                for (id, total) in bytes { rates[id] = max(0, Double(total - (a.payloadBytes[id] ?? total))) / seconds }
            }
            a = ActivityState(sessionID: session?.id, sampledAtNanos: now, payloadBytes: bytes, bytesPerSecond: rates, backlogFrames: backlog)
        }
    }

    /// Free space of the data folder's file system and, while recording, how long it lasts.
    func diskJSON() -> JSONValue {
        guard let space = try? FileIO.space(configuration.dataDirectory) else { return .null }
        let rate = activity.withLock { $0.bytesPerSecond.values.reduce(0, +) }
        return .object([
            "free_bytes": .int(space.availableBytes), "total_bytes": .int(space.totalBytes),
            "write_bytes_per_s": .int(Int64(rate.rounded())),
            "seconds_left": rate >= 1 ? .int(Int64(Double(space.availableBytes) / rate)) : .null,
        ])
    }

    /// The snapshot the event stream sends every second: status and devices, as the API gives them.
    func snapshotJSON() -> JSONValue {
        let now = HostClock.monotonicNanos()
        return .object(["status": statusJSON(), "devices": devicesJSON(now: now), "hub_time_ns": .int(now)])
    }

    /// `GET /api/v1/events`: a `snapshot` event at once and every second, and `session`, `marker` and
    /// `device` events as they happen. 503 when `EventBus.clientCountMax` clients are connected.
    func eventStreamResponse() -> Response {
        guard let (id, stream) = events.subscribe() else {
            return apiErrorResponse(.serviceUnavailable, .serviceUnavailable,
                                    "\(EventBus.clientCountMax) event-stream clients are connected; close one first")
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let first = ServerEvent(name: "snapshot", data: snapshotJSON())
        return Response(status: .ok, headers: headers, body: ResponseBody { [events] writer in
            defer { events.unsubscribe(id) }
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n" + first.wireText))
            for await event in stream {
                try await writer.write(ByteBuffer(string: event.wireText))
            }
            try await writer.finish(nil)
        })
    }
}
