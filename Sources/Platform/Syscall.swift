// The one syscall funnel: every libc call that can fail goes through `valueOrErrno`, which retries
// EINTR (never for close) and reads errno on the very next line after the call.
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` until it does not fail with EINTR; a result of -1 becomes the thrown `Errno`.
/// Marked `@inline(never)` so no ARC traffic between the call and the errno read can clobber errno.
@inline(never)
package func valueOrErrno<T: FixedWidthInteger>(retryOnInterrupt: Bool = true, _ body: () -> T) throws(Errno) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        if code == EINTR && retryOnInterrupt { continue }
        throw Errno(rawValue: code)
    }
}

extension Errno {
    /// True for EAGAIN/EWOULDBLOCK: a value ("try later"), not a failure.
    package var isWouldBlock: Bool { self == .wouldBlock || self == .resourceTemporarilyUnavailable }
}

/// Runs a swift-system call (whose `throws` is untyped) and rethrows its `Errno` typed.
@inline(__always)
package func errnoTyped<T>(_ body: () throws -> T) throws(Errno) -> T {
    do { return try body() } catch let error as Errno { throw error } catch {
        preconditionFailure("swift-system threw a non-Errno error: \(error)")
    }
}
