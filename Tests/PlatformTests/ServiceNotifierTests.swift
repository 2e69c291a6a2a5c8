// sd_notify without libsystemd: datagrams reach a socket bound where $NOTIFY_SOCKET points, by path
// and in the abstract namespace; outside systemd nothing is sent; the startup stamp self-test passes
// where kernel stamps work (loopback here).
import Foundation
import Glibc
import SystemPackage
import Testing
@testable import Platform

/// A bound AF_UNIX datagram socket standing in for systemd's notification socket.
final class FakeNotifySocket {
    let fd: Int32
    let name: String

    /// `abstract`: a name in the abstract namespace ("@…"), else a path in a temporary folder.
    init(abstract: Bool) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        name = abstract ? "@lockstep-test-\(UUID().uuidString.prefix(8))" : NSTemporaryDirectory() + "notify-\(UUID().uuidString.prefix(8))"
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (index, byte) in bytes.enumerated() { raw[index] = byte } }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EINVAL) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        close(fd)
        if !name.hasPrefix("@") { unlink(name) }
    }

    /// The next datagram's text, or nil after two seconds without one.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
    }
}

@Suite struct ServiceNotifierTests {
    @Test(arguments: [false, true]) func notificationsArriveInOrder(abstract: Bool) throws {
        let socket = try FakeNotifySocket(abstract: abstract)
        let notifier = ServiceNotifier(socketPath: socket.name, watchdogIntervalNanos: 30_000_000_000)
        #expect(notifier.isActive)
        notifier.ready(status: "ready: http 127.0.0.1:8750\nsecond line")
        notifier.watchdog()
        notifier.stopping(status: "stopping")
        #expect(socket.receive() == "READY=1\nSTATUS=ready: http 127.0.0.1:8750 second line", "status kept on one line")
        #expect(socket.receive() == "WATCHDOG=1")
        #expect(socket.receive() == "STOPPING=1\nSTATUS=stopping")
    }

    @Test func outsideSystemdNothingIsSent() throws {
        let notifier = ServiceNotifier(socketPath: "", watchdogIntervalNanos: nil)
        #expect(!notifier.isActive)
        try notifier.send("READY=1")  // no socket, no error
    }

    @Test func aMissingSocketIsAnError() {
        let notifier = ServiceNotifier(socketPath: "/nonexistent/notify", watchdogIntervalNanos: nil)
        #expect(throws: Errno.self) { try notifier.send("READY=1") }
        notifier.ready(status: "x")  // the convenience calls swallow it: a lost notification must not stop the hub
    }

    @Test func aPathTooLongForSockaddrIsRefused() {
        let notifier = ServiceNotifier(socketPath: "/" + String(repeating: "n", count: 200), watchdogIntervalNanos: nil)
        #expect(throws: Errno(rawValue: ENAMETOOLONG)) { try notifier.send("READY=1") }
    }

    @Test func theKernelStampSelfTestPassesOnLoopback() {
        #expect(SocketTimestamping.selfTest() == nil)
    }

    @Test func processFiguresAreReadFromProc() {
        let figures = ProcessFigures.read()
        #expect(figures.residentBytes > 1 << 20)
        #expect(figures.virtualBytes >= figures.residentBytes)
        #expect(figures.openDescriptors >= 3)
        #expect(figures.descriptorLimit >= Int64(figures.openDescriptors))
        #expect(figures.cpuSeconds > 0)
    }
}
