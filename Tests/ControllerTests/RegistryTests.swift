import Foundation
import HummingbirdWSClient
import Logging
import Platform
import Testing
import Wire
@testable import Controller

@Suite struct ConfigurationTests {
    @Test func defaultsAndOverrides() throws {
        let yaml = "hub_id: lab-a\nhttp_port: 9000\ndevice_tokens:\n  phone-1: abc\nsite_token: \"\"\n"
        let config = try HubConfiguration.parse(yaml: yaml, path: "t.yaml")
        #expect(config.hubID == "lab-a")
        #expect(config.httpPort == 9000)
        #expect(config.deviceTokens == ["phone-1": "abc"])
        #expect(config.siteToken == nil)
        #expect(config.accepts(deviceID: "phone-1", token: "abc"))
        #expect(!config.accepts(deviceID: "phone-1", token: "abd"))
        #expect(!config.accepts(deviceID: "phone-2", token: "abc"), "with no site token, unlisted devices are refused")
        #expect(try HubConfiguration.parse(yaml: "", path: "empty.yaml") == HubConfiguration())
    }

    @Test(arguments: [
        ("http_port: 70000", "http_port"), ("frobnicate: 1", "unknown key"), ("lost_after_ms: 10\nheartbeat_interval_ms: 100", "lost_after_ms"),
        ("device_tokens:\n  ../x: t", "device_tokens"), ("sync_rate_hz: 0", "sync_rate_hz"), ("- a\n- b", "mapping"), ("hub_id: a/b", "hub_id"),
        ("durability_interval_ms: -5", "durability_interval_ms"), ("bind: [1]", "bind"), (": : :", "YAML"),
        ("bind: 300.1.2.3", "bind"), ("log_level: loud", "log_level"), ("role: relay", "not built yet"), ("role: leaf", "role"),
    ])
    func badValuesNameTheKey(_ yaml: String, _ mention: String) {
        do {
            _ = try HubConfiguration.parse(yaml: yaml, path: "bad.yaml")
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect("\(error)".contains(mention), "\(error)")
            #expect("\(error)".hasPrefix("bad.yaml"))
        }
    }
}

@Suite struct RegistryTests {
    /// A device that says hello and then falls silent is marked lost after lost_after_ms, and can rejoin.
    @Test func silentDeviceIsMarkedLost() async throws {
        let testHub = try await TestHub.start {
            $0.heartbeatIntervalMillis = 200
            $0.lostAfterMillis = 600
        }
        var logger = Logger(label: "silent")
        logger.logLevel = .critical
        let welcomed = Locked(false)
        let client = Task {
            try await WebSocketClient.connect(url: "ws://127.0.0.1:\(testHub.httpPort)/control", logger: logger) { inbound, outbound, _ in
                try await outbound.write(.text(helloText("quiet-1")))
                for try await frame in inbound.messages(maxSize: 1 << 16) {
                    if case .text(let text) = frame, case .welcome? = try? ControlEnvelope.decode(text).message { welcomed.withLock { $0 = true } }
                }
            }
        }
        var state = ""
        for _ in 0..<60 {
            try await Task.sleep(nanoseconds: 100_000_000)
            state = testHub.hub.state.withLock { $0.devices["quiet-1"]?.state ?? "" }
            if state == "lost" { break }
        }
        #expect(welcomed.withLock { $0 })
        #expect(state == "lost")
        client.cancel()
        _ = try? await client.value
        // After the connection closes the device is "left" and the same id may join again.
        for _ in 0..<30 where testHub.hub.state.withLock({ $0.devices["quiet-1"]?.state }) != "left" {
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let again = try await controlExchange(port: testHub.httpPort, [helloText("quiet-1")], waitMillis: 500)
        #expect(!again.codes.contains(.duplicateDevice))
        await testHub.stop()
    }
}
