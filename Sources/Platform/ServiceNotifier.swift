// The systemd notification protocol (sd_notify(3)) without libsystemd: one datagram of
// newline-separated KEY=VALUE assignments to the AF_UNIX socket named by $NOTIFY_SOCKET
// ("@name" is an abstract socket). The watchdog interval comes from $WATCHDOG_USEC, honoured
// only when $WATCHDOG_PID is unset or names this process. Outside systemd every call is a no-op.
import CNetTimestamp
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Tells the service manager about readiness, liveness and shutdown.
public struct ServiceNotifier: Sendable {
    /// The notification socket's address; nil outside a `Type=notify` service.
    public let socketPath: String?
    /// How often systemd expects a watchdog ping; nil when no watchdog is armed.
    public let watchdogIntervalNanos: Int64?

    public init(socketPath: String?, watchdogIntervalNanos: Int64?) {
        self.socketPath = socketPath.flatMap { $0.isEmpty ? nil : $0 }
        self.watchdogIntervalNanos = watchdogIntervalNanos
    }

    /// Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID.
    public static func fromEnvironment() -> ServiceNotifier {
        func variable(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
        var interval: Int64?
        if let text = variable("WATCHDOG_USEC"), let micros = Int64(text), micros > 0 {
            let pid = variable("WATCHDOG_PID").flatMap { Int32($0) }
            if pid == nil || pid == getpid() { interval = micros * 1000 }
        }
        return ServiceNotifier(socketPath: variable("NOTIFY_SOCKET"), watchdogIntervalNanos: interval)
    }

    public var isActive: Bool { socketPath != nil }

    /// READY=1 with a one-line status.
    public func ready(status: String) { try? send("READY=1\nSTATUS=\(oneLine(status))") }
    /// WATCHDOG=1: the process is making progress.
    public func watchdog() { try? send("WATCHDOG=1") }
    /// STOPPING=1 with a one-line status.
    public func stopping(status: String) { try? send("STOPPING=1\nSTATUS=\(oneLine(status))") }
    /// RELOADING=1 before a configuration reload; `ready(status:)` ends it.
    public func reloading() { try? send("RELOADING=1") }
    /// STATUS=…: shown by `systemctl status`.
    public func status(_ text: String) { try? send("STATUS=\(oneLine(text))") }

    /// Sends one notification datagram. - Throws: `Errno` from socket(2) or sendto(2).
    public func send(_ assignments: String) throws(Errno) {
        guard let socketPath else { return }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { throw Errno(rawValue: ENAMETOOLONG) }
        unsafe withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (path.first == 0 ? 0 : 1))
        let fd = try valueOrErrno { Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        defer { _ = Glibc.close(fd) }
        let bytes = Array(assignments.utf8)
        let sent = unsafe bytes.withUnsafeBytes { buffer in
            unsafe withUnsafePointer(to: &address) { pointer in
                unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                    unsafe Glibc.sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), generic, length)
                }
            }
        }
        if sent < 0 { throw Errno(rawValue: errno) }
    }

    private func oneLine(_ text: String) -> String {
        String(text.map { $0 == "\n" ? " " : $0 })
    }
}
