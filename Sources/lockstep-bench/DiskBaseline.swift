// The disk's own speed, measured in the same run and folder as the ingest benchmark: a plain
// sequential io_uring writer (1 MiB blocks, 8 in flight) with the hub's durability policy
// (fdatasync every `syncIntervalMillis`, on a thread of its own as the hub's flusher is, so writes go
// on while a sync runs). The ingest result is reported as a ratio to it.
import Foundation
import Platform
import Synchronization
import SystemPackage

struct DiskBaseline {
    var bytesPerSecond: Double
    var byteCount: Int64
    var seconds: Double
}

/// Writes sequentially to a scratch file in `directory` for `seconds`, then removes it.
func measureDiskBaseline(directory: String, seconds: Double, syncIntervalMillis: Int64) throws -> DiskBaseline {
    let blockBytes = 1 << 20
    let depth = 8
    let path = directory + "/disk-baseline.tmp"
    let fd = try FileDescriptor.open(FilePath(path), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
    defer {
        try? fd.close()
        try? FileManager.default.removeItem(atPath: path)
    }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockBytes * depth, alignment: 4096)
    defer { buffer.deallocate() }
    for index in 0..<buffer.count { buffer[index] = UInt8(truncatingIfNeeded: index &* 131) }
    let ring = try URing(entryCount: 64)
    var completions: [URingCompletion] = []
    completions.reserveCapacity(64)
    var offset: UInt64 = 0
    var inFlight = 0
    var written: Int64 = 0
    let start = HostClock.monotonicNanos()
    let end = start + Int64(seconds * 1e9)
    let syncer = PeriodicSync(fd: fd, intervalMillis: syncIntervalMillis)
    defer { syncer.stop() }
    var slot = 0
    var writeFailure: Errno?
    while HostClock.monotonicNanos() < end && writeFailure == nil && syncer.failure == nil {
        while inFlight < depth {
            let block = buffer.baseAddress! + (slot % depth) * blockBytes
            guard ring.prepareWrite(fd: fd, buffer: block, count: UInt32(blockBytes), offset: offset, userData: UInt64(slot)) else { break }
            offset += UInt64(blockBytes)
            slot += 1
            inFlight += 1
        }
        try ring.submit(waitCount: 1)
        completions.removeAll(keepingCapacity: true)
        _ = ring.reap(into: &completions, limit: 64)
        for completion in completions {
            if completion.result < 0 { writeFailure = Errno(rawValue: -completion.result) }
            written += Int64(max(0, completion.result))
            inFlight -= 1
        }
    }
    // Drain (the writes in flight use `buffer`), then make it durable like the hub does at stop.
    while inFlight > 0 {
        try ring.submit(waitCount: 1)
        completions.removeAll(keepingCapacity: true)
        _ = ring.reap(into: &completions, limit: 64)
        for completion in completions {
            written += Int64(max(0, completion.result))
            inFlight -= 1
        }
    }
    // A writeback error is reported once per open file: the syncer's, if it saw one, would not come again here.
    syncer.stop()
    if let writeFailure { throw BenchError("baseline write failed: \(writeFailure)") }
    if let failure = syncer.failure { throw BenchError("baseline fdatasync failed: \(failure)") }
    try FileIO.dataSync(fd)
    let elapsed = Double(HostClock.monotonicNanos() - start) / 1e9
    return DiskBaseline(bytesPerSecond: Double(written) / elapsed, byteCount: written, seconds: elapsed)
}

/// fdatasync of one file every `intervalMillis` on a thread of its own, until stopped or until one fails.
/// The caller owns the descriptor and keeps it open until `stop()` returns.
final class PeriodicSync: Sendable {
    private let running = Atomic<Bool>(true)
    private let failed = Locked<Errno?>(nil)
    private let thread = Locked<PlatformThread?>(nil)

    /// Starts the syncing thread.
    /// - Parameters:
    ///   - fd: the file to sync.
    ///   - intervalMillis: the pause before each sync.
    init(fd: FileDescriptor, intervalMillis: Int64) {
        let spawned = PlatformThread.spawn(name: "ls-baseline-sync") { [self] in
            while running.load(ordering: .acquiring) {
                HostClock.sleep(nanos: intervalMillis * 1_000_000)
                do throws(Errno) { try FileIO.dataSync(fd) } catch {
                    failed.withLock { $0 = error }
                    return
                }
            }
        }
        thread.withLock { $0 = spawned }
    }

    /// The error of the sync that failed (the thread has ended), or nil.
    var failure: Errno? { failed.withLock { $0 } }

    /// Ends the thread and waits for it; later calls do nothing.
    func stop() {
        running.store(false, ordering: .releasing)
        let running = thread.withLock { thread in
            defer { thread = nil }
            return thread
        }
        running?.join()
    }
}
