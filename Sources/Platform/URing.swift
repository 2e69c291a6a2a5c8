// A minimal io_uring over liburing: setup with an actionable error, receive, read, write, writev and
// fdatasync submissions, completion reaping. Used by the ingest engine's network and storage stages
// and by the disk baseline of lockstep-bench.
import CLiburing
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One completed operation: the caller's tag and the kernel's result (bytes, or -errno).
public struct URingCompletion: Sendable, Equatable {
    public var userData: UInt64
    public var result: Int32
}

/// An io_uring instance. The kernel-shared `struct io_uring` lives on the heap so it never moves.
/// Owned by one thread.
public struct URing: ~Copyable {
    private let ring: UnsafeMutablePointer<io_uring>
    public let entryCount: UInt32

    /// Sets up a ring with `entryCount` submission entries (io_uring_queue_init).
    /// - Throws: `URingError` naming the likely cause (disabled sysctl, seccomp, memlock limit).
    public init(entryCount: UInt32) throws(URingError) {
        ring = unsafe UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        unsafe ring.initialize(to: io_uring())
        let result = unsafe io_uring_queue_init(entryCount, ring, 0)
        guard result == 0 else {
            unsafe ring.deallocate()
            throw URingError(operation: "io_uring_queue_init", errno: Errno(rawValue: -result))
        }
        self.entryCount = entryCount
    }

    deinit {
        unsafe io_uring_queue_exit(ring)
        unsafe ring.deallocate()
    }

    /// Queues a write of `count` bytes from `buffer` at `offset`. Returns false when the queue is full.
    /// The buffer must stay valid until the completion with `userData` is reaped.
    public func prepareWrite(fd: FileDescriptor, buffer: UnsafeRawPointer, count: UInt32, offset: UInt64, userData: UInt64) -> Bool {
        guard let sqe = unsafe io_uring_get_sqe(ring) else { return false }
        unsafe io_uring_prep_write(sqe, fd.rawValue, buffer, count, offset)
        unsafe io_uring_sqe_set_data64(sqe, userData)
        return true
    }

    /// Queues a receive of at most `count` bytes into `buffer` (one completion per call; the result is
    /// the byte count, 0 at the end of the stream, or -errno). Returns false when the queue is full.
    public func prepareReceive(fd: FileDescriptor, buffer: UnsafeMutableRawPointer, count: UInt32, userData: UInt64) -> Bool {
        guard let sqe = unsafe io_uring_get_sqe(ring) else { return false }
        unsafe io_uring_prep_recv(sqe, fd.rawValue, buffer, Int(count), 0)
        unsafe io_uring_sqe_set_data64(sqe, userData)
        return true
    }

    /// Queues a read of `count` bytes into `buffer` at the current file position (eventfd reads).
    public func prepareRead(fd: FileDescriptor, buffer: UnsafeMutableRawPointer, count: UInt32, userData: UInt64) -> Bool {
        guard let sqe = unsafe io_uring_get_sqe(ring) else { return false }
        unsafe io_uring_prep_read(sqe, fd.rawValue, buffer, count, UInt64.max)
        unsafe io_uring_sqe_set_data64(sqe, userData)
        return true
    }

    /// Queues a gathering write of `count` iovecs at file `offset`. The iovecs and the memory they
    /// point to must stay valid until the completion with `userData` is reaped.
    public func prepareWriteVector(fd: FileDescriptor, vectors: UnsafePointer<iovec>, count: UInt32, offset: UInt64, userData: UInt64) -> Bool {
        guard let sqe = unsafe io_uring_get_sqe(ring) else { return false }
        unsafe io_uring_prep_writev(sqe, fd.rawValue, vectors, count, offset)
        unsafe io_uring_sqe_set_data64(sqe, userData)
        return true
    }

    /// Submits queued entries and waits up to `timeoutNanos` for one completion.
    public func submitAndWait(timeoutNanos: Int64) throws(URingError) {
        var timeout = __kernel_timespec(tv_sec: timeoutNanos / 1_000_000_000, tv_nsec: timeoutNanos % 1_000_000_000)
        var cqe: UnsafeMutablePointer<io_uring_cqe>?
        let result = unsafe io_uring_submit_and_wait_timeout(ring, &cqe, 1, &timeout, nil)
        if result >= 0 || -result == ETIME || -result == EINTR { return }
        throw URingError(operation: "io_uring_submit_and_wait_timeout", errno: Errno(rawValue: -result))
    }

    /// Queues an fdatasync of `fd`. Returns false when the queue is full.
    public func prepareDataSync(fd: FileDescriptor, userData: UInt64) -> Bool {
        guard let sqe = unsafe io_uring_get_sqe(ring) else { return false }
        unsafe io_uring_prep_fsync(sqe, fd.rawValue, UInt32(IORING_FSYNC_DATASYNC))
        unsafe io_uring_sqe_set_data64(sqe, userData)
        return true
    }

    /// Submits queued entries and waits for at least `waitCount` completions (io_uring_submit_and_wait).
    public func submit(waitCount: UInt32 = 0) throws(URingError) {
        while true {
            let result = unsafe io_uring_submit_and_wait(ring, waitCount)
            if result >= 0 { return }
            if -result == EINTR { continue }
            throw URingError(operation: "io_uring_submit_and_wait", errno: Errno(rawValue: -result))
        }
    }

    /// Reaps every available completion into `into` (at most `limit`); returns how many.
    public func reap(into completions: inout [URingCompletion], limit: Int) -> Int {
        var count = 0
        while count < limit {
            var cqe: UnsafeMutablePointer<io_uring_cqe>?
            guard unsafe io_uring_peek_cqe(ring, &cqe) == 0, let cqe = unsafe cqe else { break }
            completions.append(URingCompletion(userData: unsafe io_uring_cqe_get_data64(cqe), result: unsafe cqe.pointee.res))
            unsafe io_uring_cqe_seen(ring, cqe)
            count += 1
        }
        return count
    }
}

/// An io_uring failure with its operation, errno and the likely cause.
public struct URingError: Error, CustomStringConvertible {
    public var operation: String
    public var errno: Errno

    public var description: String {
        let hint: String
        switch errno {
        case .permissionDenied, .notPermitted:
            hint = "io_uring is disabled (sysctl kernel.io_uring_disabled) or blocked by seccomp/the container"
        case .noMemory: hint = "the locked-memory limit (ulimit -l / LimitMEMLOCK=) is too low for the ring"
        case .noFunction, .notSupported: hint = "this kernel has no io_uring"
        default: hint = "unexpected"
        }
        return "\(operation): \(errno) (\(hint))"
    }
}
