import Dispatch
import Foundation
import Glibc
import Synchronization

/// What one exchange on a connection came to.
enum SocketExchangeOutcome: Sendable {
    /// A complete answer; `reusable` when the connection may carry another request.
    case answered(TransportResponse, reusable: Bool)
    /// No (complete) answer. `retryable` only when the connection had carried a request
    /// before and died before any byte of this answer arrived: the keep-alive race.
    case failed(TransportError, retryable: Bool)
}

/// One request handed to a connection's thread, and the caller waiting for it.
///
/// Finished exactly once: by the thread with the outcome, or by cancellation first.
final class SocketHTTPJob: Sendable {
    let bytes: [UInt8]
    let deadline: Double
    let timeout: Double
    let url: String

    private struct State {
        var continuation: CheckedContinuation<SocketExchangeOutcome, Never>?
        var finished = false
    }

    private let state = Mutex(State())

    init(bytes: [UInt8], deadline: Double, timeout: Double, url: String) {
        self.bytes = bytes
        self.deadline = deadline
        self.timeout = timeout
        self.url = url
    }

    /// Whether the job was already finished (cancelled before the thread got to it).
    var isFinished: Bool { state.withLock { $0.finished } }

    /// Stores the caller's continuation; false (and resumed at once) when already cancelled.
    func attach(_ continuation: CheckedContinuation<SocketExchangeOutcome, Never>) -> Bool {
        let finished = state.withLock { state in
            if !state.finished { state.continuation = continuation }
            return state.finished
        }
        if finished { continuation.resume(returning: cancelledOutcome) }
        return !finished
    }

    /// Hands the outcome to the caller, unless the job was cancelled first.
    func finish(_ outcome: SocketExchangeOutcome) {
        let continuation = state.withLock { state -> CheckedContinuation<SocketExchangeOutcome, Never>? in
            guard !state.finished else { return nil }
            state.finished = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(returning: outcome)
    }

    /// Fails the job as cancelled; true when this call finished it (the connection must then be aborted).
    func cancel() -> Bool {
        let (won, continuation) = state.withLock { state -> (Bool, CheckedContinuation<SocketExchangeOutcome, Never>?) in
            guard !state.finished else { return (false, nil) }
            state.finished = true
            defer { state.continuation = nil }
            return (true, state.continuation)
        }
        continuation?.resume(returning: cancelledOutcome)
        return won
    }

    private var cancelledOutcome: SocketExchangeOutcome {
        .failed(TransportError(message: "\(url): cancelled", timedOut: false), retryable: false)
    }
}

/// One keep-alive connection and the thread that does all of its blocking I/O.
///
/// The thread sleeps on a semaphore between requests (no CPU while idle), and waits on
/// the socket only in `poll` bounded by the request's deadline. Name resolution and the
/// connect happen on this thread too, on its first request. Leased to one caller at a time
/// by `SocketHTTPPool`.
final class SocketHTTPConnection: @unchecked Sendable {
    /// Connection threads alive in the process (for tests: none may leak).
    static let liveThreads = Atomic<Int>(0)

    let host: String
    let port: UInt16
    /// When the connection was last put back idle; guarded by the pool's lock.
    var idleSince: Double = 0

    private struct Shared {
        var job: SocketHTTPJob?
        var closing = false
        var aborted = false
        /// The socket, published so that `abort()` can shut it down.
        var fd: Int32 = -1
    }

    private let shared = Mutex(Shared())
    private let wakeup = DispatchSemaphore(value: 0)
    private let exited = DispatchSemaphore(value: 0)

    // Owned by the thread.
    private var socket: Int32 = -1
    private var inbox: [UInt8] = []
    private var consumed = 0
    private var received = 0
    private var scratch: [UInt8] = []

    init(host: String, port: UInt16) {
        self.host = host
        self.port = port
        Self.liveThreads.add(1, ordering: .relaxed)
        let thread = Thread { [self] in serve() }
        thread.name = "fms-http \(host):\(port)"
        thread.start()
    }

    /// Runs one exchange on the connection's thread; cancelling the task fails it at once
    /// (the connection is then aborted and must be discarded).
    func run(_ job: SocketHTTPJob) async -> SocketExchangeOutcome {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if job.attach(continuation) {
                    shared.withLock { $0.job = job }
                    wakeup.signal()
                }
            }
        } onCancel: {
            if job.cancel() { abort() }
        }
    }

    /// Stops the thread once it has finished what it is doing; it closes the socket.
    func close() {
        shared.withLock { $0.closing = true }
        wakeup.signal()
    }

    /// Waits (up to `seconds`) for the thread to have exited; true if it has.
    @discardableResult
    func waitUntilClosed(seconds: Double) -> Bool {
        guard exited.wait(timeout: .now() + seconds) == .success else { return false }
        exited.signal()
        return true
    }

    /// Shuts the socket down, waking a thread waiting on it; the connection is dead.
    private func abort() {
        shared.withLock { shared in
            shared.aborted = true
            if shared.fd >= 0 { _ = Glibc.shutdown(shared.fd, Int32(SHUT_RDWR)) }
        }
    }

    // MARK: The thread

    private func serve() {
        while true {
            wakeup.wait()
            let (job, stop) = shared.withLock { shared in
                let job = shared.job
                shared.job = nil
                return (job, shared.closing && job == nil)
            }
            if let job {
                if job.isFinished {
                    closeSocket()
                    continue
                }
                let outcome = perform(job)
                var keep = false
                if case .answered(_, let reusable) = outcome { keep = reusable }
                if !keep || shared.withLock({ $0.aborted }) { closeSocket() }
                job.finish(outcome)
                continue
            }
            if stop { break }
        }
        closeSocket()
        scratch = []
        inbox = []
        Self.liveThreads.subtract(1, ordering: .relaxed)
        exited.signal()
    }

    private func closeSocket() {
        shared.withLock { shared in
            if shared.fd >= 0 {
                Glibc.close(shared.fd)
                shared.fd = -1
            }
        }
        socket = -1
        inbox.removeAll()
        consumed = 0
    }

    private struct Failure: Error {
        var error: TransportError
        var retryable: Bool
    }

    private func perform(_ job: SocketHTTPJob) -> SocketExchangeOutcome {
        received = 0
        consumed = 0
        inbox.removeAll(keepingCapacity: true)
        let reused = socket >= 0
        if reused {
            // The server closed it while it sat idle (or sent something unasked): nothing
            // was sent, so another connection can safely carry the request.
            if SocketSystem.hasPendingEvent(socket) { return .failed(closedError(job), retryable: true) }
        } else if let error = open(job) {
            return .failed(error, retryable: false)
        }
        do throws(Failure) {
            try send(job, reused: reused)
            let (response, reusable) = try readAnswer(job, reused: reused)
            return .answered(response, reusable: reusable)
        } catch {
            return .failed(error.error, retryable: error.retryable)
        }
    }

    /// Resolves the host and connects to its addresses in turn; the error if none answered.
    private func open(_ job: SocketHTTPJob) -> TransportError? {
        let url = job.url
        let addresses: [SocketSystem.Address]
        switch SocketSystem.resolve(host: host, port: port) {
        case .failure(let failure):
            let detail = failure.unknown ? "" : " (\(failure.text))"
            return TransportError(message: "\(url): unknown host\(detail)", timedOut: false)
        case .success(let list):
            addresses = list
        }
        var refused = false
        var lastError: Int32 = 0
        for address in addresses {
            let outcome = SocketSystem.connect(address, deadline: job.deadline) { fd in
                shared.withLock { shared in
                    shared.fd = fd
                    return !shared.aborted
                }
            }
            switch outcome {
            case .success(let fd):
                socket = fd
                if scratch.isEmpty { scratch = [UInt8](repeating: 0, count: 64 << 10) }
                return nil
            case .failure(.timedOut):
                return timedOutError(job)
            case .failure(.aborted):
                return TransportError(message: "\(url): cancelled", timedOut: false)
            case .failure(.failed(let code)):
                if code == ECONNREFUSED { refused = true }
                lastError = code
            }
        }
        if refused { return TransportError(message: "\(url): connection refused", timedOut: false) }
        switch lastError {
        case ENETUNREACH: return TransportError(message: "\(url): network unreachable", timedOut: false)
        case EHOSTUNREACH: return TransportError(message: "\(url): host unreachable", timedOut: false)
        case ETIMEDOUT: return timedOutError(job)
        default:
            return TransportError(message: "\(url): cannot connect: \(SocketSystem.errorText(lastError)) (errno \(lastError))",
                                  timedOut: false)
        }
    }

    /// Writes head and body (one buffer), waiting in `poll` when the socket buffer is full.
    private func send(_ job: SocketHTTPJob, reused: Bool) throws(Failure) {
        let count = job.bytes.count
        var offset = 0
        while offset < count {
            let sent = job.bytes.withUnsafeBytes { raw in
                Glibc.send(socket, raw.baseAddress! + offset, count - offset, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            }
            if sent > 0 {
                offset += sent
                continue
            }
            let code = errno
            if sent < 0 && code == EINTR { continue }
            if sent < 0 && (code == EAGAIN || code == EWOULDBLOCK) {
                switch SocketSystem.wait(socket, events: Int16(POLLOUT), deadline: job.deadline) {
                case .ready: continue
                case .timedOut: throw Failure(error: timedOutError(job), retryable: false)
                case .failed(let code): throw Failure(error: networkError(job, code), retryable: false)
                }
            }
            if Self.isConnectionLost(code) { throw Failure(error: closedError(job), retryable: reused) }
            throw Failure(error: networkError(job, code), retryable: false)
        }
    }

    /// Reads until something arrives (true) or the server closed its side (false).
    private func fill(_ job: SocketHTTPJob, reused: Bool) throws(Failure) -> Bool {
        while true {
            switch SocketSystem.wait(socket, events: Int16(POLLIN), deadline: job.deadline) {
            case .ready: break
            case .timedOut: throw Failure(error: timedOutError(job), retryable: false)
            case .failed(let code): throw Failure(error: networkError(job, code), retryable: false)
            }
            let count = scratch.withUnsafeMutableBytes { raw in
                recv(socket, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT))
            }
            if count > 0 {
                inbox.append(contentsOf: scratch[0..<count])
                received += count
                return true
            }
            if count == 0 { return false }
            let code = errno
            if code == EINTR || code == EAGAIN || code == EWOULDBLOCK { continue }
            if Self.isConnectionLost(code) {
                throw Failure(error: closedError(job), retryable: reused && received == 0)
            }
            throw Failure(error: networkError(job, code), retryable: false)
        }
    }

    /// `fill`, where the server closing is an incomplete answer.
    private func fillOrFail(_ job: SocketHTTPJob, reused: Bool) throws(Failure) {
        guard try fill(job, reused: reused) else {
            throw Failure(error: closedError(job), retryable: reused && received == 0)
        }
    }

    /// Reads the answer: skips 1xx interim answers, then reads the body as framed.
    private func readAnswer(_ job: SocketHTTPJob, reused: Bool) throws(Failure) -> (TransportResponse, Bool) {
        let maxHead = SocketHTTPCodec.maxHeadBytes
        let maxBody = SocketHTTPCodec.maxBodyBytes
        while true {
            var scanFrom = consumed
            var headEnd: Int
            while true {
                if let end = SocketHTTPCodec.headEnd(in: inbox, from: scanFrom) {
                    headEnd = end
                    break
                }
                guard inbox.count - consumed <= maxHead else {
                    throw malformed(job, "the head is larger than \(maxHead / 1024) KiB")
                }
                scanFrom = max(consumed, inbox.count - 3)
                try fillOrFail(job, reused: reused)
            }
            guard headEnd - consumed <= maxHead else {
                throw malformed(job, "the head is larger than \(maxHead / 1024) KiB")
            }
            let head: SocketHTTPHead
            let framing: SocketBodyFraming
            var reusable: Bool
            do {
                head = try SocketHTTPCodec.parseHead(inbox[consumed..<headEnd])
                (framing, reusable) = try SocketHTTPCodec.framing(of: head)
            } catch {
                throw malformed(job, error.reason)
            }
            consumed = headEnd
            if (100..<200).contains(head.status) {
                guard head.status != 101 else { throw malformed(job, "unexpected 101 Switching Protocols") }
                continue
            }
            var body: [UInt8] = []
            switch framing {
            case .none:
                break
            case .length(let length):
                guard length <= maxBody else {
                    throw malformed(job, "a body of \(length) bytes is larger than \(maxBody >> 20) MiB")
                }
                if inbox.count - consumed < length { inbox.reserveCapacity(consumed + length) }
                while inbox.count - consumed < length { try fillOrFail(job, reused: reused) }
                body = Array(inbox[consumed..<(consumed + length)])
                consumed += length
            case .chunked:
                body = try readChunked(job, reused: reused)
            case .untilClose:
                while try fill(job, reused: reused) {
                    guard inbox.count - consumed <= maxBody else {
                        throw malformed(job, "the body is larger than \(maxBody >> 20) MiB")
                    }
                }
                body = Array(inbox[consumed...])
                consumed = inbox.count
                reusable = false
            }
            // Bytes nobody asked for: the connection's framing cannot be trusted.
            if consumed != inbox.count { reusable = false }
            if inbox.capacity > 1 << 20 { inbox = [] } else { inbox.removeAll(keepingCapacity: true) }
            consumed = 0
            return (TransportResponse(status: head.status, headers: head.headers, body: body), reusable)
        }
    }

    /// Decodes a chunked body, trailers skipped.
    private func readChunked(_ job: SocketHTTPJob, reused: Bool) throws(Failure) -> [UInt8] {
        let maxBody = SocketHTTPCodec.maxBodyBytes
        var body: [UInt8] = []
        while true {
            // Drop what was decoded so the inbox does not hold the body twice.
            if consumed > 64 << 10 {
                inbox.removeSubrange(0..<consumed)
                consumed = 0
            }
            let sizeLine = try readLine(job, reused: reused, limit: 4096, what: "chunk size line")
            let size: Int
            do {
                size = try SocketHTTPCodec.chunkSize(sizeLine[...])
            } catch {
                throw malformed(job, error.reason)
            }
            if size == 0 {
                var trailerBytes = 0
                while true {
                    let trailer = try readLine(job, reused: reused, limit: SocketHTTPCodec.maxHeadBytes, what: "trailer")
                    if trailer.isEmpty { return body }
                    trailerBytes += trailer.count + 2
                    guard trailerBytes <= SocketHTTPCodec.maxHeadBytes else {
                        throw malformed(job, "trailers larger than \(SocketHTTPCodec.maxHeadBytes / 1024) KiB")
                    }
                }
            }
            guard body.count + size <= maxBody else {
                throw malformed(job, "the chunked body is larger than \(maxBody >> 20) MiB")
            }
            while inbox.count - consumed < size { try fillOrFail(job, reused: reused) }
            body.append(contentsOf: inbox[consumed..<(consumed + size)])
            consumed += size
            let end = try readLine(job, reused: reused, limit: 2, what: "chunk end")
            guard end.isEmpty else { throw malformed(job, "chunk data longer than its size \(size)") }
        }
    }

    /// One line (without CRLF or LF) from the inbox, reading more as needed.
    private func readLine(_ job: SocketHTTPJob, reused: Bool, limit: Int, what: String) throws(Failure) -> [UInt8] {
        var scanFrom = consumed
        while true {
            if let newline = inbox[scanFrom...].firstIndex(of: 0x0A) {
                var line = inbox[consumed..<newline]
                if line.last == 0x0D { line = line.dropLast() }
                consumed = newline + 1
                return Array(line)
            }
            guard inbox.count - consumed <= limit else { throw malformed(job, "\(what) longer than \(limit) bytes") }
            scanFrom = inbox.count
            try fillOrFail(job, reused: reused)
        }
    }

    // MARK: Errors

    private static func isConnectionLost(_ code: Int32) -> Bool {
        code == EPIPE || code == ECONNRESET || code == ECONNABORTED || code == ENOTCONN || code == ESHUTDOWN
    }

    private func closedError(_ job: SocketHTTPJob) -> TransportError {
        TransportError(message: "\(job.url): the connection closed without a complete answer (the request may have been carried out)",
                       timedOut: false)
    }

    private func timedOutError(_ job: SocketHTTPJob) -> TransportError {
        TransportError(message: "\(job.url): timed out after \(job.timeout)s", timedOut: true)
    }

    private func networkError(_ job: SocketHTTPJob, _ code: Int32) -> TransportError {
        TransportError(message: "\(job.url): network error: \(SocketSystem.errorText(code)) (errno \(code))",
                       timedOut: code == ETIMEDOUT)
    }

    private func malformed(_ job: SocketHTTPJob, _ reason: String) -> Failure {
        Failure(error: TransportError(message: "\(job.url): malformed HTTP answer (\(reason))", timedOut: false), retryable: false)
    }
}
