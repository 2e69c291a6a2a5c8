// The session's event journal: one JSON object per line (events.jsonl), appended as things happen
// (joined, left, started, stopped, markers, errors), synced when the session closes.
import Platform
import SystemPackage
import Wire

final class EventJournal: Sendable {
    let path: String
    private let fd: Locked<FileDescriptor?>

    init(path: String) throws(Errno) {
        self.path = path
        fd = Locked(try FileIO.openAppend(path))
    }

    /// Appends one event stamped with the hub timeline and wall-clock time.
    func record(_ event: String, _ fields: [String: JSONValue] = [:]) {
        var members = fields
        members["event"] = .string(event)
        members["hub_ns"] = .int(HostClock.monotonicNanos())
        members["realtime_ns"] = .int(HostClock.realtimeNanos())
        let line = Array((JSONValue.object(members).serialized + "\n").utf8)
        fd.withLock { fd in
            guard let fd else { return }
            try? FileIO.writeAll(fd, line)
        }
    }

    func close() {
        fd.withLock { fd in
            if let open = fd {
                try? FileIO.dataSync(open)
                try? open.close()
            }
            fd = nil
        }
    }
}
