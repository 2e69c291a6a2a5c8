// The hub's sync service against a hand-driven device socket: good exchanges build an estimate;
// truncated, unknown-key, replayed and absurd packets are counted or ignored without disturbing it.
import Logging
import Platform
import SystemPackage
import Testing
import Timing
import Wire
@testable import TimeSync

@Suite struct SyncServiceTests {
    /// Answers `count` syncs from `service` on `socket` with a clock `offset` ahead; returns the last exchange id.
    func answer(_ socket: FileDescriptor, hub: IPv4Endpoint, key: UInt64, offset: Int64, count: Int) throws -> [SyncPacket] {
        var answered: [SyncPacket] = []
        var buffer = [UInt8](repeating: 0, count: 128)
        while answered.count < count {
            guard try Socket.waitReadable(socket, timeoutMillis: 2000) else { break }
            let (length, _) = try buffer.withUnsafeMutableBytes { try Socket.receiveFrom(socket, into: $0) }
            let now = HostClock.monotonicNanos() + offset
            let sync = try SyncPacket.decode(Array(buffer[..<length]).span)
            let reply = SyncPacket(kind: .response, key: key, exchangeID: sync.exchangeID, timestampA: now, timestampB: now + 1000,
                                   sourceA: .user, sourceB: .user)
            try Socket.send(socket, reply.encoded(), to: hub)
            answered.append(reply)
        }
        return answered
    }

    @Test func badPacketsAreCountedAndDoNotDisturbTheEstimate() throws {
        var logger = Logger(label: "sync-test")
        logger.logLevel = .critical
        let service = try SyncService(
            configuration: SyncConfiguration(endpoint: try IPv4Endpoint(host: "127.0.0.1", port: 0), kernelTimestamps: false), logger: logger)
        service.start()
        defer { service.stop() }
        let hub = service.boundEndpoint
        let key: UInt64 = 0xABCD
        service.register(deviceID: "dev", key: key)
        let device = try Socket.bindUDP(try IPv4Endpoint(host: "127.0.0.1", port: 0))
        defer { try? device.close() }
        try Socket.send(device, SyncPacket(kind: .register, key: key, exchangeID: 0, timestampA: 0, sourceA: .none).encoded(), to: hub)
        let offset: Int64 = 3_200_000_000
        let replies = try answer(device, hub: hub, key: key, offset: offset, count: 20)
        #expect(replies.count == 20)
        HostClock.sleep(nanos: 50_000_000)
        let before = try #require(service.status(key: key))
        #expect(before.acceptedCount >= 19)
        #expect(abs(before.mapping.offsetNanos - Double(offset)) < 1_000_000)

        let ignoredBefore = service.ignoredCount
        try Socket.send(device, Array(replies[0].encoded().prefix(20)), to: hub)  // truncated
        var wrongKey = replies[1]
        wrongKey.key = 0x1234
        try Socket.send(device, wrongKey.encoded(), to: hub)  // unknown device
        var damaged = replies[2].encoded()
        damaged[30] ^= 0xFF
        try Socket.send(device, damaged, to: hub)  // bad checksum
        try Socket.send(device, replies[3].encoded(), to: hub)  // replayed: its exchange is already complete
        HostClock.sleep(nanos: 100_000_000)
        #expect(service.ignoredCount == ignoredBefore + 3)

        // Absurd stamps on a live exchange: ten days off, consistent-looking. The estimator holds it back.
        var buffer = [UInt8](repeating: 0, count: 128)
        #expect(try Socket.waitReadable(device, timeoutMillis: 2000))
        let (length, _) = try buffer.withUnsafeMutableBytes { try Socket.receiveFrom(device, into: $0) }
        let sync = try SyncPacket.decode(Array(buffer[..<length]).span)
        let tenDays: Int64 = 864_000_000_000_000
        let now = HostClock.monotonicNanos() + tenDays
        try Socket.send(device, SyncPacket(kind: .response, key: key, exchangeID: sync.exchangeID, timestampA: now, timestampB: now + 1000,
                                           sourceA: .user, sourceB: .user).encoded(), to: hub)
        HostClock.sleep(nanos: 100_000_000)
        let after = try #require(service.status(key: key))
        #expect(abs(after.mapping.offsetNanos - Double(offset)) < 1_000_000, "the estimate stayed put")
        #expect(after.rejectedCount >= 1)
    }

    /// Hardware stamps asked for on an interface without a PTP clock: the service says why, falls back
    /// to kernel software stamps, and its exchanges still complete with kernel-stamped samples.
    @Test func hardwareStampsFallBackToKernelStampsWithTheReason() throws {
        var logger = Logger(label: "sync-test")
        logger.logLevel = .critical
        let service = try SyncService(
            configuration: SyncConfiguration(endpoint: try IPv4Endpoint(host: "127.0.0.1", port: 0), hardwareInterface: "lo"), logger: logger)
        #expect(service.hardwareFallbackReason == "lo has no PTP hardware clock")
        #expect(service.timestampMode == (service.kernelTimestamps ? "kernel" : "user"))
        service.start()
        defer { service.stop() }
        let key: UInt64 = 0x4857
        service.register(deviceID: "dev", key: key)
        let device = try Socket.bindUDP(try IPv4Endpoint(host: "127.0.0.1", port: 0))
        defer { try? device.close() }
        let register = SyncPacket(kind: .register, key: key, exchangeID: 0, timestampA: 0, sourceA: .none)
        try Socket.send(device, register.encoded(), to: service.boundEndpoint)
        let replies = try answer(device, hub: service.boundEndpoint, key: key, offset: 1_000_000, count: 10)
        #expect(replies.count == 10)
        HostClock.sleep(nanos: 50_000_000)
        let status = try #require(service.status(key: key))
        #expect(status.acceptedCount >= 9)
        #expect(abs(status.mapping.offsetNanos - 1_000_000) < 1_000_000)
    }
}
