// An eventfd used as a doorbell between the ingest stages: the producer rings it after pushing to a
// ring only when the consumer has not been rung since it last looked, so a busy consumer costs the
// producer no system call.
import CNetTimestamp
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

public final class Doorbell: Sendable {
    public let fd: FileDescriptor
    private let rung = Atomic<Bool>(false)

    /// - Throws: `Errno` from eventfd (EMFILE when out of descriptors).
    public init() throws(Errno) {
        fd = FileDescriptor(rawValue: try valueOrErrno { eventfd(0, Int32(EFD_CLOEXEC)) })
    }

    deinit { try? fd.close() }

    /// Wakes the consumer (producer side). The exchange pairs with `answer`, so everything pushed
    /// before this call is visible to the consumer after its `answer`.
    public func ring() {
        guard !rung.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var one: UInt64 = 1
        _ = unsafe write(fd.rawValue, &one, 8)
    }

    /// Consumer side, after its read of `fd` completed: re-arms the bell; then drain the rings.
    public func answer() {
        _ = rung.exchange(false, ordering: .acquiringAndReleasing)
    }
}
