// Live packet capture with libpcap, nanosecond timestamps: the time-sync service's cross-check on the
// socket stamps (and its send stamp when the socket API gives none). The capture prefers a timestamp
// taken by the NIC ("adapter" types) when the interface offers one, else the host's. Needs CAP_NET_RAW;
// without it, opening fails with a reason and the service runs without the cross-check.
import CPcap

#if canImport(Glibc)
import Glibc
#endif

/// Why a capture could not be opened.
public struct CaptureError: Error, CustomStringConvertible {
    public let description: String
}

public final class PacketCapture: @unchecked Sendable {
    private let handle: OpaquePointer
    /// libpcap's link-layer type (DLT_*) of the captured frames.
    public let linkType: Int32
    /// The time-stamp type in use ("host", "adapter", "adapter_unsynced", ...).
    public let timestampType: String

    /// Opens `interface` (non-promiscuous, 256-byte snapshots, immediate delivery, 100 ms read timeout)
    /// and applies the BPF `filter`.
    public init(interface: String, filter: String) throws(CaptureError) {
        var errors = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let created = unsafe pcap_create(interface, &errors) else {
            throw CaptureError(description: "pcap_create(\(interface)): \(String(cString: errors))")
        }
        handle = created
        _ = unsafe pcap_set_snaplen(handle, 256)
        _ = unsafe pcap_set_immediate_mode(handle, 1)
        _ = unsafe pcap_set_timeout(handle, 100)
        _ = unsafe pcap_set_tstamp_precision(handle, PCAP_TSTAMP_PRECISION_NANO)
        timestampType = PacketCapture.chooseTimestampType(handle)
        let activated = unsafe pcap_activate(handle)
        guard activated >= 0 else {
            let message = String(cString: unsafe pcap_geterr(handle))
            unsafe pcap_close(handle)
            let hint = activated == PCAP_ERROR_PERM_DENIED ? " (needs CAP_NET_RAW)" : ""
            throw CaptureError(description: "pcap_activate(\(interface)): \(message)\(hint)")
        }
        linkType = unsafe pcap_datalink(handle)
        var program = bpf_program()
        guard unsafe pcap_compile(handle, &program, filter, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            let message = String(cString: unsafe pcap_geterr(handle))
            unsafe pcap_close(handle)
            throw CaptureError(description: "pcap_compile(\(filter)): \(message)")
        }
        defer { unsafe pcap_freecode(&program) }
        guard unsafe pcap_setfilter(handle, &program) == 0 else {
            let message = String(cString: unsafe pcap_geterr(handle))
            unsafe pcap_close(handle)
            throw CaptureError(description: "pcap_setfilter: \(message)")
        }
    }

    deinit { unsafe pcap_close(handle) }

    /// Picks the NIC's own stamps, synchronised to the host clock, when offered (before activation);
    /// otherwise the host's. Unsynced adapter stamps are in the NIC's clock and are not used.
    static func chooseTimestampType(_ handle: OpaquePointer) -> String {
        var types: UnsafeMutablePointer<Int32>?
        let count = unsafe pcap_list_tstamp_types(handle, &types)
        defer { if let types = unsafe types { unsafe pcap_free_tstamp_types(types) } }
        guard count > 0, let types = unsafe types, (0..<Int(count)).contains(where: { unsafe types[$0] == PCAP_TSTAMP_ADAPTER }),
            unsafe pcap_set_tstamp_type(handle, PCAP_TSTAMP_ADAPTER) == 0
        else { return "host" }
        return String(cString: unsafe pcap_tstamp_type_val_to_name(PCAP_TSTAMP_ADAPTER))
    }

    /// The next captured frame: its CLOCK_REALTIME stamp (ns) and bytes; nil when the read timed out.
    /// - Throws: `CaptureError` when the capture ended or failed.
    public func next() throws(CaptureError) -> (realtimeNanos: Int64, bytes: [UInt8])? {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        let result = unsafe pcap_next_ex(handle, &header, &data)
        switch result {
        case 1:
            guard let header = unsafe header, let data = unsafe data else { return nil }
            // With nanosecond precision, tv_usec holds nanoseconds.
            let stamp = unsafe Int64(header.pointee.ts.tv_sec) * 1_000_000_000 + Int64(header.pointee.ts.tv_usec)
            let bytes = unsafe Array(UnsafeBufferPointer(start: data, count: Int(header.pointee.caplen)))
            return (stamp, bytes)
        case 0: return nil
        default: throw CaptureError(description: "pcap_next_ex: \(String(cString: unsafe pcap_geterr(handle)))")
        }
    }

    /// Makes a blocked `next` return (from another thread).
    public func breakLoop() { unsafe pcap_breakloop(handle) }
}
