// Limits a hostile or broken client meets before any handler: the per-address connection rate and
// open-connection cap (HTTP and, through the same classes, the data port), the HTTP idle timeout, and
// the control channel's hello deadline. Each is set low here so the test is short; the defaults are in HubConfiguration.
import Dispatch
import Foundation
import Platform
import SystemPackage
import Testing
import TestSupport
import Wire
@testable import Controller

/// Runs blocking socket work off the cooperative pool.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}

/// Everything the peer sends until it closes (or `seconds` pass).
func readUntilClosed(_ fd: FileDescriptor, seconds: Int64) -> (bytes: [UInt8], closed: Bool) {
    try? Socket.setReceiveTimeout(fd, millis: 250)
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    let deadline = HostClock.monotonicNanos() + seconds * 1_000_000_000
    while HostClock.monotonicNanos() < deadline {
        do {
            let count = try buffer.withUnsafeMutableBytes { try Socket.receive(fd, into: $0) }
            if count == 0 { return (bytes, true) }
            bytes += buffer[..<count]
        } catch Errno.resourceTemporarilyUnavailable { continue } catch { return (bytes, true) }
    }
    return (bytes, false)
}

@Suite(.serialized) struct ConnectionLimitsTests {
    @Test func theRateLimiterRefillsPerAddress() {
        let limiter = ConnectionRateLimiter(ratePerSecond: 10, burst: 20, addressesMax: 3)
        let t0: Int64 = 1_000_000_000
        #expect((0..<20).allSatisfy { _ in limiter.admit("10.0.0.1", now: t0) }, "a burst of 20 passes")
        #expect(!limiter.admit("10.0.0.1", now: t0), "the 21st is refused")
        #expect(limiter.admit("10.0.0.2", now: t0), "another address is unaffected")
        #expect((0..<5).filter { _ in limiter.admit("10.0.0.1", now: t0 + 500_000_000) }.count == 5, "half a second refills 5")
        #expect(!limiter.admit("10.0.0.1", now: t0 + 500_000_000))
        #expect(limiter.refusedCount == 2)
        for address in ["10.0.0.3", "10.0.0.4", "10.0.0.5"] { _ = limiter.admit(address, now: t0 + 600_000_000) }
        #expect(limiter.admit("10.0.0.1", now: t0 + 600_000_000), "the oldest entry was forgotten: the table stays bounded")
        #expect(ConnectionRateLimiter(ratePerSecond: 0).admit("x"), "0 disables the limit")
    }

    @Test func aFloodOfConnectionsFromOneAddressIsCut() async throws {
        let testHub = try await TestHub.start(engine: "posix") { $0.connectionRatePerAddress = 5 }
        let port = testHub.httpPort
        let answered = try await offPool { () -> Int in
            var count = 0
            for _ in 0..<40 {
                let fd = try Socket.connectTCP(try IPv4Endpoint(host: "127.0.0.1", port: port))
                defer { try? fd.close() }
                try? Socket.sendAll(fd, Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
                if String(decoding: readUntilClosed(fd, seconds: 3).bytes, as: UTF8.self).hasPrefix("HTTP/1.1 200") { count += 1 }
            }
            return count
        }
        #expect(answered >= 10 && answered < 25, "a burst of 10 plus 5/s refill while 40 connections ran: \(answered) answered")
        #expect(testHub.hub.httpLimits.rate.refusedCount >= 15)
        #expect(testHub.hub.metricsText().contains("lockstep_connections_rate_limited_total{port=\"http\"}"))
        await testHub.stop()
    }

    @Test func theOpenConnectionCapCountsPerAddress() {
        let cap = ConnectionsPerAddress(perAddressMax: 2)
        #expect(cap.opened("10.0.0.1") && cap.opened("10.0.0.1"))
        #expect(!cap.opened("10.0.0.1"), "a third open connection is refused")
        #expect(cap.opened("10.0.0.2"), "another address is unaffected")
        cap.closed("10.0.0.1")
        #expect(cap.count("10.0.0.1") == 1 && cap.opened("10.0.0.1"), "a closed connection frees its place")
        cap.closed("10.0.0.9")  // never counted: nothing goes negative
        #expect(cap.count("10.0.0.9") == 0 && cap.refusedCount == 1)
        #expect((0..<1000).allSatisfy { _ in ConnectionsPerAddress(perAddressMax: 0).opened("x") }, "0 disables the cap")
    }

    @Test func oneAddressCannotHoldMoreThanItsShareOfConnections() async throws {
        let testHub = try await TestHub.start(engine: "posix") { $0.connectionsPerAddressMax = 4 }
        let (http, data) = (testHub.httpPort, testHub.hub.dataEndpoint)
        let (httpRefused, httpAfterClose, dataReply) = try await offPool { () -> (Bool, Bool, [UInt8]) in
            var held = try (0..<4).map { _ in try Socket.connectTCP(try IPv4Endpoint(host: "127.0.0.1", port: http)) }
            defer { for fd in held { try? fd.close() } }
            HostClock.sleep(nanos: 200_000_000)  // the guard counts a connection when its pipeline is built
            let fifth = try Socket.connectTCP(try IPv4Endpoint(host: "127.0.0.1", port: http))
            defer { try? fifth.close() }
            try? Socket.sendAll(fifth, Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            let refused = readUntilClosed(fifth, seconds: 3)
            // Closed once only: a second close could hit a descriptor another test's hub reuses meanwhile.
            try? held.removeFirst().close()
            HostClock.sleep(nanos: 200_000_000)
            let next = try Socket.connectTCP(try IPv4Endpoint(host: "127.0.0.1", port: http))
            defer { try? next.close() }
            try Socket.sendAll(next, Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
            let answered = String(decoding: readUntilClosed(next, seconds: 3).bytes, as: UTF8.self).hasPrefix("HTTP/1.1 200")
            // The data port: four silent connections held, the fifth is told hub_full.
            let dataHeld = try (0..<4).map { _ in try Socket.connectTCP(data) }
            defer { for fd in dataHeld { try? fd.close() } }
            HostClock.sleep(nanos: 200_000_000)
            let dataFifth = try Socket.connectTCP(data)
            defer { try? dataFifth.close() }
            return (refused.closed && refused.bytes.isEmpty, answered, readUntilClosed(dataFifth, seconds: 3).bytes)
        }
        #expect(httpRefused, "the fifth HTTP connection from one address is closed unanswered")
        #expect(httpAfterClose, "closing one makes room for the next")
        #expect((try? DataHandshakeReply.decode(dataReply.span))?.error == .hubFull, "the fifth data connection is told hub_full")
        #expect(testHub.hub.httpLimits.open.refusedCount == 1 && testHub.hub.dataServer.openPerAddress.refusedCount == 1)
        #expect(testHub.hub.metricsText().contains("lockstep_connections_over_address_cap_total{port=\"data\"} 1"))
        await testHub.stop()
    }

    @Test func idleHTTPConnectionsAreClosed() async throws {
        let testHub = try await TestHub.start(engine: "posix") { $0.httpIdleTimeoutMillis = 500 }
        let port = testHub.httpPort
        let (silent, trickle, afterRequest) = try await offPool { () -> (Bool, Bool, Bool) in
            let quiet = try Socket.connectTCP(try IPv4Endpoint(host: "127.0.0.1", port: port))
            defer { try? quiet.close() }
            let slow = try Socket.connectTCP(try IPv4Endpoint(host: "127.0.0.1", port: port))
            defer { try? slow.close() }
            try Socket.sendAll(slow, Array("GET /healthz HTTP/1.1\r\n".utf8))  // a head that never ends
            let kept = try Socket.connectTCP(try IPv4Endpoint(host: "127.0.0.1", port: port))
            defer { try? kept.close() }
            try Socket.sendAll(kept, Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            return (readUntilClosed(quiet, seconds: 5).closed, readUntilClosed(slow, seconds: 5).closed, readUntilClosed(kept, seconds: 5).closed)
        }
        #expect(silent, "a connection that never sends a request is closed")
        #expect(trickle, "a connection whose request head never ends is closed")
        #expect(afterRequest, "a keep-alive connection is closed once idle")
        await testHub.stop()
    }

    @Test func aControlConnectionWithoutHelloIsClosedWithAReason() async throws {
        let testHub = try await TestHub.start(engine: "posix") { $0.helloTimeoutMillis = 500 }
        let port = testHub.httpPort
        let (bytes, closed) = try await offPool { () -> ([UInt8], Bool) in
            let fd = try Socket.connectTCP(try IPv4Endpoint(host: "127.0.0.1", port: port))
            defer { try? fd.close() }
            try Socket.sendAll(fd, Array(("GET /control HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").utf8))
            return readUntilClosed(fd, seconds: 5)
        }
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 101"), "the upgrade happened: \(text.prefix(40))")
        #expect(text.contains("handshake_timeout"), "the device is told why")
        #expect(closed, "and the connection is closed")
        await testHub.stop()
    }
}
