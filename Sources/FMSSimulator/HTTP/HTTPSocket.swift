import Glibc

/// Why the HTTP server could not start.
public enum HTTPServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bind host is not an IPv4 dotted address.
    case invalidAddress(host: String)
    /// The port is outside 0...65535.
    case invalidPort(Int)
    /// A system call failed: its name, the "host:port" concerned and the errno value.
    case systemCall(name: String, address: String, errno: Int32)
    /// `start()` was called on a server already started or stopped.
    case alreadyStarted

    /// A one-line explanation naming the address and the errno text.
    public var description: String {
        switch self {
        case .invalidAddress(let host):
            "cannot listen on \"\(host)\": not an IPv4 dotted address"
        case .invalidPort(let port):
            "cannot listen on port \(port): not in 0...65535"
        case .systemCall(let name, let address, let code):
            "cannot listen on \(address): \(name) failed: \(HTTPSocket.errorText(code)) (errno \(code))"
        case .alreadyStarted:
            "the HTTP server was already started"
        }
    }
}

/// Thin wrappers over the socket system calls; EINTR is retried everywhere.
enum HTTPSocket {
    /// The outcome of waiting for a descriptor to become ready.
    enum WaitResult: Equatable {
        case ready
        case timedOut
        case failed
    }

    /// The outcome of one `recv`.
    enum ReceiveResult: Equatable {
        case received(Int)
        case closed
        case failed
    }

    /// The outcome of one `accept`.
    enum AcceptResult: Equatable {
        case connection(fd: Int32, peer: String)
        /// A transient failure (aborted connection, EINTR): try again.
        case retry
        /// Out of descriptors or memory: back off, then try again.
        case exhausted
        /// The listener is unusable (shut down by `stop()`).
        case failed
    }

    /// The text of an errno value, such as "Address already in use".
    static func errorText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "unknown error" }
        return String(cString: text)
    }

    /// Creates, binds and listens on an IPv4 TCP socket; returns it and the bound port.
    static func listen(host: String, port: Int, backlog: Int32) throws(HTTPServerError) -> (fd: Int32, port: Int) {
        guard (0...65535).contains(port) else {
            throw .invalidPort(port)
        }
        let address = "\(host):\(port)"
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &socketAddress.sin_addr) == 1 else {
            throw .invalidAddress(host: host)
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw .systemCall(name: "socket", address: address, errno: errno)
        }
        var enable: Int32 = 1
        if setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &enable, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            let code = errno
            close(fd)
            throw .systemCall(name: "setsockopt(SO_REUSEADDR)", address: address, errno: code)
        }
        let bound = withUnsafePointer(to: &socketAddress) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(fd, generic, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if bound != 0 {
            let code = errno
            close(fd)
            throw .systemCall(name: "bind", address: address, errno: code)
        }
        if Glibc.listen(fd, backlog) != 0 {
            let code = errno
            close(fd)
            throw .systemCall(name: "listen", address: address, errno: code)
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &actual) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                getsockname(fd, generic, &length)
            }
        }
        if named != 0 {
            let code = errno
            close(fd)
            throw .systemCall(name: "getsockname", address: address, errno: code)
        }
        return (fd, Int(UInt16(bigEndian: actual.sin_port)))
    }

    /// Accepts one connection, sets close-on-exec and TCP_NODELAY, and names its peer.
    static func accept(_ listener: Int32) -> AcceptResult {
        var peer = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = withUnsafeMutablePointer(to: &peer) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                Glibc.accept(listener, generic, &length)
            }
        }
        guard fd >= 0 else {
            switch errno {
            case EINTR, EAGAIN, ECONNABORTED, EPROTO, EPERM, ENETDOWN, ENOPROTOOPT,
                 EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH:
                return .retry
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                return .exhausted
            default:
                return .failed
            }
        }
        // Best effort (Glibc does not export accept4): a failure costs only a leaked
        // descriptor in a child process, or latency.
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        var enable: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &enable, socklen_t(MemoryLayout<Int32>.size))
        return .connection(fd: fd, peer: dottedAddress(peer.sin_addr))
    }

    /// Waits until `fd` is readable (or hung up); `timeout` nil waits without limit.
    static func waitReadable(_ fd: Int32, timeout: Double?) -> WaitResult {
        wait(fd, events: Int16(POLLIN), deadline: timeout.map { monotonicNow() + $0 })
    }

    /// Waits until `fd` is writable; `timeout` nil waits without limit.
    static func waitWritable(_ fd: Int32, timeout: Double?) -> WaitResult {
        wait(fd, events: Int16(POLLOUT), deadline: timeout.map { monotonicNow() + $0 })
    }

    /// Reads once into `scratch` and appends what came to `buffer`; call after `waitReadable`.
    static func receive(_ fd: Int32, appendingTo buffer: inout [UInt8], scratch: inout [UInt8]) -> ReceiveResult {
        while true {
            let count = scratch.withUnsafeMutableBytes { raw in
                recv(fd, raw.baseAddress, raw.count, 0)
            }
            if count > 0 {
                scratch.withUnsafeBytes { raw in
                    buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[0..<count]))
                }
                return .received(count)
            }
            if count < 0, errno == EINTR || errno == EAGAIN {
                continue
            }
            return count == 0 ? .closed : .failed
        }
    }

    /// Sends every byte (MSG_NOSIGNAL); gives up when the peer accepts nothing for
    /// `stallTimeout` seconds or the socket fails. Returns whether all was sent.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8], stallTimeout: Double?) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { raw in
                send(fd, raw.baseAddress.map { $0 + offset }, bytes.count - offset,
                     Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            }
            if sent > 0 {
                offset += sent
                continue
            }
            if sent < 0, errno == EINTR {
                continue
            }
            if sent < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                guard waitWritable(fd, timeout: stallTimeout) == .ready else { return false }
                continue
            }
            return false
        }
        return true
    }

    /// Shuts down both directions, waking any thread blocked on the socket.
    static func shutdownBoth(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Shuts down the sending direction (FIN), keeping the socket readable.
    static func shutdownWrite(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// Closes the descriptor (never retried: on Linux it is released even after EINTR).
    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Seconds on the monotonic clock.
    static func monotonicNow() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1_000_000_000
    }

    private static func wait(_ fd: Int32, events: Int16, deadline: Double?) -> WaitResult {
        while true {
            var timeoutMilliseconds: Int32 = -1
            if let deadline {
                let remaining = deadline - monotonicNow()
                if remaining <= 0 {
                    timeoutMilliseconds = 0
                } else {
                    timeoutMilliseconds = Int32(min((remaining * 1000).rounded(.up), Double(Int32.max)))
                }
            }
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let result = poll(&descriptor, 1, timeoutMilliseconds)
            if result > 0 {
                // POLLHUP/POLLERR count as ready: the next recv or send reports them.
                return .ready
            }
            if result == 0 {
                if let deadline, monotonicNow() < deadline {
                    continue
                }
                return .timedOut
            }
            if errno == EINTR {
                continue
            }
            return .failed
        }
    }

    private static func dottedAddress(_ address: in_addr) -> String {
        var address = address
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        guard inet_ntop(AF_INET, &address, &text, socklen_t(text.count)) != nil else {
            return "0.0.0.0"
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
