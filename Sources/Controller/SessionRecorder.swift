// One recording session on disk: its folder, the stream writers, the clock samples, the event
// journal and the manifest (docs/recording-format.md).
//
//   <data_dir>/sessions/<session_id>/
//       manifest.json                      devices, streams, counts, instants, clock mappings, status
//       events.jsonl                       the event journal
//       devices/<device_id>/stream-<id>.lss one append-only file per stream
//       clock/<device_id>.csv              every sync sample (t1..t4, delay, offset, sources)
//       report.json                        the timing report, written at stop
import Ingest
import Logging
import Platform
import SystemPackage
import Timing
import Wire

/// One device's part in a session.
struct SessionDevice: Sendable {
    var hello: Hello
    var syncKey: UInt64
    var start: Start
    var writers: [UInt16: StreamWriter]
    var startedDeviceNanos: Int64?
    var expectedFrames: [UInt16: Int64]?
    var mappingAtStart: ClockMapping
    var mappingAtStop: ClockMapping?
}

final class SessionRecorder: Sendable {
    let id: String
    let name: String
    let participant: String
    let notes: String
    let folder: String
    let journal: EventJournal
    let createdRealtimeNanos: Int64
    let startHubNanos: Int64

    struct State {
        var devices: [String: SessionDevice] = [:]
        var clockFiles: [String: FileDescriptor] = [:]
        var stopHubNanos: Int64?
        var markers = 0
        var problems: [String] = []
        var status = "recording"
        /// Set once the data disk failed and the hub began stopping the session.
        var stoppedForStorage = false
    }

    let state = Locked(State())

    init(id: String, request: SessionRequest, dataDirectory: String, startHubNanos: Int64) throws(Errno) {
        self.id = id
        self.name = request.name
        self.participant = request.participant
        self.notes = request.notes
        self.folder = "\(dataDirectory)/sessions/\(id)"
        self.startHubNanos = startHubNanos
        createdRealtimeNanos = HostClock.realtimeNanos()
        try FileIO.makeDirectories(folder + "/devices")
        try FileIO.makeDirectories(folder + "/clock")
        journal = try EventJournal(path: folder + "/events.jsonl")
    }

    /// Opens the stream files of one device and adds it to the session.
    func addDevice(_ hello: Hello, syncKey: UInt64, start: Start, mapping: ClockMapping) throws(Errno) -> [StreamWriter] {
        let deviceFolder = "\(folder)/devices/\(hello.deviceID)"
        try FileIO.makeDirectories(deviceFolder)
        var writers: [UInt16: StreamWriter] = [:]
        for stream in hello.streams {
            let description = JSONValue.object([
                "session_id": .string(id), "device_id": .string(hello.deviceID),
                "stream": Manifest.streamJSON(stream), "clock": .string(hello.clock.domain),
            ])
            writers[stream.id] = try StreamWriter(
                sessionID: id, deviceID: hello.deviceID, streamID: stream.id,
                path: "\(deviceFolder)/stream-\(stream.id).\(StreamFileFormat.fileExtension)",
                header: StreamFileFormat.fileHeader(description: description))
        }
        let clockFile = try FileIO.openAppend("\(folder)/clock/\(hello.deviceID).csv")
        try FileIO.writeAll(clockFile, Array("t1_hub_ns,t2_device_ns,t3_device_ns,t4_hub_ns,delay_ns,offset_ns,source,accepted\n".utf8))
        state.withLock { s in
            s.devices[hello.deviceID] = SessionDevice(
                hello: hello, syncKey: syncKey, start: start, writers: writers, mappingAtStart: mapping)
            s.clockFiles[hello.deviceID] = clockFile
        }
        return Array(writers.values)
    }

    func writer(deviceID: String, streamID: UInt16) -> StreamWriter? {
        state.withLock { $0.devices[deviceID]?.writers[streamID] }
    }

    func isParticipant(_ deviceID: String) -> Bool { state.withLock { $0.devices[deviceID] != nil } }

    /// Appends one sync sample (accepted by the live estimator or not) to the device's clock file.
    func recordSample(deviceID: String, _ sample: SyncSample, source: String, accepted: Bool) {
        let line = "\(sample.t1.nanos),\(sample.t2.nanos),\(sample.t3.nanos),\(sample.t4.nanos),\(sample.delay.value),"
            + "\(Int64(sample.offsetNanos.rounded())),\(source),\(accepted ? 1 : 0)\n"
        state.withLock { s in
            guard let fd = s.clockFiles[deviceID] else { return }
            try? FileIO.writeAll(fd, Array(line.utf8))
        }
    }

    func problem(_ text: String) {
        state.withLock { $0.problems.append(text) }
        journal.record("problem", ["message": .string(text)])
    }

    /// All writers, for closing.
    var allWriters: [StreamWriter] { state.withLock { $0.devices.values.flatMap { Array($0.writers.values) } } }

    /// Closes the clock files and the journal (writers are closed by the hub first).
    func closeFiles() {
        let files = state.withLock { s in
            defer { s.clockFiles = [:] }
            return Array(s.clockFiles.values)
        }
        for fd in files {
            try? FileIO.dataSync(fd)
            try? fd.close()
        }
        journal.close()
    }
}
