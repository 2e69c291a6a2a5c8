// The durability policy: every `intervalMillis`, fdatasync each open stream file that has new
// records, then report the new durable bound so the device can be acknowledged. Runs on its own
// thread so a slow disk never stalls the receive path.
import Logging
import Platform
import Synchronization
import Wire

public final class DurabilityFlusher: Sendable {
    public let intervalMillis: Int64
    private let writers = Mutex<[ObjectIdentifier: StreamWriter]>([:])
    private let running = Atomic<Bool>(true)
    private let thread = Mutex<PlatformThread?>(nil)
    private let logger: Logger
    /// Called on the flusher thread with each writer whose durable bound advanced.
    private let onDurable: @Sendable (StreamWriter, SyncOutcome) -> Void
    private let onFailure: @Sendable (StreamWriter, String) -> Void

    public init(
        intervalMillis: Int64, logger: Logger, onDurable: @escaping @Sendable (StreamWriter, SyncOutcome) -> Void,
        onFailure: @escaping @Sendable (StreamWriter, String) -> Void
    ) {
        precondition(intervalMillis > 0, "the durability interval must be positive")
        self.intervalMillis = intervalMillis
        self.logger = logger
        self.onDurable = onDurable
        self.onFailure = onFailure
    }

    public func start() {
        let spawned = PlatformThread.spawn(name: "ls-flusher") { [self] in
            while running.load(ordering: .acquiring) {
                HostClock.sleep(nanos: intervalMillis * 1_000_000)
                flushAll()
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
        for writer in current {
            do {
                if let outcome = try writer.sync() { onDurable(writer, outcome) }
            } catch {
                logger.error("fdatasync failed", metadata: ["path": "\(writer.path)", "errno": "\(error)"])
                onFailure(writer, "fdatasync of \(writer.path) failed: \(error)")
            }
        }
    }

    public func stop() {
        running.store(false, ordering: .releasing)
        thread.withLock { $0 }?.join()
    }
}
