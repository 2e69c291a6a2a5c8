// The data-channel listener: accepts device connections on the data port and runs each handshake on
// a short-lived thread. Accepted connections go to the io_uring `IngestEngine` when it runs, or stay
// on their thread with blocking POSIX reads when it could not start (the fallback path). The
// controller decides who may write where through `DataChannelDelegate`.
import Logging
import Platform
import SystemPackage
import Wire

/// What the data plane asks of the controller. Called on data-plane threads.
public protocol DataChannelDelegate: AnyObject, Sendable {
    /// Checks a handshake and returns the writer for its stream, claimed for the connection on
    /// `socket`, or the refusal.
    func authorize(_ handshake: DataHandshake, peer: IPv4Endpoint, socket: FileDescriptor) -> Result<StreamWriter, WireError>
    /// A data connection failed with a protocol or storage error (the device is told on its control channel).
    func dataConnectionFailed(deviceID: String, streamID: UInt16, error: WireError)
}

/// Limits and timing for the data channel.
public struct DataServerConfiguration: Sendable {
    public var endpoint: IPv4Endpoint
    public var frameBytesMax: Int
    public var connectionCountMax: Int
    public var handshakeTimeoutMillis: Int64
    /// New connections per second per address (0: no limit); bursts of twice that are allowed.
    public var connectionRatePerAddress: Double
    /// Open connections one address may hold (0: no cap).
    public var connectionsPerAddressMax: Int

    public init(
        endpoint: IPv4Endpoint, frameBytesMax: Int = 8 << 20, connectionCountMax: Int = 256, handshakeTimeoutMillis: Int64 = 5000,
        connectionRatePerAddress: Double = 0, connectionsPerAddressMax: Int = 0
    ) {
        self.endpoint = endpoint
        self.frameBytesMax = frameBytesMax
        self.connectionCountMax = connectionCountMax
        self.handshakeTimeoutMillis = handshakeTimeoutMillis
        self.connectionRatePerAddress = connectionRatePerAddress
        self.connectionsPerAddressMax = connectionsPerAddressMax
    }
}

/// Accepts data connections and tracks them so a session can close its own.
public final class DataServer: Sendable {
    public let configuration: DataServerConfiguration
    public let boundEndpoint: IPv4Endpoint
    private let listener: FileDescriptor
    private let logger: Logger
    private let delegate: any DataChannelDelegate
    /// The io_uring engine, or nil on the POSIX fallback path.
    public let engine: IngestEngine?

    struct Entry {
        var fd: FileDescriptor
        /// The peer's address, counted in `openPerAddress` while the entry exists.
        var host: String
        var thread: PlatformThread?
        var sessionID: String?
        /// The thread has returned (its connection ended, or went to the engine).
        var threadDone = false
    }

    struct Live {
        var connections: [Int: Entry] = [:]
        /// Threads whose connection ended, joined by the accept loop (each exactly once).
        var finished: [PlatformThread] = []
        var nextID = 0
        var stopping = false
    }

    private let live = Locked(Live())
    private let acceptThread = Locked<PlatformThread?>(nil)
    /// Per-address limit on new connections (configuration.connectionRatePerAddress).
    public let rateLimiter: ConnectionRateLimiter
    /// Per-address cap on open connections (configuration.connectionsPerAddressMax).
    public let openPerAddress: ConnectionsPerAddress

    /// Binds the data port. - Throws: `Errno` from socket/bind/listen (EADDRINUSE names a port conflict).
    public init(
        configuration: DataServerConfiguration, delegate: any DataChannelDelegate, engine: IngestEngine? = nil, logger: Logger
    ) throws(Errno) {
        self.configuration = configuration
        self.engine = engine
        self.delegate = delegate
        self.logger = logger
        rateLimiter = ConnectionRateLimiter(ratePerSecond: configuration.connectionRatePerAddress)
        openPerAddress = ConnectionsPerAddress(perAddressMax: configuration.connectionsPerAddressMax)
        listener = try Socket.listenTCP(configuration.endpoint)
        boundEndpoint = try Socket.localEndpoint(listener)
    }

    /// Starts the accept thread.
    public func start() {
        engine?.start()
        let thread = PlatformThread.spawn(name: "ls-data-accept") { [self] in acceptLoop() }
        acceptThread.withLock { $0 = thread }
    }

    func acceptLoop() {
        while true {
            let accepted: (FileDescriptor, IPv4Endpoint)
            do { accepted = try Socket.accept(listener) } catch {
                if live.withLock({ $0.stopping }) { return }
                logger.warning("data accept failed", metadata: ["errno": "\(error)"])
                HostClock.sleep(nanos: 10_000_000)
                continue
            }
            admit(accepted.0, peer: accepted.1)
        }
    }

    func admit(_ fd: FileDescriptor, peer: IPv4Endpoint) {
        reapFinished()
        guard rateLimiter.admit(peer.host) else {
            refuse(fd, peer: peer, reason: "too many connections per second from this address")
            return
        }
        // The entry and its place under the per-address cap are made under one lock, as closeConnection
        // removes both under it, so the count and the table never disagree.
        var refusal = "connection limit reached"
        let id: Int? = live.withLock { state in
            guard !state.stopping, state.connections.count < configuration.connectionCountMax else { return nil }
            guard openPerAddress.opened(peer.host) else {
                refusal = "this address holds \(configuration.connectionsPerAddressMax) connections already"
                return nil
            }
            state.nextID += 1
            state.connections[state.nextID] = Entry(fd: fd, host: peer.host)
            return state.nextID
        }
        guard let id else {
            refuse(fd, peer: peer, reason: refusal)
            return
        }
        let connection = DataConnection(
            fd: fd, peer: peer, configuration: configuration, delegate: delegate, logger: logger,
            onAuthorized: { [self] sessionID in live.withLock { $0.connections[id]?.sessionID = sessionID } },
            onEnded: { [self] in closeConnection(id) })
        let thread = PlatformThread.spawn(name: "ls-data-\(id)") { [self] in
            let handedOff = connection.run(engine: engine)
            live.withLock { state in
                state.connections[id]?.threadDone = true
                if let thread = state.connections[id]?.thread {
                    state.finished.append(thread)
                    state.connections[id]?.thread = nil
                }
            }
            if !handedOff { closeConnection(id) }
        }
        live.withLock { state in
            // The thread may already have returned; then it goes straight to the reaper.
            if let entry = state.connections[id], !entry.threadDone { state.connections[id]?.thread = thread } else { state.finished.append(thread) }
        }
    }

    /// Answers `hub_full` and closes a connection that is not admitted.
    func refuse(_ fd: FileDescriptor, peer: IPv4Endpoint, reason: String) {
        try? Socket.sendAll(fd, DataHandshakeReply(error: .hubFull, nextSequence: 0).encoded())
        try? fd.close()
        logger.warning("data connection refused: \(reason)", metadata: ["peer": "\(peer)"])
    }

    /// Forgets and closes connection `id` (its thread, if still recorded, goes to the reaper).
    func closeConnection(_ id: Int) {
        let entry = live.withLock { state -> Entry? in
            guard let entry = state.connections.removeValue(forKey: id) else { return nil }
            if let thread = entry.thread { state.finished.append(thread) }
            openPerAddress.closed(entry.host)
            return entry
        }
        try? entry?.fd.close()
    }

    /// Joins the threads of connections that have ended (they have returned, so this does not block).
    func reapFinished() {
        let done = live.withLock { state in
            defer { state.finished.removeAll() }
            return state.finished
        }
        for thread in done { thread.join() }
    }

    /// Ends every data connection of `sessionID` and waits (bounded) until they are gone, so the
    /// session's writers can close. Connections register their session before they are authorized.
    public func closeConnections(sessionID: String) {
        for _ in 0..<500 {
            let open = live.withLock { state in
                let matching = state.connections.values.filter { $0.sessionID == sessionID }
                for entry in matching { Socket.shutdown(entry.fd) }
                return matching.count
            }
            if open == 0 { return }
            HostClock.sleep(nanos: 10_000_000)
        }
        logger.error("data connections of session \(sessionID) did not end within 5 s")
    }

    /// Stops accepting and ends every connection.
    public func shutdown() {
        live.withLock { $0.stopping = true }
        Socket.shutdown(listener)
        acceptThread.withLock { $0 }?.join()
        for _ in 0..<500 {
            let open = live.withLock { state in
                for entry in state.connections.values { Socket.shutdown(entry.fd) }
                return state.connections.count
            }
            if open == 0 { break }
            HostClock.sleep(nanos: 10_000_000)
        }
        reapFinished()
        try? listener.close()
        engine?.stop()
    }
}
