// lockstepd's configuration: defaults, YAML file, validation with errors naming the key and the fix.
import Foundation
import Ingest
import Platform
import Wire
import Yams

public struct HubConfiguration: Sendable, Equatable {
    public var hubID = "lockstep"
    public var bindHost = "127.0.0.1"
    public var httpPort: UInt16 = 8750
    public var dataPort: UInt16 = 8751
    public var syncPort: UInt16 = 8752
    public var dataDirectory = "./lockstep-data"
    /// Device id → token. A device not listed is refused unless `siteToken` is set and matches.
    public var deviceTokens: [String: String] = [:]
    /// One token every device may use (for labs that provision phones alike). nil disables it.
    public var siteToken: String? = "lockstep-dev"
    public var heartbeatIntervalMillis: Int64 = 1000
    public var lostAfterMillis: Int64 = 5000
    public var frameBytesMax: Int64 = 8 << 20
    public var durabilityIntervalMillis: Int64 = 100
    public var startLeadMillis: Int64 = 1500
    /// The alignment the timing report's verdict and the dashboard's "in sync" are judged against.
    public var alignmentToleranceMicros: Int64 = 1000
    public var alignmentToleranceNanos: Int64 { alignmentToleranceMicros * 1000 }
    public var syncRateHz: Double = 8
    /// Interface whose NIC stamps sync packets in hardware; nil uses kernel software stamps.
    public var syncHardwareInterface: String?
    /// Interface to capture sync packets on (libpcap) as a cross-check of the socket stamps.
    public var syncPcapInterface: String?
    public var devicesMax = 64
    public var dataConnectionsMax = 512
    /// Open HTTP connections (API, dashboard, event streams, device control WebSockets); past it the
    /// listener stops accepting until one closes.
    public var httpConnectionsMax = 512
    /// An HTTP connection with no request in flight is closed after this long.
    public var httpIdleTimeoutMillis: Int64 = 30_000
    /// A control WebSocket must send `hello` within this long after the upgrade.
    public var helloTimeoutMillis: Int64 = 5000
    /// New connections per second from one address, on the HTTP and data ports (bursts of twice that).
    public var connectionRatePerAddress = 50
    /// Open connections one address may hold on the HTTP port, and on the data port (0: no cap).
    public var connectionsPerAddressMax = 128
    /// "auto" (io_uring, falling back to POSIX I/O when it cannot start), "io_uring" (refuse to start
    /// without it) or "posix".
    public var ingestEngine = "auto"
    /// Size of the ingest buffer pool, allocated once at startup.
    public var ingestBufferMiB = 256
    /// How the engine's storage stage writes: "io_uring" (ring submissions) or "pwritev" (inline).
    public var ingestWrites = "io_uring"
    /// Whether the engine writes stream files with O_DIRECT (falling back to the page cache where the
    /// filesystem refuses it).
    public var ingestDirectIO = true
    /// Storage threads of the engine, each with its own io_uring and a share of the streams.
    public var ingestStorageThreads = 2
    /// trace, debug, info, notice, warning, error or critical (SIGHUP applies a change).
    public var logLevel = "info"
    /// Where this controller sits: "hub" (the top of the rig). "relay" (a controller below another, for
    /// rigs beyond one hub's devices) is reserved and refused until the controller tree is built.
    public var role = "hub"
    /// Bearer token the HTTP API and /metrics require (nil: open). Required when `bind` is not a
    /// loopback address; LOCKSTEP_OPERATOR_TOKEN in lockstepd's environment overrides the file.
    public var operatorToken: String?
    /// PEM certificate (chain) and private key of the HTTP listener: with both set it serves only
    /// HTTPS and WSS (docs/security.md, "TLS").
    public var tlsCertificate: String?
    public var tlsPrivateKey: String?
    public static let operatorTokenBytesMin = 16
    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    public init() {}

    /// Keys accepted in the YAML file, with a one-line meaning (docs/configuration.md lists them too).
    public static let keys: [String: String] = [
        "hub_id": "name of this hub in manifests and welcome messages",
        "bind": "IPv4 address to listen on (default 127.0.0.1)",
        "http_port": "HTTP API and control WebSocket port (default 8750)",
        "data_port": "data-channel TCP port (default 8751)",
        "sync_port": "time-sync UDP port (default 8752)",
        "data_dir": "folder holding sessions/ (default ./lockstep-data)",
        "device_tokens": "map of device id to its token",
        "site_token": "token any device may use; empty string disables",
        "heartbeat_interval_ms": "how often devices send heartbeats",
        "lost_after_ms": "silence after which a device is marked lost",
        "frame_bytes_max": "largest data-frame payload accepted",
        "durability_interval_ms": "fdatasync period before acknowledging data",
        "start_lead_ms": "delay between the start command and the scheduled start instant",
        "alignment_tolerance_us": "alignment the report's verdict is judged against, in µs (default 1000)",
        "http_connections_max": "open HTTP connections before the listener pauses accepting (default 512)",
        "http_idle_timeout_ms": "an HTTP connection with no request in flight is closed after this (default 30000)",
        "hello_timeout_ms": "a control WebSocket must send hello within this after connecting (default 5000)",
        "connection_rate_per_address": "new connections per second from one address, HTTP and data ports; 0 = no limit (default 50)",
        "connections_per_address_max": "connections one address may hold open, per port (HTTP, data); 0 = no cap (default 128)",
        "tls_certificate": "PEM certificate chain of the HTTP listener; with tls_private_key it serves HTTPS and WSS only",
        "tls_private_key": "PEM private key of tls_certificate",
        "sync_rate_hz": "steady time-sync exchange rate per device",
        "sync_hardware_interface": "interface whose NIC stamps sync packets (needs a PHC and CAP_NET_ADMIN)",
        "sync_pcap_interface": "interface to capture sync packets on as a cross-check (needs CAP_NET_RAW)",
        "devices_max": "most devices connected at once",
        "data_connections_max": "most data connections open at once",
        "ingest_engine": "auto, io_uring or posix: the data plane's I/O path",
        "ingest_buffer_mib": "receive buffer pool in MiB, allocated at startup (default 256)",
        "ingest_writes": "io_uring or pwritev: how the engine's storage stage submits its writes",
        "ingest_direct_io": "true or false: write stream files with O_DIRECT (default true)",
        "ingest_storage_threads": "storage threads of the engine, 1-16, each writing a share of the streams (default 2)",
        "log_level": "trace, debug, info, notice, warning, error or critical (default info)",
        "role": "hub (the only role built; relay is reserved for the controller tree)",
        "operator_token": "bearer token for the HTTP API and /metrics; required unless bind is loopback",
    ]

    /// Loads a YAML file over the defaults. - Throws: `ConfigurationError` naming the file, key and reason.
    public static func load(path: String) throws -> HubConfiguration {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError(path: path, key: nil, reason: "cannot read the file")
        }
        return try parse(yaml: text, path: path)
    }

    public static func parse(yaml text: String, path: String) throws -> HubConfiguration {
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch {
            throw ConfigurationError(path: path, key: nil, reason: "not valid YAML: \(error)")
        }
        var config = HubConfiguration()
        guard let root else { return config }
        guard let map = root as? [String: Any] else { throw ConfigurationError(path: path, key: nil, reason: "top level must be a mapping") }
        for (key, value) in map {
            guard keys[key] != nil else {
                throw ConfigurationError(path: path, key: key, reason: "unknown key (known: \(keys.keys.sorted().joined(separator: ", ")))")
            }
            try config.apply(key: key, value: value, path: path)
        }
        try config.validate(path: path)
        return config
    }

    mutating func apply(key: String, value: Any, path: String) throws {
        func fail(_ reason: String) -> ConfigurationError { ConfigurationError(path: path, key: key, reason: reason) }
        func port() throws -> UInt16 {
            guard let number = value as? Int, (0...65535).contains(number) else { throw fail("must be a port number 0-65535") }
            return UInt16(number)
        }
        func positive() throws -> Int64 {
            guard let number = value as? Int, number > 0 else { throw fail("must be a positive integer") }
            return Int64(number)
        }
        /// A duration in milliseconds: positive and at most `limit` (ten minutes unless said).
        func millis(_ limit: Int64 = 600_000) throws -> Int64 {
            let number = try positive()
            guard number <= limit else { throw fail("must be at most \(limit) ms") }
            return number
        }
        switch key {
        case "hub_id":
            guard let text = value as? String, (try? Identifier.validate(text, what: "hub id", code: .invalidMessage)) != nil else {
                throw fail("must be 1-64 letters, digits, '.', '_' or '-'")
            }
            hubID = text
        case "bind":
            guard let text = value as? String, (try? IPv4Endpoint(host: text, port: 0)) != nil else {
                throw fail("must be an IPv4 address such as 0.0.0.0, 127.0.0.1 or the lab interface's address")
            }
            bindHost = text
        case "http_port": httpPort = try port()
        case "data_port": dataPort = try port()
        case "sync_port": syncPort = try port()
        case "data_dir":
            guard let text = value as? String, !text.isEmpty else { throw fail("must be a folder path") }
            dataDirectory = text
        case "device_tokens":
            guard let map = value as? [String: Any] else { throw fail("must map device ids to tokens") }
            var tokens: [String: String] = [:]
            for (id, token) in map {
                guard (try? Identifier.validateDeviceID(id)) != nil else { throw fail("\"\(id)\" is not a valid device id") }
                guard let text = token as? String, !text.isEmpty else { throw fail("token of \"\(id)\" must be a non-empty string") }
                tokens[id] = text
            }
            deviceTokens = tokens
        case "site_token":
            guard let text = value as? String else { throw fail("must be a string") }
            siteToken = text.isEmpty ? nil : text
        case "heartbeat_interval_ms": heartbeatIntervalMillis = try millis(60_000)
        case "lost_after_ms": lostAfterMillis = try millis()
        case "frame_bytes_max": frameBytesMax = try positive()
        case "durability_interval_ms": durabilityIntervalMillis = try millis(10_000)
        case "start_lead_ms": startLeadMillis = try millis(60_000)
        case "alignment_tolerance_us":
            let number = try positive()
            guard number <= 60_000_000 else { throw fail("must be at most 60000000 (one minute)") }
            alignmentToleranceMicros = number
        case "sync_rate_hz":
            guard let number = (value as? Double) ?? (value as? Int).map(Double.init), number > 0, number <= 1000 else {
                throw fail("must be a number in (0, 1000]")
            }
            syncRateHz = number
        case "sync_hardware_interface":
            guard let text = value as? String, !text.isEmpty, text.utf8.count < 16, !text.contains("/") else {
                throw fail("must be an interface name (1-15 characters, no '/')")
            }
            syncHardwareInterface = text
        case "sync_pcap_interface":
            guard let text = value as? String, !text.isEmpty, text.utf8.count < 16, !text.contains("/") else {
                throw fail("must be an interface name (1-15 characters, no '/'), e.g. lo or any")
            }
            syncPcapInterface = text
        case "devices_max": devicesMax = Int(try positive())
        case "data_connections_max": dataConnectionsMax = Int(try positive())
        case "http_connections_max": httpConnectionsMax = Int(try positive())
        case "http_idle_timeout_ms": httpIdleTimeoutMillis = try millis(3_600_000)
        case "hello_timeout_ms": helloTimeoutMillis = try millis(60_000)
        case "connection_rate_per_address":
            guard let number = value as? Int, number >= 0, number <= 100_000 else { throw fail("must be an integer 0-100000 (0: no limit)") }
            connectionRatePerAddress = number
        case "connections_per_address_max":
            guard let number = value as? Int, number >= 0, number <= 100_000 else { throw fail("must be an integer 0-100000 (0: no cap)") }
            connectionsPerAddressMax = number
        case "ingest_engine":
            guard let text = value as? String, ["auto", "io_uring", "posix"].contains(text) else { throw fail("must be auto, io_uring or posix") }
            ingestEngine = text
        case "ingest_writes":
            guard let text = value as? String, IngestEngineConfiguration.WriteMode(rawValue: text) != nil else {
                throw fail("must be io_uring or pwritev")
            }
            ingestWrites = text
        case "ingest_direct_io":
            guard let flag = value as? Bool else { throw fail("must be true or false") }
            ingestDirectIO = flag
        case "ingest_storage_threads":
            let number = try positive()
            let most = IngestEngineConfiguration.storageLanesMax
            guard number <= most else { throw fail("must be from 1 to \(most)") }
            ingestStorageThreads = Int(number)
        case "ingest_buffer_mib":
            let number = try positive()
            guard number <= 65_536 else { throw fail("must be at most 65536 (64 GiB)") }
            ingestBufferMiB = Int(number)
        case "tls_certificate", "tls_private_key":
            guard let text = value as? String, !text.isEmpty else { throw fail("must be the path of a PEM file") }
            if key == "tls_certificate" { tlsCertificate = text } else { tlsPrivateKey = text }
        case "operator_token":
            guard let text = value as? String else { throw fail("must be a string") }
            operatorToken = try Self.checkedOperatorToken(text, fail: fail)
        case "role":
            guard let text = value as? String, text == "hub" || text == "relay" else { throw fail("must be hub") }
            guard text == "hub" else { throw fail("relay (a controller below another hub) is not built yet; use hub") }
            role = text
        case "log_level":
            guard let text = value as? String, Self.logLevels.contains(text) else {
                throw fail("must be one of \(Self.logLevels.joined(separator: ", "))")
            }
            logLevel = text
        default: throw fail("unknown key")
        }
    }

    /// An operator token fit for use: nil for "", else at least 16 bytes of printable ASCII.
    public static func checkedOperatorToken(_ text: String, fail: (String) -> ConfigurationError) throws -> String? {
        if text.isEmpty { return nil }
        guard text.utf8.count >= operatorTokenBytesMin, text.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw fail("must be at least \(operatorTokenBytesMin) printable ASCII characters without spaces (e.g. openssl rand -hex 16)")
        }
        return text
    }

    /// Whether `bindHost` only accepts connections from this machine.
    public var bindsLoopback: Bool { bindHost.hasPrefix("127.") || bindHost == "localhost" }

    /// Checks relations between values.
    public func validate(path: String) throws {
        if lostAfterMillis <= heartbeatIntervalMillis {
            throw ConfigurationError(path: path, key: "lost_after_ms", reason: "must exceed heartbeat_interval_ms (\(heartbeatIntervalMillis))")
        }
        if frameBytesMax > 256 << 20 {
            throw ConfigurationError(path: path, key: "frame_bytes_max", reason: "must be at most 268435456 (256 MiB)")
        }
        if (tlsCertificate == nil) != (tlsPrivateKey == nil) {
            throw ConfigurationError(
                path: path, key: tlsCertificate == nil ? "tls_private_key" : "tls_certificate",
                reason: "tls_certificate and tls_private_key go together: set both to serve HTTPS, or neither")
        }
        if ingestEngine != "posix", let problem = ingestEngineConfiguration.problem {
            throw ConfigurationError(path: path, key: "ingest_buffer_mib", reason: problem)
        }
    }

    /// The engine's sizing: 1 MiB chunks making up `ingestBufferMiB`.
    public var ingestEngineConfiguration: IngestEngineConfiguration {
        IngestEngineConfiguration(
            chunkByteCount: 1 << 20, chunkCount: ingestBufferMiB, frameBytesMax: Int(frameBytesMax),
            writeMode: IngestEngineConfiguration.WriteMode(rawValue: ingestWrites) ?? .ring, directIO: ingestDirectIO,
            storageLanes: ingestStorageThreads)
    }

    /// The token `deviceID` must present, if any token would be accepted.
    func accepts(deviceID: String, token: String) -> Bool {
        if let expected = deviceTokens[deviceID] { return constantTimeEquals(expected, token) }
        if let siteToken { return constantTimeEquals(siteToken, token) }
        return false
    }
}

/// A configuration problem: the file, the key and what is wrong.
public struct ConfigurationError: Error, CustomStringConvertible {
    public var path: String
    public var key: String?
    public var reason: String

    public init(path: String, key: String?, reason: String) {
        self.path = path
        self.key = key
        self.reason = reason
    }

    public var description: String {
        if let key { return "\(path): \(key): \(reason)" }
        return "\(path): \(reason)"
    }
}

/// Compares two secrets in time independent of where they differ.
func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let left = Array(a.utf8)
    let right = Array(b.utf8)
    var difference = UInt8(left.count == right.count ? 0 : 1)
    for index in 0..<max(left.count, right.count) {
        difference |= (index < left.count ? left[index] : 0) ^ (index < right.count ? right[index] : 0)
    }
    return difference == 0
}
