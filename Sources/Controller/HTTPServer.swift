// The HTTP listener: the JSON API under /api/v1 and the control WebSocket at /control, on one port.
// The routes are in HTTPAPI.swift, the dashboard in Dashboard*.swift.
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import Platform
import Wire

extension Hub {
    /// Serves HTTP and the control WebSocket until the task is cancelled or, with `handleSignals`,
    /// SIGTERM/SIGINT arrives: then the service manager is told STOPPING=1 and a running session is
    /// stopped cleanly (devices still connected, so every announced frame is stored, synced, and the
    /// manifest and report written) before the listeners close. SIGHUP calls `reload`.
    /// The housekeeping loop checks liveness, wall-clock steps and thread progress, and pings the
    /// watchdog of `notifier` while every loop turns.
    /// - Parameter onRunning: called with the bound HTTP port once listening.
    public func runHTTP(
        handleSignals: Bool = false, notifier: ServiceNotifier = ServiceNotifier(socketPath: nil, watchdogIntervalNanos: nil),
        reload: (@Sendable () async -> Void)? = nil, onRunning: @escaping @Sendable (UInt16) -> Void = { _ in }
    ) async throws {
        // TLS is loaded by startServices: never serve plain HTTP in its place.
        if configuration.tlsCertificate != nil, listenerTLS.withLock({ $0 }) == nil {
            throw StartupError("tls_certificate is set but not loaded: startServices must run before runHTTP")
        }
        let router = Router(context: APIContext.self)
        addRoutes(router)
        router.ws("/control") { _, _ in .upgrade([:]) } onUpgrade: { [self] inbound, outbound, _ in
            await serveControl(inbound: inbound, outbound: outbound)
        }
        let idle = TimeAmount.milliseconds(configuration.httpIdleTimeoutMillis)
        let app = Application(
            router: router,
            server: .guardedHTTP1WebSocket(
                webSocketRouter: router,
                configuration: .init(http1: .init(idleTimeout: idle), ws: .init(maxFrameSize: ControlLimits.messageBytesMax)),
                limits: httpLimits, firstByteTimeout: .milliseconds(min(configuration.httpIdleTimeoutMillis, 10_000)),
                tls: listenerTLS.withLock { $0 }?.context),
            configuration: .init(
                address: .hostname(configuration.bindHost, port: Int(configuration.httpPort)), serverName: "lockstepd",
                availableConnectionsDelegate: MaximumAvailableConnections(configuration.httpConnectionsMax)),
            onServerRunning: { [self] channel in
                // Everything is up by now: data plane, sync service and its self-test (startServices), listeners.
                // READY=1 goes out before the hub counts as ready, so no watchdog ping can precede it.
                let port = UInt16(channel.localAddress?.port ?? 0)
                onRunning(port)
                notifier.ready(status: "ready: http \(configuration.bindHost):\(port), data \(dataEndpoint.port), sync \(syncEndpoint.port)")
                markReady()
            },
            logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService(gracefulShutdownSignals: []) }
            if handleSignals {
                group.addTask { [self] in
                    for await signal in Self.signals([SIGTERM, SIGINT]) {
                        let recording = state.withLock { $0.session != nil }
                        logger.notice("signal \(signal): stopping\(recording ? " after closing the session" : "")")
                        markStopping()  // first: no watchdog ping may follow STOPPING=1
                        notifier.stopping(status: recording ? "stopping: closing the session" : "stopping")
                        if recording { await finishRecording() }
                        return
                    }
                }
                if let reload {
                    group.addTask {
                        for await _ in Self.signals([SIGHUP]) { await reload() }
                    }
                }
            }
            group.addTask { [self] in
                var nextProgressCheck = HostClock.monotonicNanos() + 1_000_000_000
                var nextPing = HostClock.monotonicNanos()
                var withheld = false
                while !Task.isCancelled {
                    try await Task.sleep(nanoseconds: 250_000_000)
                    checkLiveness()
                    checkWallClock()
                    let now = HostClock.monotonicNanos()
                    if now >= nextProgressCheck {
                        checkProgress()
                        sampleActivity(now: now)
                        if events.clientCount > 0 { events.publish("snapshot", snapshotJSON()) }
                        nextProgressCheck = now + 1_000_000_000
                    }
                    // Between READY=1 and STOPPING=1 only: systemd stops watching once the stop begins.
                    if isReady { watchdogTick(notifier, now: now, next: &nextPing, withheld: &withheld) }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Signals as an async stream (their default actions are disabled while it lives).
    static func signals(_ numbers: [Int32]) -> AsyncStream<Int32> {
        AsyncStream { continuation in
            let sources = numbers.map { number in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { continuation.yield(number) }
                source.resume()
                return source
            }
            // The sources are only cancelled here, once; Dispatch sources are thread-safe to cancel.
            nonisolated(unsafe) let owned = sources
            continuation.onTermination = { _ in owned.forEach { $0.cancel() } }
        }
    }
}
