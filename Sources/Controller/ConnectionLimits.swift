// Limits on the HTTP listener that no request handler sees, applied as each connection is accepted,
// before any HTTP parsing: a per-address rate of new connections and a per-address cap on open ones
// (a refused connection is closed at once), and a deadline for the whole first request head (a
// connection that never speaks, or trickles bytes, is closed); and the hello deadline of a device's
// control WebSocket. The listener's overall cap on open connections and the idle timeout between
// requests are Hummingbird settings (runHTTP).
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOSSL
import Platform
import Wire

/// The per-address limits one HTTP listener applies to new connections.
struct AddressLimits: Sendable {
    let rate: ConnectionRateLimiter
    let open: ConnectionsPerAddress
}

/// First in every admitted HTTP connection's pipeline: the first request head's deadline, and the
/// release of the connection's place under the per-address cap when it goes.
final class ConnectionGuardHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let limits: AddressLimits
    let firstByteTimeout: TimeAmount
    private var timer: Scheduled<Void>?
    /// The address this connection is counted under in `limits.open` (nil: not counted).
    private var countedAddress: String?
    /// The last bytes seen, to find the head's end ("\r\n\r\n") across reads.
    private var recent: [UInt8] = []

    init(limits: AddressLimits, firstByteTimeout: TimeAmount, countedAddress: String?) {
        self.limits = limits
        self.firstByteTimeout = firstByteTimeout
        self.countedAddress = countedAddress
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: firstByteTimeout) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        if let address = countedAddress {
            countedAddress = nil
            limits.open.closed(address)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if timer != nil {
            // Until the first request head is complete, the deadline stands (HTTP's own idle timeout
            // starts only after it); then this handler only passes bytes on.
            recent += unwrapInboundIn(data).readableBytesView
            if recent.count > 3, recent.windowsContain([13, 10, 13, 10]) {
                timer?.cancel()
                timer = nil
                recent = []
            } else {
                recent = Array(recent.suffix(3))
            }
        }
        context.fireChannelRead(data)
    }
}

/// Hummingbird's HTTP/1 + WebSocket child channel behind the per-address limits, with TLS (when on)
/// and then `ConnectionGuardHandler` in front, so the guard sees the decrypted request head. A refused
/// connection is closed before any TLS or HTTP handler exists.
struct GuardedChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        let channel: any Channel
        /// The base's value; nil when the connection was refused and closed.
        let admitted: Base.Value?
    }

    let base: Base
    let limits: AddressLimits
    let firstByteTimeout: TimeAmount
    let tls: NIOSSLContext?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let address = channel.remoteAddress?.ipAddress
        if let address {
            guard limits.rate.admit(address), limits.open.opened(address) else {
                return channel.close().map { Value(channel: channel, admitted: nil) }
            }
        }
        return channel.eventLoop.makeCompletedFuture {
            // The guard goes in first: from then on it owns the connection's place under the cap and
            // gives it back when the channel goes (handlerRemoved), whatever happens next. TLS then goes
            // in front of it, so the guard reads decrypted bytes; the head deadline, running from here,
            // also bounds a TLS handshake that never ends.
            let guardHandler = ConnectionGuardHandler(limits: limits, firstByteTimeout: firstByteTimeout, countedAddress: address)
            do { try channel.pipeline.syncOperations.addHandler(guardHandler) } catch {
                if let address { limits.open.closed(address) }
                throw error
            }
            if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls), position: .first) }
        }.flatMap { base.setup(channel: channel, logger: logger).map { Value(channel: channel, admitted: $0) } }
        .flatMapError { error in
            // NIO does not close a child channel whose setup failed: close it, so the descriptor and
            // (through the guard's handlerRemoved) its place under the cap are given back.
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    func handle(value: Value, logger: Logger) async {
        guard let admitted = value.admitted else { return }
        await base.handle(value: admitted, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 with the control WebSocket upgrade, behind the connection guard.
    static func guardedHTTP1WebSocket(
        webSocketRouter: Router<APIContext>, configuration: HTTP1WebSocketUpgradeChannel.Configuration, limits: AddressLimits,
        firstByteTimeout: TimeAmount, tls: NIOSSLContext?
    ) -> HTTPServerBuilder {
        let webSocketResponder = webSocketRouter.buildResponder()
        return HTTPServerBuilder { responder in
            GuardedChildChannel(
                base: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder, configuration: configuration),
                limits: limits, firstByteTimeout: firstByteTimeout, tls: tls)
        }
    }
}

extension Array where Element == UInt8 {
    /// Whether `pattern` occurs anywhere in the array.
    func windowsContain(_ pattern: [UInt8]) -> Bool {
        guard count >= pattern.count else { return false }
        return (0...(count - pattern.count)).contains { start in self[start..<(start + pattern.count)].elementsEqual(pattern) }
    }
}

extension Hub {
    /// Closes a control connection that has not said hello within `hello_timeout_ms`, with a
    /// `handshake_timeout` error first. Returns the timer; `greeted` stops it.
    func helloDeadline(_ outbound: WebSocketOutboundWriter, greeted: Locked<Bool>) -> Task<Void, Never> {
        let millis = configuration.helloTimeoutMillis
        return Task { [logger] in
            try? await Task.sleep(nanoseconds: UInt64(millis) * 1_000_000)
            guard !Task.isCancelled, !greeted.withLock({ $0 }) else { return }
            logger.warning("control connection closed: no hello within \(millis) ms")
            let report = ErrorReport(code: .handshakeTimeout, message: "no hello within \(millis) ms", fatal: true)
            try? await outbound.write(.text(ControlEnvelope(id: "hub-error", message: .error(report)).encoded()))
            try? await outbound.close(.policyViolation, reason: ErrorCode.handshakeTimeout.rawValue)
        }
    }
}
