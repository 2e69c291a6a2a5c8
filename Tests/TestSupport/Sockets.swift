// Helpers shared by the test targets (not part of any product).
import Platform
import SystemPackage

/// Whether the hub closed `fd` (EOF or reset) within 6 s, after any refusal reply it sent.
public func closedByHub(_ fd: FileDescriptor) -> Bool {
    try? Socket.setReceiveTimeout(fd, millis: 6000)
    var buffer = [UInt8](repeating: 0, count: 64)
    for _ in 0..<16 {
        do {
            if try buffer.withUnsafeMutableBytes({ try Socket.receive(fd, into: $0) }) == 0 { return true }
        } catch { return (error as? Errno) != .resourceTemporarilyUnavailable }
    }
    return false
}
