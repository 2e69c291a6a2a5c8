// The pcap cross-check: the same sync packets seen by a libpcap capture on the hub's interface, matched
// to the hub's own stamps by (device key, exchange id). The differences say how far the socket stamps
// are from where the capture saw the packets (both host stamps here: they should agree within a few
// µs; with an adapter-stamping NIC, the capture shows the wire). When the socket gives no send stamp,
// the capture's stamp stands in (source "pcap").
import Platform
import Wire

/// The UDP payload of a captured IPv4 frame, for the link layers a capture on Linux delivers.
public enum CapturedDatagram {
    /// - Returns: source port, destination port and payload; nil for anything that is not IPv4 UDP.
    public static func udp(_ frame: [UInt8], linkType: Int32) -> (sourcePort: UInt16, destinationPort: UInt16, payload: ArraySlice<UInt8>)? {
        let ipStart: Int
        switch linkType {
        case 1:  // DLT_EN10MB: 14-byte Ethernet header, ethertype at 12
            guard frame.count >= 14, frame[12] == 0x08, frame[13] == 0x00 else { return nil }
            ipStart = 14
        case 113:  // DLT_LINUX_SLL: 16-byte cooked header, protocol at 14
            guard frame.count >= 16, frame[14] == 0x08, frame[15] == 0x00 else { return nil }
            ipStart = 16
        case 276:  // DLT_LINUX_SLL2: 20-byte cooked header, protocol at 0
            guard frame.count >= 20, frame[0] == 0x08, frame[1] == 0x00 else { return nil }
            ipStart = 20
        case 12, 14, 101:  // raw IP
            ipStart = 0
        default:
            return nil
        }
        guard frame.count >= ipStart + 20, frame[ipStart] >> 4 == 4, frame[ipStart + 9] == 17 else { return nil }
        let headerLength = Int(frame[ipStart] & 0x0F) * 4
        let udpStart = ipStart + headerLength
        guard headerLength >= 20, frame.count >= udpStart + 8 else { return nil }
        let source = UInt16(frame[udpStart]) << 8 | UInt16(frame[udpStart + 1])
        let destination = UInt16(frame[udpStart + 2]) << 8 | UInt16(frame[udpStart + 3])
        let udpLength = Int(UInt16(frame[udpStart + 4]) << 8 | UInt16(frame[udpStart + 5]))
        guard udpLength >= 8, frame.count >= udpStart + udpLength else { return nil }
        return (source, destination, frame[(udpStart + 8)..<(udpStart + udpLength)])
    }
}

/// Matches capture stamps with the hub's stamps and keeps the differences (newest 4096 of each).
final class PcapCrossCheck: Sendable {
    struct ExchangeKey: Hashable {
        var key: UInt64
        var exchangeID: UInt64
    }

    struct Entry {
        var pcapSend: Int64?
        var pcapReceive: Int64?
        var hubSend: Stamp?
        var hubReceive: Stamp?
    }

    struct State {
        var entries: [ExchangeKey: Entry] = [:]
        var order: [ExchangeKey] = []
        var sendDifferences: [Int64] = []
        var receiveDifferences: [Int64] = []
        var matched = 0
        var captured = 0
    }

    static let kept = 4096
    let interface: String
    let timestampType: String
    private let state = Locked(State())

    init(interface: String, timestampType: String) {
        self.interface = interface
        self.timestampType = timestampType
    }

    /// A captured sync packet: `outgoing` for the hub's sync, else the device's response.
    func recordCapture(key: UInt64, exchangeID: UInt64, outgoing: Bool, monotonicNanos: Int64) {
        update(ExchangeKey(key: key, exchangeID: exchangeID)) { entry in
            if outgoing { entry.pcapSend = monotonicNanos } else { entry.pcapReceive = monotonicNanos }
        }
        state.withLock { $0.captured += 1 }
    }

    /// The hub's final t1 and t4 of a completed exchange.
    func recordHub(key: UInt64, exchangeID: UInt64, t1: Stamp, t4: Stamp) {
        update(ExchangeKey(key: key, exchangeID: exchangeID)) { entry in
            entry.hubSend = t1
            entry.hubReceive = t4
        }
    }

    /// The capture's send stamp of an exchange, if it has one (stands in for a missing socket stamp).
    func captureSend(key: UInt64, exchangeID: UInt64) -> Int64? {
        state.withLock { $0.entries[ExchangeKey(key: key, exchangeID: exchangeID)]?.pcapSend }
    }

    private func update(_ id: ExchangeKey, _ body: (inout Entry) -> Void) {
        state.withLock { s in
            if s.entries[id] == nil {
                s.order.append(id)
                if s.order.count > 2 * PcapCrossCheck.kept {
                    for old in s.order.prefix(PcapCrossCheck.kept) { s.entries[old] = nil }
                    s.order.removeFirst(PcapCrossCheck.kept)
                }
            }
            var entry = s.entries[id] ?? Entry()
            body(&entry)
            if let hubSend = entry.hubSend, let hubReceive = entry.hubReceive, let pcapSend = entry.pcapSend, let pcapReceive = entry.pcapReceive {
                // Only socket stamps are compared (a pcap stand-in would compare with itself).
                if hubSend.source != .pcap && hubSend.source != .user { PcapCrossCheck.keep(hubSend.nanos - pcapSend, in: &s.sendDifferences) }
                if hubReceive.source != .user { PcapCrossCheck.keep(hubReceive.nanos - pcapReceive, in: &s.receiveDifferences) }
                s.matched += 1
                s.entries[id] = nil
            } else {
                s.entries[id] = entry
            }
        }
    }

    static func keep(_ value: Int64, in values: inout [Int64]) {
        values.append(value)
        if values.count > 2 * kept { values.removeFirst(values.count - kept) }
    }

    /// Exchanges matched and the socket-minus-capture differences (ns) of the newest ones.
    var summary: (matched: Int, captured: Int, send: [Int64], receive: [Int64]) {
        state.withLock { s in
            (s.matched, s.captured, Array(s.sendDifferences.suffix(PcapCrossCheck.kept)), Array(s.receiveDifferences.suffix(PcapCrossCheck.kept)))
        }
    }
}
