// The hardware-timestamp path where no PTP hardware exists: the capability query answers for real
// interfaces, every refusal has its reason, and the hardware stamp (ts[2]) is parsed from a control
// message built here the way the kernel lays it out.
import CNetTimestamp
import SystemPackage
import Testing
@testable import Platform

#if canImport(Glibc)
import Glibc
#endif

@Suite struct HardwareTimestampingTests {
    @Test func loopbackOffersSoftwareStampsOnlyAndSetupSaysWhy() throws {
        let capability = try HardwareTimestamping.query(interface: "lo")
        #expect(capability.phcIndex == -1)
        #expect(!capability.hardwareReceive && !capability.hardwareTransmit)
        #expect(capability.shortfall == "lo has no PTP hardware clock")
        guard case .unavailable(let reason) = HardwareTimestamping.setUp(interface: "lo") else {
            Issue.record("loopback cannot have hardware stamps")
            return
        }
        #expect(reason == "lo has no PTP hardware clock")
    }

    @Test func unknownAndInvalidInterfacesAreRefusedWithAReason() {
        for name in ["ls-missing0", "", "a-name-far-too-long-for-ifnamsiz"] {
            guard case .unavailable(let reason) = HardwareTimestamping.setUp(interface: name) else {
                Issue.record("\(name) cannot have hardware stamps")
                continue
            }
            #expect(reason.hasSuffix("no such interface"), "\(reason)")
        }
    }

    @Test func switchingOnStampingOnLoopbackFailsCleanly() {
        // SIOCSHWTSTAMP on a driver without hardware stamping: an errno, not a crash or a silent success.
        #expect(throws: Errno.self) { try HardwareTimestamping.enable(interface: "lo") }
    }

    @Test func hardwareStampIsReadFromTheThirdTimespec() {
        func message(software: timespec, hardware: timespec) -> KernelStamp? {
            let space = lockstep_cmsg_space(MemoryLayout<scm_timestamping>.size)
            var control = [UInt8](repeating: 0, count: space)
            return control.withUnsafeMutableBytes { raw in
                var header = msghdr()
                header.msg_control = raw.baseAddress
                header.msg_controllen = space
                let cmsg = lockstep_cmsg_firsthdr(&header)!
                cmsg.pointee.cmsg_level = SOL_SOCKET
                cmsg.pointee.cmsg_type = SO_TIMESTAMPING
                cmsg.pointee.cmsg_len = lockstep_cmsg_len(MemoryLayout<scm_timestamping>.size)
                var stamps = scm_timestamping()
                stamps.ts.0 = software
                stamps.ts.2 = hardware
                withUnsafeBytes(of: &stamps) { source in
                    UnsafeMutableRawPointer(lockstep_cmsg_data(cmsg)).copyMemory(from: source.baseAddress!, byteCount: source.count)
                }
                return SocketTimestamping.timestamp(in: &header)
            }
        }
        let both = message(software: timespec(tv_sec: 100, tv_nsec: 5), hardware: timespec(tv_sec: 7, tv_nsec: 123))
        #expect(both == KernelStamp(realtimeNanos: 100_000_000_005, hardwareNanos: 7_000_000_123))
        let softwareOnly = message(software: timespec(tv_sec: 100, tv_nsec: 5), hardware: timespec())
        #expect(softwareOnly == KernelStamp(realtimeNanos: 100_000_000_005, hardwareNanos: nil))
        #expect(message(software: timespec(), hardware: timespec()) == nil)
    }
}
