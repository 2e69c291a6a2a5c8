// Dedicated OS threads for the data plane and sync I/O (blocking loops that must not run on the
// Swift concurrency pool). A thin wrapper over pthread_create/pthread_join.
#if canImport(Glibc)
import Glibc
#endif

/// A joinable OS thread running one closure.
public final class PlatformThread: @unchecked Sendable {
    private var handle: pthread_t

    private init(handle: pthread_t) { self.handle = handle }

    /// Starts `body` on a new thread. `name` identifies it in logs and debuggers.
    public static func spawn(name: String, _ body: @escaping @Sendable () -> Void) -> PlatformThread {
        _ = name  // kept for logs and a future pthread_setname_np (hidden without _GNU_SOURCE)
        final class Box {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let context = unsafe Unmanaged.passRetained(Box(body)).toOpaque()
        var handle = pthread_t()
        let result = unsafe pthread_create(&handle, nil, { raw in
            let box = unsafe Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, context)
        precondition(result == 0, "pthread_create failed: \(result)")
        return PlatformThread(handle: handle)
    }

    /// Waits for the thread to finish. Call at most once.
    public func join() {
        let result = unsafe pthread_join(handle, nil)
        precondition(result == 0, "pthread_join failed: \(result)")
    }
}
