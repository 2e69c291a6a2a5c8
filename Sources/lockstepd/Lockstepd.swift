// lockstepd: the Lockstep appliance. Parses flags and the config file, starts the hub, tells systemd
// when it is ready (sd_notify), serves until SIGTERM/SIGINT, then stops any running session cleanly
// (every announced frame stored and synced, manifest and report written). SIGHUP reloads the file.
import ArgumentParser
import Controller
import Ingest
import Foundation
import Logging
import Platform

@main
struct Lockstepd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lockstepd", abstract: "Lockstep hub: device registry, time sync, synchronized recording.")

    @Option(help: "YAML configuration file (keys in docs/configuration.md).") var config: String?
    @Option(help: "Folder for sessions (overrides data_dir).") var dataDir: String?
    @Option(help: "IPv4 address to listen on (overrides bind; default 127.0.0.1).") var bind: String?
    @Option(help: "HTTP API and control WebSocket port (0 picks a free port).") var httpPort: UInt16?
    @Option(help: "Data-channel TCP port (0 picks a free port).") var dataPort: UInt16?
    @Option(help: "Time-sync UDP port (0 picks a free port).") var syncPort: UInt16?
    @Option(help: "Write the bound ports as JSON to this file once listening.") var readyFile: String?
    @Option(help: "Data plane: auto, io_uring or posix (overrides ingest_engine).") var ingestEngine: String?
    @Option(help: "Engine writes: io_uring or pwritev (overrides ingest_writes).") var ingestWrites: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (overrides log_level).") var logLevel: String?
    @Flag(help: "Validate the configuration and exit.") var checkConfig = false

    /// The configuration file (if any) with the command-line overrides on top.
    func settings() throws -> HubConfiguration {
        var settings = HubConfiguration()
        if let config { settings = try HubConfiguration.load(path: config) }
        if let dataDir { settings.dataDirectory = dataDir }
        if let bind { settings.bindHost = bind }
        if let httpPort { settings.httpPort = httpPort }
        if let dataPort { settings.dataPort = dataPort }
        if let syncPort { settings.syncPort = syncPort }
        if let ingestEngine {
            guard ["auto", "io_uring", "posix"].contains(ingestEngine) else {
                throw ConfigurationError(path: "--ingest-engine", key: nil, reason: "must be auto, io_uring or posix")
            }
            settings.ingestEngine = ingestEngine
        }
        if let ingestWrites {
            guard IngestEngineConfiguration.WriteMode(rawValue: ingestWrites) != nil else {
                throw ConfigurationError(path: "--ingest-writes", key: nil, reason: "must be io_uring or pwritev")
            }
            settings.ingestWrites = ingestWrites
        }
        if let token = ProcessInfo.processInfo.environment["LOCKSTEP_OPERATOR_TOKEN"] {
            settings.operatorToken = try HubConfiguration.checkedOperatorToken(token) { reason in
                ConfigurationError(path: "LOCKSTEP_OPERATOR_TOKEN", key: nil, reason: reason)
            }
        }
        if let logLevel {
            guard HubConfiguration.logLevels.contains(logLevel) else {
                let levels = HubConfiguration.logLevels.joined(separator: ", ")
                throw ConfigurationError(path: "--log-level", key: nil, reason: "must be one of \(levels)")
            }
            settings.logLevel = logLevel
        }
        guard settings.bindsLoopback || settings.operatorToken != nil else {
            throw ConfigurationError(
                path: config ?? "--bind", key: "operator_token",
                reason: "required when bind (\(settings.bindHost)) is not a loopback address, or set LOCKSTEP_OPERATOR_TOKEN")
        }
        return settings
    }

    func run() async throws {
        Memory.limitArenas(4)
        signal(SIGHUP, SIG_IGN)  // until the reload handler listens: a stray SIGHUP during recovery must not kill the hub
        let settings: HubConfiguration
        do { settings = try self.settings() } catch {
            FileHandle.standardError.write(Data("lockstepd: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if checkConfig {
            do { _ = try settings.makeListenerTLS() } catch {
                FileHandle.standardError.write(Data("lockstepd: \(error)\n".utf8))
                throw ExitCode(2)
            }
            print("configuration OK\(config.map { " (\($0))" } ?? " (built-in defaults)")")
            return
        }
        let journal = ApplianceLogHandler.stderrIsJournal
        ApplianceLogHandler.level.withLock { $0 = Logger.Level(rawValue: settings.logLevel) ?? .info }
        LoggingSystem.bootstrap { label in ApplianceLogHandler(label: label, journal: journal) }
        let logger = Logger(label: "lockstepd")
        let notifier = ServiceNotifier.fromEnvironment()
        let hub = Hub(configuration: settings, logger: logger)
        do { try hub.startServices() } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
        let readyFile = readyFile
        let host = settings.bindHost
        let data = hub.dataEndpoint.port
        let sync = hub.syncEndpoint.port
        let command = self
        do {
            let reload: @Sendable () async -> Void = { command.reload(hub, notifier: notifier, logger: logger) }
            try await hub.runHTTP(handleSignals: true, notifier: notifier, reload: reload) { http in
                let ports = "{\"http\":\(http),\"data\":\(data),\"sync\":\(sync)}\n"
                if let readyFile { try? ports.write(toFile: readyFile, atomically: true, encoding: .utf8) }
                logger.info("lockstepd ready: http \(host):\(http), data \(data), sync \(sync)")
            }
        } catch {
            logger.error("HTTP server failed: \(error)")
            await hub.shutdown()
            throw ExitCode(1)
        }
        await hub.shutdown()
        logger.notice("lockstepd stopped")
    }

    /// SIGHUP: re-reads the file, applies what can change while running, names what needs a restart.
    /// A file that no longer validates is refused as a whole; the running configuration stays.
    func reload(_ hub: Hub, notifier: ServiceNotifier, logger: Logger) {
        guard hub.isReady else {
            logger.notice("SIGHUP ignored: the hub is not running (starting or stopping)")
            return
        }
        notifier.reloading()
        defer { notifier.ready(status: "ready (configuration reloaded)") }
        guard config != nil else {
            logger.notice("SIGHUP: no --config file; nothing to reload")
            return
        }
        let new: HubConfiguration
        do { new = try settings() } catch {
            logger.error("SIGHUP: configuration refused, the running one stays: \(error)")
            return
        }
        let outcome: ReloadOutcome
        do { outcome = try hub.reload(new) } catch {
            logger.error("SIGHUP: configuration refused, the running one stays: \(error)")
            return
        }
        ApplianceLogHandler.level.withLock { $0 = Logger.Level(rawValue: hub.configuration.logLevel) ?? .info }
        let applied = outcome.applied.isEmpty ? "nothing changed" : "applied \(outcome.applied.joined(separator: ", "))"
        logger.notice("SIGHUP: configuration reloaded: \(applied)")
        if !outcome.needRestart.isEmpty {
            logger.warning("SIGHUP: changes to \(outcome.needRestart.joined(separator: ", ")) take effect at the next restart")
        }
    }
}
