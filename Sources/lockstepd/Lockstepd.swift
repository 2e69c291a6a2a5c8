// lockstepd: the Lockstep appliance. Parses flags and the config file, starts the hub, serves until
// SIGTERM/SIGINT, then stops any running session cleanly (every announced frame stored, manifest written).
import ArgumentParser
import Controller
import Ingest
import Foundation
import Logging

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
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String = "info"
    @Flag(help: "Validate the configuration and exit.") var checkConfig = false

    func run() async throws {
        var settings = HubConfiguration()
        if let config {
            do { settings = try HubConfiguration.load(path: config) } catch {
                FileHandle.standardError.write(Data("lockstepd: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
        if let dataDir { settings.dataDirectory = dataDir }
        if let bind { settings.bindHost = bind }
        if let httpPort { settings.httpPort = httpPort }
        if let dataPort { settings.dataPort = dataPort }
        if let syncPort { settings.syncPort = syncPort }
        if let ingestEngine {
            guard ["auto", "io_uring", "posix"].contains(ingestEngine) else {
                FileHandle.standardError.write(Data("lockstepd: --ingest-engine must be auto, io_uring or posix\n".utf8))
                throw ExitCode(2)
            }
            settings.ingestEngine = ingestEngine
        }
        if let ingestWrites {
            guard IngestEngineConfiguration.WriteMode(rawValue: ingestWrites) != nil else {
                FileHandle.standardError.write(Data("lockstepd: --ingest-writes must be io_uring or pwritev\n".utf8))
                throw ExitCode(2)
            }
            settings.ingestWrites = ingestWrites
        }
        if checkConfig {
            print("configuration OK")
            return
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            return handler
        }
        let logger = Logger(label: "lockstepd")
        let hub = Hub(configuration: settings, logger: logger)
        do { try hub.startServices() } catch {
            FileHandle.standardError.write(Data("lockstepd: cannot start: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let readyFile = readyFile
        let host = settings.bindHost
        let data = hub.dataEndpoint.port
        let sync = hub.syncEndpoint.port
        do {
            try await hub.runHTTP(handleSignals: true) { http in
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
    }
}
