import Foundation
import Synchronization

/// HTTP/1.1 over plain TCP sockets for `http://` gateways: keep-alive pools, blocking I/O
/// on one thread per connection, and no wake-ups while waiting.
///
/// Why not `URLSession`: FoundationNetworking on Linux busy-polls while a request is in
/// flight (about 1,700 futex/epoll_wait/read/write wake-ups a second and 1.3 s of system
/// CPU per 2 s wait, measured with `strace -f -c`). Here a waiting request costs one `poll`
/// on its connection's thread and nothing on Swift's cooperative pool.
///
/// - Connections: up to `maxConnections` per host:port, reused while the server keeps
///   them open; callers beyond the limit wait their turn (first come, first served,
///   suspended, not spinning). Connections idle longer than `idleTimeout` are closed when
///   the pool is next used.
/// - Each connection owns a thread that resolves the name (`getaddrinfo`; IPv4 and IPv6
///   literals without a lookup), connects (non-blocking connect, then `poll`), writes the
///   request (head and body in one write, MSG_NOSIGNAL, TCP_NODELAY) and reads the answer,
///   waiting only in `poll` against the request's deadline (`TransportRequest.timeout`,
///   which also covers waiting for a connection). The caller's task is resumed through a
///   continuation.
/// - Answers: 1xx interim answers skipped; bodies by Content-Length, chunked, or up to
///   the close (the connection is then not reused); heads up to 64 KiB, bodies up to 64 MiB.
/// - Retries: a request that failed on a reused keep-alive connection before any byte of
///   the answer arrived (the server closed it while idle) is sent once more on a new
///   connection. Nothing else is retried: the gateway may have carried the request out.
/// - Cancelling the calling task fails the request at once and closes its connection.
///
/// `close()` (or deinit) closes the idle connections and ends their threads.
public final class SocketHTTPTransport: HTTPTransport, Sendable {
    /// Most connections kept to one host:port.
    public let maxConnections: Int
    /// Seconds an idle connection is kept for reuse.
    public let idleTimeout: Double

    private struct State {
        var closed = false
        var pools: [String: SocketHTTPPool] = [:]
    }

    private let state = Mutex(State())

    /// Creates a transport keeping up to `maxConnections` (at least 1) connections to each
    /// host, each reused while idle for at most `idleTimeout` seconds.
    public init(maxConnections: Int = 16, idleTimeout: Double = 30) {
        self.maxConnections = max(1, maxConnections)
        self.idleTimeout = idleTimeout
    }

    deinit {
        close()
    }

    /// Closes the idle connections, ends their threads and fails callers waiting for a
    /// connection; requests in flight finish, then their connections close. Later posts fail.
    public func close() {
        let pools = state.withLock { state -> [SocketHTTPPool] in
            state.closed = true
            defer { state.pools = [:] }
            return Array(state.pools.values)
        }
        for pool in pools { pool.close() }
    }

    /// Connections open (idle or in use) to all hosts, for tests.
    var openConnections: Int {
        state.withLock { Array($0.pools.values) }.reduce(0) { $0 + $1.openCount }
    }

    /// Performs one POST over a pooled keep-alive connection.
    public func post(_ request: TransportRequest) async throws(TransportError) -> TransportResponse {
        let deadline = SocketSystem.now() + max(0, request.timeout)
        let url = request.url.absoluteString
        guard let target = SocketTarget(url) else {
            throw TransportError(message: "\(url): not an http:// URL with a host and valid port (SocketHTTPTransport speaks plain HTTP only)",
                                 timedOut: false)
        }
        let bytes: [UInt8]
        switch SocketHTTPCodec.encodeRequest(request, target: target) {
        case .success(let encoded): bytes = encoded
        case .failure(let invalid):
            throw TransportError(message: "\(url): header field '\(invalid.name)' has a character HTTP forbids", timedOut: false)
        }
        let pool = try pool(for: target, url: url)
        var grant: SocketHTTPPool.Grant
        switch await pool.acquire(deadline: deadline, url: url, timeout: request.timeout) {
        case .success(let granted): grant = granted
        case .failure(let error): throw error
        }
        if Task.isCancelled {
            pool.giveBack(grant)
            throw TransportError(message: "\(url): cancelled", timedOut: false)
        }
        var retried = false
        while true {
            let connection: SocketHTTPConnection
            switch grant {
            case .idle(let pooled): connection = pooled
            case .create: connection = SocketHTTPConnection(host: target.host, port: target.port)
            }
            let job = SocketHTTPJob(bytes: bytes, deadline: deadline, timeout: request.timeout, url: url)
            switch await connection.run(job) {
            case .answered(let response, let reusable):
                pool.release(connection, reusable: reusable)
                return response
            case .failed(let error, let retryable):
                // The keep-alive race: the server closed the idle connection as we used
                // it and nothing came back, so the request can go once more on a new one.
                if retryable && !retried && !Task.isCancelled && SocketSystem.now() < deadline {
                    retried = true
                    guard pool.replace(connection) else { throw error }
                    grant = .create
                    continue
                }
                pool.release(connection, reusable: false)
                throw error
            }
        }
    }

    private func pool(for target: SocketTarget, url: String) throws(TransportError) -> SocketHTTPPool {
        let key = target.poolKey
        let pool = state.withLock { state -> SocketHTTPPool? in
            guard !state.closed else { return nil }
            if let pool = state.pools[key] { return pool }
            let pool = SocketHTTPPool(origin: "http://\(target.hostHeader)", limit: maxConnections, idleTimeout: idleTimeout)
            state.pools[key] = pool
            return pool
        }
        guard let pool else { throw TransportError(message: "\(url): the transport was closed", timedOut: false) }
        return pool
    }
}
