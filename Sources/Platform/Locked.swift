// A value behind a pthread mutex: the one lock of the project.
//
// Why not `Synchronization.Mutex`: on Linux it is a futex lock inside the uninstrumented standard
// library, so ThreadSanitizer never sees its acquire and release and reports every contended
// access to the guarded value as a data race (shown by a probe under `make tsan`, and the cause of
// a failed CI run). ThreadSanitizer intercepts pthread mutexes, so with this lock `make tsan`
// reports real races only. Uncontended cost is the same order (one atomic each way).
#if canImport(Glibc)
import Glibc
#endif

/// A value reachable only while holding its lock. `@safe`: the mutex pointer never leaves the class.
@safe public final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = unsafe UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        let result = unsafe pthread_mutex_init(mutex, nil)
        precondition(result == 0, "pthread_mutex_init failed: \(result)")
    }

    deinit {
        _ = unsafe pthread_mutex_destroy(mutex)
        unsafe mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value. Do not call back into the same lock.
    @inlinable
    public func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        lock()
        defer { unlock() }
        return try body(&value)
    }

    @usableFromInline func lock() {
        let result = unsafe pthread_mutex_lock(mutex)
        precondition(result == 0, "pthread_mutex_lock failed: \(result)")
    }

    @usableFromInline func unlock() {
        let result = unsafe pthread_mutex_unlock(mutex)
        precondition(result == 0, "pthread_mutex_unlock failed: \(result)")
    }
}
