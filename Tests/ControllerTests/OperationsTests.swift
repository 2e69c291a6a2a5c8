// The operator-facing pieces of the service: what SIGHUP reloads and what it leaves for a restart,
// journald and plain log lines, and the Prometheus text rendering.
import Foundation
import Logging
import Platform
import Testing
@testable import Controller

@Suite struct OperationsTests {
    /// Every key the parser accepts is documented, and every documented key is accepted.
    @Test func everyConfigurationKeyIsDocumented() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/configuration.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let documented = Set(text.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `"), let end = line.dropFirst(3).firstIndex(of: "`") else { return nil }
            return String(line[line.index(line.startIndex, offsetBy: 3)..<end])
        })
        let accepted = Set(HubConfiguration.keys.keys)
        #expect(accepted.subtracting(documented).isEmpty, "accepted but not in docs/configuration.md: \(accepted.subtracting(documented).sorted())")
        #expect(documented.subtracting(accepted).isEmpty, "documented but refused: \(documented.subtracting(accepted).sorted())")
    }

    @Test func reloadAppliesTokensAndTimingAndNamesRestartOnlyKeys() throws {
        var original = HubConfiguration()
        original.deviceTokens = ["a": "one"]
        let hub = Hub(configuration: original, logger: Logger(label: "test"))
        var changed = original
        changed.deviceTokens = ["a": "two", "b": "three"]
        changed.siteToken = nil
        changed.lostAfterMillis = 9000
        changed.logLevel = "debug"
        changed.httpPort = 9999
        changed.ingestBufferMiB = 64
        let outcome = try hub.reload(changed)
        #expect(outcome.applied == ["device_tokens", "site_token", "lost_after_ms", "log_level"])
        #expect(outcome.needRestart == ["http_port", "ingest_buffer_mib"])
        #expect(hub.configuration.deviceTokens == ["a": "two", "b": "three"])
        #expect(hub.configuration.accepts(deviceID: "b", token: "three"))
        #expect(!hub.configuration.accepts(deviceID: "a", token: "one"), "the old token no longer works")
        #expect(hub.configuration.httpPort == original.httpPort, "the listener keeps its port until a restart")
        #expect(try hub.reload(changed) == ReloadOutcome(applied: [], needRestart: ["http_port", "ingest_buffer_mib"]))
    }

    @Test func storageThreadsAreReadAndBoundedAndNeedARestart() throws {
        let parsed = try HubConfiguration.parse(yaml: "ingest_storage_threads: 3", path: "t.yaml")
        #expect(parsed.ingestStorageThreads == 3)
        #expect(parsed.ingestEngineConfiguration.storageLanes == 3)
        #expect(HubConfiguration().ingestEngineConfiguration.storageLanes == 2, "the default")
        for bad in ["0", "17", "two", "-1"] {
            #expect(throws: ConfigurationError.self) { try HubConfiguration.parse(yaml: "ingest_storage_threads: \(bad)", path: "t.yaml") }
        }
        let hub = Hub(configuration: HubConfiguration(), logger: Logger(label: "test"))
        var changed = hub.configuration
        changed.ingestStorageThreads = 4
        #expect(try hub.reload(changed).needRestart == ["ingest_storage_threads"])
    }

    @Test func logLinesForJournaldCarryThePriorityAndNoTime() {
        let line = ApplianceLogHandler.format(
            level: .error, message: "disk full\nsecond", metadata: ["stream": "2", "device": "a"], label: "lockstepd", source: "Ingest",
            journal: true, now: Date(timeIntervalSince1970: 0))
        #expect(line == "<3>lockstepd: [Ingest] disk full second device=a stream=2\n")
        let levels: [Logger.Level] = [.trace, .debug, .info, .notice, .warning, .error, .critical]
        #expect(levels.map(ApplianceLogHandler.priority) == [7, 7, 6, 5, 4, 3, 2])
        let plain = ApplianceLogHandler.format(
            level: .info, message: "ready", metadata: [:], label: "lockstepd", source: "lockstepd", journal: false,
            now: Date(timeIntervalSince1970: 0))
        #expect(plain == "1970-01-01T00:00:00Z info lockstepd: [lockstepd] ready\n")
    }

    @Test func journalStreamMustNameStderr() {
        #expect(ApplianceLogHandler.matchesJournalStream("8:1234", device: 8, inode: 1234))
        #expect(!ApplianceLogHandler.matchesJournalStream("8:1234", device: 8, inode: 99), "an inherited variable for another stream")
        #expect(!ApplianceLogHandler.matchesJournalStream("junk", device: 8, inode: 1234))
    }

    @Test func theLogLevelIsSharedAndChangeable() {
        let saved = ApplianceLogHandler.level.withLock { $0 }
        defer { ApplianceLogHandler.level.withLock { $0 = saved } }
        var handler = ApplianceLogHandler(label: "a", journal: true)
        let other = ApplianceLogHandler(label: "b", journal: true)
        handler.logLevel = .debug
        #expect(other.logLevel == .debug, "a reload reaches every logger")
    }

    @Test func metricsTextEscapesLabelsAndFormatsNumbers() {
        var metrics = MetricsText()
        metrics.family("lockstep_x_seconds", "gauge", "A test.", [([("device", "a\"b\\c\nd")], 0.25), ([("device", "e")], 3)])
        metrics.single("lockstep_y", "gauge", "Another.", .nan)
        #expect(metrics.text == """
            # HELP lockstep_x_seconds A test.
            # TYPE lockstep_x_seconds gauge
            lockstep_x_seconds{device="a\\"b\\\\c\\nd"} 0.25
            lockstep_x_seconds{device="e"} 3
            # HELP lockstep_y Another.
            # TYPE lockstep_y gauge
            lockstep_y NaN

            """)
        #expect(MetricsText.format(.infinity) == "+Inf")
        #expect(MetricsText.format(1.5e-7) == "1.5e-07")
        #expect(MetricsText.format(268_435_456) == "268435456")
    }
}

@Suite struct ProgressTests {
    /// The watchdog's proof of progress is wired to the live threads: the hub's housekeeping compares
    /// the loop counters once a second; a running hub has every loop turning (engine stages, sync
    /// service, flusher), and a thread that stops is named at the next check.
    @Test(arguments: ["io_uring", "posix"]) func aStoppedThreadIsNamedAndOnlyIt(engine: String) async throws {
        let test = try await TestHub.start(engine: engine)
        let first = test.hub.progressSnapshot()
        try await Task.sleep(nanoseconds: 2_500_000_000)  // two housekeeping checks
        let second = test.hub.progressSnapshot()
        #expect(test.hub.stalledParts.withLock { $0 }.isEmpty)
        #expect(second.sync > first.sync && second.flusher > first.flusher)
        if engine == "io_uring" {
            #expect((second.network ?? 0) > (first.network ?? 0))
            let before = first.storage ?? [], after = second.storage ?? []
            #expect(after.count == 2 && before.count == 2 && zip(before, after).allSatisfy { $0 < $1 }, "every storage lane turns")
        } else {
            #expect(second.network == nil && second.storage == nil, "the POSIX path has no engine stages to watch")
        }
        #expect(test.hub.isReady, "runHTTP marks the hub ready once listening")
        test.hub.flusher.stop()
        // Named at the second housekeeping check after the stop, about 2 s later; a loaded machine can
        // delay the checks, so wait for it up to 10 s.
        let deadline = HostClock.monotonicNanos() + 10_000_000_000
        while test.hub.stalledParts.withLock({ $0 }) != ["durability flusher"] && HostClock.monotonicNanos() < deadline {
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        #expect(test.hub.stalledParts.withLock { $0 } == ["durability flusher"])
        await test.stop()
    }
}
