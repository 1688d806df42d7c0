import Synchronization

/// The keep-alive connections to one host:port: at most `limit` open, idle ones reused
/// (most recently used first), callers beyond the limit queued first come, first served.
///
/// A waiting caller is suspended on a continuation (no thread waits); it is resumed when a
/// connection is handed back, a slot frees, its deadline passes or its task is cancelled.
final class SocketHTTPPool: Sendable {
    /// What a caller gets: an idle connection, or the right to open a new one.
    enum Grant: Sendable {
        case idle(SocketHTTPConnection)
        case create
    }

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Result<Grant, TransportError>, Never>
    }

    private struct State {
        var idle: [SocketHTTPConnection] = []
        /// Connections open or being opened, idle or leased.
        var open = 0
        var waiters: [Waiter] = []
        var waitersHead = 0
        var nextID: UInt64 = 0
        var closed = false

        mutating func popWaiter() -> Waiter? {
            guard waitersHead < waiters.count else { return nil }
            let waiter = waiters[waitersHead]
            waitersHead += 1
            if waitersHead == waiters.count {
                waiters.removeAll(keepingCapacity: true)
                waitersHead = 0
            } else if waitersHead >= 64 && waitersHead * 2 >= waiters.count {
                waiters.removeSubrange(0..<waitersHead)
                waitersHead = 0
            }
            return waiter
        }

        mutating func removeWaiter(_ id: UInt64) -> Waiter? {
            guard let index = waiters[waitersHead...].firstIndex(where: { $0.id == id }) else { return nil }
            return waiters.remove(at: index)
        }

        /// An idle connection or a free slot, after dropping connections idle too long.
        mutating func take(now: Double, idleTimeout: Double, limit: Int,
                           expired: inout [SocketHTTPConnection]) -> Grant? {
            if let stale = idle.first, now - stale.idleSince > idleTimeout {
                let keep = idle.filter { now - $0.idleSince <= idleTimeout }
                expired = idle.filter { now - $0.idleSince > idleTimeout }
                idle = keep
                open -= expired.count
            }
            if let connection = idle.popLast() { return .idle(connection) }
            if open < limit {
                open += 1
                return .create
            }
            return nil
        }
    }

    /// `http://host:port`, for messages.
    let origin: String
    private let limit: Int
    private let idleTimeout: Double
    private let state = Mutex(State())

    init(origin: String, limit: Int, idleTimeout: Double) {
        self.origin = origin
        self.limit = limit
        self.idleTimeout = idleTimeout
    }

    /// Connections open now (idle or leased), for tests.
    var openCount: Int { state.withLock { $0.open } }

    /// An idle connection or the right to open one, waiting in line when all are busy.
    func acquire(deadline: Double, url: String, timeout: Double) async -> Result<Grant, TransportError> {
        var expired: [SocketHTTPConnection] = []
        let now = SocketSystem.now()
        let immediate = state.withLock { state -> Result<Grant, TransportError>? in
            if state.closed { return .failure(Self.closedError(url)) }
            return state.take(now: now, idleTimeout: idleTimeout, limit: limit, expired: &expired).map { .success($0) }
        }
        for connection in expired { connection.close() }
        if let immediate { return immediate }
        return await wait(deadline: deadline, url: url, timeout: timeout)
    }

    private func wait(deadline: Double, url: String, timeout: Double) async -> Result<Grant, TransportError> {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        let remaining = max(0, deadline - SocketSystem.now())
        // A timer only for callers that actually wait; cancelled once they are served.
        let timer = Task { [self] in
            try? await Task.sleep(nanoseconds: UInt64(remaining * 1_000_000_000))
            if !Task.isCancelled {
                resumeWaiter(id, with: .failure(TransportError(message: "\(url): timed out after \(timeout)s", timedOut: true)))
            }
        }
        defer { timer.cancel() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<Grant, TransportError>, Never>) in
                var expired: [SocketHTTPConnection] = []
                let now = SocketSystem.now()
                let immediate = state.withLock { state -> Result<Grant, TransportError>? in
                    if state.closed { return .failure(Self.closedError(url)) }
                    if Task.isCancelled { return .failure(TransportError(message: "\(url): cancelled", timedOut: false)) }
                    if now >= deadline {
                        return .failure(TransportError(message: "\(url): timed out after \(timeout)s", timedOut: true))
                    }
                    // A slot may have freed since the first look.
                    if let grant = state.take(now: now, idleTimeout: idleTimeout, limit: limit, expired: &expired) {
                        return .success(grant)
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                for connection in expired { connection.close() }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            resumeWaiter(id, with: .failure(TransportError(message: "\(url): cancelled", timedOut: false)))
        }
    }

    private func resumeWaiter(_ id: UInt64, with result: Result<Grant, TransportError>) {
        let waiter = state.withLock { $0.removeWaiter(id) }
        waiter?.continuation.resume(returning: result)
    }

    /// Takes a connection back after an exchange: pooled (or handed to the next in line)
    /// when `reusable`, closed otherwise.
    func release(_ connection: SocketHTTPConnection, reusable: Bool) {
        let now = SocketSystem.now()
        let (handoff, grant, close) = state.withLock { state -> (Waiter?, Grant?, Bool) in
            if reusable && !state.closed {
                if let waiter = state.popWaiter() { return (waiter, .idle(connection), false) }
                connection.idleSince = now
                state.idle.append(connection)
                return (nil, nil, false)
            }
            state.open -= 1
            if !state.closed, state.open < limit, let waiter = state.popWaiter() {
                state.open += 1
                return (waiter, .create, true)
            }
            return (nil, nil, true)
        }
        if close { connection.close() }
        if let handoff, let grant { handoff.continuation.resume(returning: .success(grant)) }
    }

    /// Returns a grant unused (the caller was cancelled before using it).
    func giveBack(_ grant: Grant) {
        switch grant {
        case .idle(let connection):
            release(connection, reusable: true)
        case .create:
            let waiter = state.withLock { state -> Waiter? in
                if !state.closed, let waiter = state.popWaiter() { return waiter }
                state.open -= 1
                return nil
            }
            waiter?.continuation.resume(returning: .success(.create))
        }
    }

    /// Closes a dead connection and keeps its slot for a new one (the retry); false when
    /// the pool was closed meanwhile (the slot is then given up).
    func replace(_ connection: SocketHTTPConnection) -> Bool {
        connection.close()
        return state.withLock { state in
            if state.closed { state.open -= 1 }
            return !state.closed
        }
    }

    /// Fails the waiting callers and closes the idle connections, waiting briefly for
    /// their threads to exit; connections in use close when handed back.
    func close() {
        let (idle, waiters) = state.withLock { state -> ([SocketHTTPConnection], [Waiter]) in
            state.closed = true
            let idle = state.idle
            let waiters = Array(state.waiters[state.waitersHead...])
            state.open -= idle.count
            state.idle = []
            state.waiters = []
            state.waitersHead = 0
            return (idle, waiters)
        }
        for waiter in waiters {
            waiter.continuation.resume(returning: .failure(TransportError(
                message: "\(origin): the transport was closed", timedOut: false)))
        }
        for connection in idle { connection.close() }
        for connection in idle { connection.waitUntilClosed(seconds: 2) }
    }

    private static func closedError(_ url: String) -> TransportError {
        TransportError(message: "\(url): the transport was closed", timedOut: false)
    }
}
