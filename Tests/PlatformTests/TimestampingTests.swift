// Kernel software timestamps on loopback UDP: the RX stamp arrives in the control message, the TX
// stamp on the error queue with its OPT_ID key, and both agree with the clocks around them.
import Foundation
import SystemPackage
import Testing
@testable import Platform

@Suite struct TimestampingTests {
    @Test func kernelStampsOnLoopback() throws {
        let receiver = try Socket.bindUDP(try IPv4Endpoint(host: "127.0.0.1", port: 0))
        let sender = try Socket.bindUDP(try IPv4Endpoint(host: "127.0.0.1", port: 0))
        defer {
            try? receiver.close()
            try? sender.close()
        }
        do {
            try SocketTimestamping.enableSoftware(receiver)
            try SocketTimestamping.enableSoftware(sender)
        } catch {
            let required = ProcessInfo.processInfo.environment["LOCKSTEP_REQUIRE_INTEGRATION"] == "1"
            print("skipped: SO_TIMESTAMPING unavailable here: \(error)")
            #expect(!required, "SO_TIMESTAMPING is required in CI: \(error)")
            return
        }
        let target = try Socket.localEndpoint(receiver)
        // The kernel switches RX timestamping on asynchronously: let one packet through first.
        try Socket.send(sender, [0], to: target)
        var warmUp = [UInt8](repeating: 0, count: 64)
        #expect(try Socket.waitReadable(receiver, timeoutMillis: 1000))
        _ = try warmUp.withUnsafeMutableBytes { try SocketTimestamping.receive(receiver, into: $0) }
        HostClock.sleep(nanos: 20_000_000)
        while try SocketTimestamping.readTransmitStamp(sender) != nil {}
        for round in 1..<4 {
            let before = HostClock.monotonicNanos()
            try Socket.send(sender, [1, 2, 3, UInt8(round)], to: target)
            var buffer = [UInt8](repeating: 0, count: 64)
            #expect(try Socket.waitReadable(receiver, timeoutMillis: 1000))
            let (count, _, stamp) = try buffer.withUnsafeMutableBytes { try SocketTimestamping.receive(receiver, into: $0) }
            let after = HostClock.monotonicNanos()
            #expect(count == 4)
            #expect(buffer[3] == UInt8(round))
            let receiveStamp = try #require(stamp, "no kernel receive stamp")
            let received = receiveStamp.monotonicNanos
            // Converted to the monotonic clock, the kernel's stamp lies between the send and the read.
            #expect(received >= before - 1_000_000 && received <= after + 1_000_000, "\(before) \(received) \(after)")
            var transmit: (key: UInt32, stamp: KernelStamp)?
            for _ in 0..<100 where transmit == nil {
                transmit = try SocketTimestamping.readTransmitStamp(sender)
                if transmit == nil { HostClock.sleep(nanos: 1_000_000) }
            }
            let sent = try #require(transmit, "no kernel transmit stamp on the error queue")
            #expect(sent.key == UInt32(round), "OPT_ID keys count datagrams from 0 (the warm-up was 0)")
            #expect(sent.stamp.realtimeNanos <= receiveStamp.realtimeNanos)
        }
        let leftover = try SocketTimestamping.readTransmitStamp(sender)
        #expect(leftover == nil, "the error queue is empty again")
    }
}
