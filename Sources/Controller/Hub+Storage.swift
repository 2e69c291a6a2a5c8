// When the data disk fails (full, or an I/O error) during a recording: the session stops at once with
// the reason in its problems, instead of devices retrying into a disk that cannot take their frames.
// A reserve file of `reserveBytes` kept in the data folder is deleted first, so the manifest, the
// journal's last lines and the timing report can still be written on a full disk; it is re-created
// before the next session.
import Platform
import SystemPackage
import Wire

extension Hub {
    static let reserveBytes = 4 << 20
    var reservePath: String { configuration.dataDirectory + "/.lockstep-reserve" }

    /// Creates (or tops up) the reserve file; a failure is logged, not fatal: the disk may be full.
    func ensureStorageReserve() {
        guard (try? FileIO.size(path: reservePath)) != Int64(Self.reserveBytes) else { return }
        do {
            try FileIO.replaceAtomically(reservePath, with: [UInt8](repeating: 0, count: Self.reserveBytes))
        } catch {
            logger.warning("cannot keep a \(Self.reserveBytes >> 20) MiB storage reserve in \(configuration.dataDirectory): \(error)")
        }
    }

    /// Stops the running session because the disk failed (once per session).
    func storageFailedStop(_ reason: String) {
        guard let session = state.withLock({ $0.session }), session.state.withLock({ s -> Bool in
            defer { s.stoppedForStorage = true }
            return !s.stoppedForStorage
        }) else { return }
        try? FileIO.remove(reservePath)
        logger.error("the data disk failed while recording (\(reason)): stopping session \(session.id)")
        session.problem("recording stopped because the data disk failed: \(reason)")
        events.publish("session", .object(["event": .string("storage_failed"), "reason": .string(reason), "session_id": .string(session.id)]))
        Task { [self] in _ = try? await stopSession(waitMillis: 3000) }
    }
}
