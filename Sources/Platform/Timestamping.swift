// Kernel socket timestamps (SO_TIMESTAMPING, software): receive stamps from the SCM_TIMESTAMPING
// control message, transmit stamps from the socket's error queue, after linuxptp's sk.c and chrony's
// ntp_io_linux.c. The kernel stamps in CLOCK_REALTIME; `KernelStamp.monotonicNanos` converts with the
// REALTIME − MONOTONIC difference read at conversion time (both clocks run at the same rate; only a
// wall-clock step changes the difference, and the conversion happens within milliseconds of the stamp).
// Hardware stamps (ts[2], raw PHC time) arrive in the same message when HardwareTimestamping set them up.
import CNetTimestamp
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A timestamp the kernel took: software in CLOCK_REALTIME nanoseconds, and the NIC's raw hardware
/// stamp (PHC time) when hardware stamping is on and the NIC stamped this packet.
public struct KernelStamp: Sendable, Equatable {
    public var realtimeNanos: Int64
    public var hardwareNanos: Int64?

    public init(realtimeNanos: Int64, hardwareNanos: Int64? = nil) {
        self.realtimeNanos = realtimeNanos
        self.hardwareNanos = hardwareNanos
    }

    /// From the three stamps of SCM_TIMESTAMPING (software ts[0], raw hardware ts[2]; zero = absent).
    public static func from(software: timespec, hardware: timespec) -> KernelStamp? {
        let softwareNanos = Int64(software.tv_sec) * 1_000_000_000 + Int64(software.tv_nsec)
        let hardwareNanos = Int64(hardware.tv_sec) * 1_000_000_000 + Int64(hardware.tv_nsec)
        guard softwareNanos != 0 else { return nil }
        return KernelStamp(realtimeNanos: softwareNanos, hardwareNanos: hardwareNanos == 0 ? nil : hardwareNanos)
    }

    /// The same instant on this process's CLOCK_MONOTONIC (which a time namespace may shift).
    public var monotonicNanos: Int64 { realtimeNanos - HostClock.realtimeMinusMonotonicNanos() }
}

public enum SocketTimestamping {
    static let controlByteCount = 256

    /// A socket with RX timestamping on for the life of the process. The kernel turns receive
    /// timestamping on and off globally (a static key, switched asynchronously) as timestamping sockets
    /// come and go; keeping one open stops packets from arriving unstamped after another socket closes
    /// (chrony keeps a dummy socket for the same race). nil if it could not be set up.
    static let keeper: Int32? = {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var flags = Int32(SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE)
        guard setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            close(fd)
            return nil
        }
        return fd
    }()

    /// Asks for software RX and TX stamps, TX stamps keyed by a per-socket counter (OPT_ID) and
    /// without the packet copy (OPT_TSONLY). Wraps setsockopt(SO_TIMESTAMPING).
    public static func enableSoftware(_ fd: FileDescriptor) throws(Errno) {
        _ = keeper
        let flags = Int32(SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_TX_SOFTWARE
            | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY)
        try Socket.setOption(fd, SOL_SOCKET, SO_TIMESTAMPING, flags)
    }

    /// Receives one datagram with its kernel receive stamp, if the kernel attached one (recvmsg).
    public static func receive(
        _ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer
    ) throws(Errno) -> (count: Int, peer: IPv4Endpoint, stamp: KernelStamp?) {
        try unsafe withUnsafeTemporaryAllocation(byteCount: controlByteCount, alignment: 8) { control throws(Errno) in
            var peer = sockaddr_in()
            var vector = unsafe iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
            let count = try unsafe withUnsafeMutablePointer(to: &peer) { peerPointer throws(Errno) in
                try unsafe withUnsafeMutablePointer(to: &vector) { vectorPointer throws(Errno) in
                    var message = unsafe msghdr(
                        msg_name: UnsafeMutableRawPointer(peerPointer), msg_namelen: socklen_t(MemoryLayout<sockaddr_in>.size),
                        msg_iov: vectorPointer, msg_iovlen: 1, msg_control: control.baseAddress, msg_controllen: control.count, msg_flags: 0)
                    let received = try valueOrErrno { unsafe recvmsg(fd.rawValue, &message, 0) }
                    return (received, unsafe timestamp(in: &message))
                }
            }
            return (count.0, IPv4Endpoint(peer), count.1)
        }
    }

    /// Reads one transmit stamp from the error queue (MSG_ERRQUEUE), or nil when none is waiting.
    /// - Returns: the OPT_ID key of the datagram (0, 1, 2, ... per socket) and its stamp.
    public static func readTransmitStamp(_ fd: FileDescriptor) throws(Errno) -> (key: UInt32, stamp: KernelStamp)? {
        try unsafe withUnsafeTemporaryAllocation(byteCount: controlByteCount, alignment: 8) { control throws(Errno) in
            var message = unsafe msghdr(
                msg_name: nil, msg_namelen: 0, msg_iov: nil, msg_iovlen: 0, msg_control: control.baseAddress,
                msg_controllen: control.count, msg_flags: 0)
            do throws(Errno) {
                _ = try valueOrErrno { unsafe recvmsg(fd.rawValue, &message, Int32(MSG_ERRQUEUE | MSG_DONTWAIT)) }
            } catch {
                if error.isWouldBlock { return nil }
                throw error
            }
            guard let stamp = unsafe timestamp(in: &message), let key = unsafe transmitKey(in: &message) else { return nil }
            return (key, stamp)
        }
    }

    /// The software (ts[0]) and hardware (ts[2]) stamps of an SCM_TIMESTAMPING message, copied out after an exact length check.
    static func timestamp(in message: inout msghdr) -> KernelStamp? {
        var header = unsafe lockstep_cmsg_firsthdr(&message)
        while let current = unsafe header {
            if unsafe current.pointee.cmsg_level == SOL_SOCKET, unsafe current.pointee.cmsg_type == SO_TIMESTAMPING,
                unsafe current.pointee.cmsg_len == lockstep_cmsg_len(MemoryLayout<scm_timestamping>.size) {
                var stamps = scm_timestamping()
                unsafe withUnsafeMutableBytes(of: &stamps) { target in
                    unsafe target.copyMemory(from: UnsafeRawBufferPointer(start: lockstep_cmsg_data(current), count: target.count))
                }
                return KernelStamp.from(software: stamps.ts.0, hardware: stamps.ts.2)
            }
            header = unsafe lockstep_cmsg_nxthdr(&message, current)
        }
        return nil
    }

    /// The OPT_ID key from the IP_RECVERR message that accompanies a transmit stamp.
    static func transmitKey(in message: inout msghdr) -> UInt32? {
        var header = unsafe lockstep_cmsg_firsthdr(&message)
        while let current = unsafe header {
            if unsafe current.pointee.cmsg_level == Int32(IPPROTO_IP), unsafe current.pointee.cmsg_type == IP_RECVERR,
                // The kernel appends the offender's address after the error, so the length is at least, not exactly.
                unsafe current.pointee.cmsg_len >= lockstep_cmsg_len(MemoryLayout<sock_extended_err>.size) {
                var error = sock_extended_err()
                unsafe withUnsafeMutableBytes(of: &error) { target in
                    unsafe target.copyMemory(from: UnsafeRawBufferPointer(start: lockstep_cmsg_data(current), count: target.count))
                }
                guard error.ee_errno == UInt32(ENOMSG), error.ee_origin == UInt8(SO_EE_ORIGIN_TIMESTAMPING) else { return nil }
                return error.ee_data
            }
            header = unsafe lockstep_cmsg_nxthdr(&message, current)
        }
        return nil
    }
}

extension HostClock {
    /// CLOCK_REALTIME − CLOCK_MONOTONIC, read with the realtime read bracketed by two monotonic reads.
    public static func realtimeMinusMonotonicNanos() -> Int64 {
        let before = monotonicNanos()
        let realtime = realtimeNanos()
        let after = monotonicNanos()
        return realtime - (before + (after - before) / 2)
    }
}

extension Socket {
    /// Waits until `fd` is readable or has an error-queue entry (POLLERR), or `timeoutMillis` passes.
    public static func waitEvents(_ fd: FileDescriptor, timeoutMillis: Int32) throws(Errno) -> (readable: Bool, errorQueue: Bool) {
        var entry = pollfd(fd: fd.rawValue, events: Int16(POLLIN | POLLERR), revents: 0)
        let ready = try valueOrErrno { poll(&entry, 1, timeoutMillis) }
        guard ready > 0 else { return (false, false) }
        return (entry.revents & Int16(POLLIN) != 0, entry.revents & Int16(POLLERR) != 0)
    }
}

extension SocketTimestamping {
    /// Sends one datagram between two loopback sockets and checks the kernel stamped both ends: a
    /// transmit stamp on the sender's error queue and a receive stamp on the datagram, in order and
    /// close to the clock. Run once at startup, before the service reports ready.
    /// - Returns: nil when the kernel stamps work, or what failed.
    public static func selfTest() -> String? {
        do throws(Errno) {
            let loopback = try IPv4Endpoint(host: "127.0.0.1", port: 0)
            let receiver = try Socket.bindUDP(loopback)
            defer { try? receiver.close() }
            let sender = try Socket.bindUDP(loopback)
            defer { try? sender.close() }
            try enableSoftware(receiver)
            try enableSoftware(sender)
            let before = HostClock.realtimeNanos()
            try Socket.send(sender, [0x4C, 0x53], to: Socket.localEndpoint(receiver))
            guard try Socket.waitEvents(receiver, timeoutMillis: 1000).readable else { return "the test datagram did not arrive" }
            var buffer = [UInt8](repeating: 0, count: 16)
            let received = try errnoTyped { try unsafe buffer.withUnsafeMutableBytes { raw in try receive(receiver, into: raw) } }
            guard let receiveStamp = received.stamp else { return "no receive stamp (SO_TIMESTAMPING RX software)" }
            var transmitStamp: KernelStamp?
            for _ in 0..<100 where transmitStamp == nil {
                if try Socket.waitEvents(sender, timeoutMillis: 10).errorQueue { transmitStamp = try readTransmitStamp(sender)?.stamp }
            }
            guard let transmitStamp else { return "no transmit stamp on the error queue (SO_TIMESTAMPING TX software)" }
            let after = HostClock.realtimeNanos()
            let order = (before - 1_000_000)...(after + 1_000_000)
            guard order.contains(transmitStamp.realtimeNanos), order.contains(receiveStamp.realtimeNanos),
                transmitStamp.realtimeNanos <= receiveStamp.realtimeNanos
            else {
                return "stamps out of order or off the clock (tx \(transmitStamp.realtimeNanos), rx \(receiveStamp.realtimeNanos), "
                    + "window \(before)-\(after))"
            }
            return nil
        } catch {
            return "\(error)"
        }
    }
}
