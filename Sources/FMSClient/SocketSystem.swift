import Glibc

/// The system calls under `SocketHTTPTransport`: a monotonic clock, `poll` against a
/// deadline, name resolution and a connect bounded by a deadline. EINTR is retried
/// everywhere; nothing here spins.
enum SocketSystem {
    /// The outcome of waiting for a descriptor.
    enum Wait: Equatable {
        /// Ready for the events asked, or in error / hung up (the next call says which).
        case ready
        /// The deadline passed first.
        case timedOut
        /// `poll` itself failed (the errno value).
        case failed(Int32)
    }

    /// Why a host name gave no address.
    struct ResolveFailure: Error {
        /// The `getaddrinfo` code.
        var code: Int32
        /// Whether the name is known not to exist (rather than the lookup failing).
        var unknown: Bool
        /// The resolver's explanation.
        var text: String
    }

    /// Why a connect failed.
    enum ConnectFailure: Error, Equatable {
        /// The deadline passed.
        case timedOut
        /// Someone aborted the connection while it was being made.
        case aborted
        /// A system call failed with this errno value.
        case failed(Int32)
    }

    /// One resolved address, ready for `connect`.
    struct Address {
        var storage = sockaddr_storage()
        var length: socklen_t = 0
        var family: Int32 = 0
    }

    /// Seconds on the monotonic clock.
    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1_000_000_000
    }

    /// The text of an errno value.
    static func errorText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }

    /// Waits in `poll` until `fd` has one of `events` (or an error or hang-up), or `deadline` passes.
    static func wait(_ fd: Int32, events: Int16, deadline: Double) -> Wait {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let remaining = deadline - now()
            guard remaining > 0 else { return .timedOut }
            // Rounded up, so poll never returns before the deadline and makes us loop.
            let milliseconds = Int32(min((remaining * 1000).rounded(.up), Double(Int32.max)))
            entry.revents = 0
            let count = poll(&entry, 1, milliseconds)
            if count > 0 {
                if entry.revents & Int16(POLLNVAL) != 0 { return .failed(EBADF) }
                return .ready
            }
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                return .failed(code)
            }
        }
    }

    /// Whether `fd` already has something to read, an error or a hang-up (a zero-timeout poll).
    ///
    /// On an idle keep-alive connection any of these means the server closed it (or sent
    /// something unasked): it must not carry a request.
    static func hasPendingEvent(_ fd: Int32) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let count = poll(&entry, 1, 0)
            if count < 0 && errno == EINTR { continue }
            return count != 0
        }
    }

    /// An `Address` holding a copy of a `sockaddr_in` or `sockaddr_in6`.
    private static func literalAddress<SocketAddress>(_ address: SocketAddress, family: Int32) -> Address {
        var result = Address()
        var address = address
        withUnsafeMutableBytes(of: &result.storage) { target in
            withUnsafeBytes(of: &address) { target.copyMemory(from: $0) }
        }
        result.length = socklen_t(MemoryLayout<SocketAddress>.size)
        result.family = family
        return result
    }

    /// The addresses of `host`: literal IPv4 and IPv6 without a lookup, names through `getaddrinfo`.
    ///
    /// `getaddrinfo` blocks for as long as the resolver's own timeouts (resolv.conf) allow;
    /// it runs on a connection's thread, never on the cooperative pool.
    static func resolve(host: String, port: UInt16) -> Result<[Address], ResolveFailure> {
        var ipv4 = in_addr()
        if inet_pton(AF_INET, host, &ipv4) == 1 {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(port.bigEndian)
            address.sin_addr = ipv4
            return .success([literalAddress(address, family: AF_INET)])
        }
        var ipv6 = in6_addr()
        if inet_pton(AF_INET6, host, &ipv6) == 1 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(port.bigEndian)
            address.sin6_addr = ipv6
            return .success([literalAddress(address, family: AF_INET6)])
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_TCP)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(host, String(port), &hints, &list)
        guard code == 0 else {
            let text = code == EAI_SYSTEM ? errorText(errno) : String(cString: gai_strerror(code))
            // EAI_NODATA (-5) is glibc's "no address for this name".
            return .failure(ResolveFailure(code: code, unknown: code == EAI_NONAME || code == -5, text: text))
        }
        defer { freeaddrinfo(list) }
        var addresses: [Address] = []
        var entry = list
        while let current = entry {
            let info = current.pointee
            if let socketAddress = info.ai_addr, info.ai_addrlen <= socklen_t(MemoryLayout<sockaddr_storage>.size),
               info.ai_family == AF_INET || info.ai_family == AF_INET6 {
                var address = Address()
                withUnsafeMutableBytes(of: &address.storage) { target in
                    target.copyMemory(from: UnsafeRawBufferPointer(start: socketAddress, count: Int(info.ai_addrlen)))
                }
                address.length = info.ai_addrlen
                address.family = info.ai_family
                addresses.append(address)
            }
            entry = info.ai_next
        }
        guard !addresses.isEmpty else {
            return .failure(ResolveFailure(code: EAI_NONAME, unknown: true, text: "no IPv4 or IPv6 address"))
        }
        return .success(addresses)
    }

    /// Connects a new TCP socket to `address` before `deadline` (non-blocking connect, then
    /// `poll`), then makes it blocking again with TCP_NODELAY on.
    ///
    /// `publish` is told the descriptor as soon as it exists (and -1 when it is closed
    /// here on failure) so that another thread can `shutdown` it to abort the wait; it
    /// returns false when the connection was already aborted.
    static func connect(_ address: Address, deadline: Double,
                        publish: (Int32) -> Bool) -> Result<Int32, ConnectFailure> {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd = socket(address.family, type, Int32(IPPROTO_TCP))
        guard fd >= 0 else { return .failure(.failed(errno)) }
        func fail(_ failure: ConnectFailure) -> Result<Int32, ConnectFailure> {
            _ = publish(-1)
            Glibc.close(fd)
            return .failure(failure)
        }
        guard publish(fd) else { return fail(.aborted) }
        var storage = address.storage
        let started = withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, address.length) }
        }
        if started != 0 {
            let code = errno
            guard code == EINPROGRESS || code == EINTR || code == EAGAIN else { return fail(.failed(code)) }
            switch wait(fd, events: Int16(POLLOUT), deadline: deadline) {
            case .timedOut: return fail(.timedOut)
            case .failed(let code): return fail(.failed(code))
            case .ready: break
            }
            var failure: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &length) == 0 else { return fail(.failed(errno)) }
            // A shutdown by an abort shows as no error but no peer either.
            if failure == 0 {
                var peer = sockaddr_storage()
                var peerLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let named = withUnsafeMutablePointer(to: &peer) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &peerLength) }
                }
                if named != 0 { failure = errno == ENOTCONN ? ECONNABORTED : errno }
            }
            guard failure == 0 else { return fail(.failed(failure)) }
        }
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~Int32(O_NONBLOCK)) }
        var enable: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &enable, socklen_t(MemoryLayout<Int32>.size))
        return .success(fd)
    }
}
