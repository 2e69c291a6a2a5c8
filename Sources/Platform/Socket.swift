// TCP and UDP sockets over IPv4 for the data channel, the sync service and the device agent.
// Blocking calls for dedicated threads. Wraps socket(2), bind(2), listen(2), accept4(2),
// connect(2), recv(2), send(2), sendto(2), recvfrom(2), setsockopt(2), shutdown(2).
// The socket type constants (SOCK_STREAM, SOCK_DGRAM, SOCK_CLOEXEC) come through the shim's module in
// whole-module (release) builds since the shims include more kernel headers; Glibc alone no longer
// exports them there.
import CNetTimestamp
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 address and port.
public struct IPv4Endpoint: Sendable, Equatable, CustomStringConvertible {
    public var address: in_addr_t  // network byte order
    public var port: UInt16

    /// Parses a dotted-quad host ("localhost" means 127.0.0.1).
    /// - Throws: `Errno.invalidArgument` for anything else (names are resolved by the caller's config).
    public init(host: String, port: UInt16) throws(Errno) {
        var parsed = in_addr()
        let text = host == "localhost" ? "127.0.0.1" : host
        guard inet_pton(AF_INET, text, &parsed) == 1 else { throw Errno.invalidArgument }
        self.address = parsed.s_addr
        self.port = port
    }

    init(_ raw: sockaddr_in) {
        address = raw.sin_addr.s_addr
        port = UInt16(bigEndian: raw.sin_port)
    }

    var raw: sockaddr_in {
        var raw = sockaddr_in()
        raw.sin_family = sa_family_t(AF_INET)
        raw.sin_port = port.bigEndian
        raw.sin_addr.s_addr = address
        return raw
    }

    public var host: String {
        let bytes = withUnsafeBytes(of: address) { Array($0) }
        return bytes.map(String.init).joined(separator: ".")
    }

    public var description: String { "\(host):\(port)" }
}

/// Socket operations on file descriptors. The caller owns every descriptor returned.
public enum Socket {
    /// Opens a listening TCP socket with SO_REUSEADDR. Port 0 picks a free port (see `localEndpoint`).
    public static func listenTCP(_ endpoint: IPv4Endpoint, backlog: Int32 = 128) throws(Errno) -> FileDescriptor {
        let fd = try make(SOCK_STREAM)
        do throws(Errno) {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            try bind(fd, endpoint)
            _ = try valueOrErrno { Glibc.listen(fd.rawValue, backlog) }
        } catch {
            try? fd.close()
            throw error
        }
        return fd
    }

    /// Opens a UDP socket bound to `endpoint`.
    public static func bindUDP(_ endpoint: IPv4Endpoint) throws(Errno) -> FileDescriptor {
        let fd = try make(SOCK_DGRAM)
        do throws(Errno) { try bind(fd, endpoint) } catch {
            try? fd.close()
            throw error
        }
        return fd
    }

    /// Connects a TCP socket to `endpoint` with TCP_NODELAY set.
    public static func connectTCP(_ endpoint: IPv4Endpoint) throws(Errno) -> FileDescriptor {
        let fd = try make(SOCK_STREAM)
        var address = endpoint.raw
        do throws(Errno) {
            _ = try valueOrErrno {
                unsafe withUnsafePointer(to: &address) { pointer in
                    unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        unsafe Glibc.connect(fd.rawValue, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
            try setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        } catch {
            try? fd.close()
            throw error
        }
        return fd
    }

    /// Accepts one connection, returning it and the peer's endpoint.
    public static func accept(_ listener: FileDescriptor) throws(Errno) -> (FileDescriptor, IPv4Endpoint) {
        var peer = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = try valueOrErrno {
            unsafe withUnsafeMutablePointer(to: &peer) { pointer in
                unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    unsafe Glibc.accept(listener.rawValue, $0, &length)
                }
            }
        }
        return (FileDescriptor(rawValue: fd), IPv4Endpoint(peer))
    }

    /// The endpoint a socket is bound to (to learn the port picked for port 0).
    public static func localEndpoint(_ fd: FileDescriptor) throws(Errno) -> IPv4Endpoint {
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = try valueOrErrno {
            unsafe withUnsafeMutablePointer(to: &local) { pointer in
                unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    unsafe getsockname(fd.rawValue, $0, &length)
                }
            }
        }
        return IPv4Endpoint(local)
    }

    /// Sets an integer socket option.
    public static func setOption(_ fd: FileDescriptor, _ level: Int32, _ name: Int32, _ value: Int32) throws(Errno) {
        var value = value
        _ = try valueOrErrno {
            unsafe setsockopt(fd.rawValue, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// Sets SO_RCVTIMEO; a blocked receive then fails with EAGAIN after `millis`.
    public static func setReceiveTimeout(_ fd: FileDescriptor, millis: Int64) throws(Errno) {
        var timeout = timeval(tv_sec: Int(millis / 1000), tv_usec: Int((millis % 1000) * 1000))
        _ = try valueOrErrno {
            unsafe setsockopt(fd.rawValue, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
    }

    /// Shuts both directions down, waking any thread blocked on the socket. Errors are ignored:
    /// the peer may already be gone, which is the outcome we want.
    public static func shutdown(_ fd: FileDescriptor) {
        _ = Glibc.shutdown(fd.rawValue, Int32(SHUT_RDWR))
    }

    /// Receives up to `buffer.count` bytes. Returns 0 at end of stream.
    public static func receive(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try valueOrErrno { unsafe recv(fd.rawValue, buffer.baseAddress, buffer.count, 0) }
    }

    /// Fills `buffer` completely. Returns false on a clean end of stream before the first byte.
    /// - Throws: `Errno.connectionReset` when the stream ends part-way.
    public static func receiveExactly(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Bool {
        var filled = 0
        while filled < buffer.count {
            let count = try receive(fd, into: unsafe UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if count == 0 {
                if filled == 0 { return false }
                throw Errno.connectionReset
            }
            filled += count
        }
        return true
    }

    /// Sends all of `bytes` (MSG_NOSIGNAL: a closed peer is an error, not a SIGPIPE).
    public static func sendAll(_ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer) throws(Errno) {
        var sent = 0
        while sent < bytes.count {
            let remaining = unsafe UnsafeRawBufferPointer(rebasing: bytes[sent...])
            sent += try valueOrErrno { unsafe Glibc.send(fd.rawValue, remaining.baseAddress, remaining.count, Int32(MSG_NOSIGNAL)) }
        }
    }

    /// Sends all of `bytes`.
    public static func sendAll(_ fd: FileDescriptor, _ bytes: [UInt8]) throws(Errno) {
        try errnoTyped { try unsafe bytes.withUnsafeBytes { raw in try unsafe sendAll(fd, raw) } }
    }

    /// Sends one datagram to `endpoint`.
    public static func send(_ fd: FileDescriptor, _ bytes: [UInt8], to endpoint: IPv4Endpoint) throws(Errno) {
        var address = endpoint.raw
        _ = try valueOrErrno {
            unsafe bytes.withUnsafeBytes { raw in
                unsafe withUnsafePointer(to: &address) { pointer in
                    unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        unsafe sendto(fd.rawValue, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL), $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
        }
    }

    /// Receives one datagram into `buffer`, returning its length and sender.
    public static func receiveFrom(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> (Int, IPv4Endpoint) {
        var peer = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let count = try valueOrErrno {
            unsafe withUnsafeMutablePointer(to: &peer) { pointer in
                unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    unsafe recvfrom(fd.rawValue, buffer.baseAddress, buffer.count, 0, $0, &length)
                }
            }
        }
        return (count, IPv4Endpoint(peer))
    }

    static func make(_ type: __socket_type) throws(Errno) -> FileDescriptor {
        let raw = try valueOrErrno { socket(AF_INET, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        return FileDescriptor(rawValue: raw)
    }

    static func bind(_ fd: FileDescriptor, _ endpoint: IPv4Endpoint) throws(Errno) {
        var address = endpoint.raw
        _ = try valueOrErrno {
            unsafe withUnsafePointer(to: &address) { pointer in
                unsafe pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    unsafe Glibc.bind(fd.rawValue, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }
}

extension Socket {
    /// Waits until `fd` is readable or `timeoutMillis` passes (poll(2)). Returns true when readable.
    public static func waitReadable(_ fd: FileDescriptor, timeoutMillis: Int32) throws(Errno) -> Bool {
        var entry = pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0)
        let ready = try valueOrErrno { poll(&entry, 1, timeoutMillis) }
        return ready > 0
    }
}
