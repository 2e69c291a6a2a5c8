// NIC hardware timestamps: the capability query (ETHTOOL_GET_TS_INFO), switching the NIC's stamping on
// (SIOCSHWTSTAMP: transmit on, receive all; needs CAP_NET_ADMIN), and the PTP hardware clock (PHC)
// the stamps are taken in, read against CLOCK_REALTIME with PTP_SYS_OFFSET_EXTENDED (the same ioctls
// linuxptp's ptp4l and phc2sys use). Every step that fails says why, so the sync service can fall
// back to kernel software stamps and report the reason.
//
// What was exercised: the capability query and the refusals (loopback and veth have no PHC; an
// unknown interface; a missing privilege), the fallback, and the parsing of ts[2] from a control
// message. The build hosts have no PTP-capable NIC, so SIOCSHWTSTAMP success and the PHC readings
// have not run against hardware (docs/architecture.md says the same).
import CNetTimestamp
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

public enum HardwareTimestamping {
    /// What an interface offers, from ETHTOOL_GET_TS_INFO.
    public struct Capability: Sendable, Equatable {
        public var interface: String
        /// /dev/ptpN of the interface's clock, or -1.
        public var phcIndex: Int32
        public var hardwareTransmit: Bool
        public var hardwareReceive: Bool
        public var rawHardware: Bool

        /// Why these capabilities do not allow hardware sync stamps, or nil if they do.
        public var shortfall: String? {
            if phcIndex < 0 { return "\(interface) has no PTP hardware clock" }
            if !hardwareTransmit || !hardwareReceive || !rawHardware { return "\(interface) cannot stamp both directions in hardware" }
            return nil
        }
    }

    /// The outcome of setting up hardware stamps on one interface.
    public enum Setup: Sendable {
        case enabled(PHCClock)
        case unavailable(reason: String)
    }

    /// Queries, enables and opens the clock; on any failure, the reason (for status and logs).
    public static func setUp(interface: String) -> Setup {
        let capability: Capability
        do { capability = try query(interface: interface) } catch {
            return .unavailable(reason: reason(error, step: "query \(interface)"))
        }
        if let shortfall = capability.shortfall { return .unavailable(reason: shortfall) }
        do { try enable(interface: interface) } catch {
            return .unavailable(reason: reason(error, step: "SIOCSHWTSTAMP on \(interface)"))
        }
        do { return .enabled(try PHCClock(index: capability.phcIndex)) } catch {
            return .unavailable(reason: reason(error, step: "open /dev/ptp\(capability.phcIndex)"))
        }
    }

    static func reason(_ error: Errno, step: String) -> String {
        switch error.rawValue {
        case ENODEV: "\(step): no such interface"
        case EPERM, EACCES: "\(step): not permitted (needs CAP_NET_ADMIN)"
        case EOPNOTSUPP, ENOTSUP, ERANGE, EINVAL: "\(step): the driver does not support hardware timestamps"
        default: "\(step): \(error)"
        }
    }

    /// ETHTOOL_GET_TS_INFO for `interface`.
    public static func query(interface: String) throws(Errno) -> Capability {
        var info = ethtool_ts_info()
        info.cmd = UInt32(ETHTOOL_GET_TS_INFO)
        try unsafe withUnsafeMutableBytes(of: &info) { raw throws(Errno) in
            try unsafe interfaceRequest(interface, request: UInt(SIOCETHTOOL), argument: raw.baseAddress!)
        }
        let flags = info.so_timestamping
        return Capability(
            interface: interface, phcIndex: info.phc_index,
            hardwareTransmit: flags & UInt32(SOF_TIMESTAMPING_TX_HARDWARE) != 0,
            hardwareReceive: flags & UInt32(SOF_TIMESTAMPING_RX_HARDWARE) != 0,
            rawHardware: flags & UInt32(SOF_TIMESTAMPING_RAW_HARDWARE) != 0)
    }

    /// SIOCSHWTSTAMP: stamp every transmitted packet that asks, and every received packet.
    public static func enable(interface: String) throws(Errno) {
        var config = hwtstamp_config(flags: 0, tx_type: Int32(HWTSTAMP_TX_ON.rawValue), rx_filter: Int32(HWTSTAMP_FILTER_ALL.rawValue))
        try unsafe withUnsafeMutableBytes(of: &config) { raw throws(Errno) in
            try unsafe interfaceRequest(interface, request: UInt(SIOCSHWTSTAMP), argument: raw.baseAddress!)
        }
    }

    /// An ioctl with a `struct ifreq` naming `interface` and pointing at `argument`.
    static func interfaceRequest(_ interface: String, request: UInt, argument: UnsafeMutableRawPointer) throws(Errno) {
        let name = Array(interface.utf8)
        guard !name.isEmpty, name.count < Int(IFNAMSIZ) else { throw Errno(rawValue: ENODEV) }
        let fd = try valueOrErrno { socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        defer { close(fd) }
        var ifr = ifreq()
        unsafe withUnsafeMutableBytes(of: &ifr.ifr_ifrn.ifrn_name) { target in
            for (index, byte) in name.enumerated() { unsafe target[index] = byte }
        }
        unsafe ifr.ifr_ifru.ifru_data = argument.assumingMemoryBound(to: CChar.self)
        _ = try valueOrErrno { unsafe lockstep_ioctl(fd, request, &ifr) }
    }

    /// Asks a socket for hardware stamps (raw PHC time in ts[2]) as well as software ones (ts[0]).
    public static func enableOnSocket(_ fd: FileDescriptor) throws(Errno) {
        let flags = Int32(SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE
            | SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_TX_HARDWARE | SOF_TIMESTAMPING_RAW_HARDWARE
            | SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY)
        try Socket.setOption(fd, SOL_SOCKET, SO_TIMESTAMPING, flags)
    }
}

/// A PTP hardware clock (/dev/ptpN), read against CLOCK_REALTIME.
public final class PHCClock: Sendable {
    public let index: Int32
    private let fd: FileDescriptor

    public init(index: Int32) throws(Errno) {
        self.index = index
        fd = FileDescriptor(rawValue: try valueOrErrno { open("/dev/ptp\(index)", O_RDONLY | O_CLOEXEC) })
    }

    deinit { try? fd.close() }

    /// CLOCK_REALTIME − PHC in nanoseconds from the tightest of `samples` [system, PHC, system] readings
    /// (the pair of system reads with the shortest gap brackets its PHC read best).
    public func realtimeMinusPHC(samples: UInt32 = 9) throws(Errno) -> Int64 {
        var request = ptp_sys_offset_extended()
        request.n_samples = min(samples, UInt32(PTP_MAX_SAMPLES))
        try unsafe withUnsafeMutableBytes(of: &request) { raw throws(Errno) in
            _ = try valueOrErrno { unsafe lockstep_ioctl(fd.rawValue, lockstep_ptp_sys_offset_extended(), raw.baseAddress!) }
        }
        let count = Int(request.n_samples)
        return unsafe withUnsafeBytes(of: request.ts) { raw in
            let stamps = unsafe raw.bindMemory(to: ptp_clock_time.self)
            var best: (gap: Int64, offset: Int64) = (.max, 0)
            for sample in 0..<count {
                let before = unsafe PHCClock.nanos(stamps[3 * sample])
                let phc = unsafe PHCClock.nanos(stamps[3 * sample + 1])
                let after = unsafe PHCClock.nanos(stamps[3 * sample + 2])
                if after - before < best.gap { best = (after - before, before + (after - before) / 2 - phc) }
            }
            return best.offset
        }
    }

    static func nanos(_ time: ptp_clock_time) -> Int64 { time.sec * 1_000_000_000 + Int64(time.nsec) }
}
