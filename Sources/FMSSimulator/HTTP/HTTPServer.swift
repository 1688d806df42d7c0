import Dispatch
import Glibc
import Synchronization

/// A small blocking HTTP/1.1 server: one accept thread, one thread per connection.
///
/// The handler runs on the connection's thread and may block (to inject latency, say);
/// `stop()` waits for running handlers to return, so never call it from a handler.
public final class HTTPServer: Sendable {
    /// Limits and the listening address.
    public struct Configuration: Sendable {
        /// The IPv4 dotted address to bind.
        public var host: String = "127.0.0.1"
        /// The port to bind; 0 lets the system pick one (read it from `port`).
        public var port: Int = 0
        /// The largest body accepted; a larger Content-Length (or chunked total) gets 413, then close.
        public var maxBodyBytes: Int = 4 << 20
        /// The largest request line plus header fields; more gets 431, then close.
        public var maxHeaderBytes: Int = 16 << 10
        /// Seconds a keep-alive connection may sit idle before we close it (0: no limit).
        public var idleTimeout: Double = 30
        /// Seconds from a request's first byte to its last; slower gets 408, then close (0: no limit).
        public var requestTimeout: Double = 10
        /// The most open connections; beyond it new ones are accepted and closed at once.
        public var maxConnections: Int = 1024

        /// Creates the default configuration: loopback, a system-chosen port.
        public init() {}
    }

    private enum Phase {
        case idle
        case running
        case stopped
    }

    private struct State {
        var phase: Phase = .idle
        var listener: Int32?
        var port = 0
        var connections: Set<Int32> = []
    }

    /// How long the accept loop waits between checks that the server still runs.
    private static let acceptPollSeconds = 0.1
    /// The listen backlog.
    private static let backlog: Int32 = 511

    private let configuration: Configuration
    private let handler: @Sendable (HTTPRequest) -> HTTPDisposition
    private let state = Mutex(State())
    /// Entered for the accept thread and each connection thread; `stop()` waits on it.
    private let threads = DispatchGroup()

    /// Creates a server that answers each request with `handler`; call `start()` next.
    public init(
        configuration: Configuration = Configuration(),
        handler: @escaping @Sendable (HTTPRequest) -> HTTPDisposition
    ) {
        self.configuration = configuration
        self.handler = handler
    }

    /// The bound port; valid after `start()` returned.
    public var port: Int {
        state.withLock { $0.port }
    }

    /// Binds, listens and starts the accept thread.
    ///
    /// - Throws: `HTTPServerError`: a bad host or port, a failed system call (naming
    ///   host:port and the errno text), or a second start.
    public func start() throws {
        let listener = try state.withLock { state throws(HTTPServerError) -> Int32 in
            guard state.phase == .idle else {
                throw .alreadyStarted
            }
            let bound = try HTTPSocket.listen(
                host: configuration.host,
                port: configuration.port,
                backlog: Self.backlog
            )
            state.listener = bound.fd
            state.port = bound.port
            state.phase = .running
            // Entered under the lock so a concurrent stop() waits for this thread.
            threads.enter()
            return bound.fd
        }
        let failure = HTTPThread.spawn { [self] in
            acceptLoop(listener: listener)
            threads.leave()
        }
        if let failure {
            let address = "\(configuration.host):\(port)"
            threads.leave()
            stop()
            throw HTTPServerError.systemCall(name: "pthread_create", address: address, errno: failure)
        }
    }

    /// Stops accepting, shuts down every open connection and waits for all threads
    /// to end (including handlers still running). Idempotent; later calls also wait.
    public func stop() {
        state.withLock { state in
            guard state.phase == .running else {
                state.phase = .stopped
                return
            }
            state.phase = .stopped
            if let listener = state.listener {
                HTTPSocket.shutdownBoth(listener)
            }
            for connection in state.connections {
                HTTPSocket.shutdownBoth(connection)
            }
        }
        threads.wait()
        state.withLock { state in
            if let listener = state.listener {
                HTTPSocket.close(listener)
                state.listener = nil
            }
        }
    }

    // MARK: - Threads

    private func acceptLoop(listener: Int32) {
        while isRunning {
            switch HTTPSocket.waitReadable(listener, timeout: Self.acceptPollSeconds) {
            case .ready:
                break
            case .timedOut:
                continue
            case .failed:
                Self.pause()
                continue
            }
            switch HTTPSocket.accept(listener) {
            case .connection(let fd, let peer):
                admit(fd: fd, peer: peer)
            case .retry:
                continue
            case .exhausted, .failed:
                // Out of descriptors, or the listener was shut down: the loop
                // condition ends it in the latter case; back off in both.
                if isRunning {
                    Self.pause()
                }
            }
        }
    }

    /// Registers the connection and starts its thread, or closes it at once when
    /// stopping or at the connection limit.
    private func admit(fd: Int32, peer: String) {
        let limit = configuration.maxConnections
        let admitted = state.withLock { state -> Bool in
            guard state.phase == .running, state.connections.count < limit else {
                return false
            }
            state.connections.insert(fd)
            threads.enter()
            return true
        }
        guard admitted else {
            HTTPSocket.close(fd)
            return
        }
        let failure = HTTPThread.spawn { [self] in
            var connection = HTTPConnection(
                fd: fd,
                peerAddress: peer,
                configuration: configuration,
                handler: handler
            )
            connection.run()
            finish(fd: fd)
            threads.leave()
        }
        if failure != nil {
            // Out of threads: treat it like the connection limit.
            finish(fd: fd)
            threads.leave()
        }
    }

    /// Unregisters and closes a connection, under the lock so that `stop()` never
    /// shuts down a descriptor number already reused.
    private func finish(fd: Int32) {
        state.withLock { state in
            state.connections.remove(fd)
            HTTPSocket.close(fd)
        }
    }

    private var isRunning: Bool {
        state.withLock { $0.phase == .running }
    }

    private static func pause() {
        usleep(10_000)
    }
}
