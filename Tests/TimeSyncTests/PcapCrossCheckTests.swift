// The pcap cross-check: captured frames are parsed down to the sync packet, and on loopback (as root)
// the socket stamps and the capture's stamps of the same packets agree; without a socket send stamp,
// the capture's stands in.
import Foundation
import Logging
import Platform
import SystemPackage
import Testing
import Wire
@testable import TimeSync

@Suite(.serialized) struct PcapCrossCheckTests {
    /// An Ethernet + IPv4 + UDP frame carrying `payload` from port 1000 to 2000.
    func frame(payload: [UInt8], ipHeaderWords: UInt8 = 5) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 12) + [0x08, 0x00]
        var ip = [UInt8](repeating: 0, count: Int(ipHeaderWords) * 4)
        ip[0] = 0x40 | ipHeaderWords
        ip[9] = 17
        let udpLength = 8 + payload.count
        bytes += ip + [0x03, 0xE8, 0x07, 0xD0, UInt8(udpLength >> 8), UInt8(udpLength & 0xFF), 0, 0] + payload
        return bytes
    }

    @Test func capturedFramesAreParsedDownToTheirUDPPayload() throws {
        let payload = SyncPacket(kind: .sync, key: 7, exchangeID: 9, timestampA: 1, sourceA: .user).encoded()
        for words in [UInt8(5), 6] {
            let parsed = try #require(CapturedDatagram.udp(frame(payload: payload, ipHeaderWords: words), linkType: 1))
            #expect(parsed.sourcePort == 1000 && parsed.destinationPort == 2000)
            #expect(Array(parsed.payload) == payload)
        }
        // Linux cooked capture (the "any" interface): 16-byte header, protocol at 14.
        let cooked = [UInt8](repeating: 0, count: 14) + [0x08, 0x00] + Array(frame(payload: payload).dropFirst(14))
        #expect(CapturedDatagram.udp(cooked, linkType: 113).map { Array($0.payload) } == payload)
        // Not IPv4, not UDP, truncated, or a link type we do not read: nothing.
        var arp = frame(payload: payload)
        arp[13] = 0x06
        #expect(CapturedDatagram.udp(arp, linkType: 1) == nil)
        var tcp = frame(payload: payload)
        tcp[14 + 9] = 6
        #expect(CapturedDatagram.udp(tcp, linkType: 1) == nil)
        #expect(CapturedDatagram.udp(Array(frame(payload: payload).prefix(30)), linkType: 1) == nil)
        #expect(CapturedDatagram.udp(Array(frame(payload: payload).dropLast(3)), linkType: 1) == nil)
        #expect(CapturedDatagram.udp(frame(payload: payload), linkType: 999) == nil)
    }

    /// Runs exchanges on loopback with a capture on `lo`; nil (and a printed reason) when no capture.
    func exchanges(kernelTimestamps: Bool) throws -> (SyncService, JSONValue)? {
        var logger = Logger(label: "pcap-test")
        logger.logLevel = .critical
        let service = try SyncService(
            configuration: SyncConfiguration(
                endpoint: try IPv4Endpoint(host: "127.0.0.1", port: 0), kernelTimestamps: kernelTimestamps, pcapInterface: "lo"),
            logger: logger)
        if let reason = service.pcapFallbackReason {
            let required = ProcessInfo.processInfo.environment["LOCKSTEP_REQUIRE_INTEGRATION"] == "1"
            print("skipped: no capture on lo here: \(reason)")
            #expect(!required, "a capture on lo is required in CI: \(reason)")
            return nil
        }
        service.start()
        let key: UInt64 = 0x9C47
        service.register(deviceID: "dev", key: key)
        let device = try Socket.bindUDP(try IPv4Endpoint(host: "127.0.0.1", port: 0))
        defer { try? device.close() }
        let register = SyncPacket(kind: .register, key: key, exchangeID: 0, timestampA: 0, sourceA: .none)
        try Socket.send(device, register.encoded(), to: service.boundEndpoint)
        _ = try SyncServiceTests().answer(device, hub: service.boundEndpoint, key: key, offset: 0, count: 30)
        HostClock.sleep(nanos: 200_000_000)
        return (service, try #require(service.pcapCrossCheckJSON))
    }

    @Test func socketStampsAgreeWithTheCapture() throws {
        guard let (service, summary) = try exchanges(kernelTimestamps: true) else { return }
        defer { service.stop() }
        print("pcap cross-check on lo: \(summary.serialized)")
        guard case .object(let fields) = summary, case .int(let matched)? = fields["exchanges_matched"] else {
            Issue.record("summary shape: \(summary.serialized)")
            return
        }
        #expect(matched >= 25)
        for direction in ["send_minus_capture", "receive_minus_capture"] {
            guard case .object(let stats)? = fields[direction], case .int(let median)? = stats["median_ns"] else {
                Issue.record("no \(direction) figures")
                continue
            }
            // Same host, same packet: the stamps differ by the kernel path between the socket layer and the
            // capture tap; bounded loosely for a noisy machine.
            #expect(abs(median) < 2_000_000, "\(direction) median \(median) ns")
        }
    }

    @Test func theCaptureStandsInForAMissingSendStamp() throws {
        guard let (service, summary) = try exchanges(kernelTimestamps: false) else { return }
        defer { service.stop() }
        guard case .object(let fields) = summary, case .int(let matched)? = fields["exchanges_matched"] else {
            Issue.record("summary shape: \(summary.serialized)")
            return
        }
        #expect(matched >= 25)
        // Every t1 came from the capture, so no socket send stamp was left to compare with it.
        #expect(fields["send_minus_capture"] == .null)
        #expect(try #require(service.status(key: 0x9C47)).acceptedCount >= 25)
    }
}
