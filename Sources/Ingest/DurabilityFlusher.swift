// The durability policy: every `intervalMillis`, fdatasync each open stream file that has new
// records, then report the new durable bound so the device can be acknowledged. Runs on its own
// thread so a slow disk never stalls the receive path. The fdatasyncs of one round go to the kernel
// together through an io_uring (the filesystem can then commit them in one journal transaction, so a
// round takes about as long as its slowest file rather than the sum); without io_uring they run
// one after another.
import Logging
import Platform
import Synchronization
import SystemPackage
import Wire

public final class DurabilityFlusher: Sendable {
    public let intervalMillis: Int64
    private let writers = Locked<[ObjectIdentifier: StreamWriter]>([:])
    private let running = Atomic<Bool>(true)
    private let thread = Locked<PlatformThread?>(nil)
    private let logger: Logger
    /// Called on the flusher thread with each writer whose durable bound advanced.
    private let onDurable: @Sendable (StreamWriter, SyncOutcome) -> Void
    private let onFailure: @Sendable (StreamWriter, String) -> Void
    /// Rounds that synced something, and the slowest one (fdatasyncs and acknowledgements), for status.
    public let roundCount = Atomic<Int>(0)
    public let slowestRoundNanos = Atomic<Int64>(0)
    public let slowestSyncNanos = Atomic<Int64>(0)
    /// Turns of the flusher loop, at least ten a second: the watchdog's proof of progress.
    public let loopCount = Atomic<Int>(0)
    /// The flusher thread's ring for concurrent fdatasyncs (nil: serial syscalls).
    private let ring: Locked<URingBox?>

    public init(
        intervalMillis: Int64, logger: Logger, onDurable: @escaping @Sendable (StreamWriter, SyncOutcome) -> Void,
        onFailure: @escaping @Sendable (StreamWriter, String) -> Void
    ) {
        precondition(intervalMillis > 0, "the durability interval must be positive")
        self.intervalMillis = intervalMillis
        self.logger = logger
        self.onDurable = onDurable
        self.onFailure = onFailure
        var box: URingBox?
        if let ring = try? URing(entryCount: 64) { box = URingBox(ring) }
        ring = Locked(box)
    }

    public func start() {
        let spawned = PlatformThread.spawn(name: "ls-flusher") { [self] in
            // Sleeps in slices of at most 100 ms, counting each, so that the watchdog sees the thread
            // alive whatever the interval; flushes once per interval.
            let interval = intervalMillis * 1_000_000
            var nextFlush = HostClock.monotonicNanos() + interval
            while running.load(ordering: .acquiring) {
                let now = HostClock.monotonicNanos()
                if now >= nextFlush {
                    flushAll()
                    nextFlush = now + interval
                }
                loopCount.add(1, ordering: .relaxed)
                HostClock.sleep(nanos: max(0, min(100_000_000, nextFlush - HostClock.monotonicNanos())))
            }
        }
        thread.withLock { $0 = spawned }
    }

    public func register(_ writer: StreamWriter) {
        writers.withLock { $0[ObjectIdentifier(writer)] = writer }
    }

    public func unregister(_ writer: StreamWriter) {
        writers.withLock { $0[ObjectIdentifier(writer)] = nil }
    }

    /// Syncs every registered writer once (also called directly before a session closes).
    public func flushAll() {
        let current = writers.withLock { Array($0.values) }
        let pending = current.compactMap { writer in writer.beginSync().map { (writer, $0) } }
        guard !pending.isEmpty else { return }
        let started = HostClock.monotonicNanos()
        defer {
            let round = HostClock.monotonicNanos() - started
            roundCount.add(1, ordering: .relaxed)
            if round > slowestRoundNanos.load(ordering: .relaxed) { slowestRoundNanos.store(round, ordering: .relaxed) }
        }
        let errors = ring.withLock { box in
            guard let ring = box else { return pending.map { _, sync in errnoOf { () throws(Errno) in try FileIO.dataSync(sync.fd) } } }
            let (errors, broken) = ring.dataSyncAll(pending.map(\.1.fd))
            // A ring that failed to submit may still hold entries: drop it (and them) for good.
            if broken { box = nil }
            return errors
        }
        let synced = HostClock.monotonicNanos() - started
        if synced > slowestSyncNanos.load(ordering: .relaxed) { slowestSyncNanos.store(synced, ordering: .relaxed) }
        for ((writer, sync), error) in zip(pending, errors) {
            do {
                onDurable(writer, try writer.endSync(sync, error: error))
            } catch {
                logger.error("fdatasync failed", metadata: ["path": "\(writer.path)", "errno": "\(error)"])
                onFailure(writer, "fdatasync of \(writer.path) failed: \(error)")
            }
        }
    }

    public func stop() {
        running.store(false, ordering: .releasing)
        thread.withLock { current in
            defer { current = nil }  // a second stop joins nothing
            return current
        }?.join()
    }
}

/// The Errno a throwing call failed with, or nil.
func errnoOf(_ body: () throws(Errno) -> Void) -> Errno? {
    do throws(Errno) {
        try body()
        return nil
    } catch { return error }
}

/// A ring owned by the flusher thread (held in a lock only to make the flusher Sendable).
final class URingBox {
    var ring: URing
    var completions: [URingCompletion] = []

    init(_ ring: consuming URing) { self.ring = ring }

    /// fdatasync of every descriptor at once; the error of each, in order, and whether the ring broke
    /// (then the rest were synced with plain syscalls).
    func dataSyncAll(_ descriptors: [FileDescriptor]) -> (errors: [Errno?], broken: Bool) {
        var errors = [Errno?](repeating: nil, count: descriptors.count)
        var done = [Bool](repeating: false, count: descriptors.count)
        var outstanding = 0
        var next = 0
        while next < descriptors.count || outstanding > 0 {
            while next < descriptors.count, ring.prepareDataSync(fd: descriptors[next], userData: UInt64(next)) {
                next += 1
                outstanding += 1
            }
            do { try ring.submit(waitCount: 1) } catch {
                // The ring failed: sync whatever has no completion yet with plain syscalls.
                for index in errors.indices where !done[index] {
                    errors[index] = errnoOf { () throws(Errno) in try FileIO.dataSync(descriptors[index]) }
                }
                return (errors, true)
            }
            completions.removeAll(keepingCapacity: true)
            outstanding -= ring.reap(into: &completions, limit: 64)
            for completion in completions {
                done[Int(completion.userData)] = true
                if completion.result < 0 { errors[Int(completion.userData)] = Errno(rawValue: -completion.result) }
            }
        }
        return (errors, false)
    }
}
