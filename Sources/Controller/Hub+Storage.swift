// When the data disk fails (full, or an I/O error) during a recording: the session stops at once with
// the reason in its problems, instead of devices retrying into a disk that cannot take their frames.
// A reserve file of `reserveBytes` kept in the data folder is deleted only once every stream file is
// closed and every data connection ended (in `finalize`), so the manifest, the journal's last lines
// and the timing report can still be written on a full disk; it is re-created before the next session.
import Platform
import SystemPackage
import Wire

extension Hub {
    static let reserveBytes = 4 << 20
    var reservePath: String { configuration.dataDirectory + "/.lockstep-reserve" }

    /// Creates the reserve file with its blocks allocated (posix_fallocate: a file of zeros may take no
    /// space on a compressing file system); a failure is logged, not fatal: the disk may be full.
    func ensureStorageReserve() {
        guard (try? FileIO.size(path: reservePath)) != Int64(Self.reserveBytes) else { return }
        do {
            try FileIO.allocate(reservePath, byteCount: Int64(Self.reserveBytes))
        } catch {
            logger.warning("cannot keep a \(Self.reserveBytes >> 20) MiB storage reserve in \(configuration.dataDirectory): \(error)")
        }
    }

    /// Frees the reserve for the last writes of a session the disk failed (called by `finalize`).
    func releaseStorageReserve(_ session: SessionRecorder) {
        guard session.state.withLock({ $0.stoppedForStorage }) else { return }
        try? FileIO.remove(reservePath)
    }

    /// Stops the running session because the disk failed (once per session). - Parameter sessionID: the
    /// session the failing file belongs to, when known: a late error of an earlier session stops nothing.
    func storageFailedStop(_ reason: String, sessionID: String? = nil) {
        guard let session = state.withLock({ $0.session }), sessionID == nil || sessionID == session.id,
            session.state.withLock({ s -> Bool in
                defer { s.stoppedForStorage = true }
                return !s.stoppedForStorage
            })
        else { return }
        logger.error("the data disk failed while recording (\(reason)): stopping session \(session.id)")
        session.problem("recording stopped because the data disk failed: \(reason)")
        events.publish("session", .object(["event": .string("storage_failed"), "reason": .string(reason), "session_id": .string(session.id)]))
        // Frames still on their way cannot be stored: wait only briefly for the devices' `stopped`.
        Task { [self] in _ = try? await stopSession(waitMillis: 500) }
    }

    /// Stops the running session, or, when a stop is already under way (a user's, or the disk's), waits
    /// for it (bounded): the process must not exit before the manifest and report are written.
    func finishRecording() async {
        let (recording, stopping) = state.withLock { ($0.session != nil, $0.stopping) }
        guard recording else { return }
        if !stopping, (try? await stopSession()) != nil { return }
        for _ in 0..<600 where state.withLock({ $0.session != nil }) {
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
    }
}
