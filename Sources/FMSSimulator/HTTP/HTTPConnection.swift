/// Serves the requests of one accepted connection, in order, on the calling thread.
///
/// The owner closes the descriptor after `run()` returns. Every read is preceded by a
/// `poll` bounded by the idle timeout (between requests) or the request deadline
/// (from a request's first byte to its last).
struct HTTPConnection {
    /// How a request's processing leaves the connection.
    private enum Outcome {
        /// Serve the next request.
        case keepOpen
        /// A response said `Connection: close`: half-close, drain briefly, then close.
        case closeGracefully
        /// Close now (peer gone, idle timeout, send failure, handler's choice).
        case closeAtOnce
    }

    /// The outcome of waiting for more bytes.
    private enum ReadResult {
        case received
        case timedOut
        case closed
    }

    /// Bytes asked of the kernel per `recv`.
    static let readChunkBytes = 64 * 1024
    /// The longest wait for the peer to close after we half-closed.
    static let lingerSeconds = 2.0
    /// The most bytes discarded while lingering.
    static let lingerMaxBytes = 1 << 20

    let fd: Int32
    let peerAddress: String
    let configuration: HTTPServer.Configuration
    let handler: @Sendable (HTTPRequest) -> HTTPDisposition

    /// Received bytes; those before `start` are consumed.
    private var buffer: [UInt8] = []
    private var start = 0
    /// Where `recv` writes before the bytes are appended to `buffer`.
    private var scratch = [UInt8](repeating: 0, count: HTTPConnection.readChunkBytes)

    /// Creates the connection state for an accepted socket.
    init(
        fd: Int32,
        peerAddress: String,
        configuration: HTTPServer.Configuration,
        handler: @escaping @Sendable (HTTPRequest) -> HTTPDisposition
    ) {
        self.fd = fd
        self.peerAddress = peerAddress
        self.configuration = configuration
        self.handler = handler
    }

    /// Serves requests until the connection is to be closed; does not close `fd`.
    mutating func run() {
        while true {
            switch serveOneRequest() {
            case .keepOpen:
                continue
            case .closeGracefully:
                linger()
                return
            case .closeAtOnce:
                return
            }
        }
    }

    // MARK: - One request

    private mutating func serveOneRequest() -> Outcome {
        compact()
        skipBlankLines()
        if start == buffer.count {
            guard read(deadline: deadline(after: configuration.idleTimeout)) == .received else {
                return .closeAtOnce
            }
        }
        let requestDeadline = deadline(after: configuration.requestTimeout)

        // The head: request line and header fields.
        var scanFrom = start
        var headEnd: Int?
        while headEnd == nil {
            skipBlankLines()
            headEnd = HTTPRequestParser.headEnd(in: buffer, start: start, scanFrom: scanFrom)
            if headEnd != nil {
                break
            }
            scanFrom = HTTPRequestParser.resumeIndex(start: start, count: buffer.count)
            if buffer.count - start > configuration.maxHeaderBytes {
                return fail(.headersTooLarge)
            }
            switch read(deadline: requestDeadline) {
            case .received: continue
            case .timedOut: return failTimedOut()
            case .closed: return .closeAtOnce
            }
        }
        guard let headEnd else { return .closeAtOnce }
        if headEnd - start > configuration.maxHeaderBytes {
            return fail(.headersTooLarge)
        }
        let head: HTTPRequestHead
        let framing: HTTPBodyFraming
        do {
            head = try HTTPRequestParser.parseHead(buffer[start..<headEnd])
            start = headEnd
            framing = try HTTPRequestParser.bodyFraming(of: head, maxBodyBytes: configuration.maxBodyBytes)
        } catch {
            return fail(error)
        }
        var keepAlive = HTTPRequestParser.wantsKeepAlive(head)

        if shouldSendContinue(head: head, framing: framing) {
            let interim = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
            guard HTTPSocket.sendAll(fd, interim, stallTimeout: stallTimeout) else {
                return .closeAtOnce
            }
        }

        // The body.
        var body: [UInt8] = []
        var wasChunked = false
        switch framing {
        case .none:
            break
        case .length(let length):
            while buffer.count - start < length {
                switch read(deadline: requestDeadline) {
                case .received: continue
                case .timedOut: return failTimedOut()
                case .closed: return .closeAtOnce
                }
            }
            body = Array(buffer[start..<(start + length)])
            start += length
        case .chunked(let alsoHadLength):
            wasChunked = true
            if alsoHadLength {
                // Ambiguous framing (a smuggling vector): answer, then close.
                keepAlive = false
            }
            var decoder = HTTPChunkedDecoder(
                maxBodyBytes: configuration.maxBodyBytes,
                maxTrailerBytes: configuration.maxHeaderBytes
            )
            while true {
                do {
                    start = try decoder.consume(buffer, from: start)
                } catch {
                    return fail(error)
                }
                if decoder.isDone {
                    break
                }
                compact()
                switch read(deadline: requestDeadline) {
                case .received: continue
                case .timedOut: return failTimedOut()
                case .closed: return .closeAtOnce
                }
            }
        }

        let request = HTTPRequest(
            method: head.method,
            target: head.target,
            version: head.version,
            headers: head.headers,
            body: body,
            wasChunked: wasChunked,
            peerAddress: peerAddress
        )
        switch handler(request) {
        case .closeWithoutResponse:
            return .closeAtOnce
        case .respond(let response):
            if response.headers.contains(where: { Self.isConnectionClose($0) }) {
                keepAlive = false
            }
            let bytes = HTTPResponseWriter.serialize(
                response,
                keepAlive: keepAlive,
                announceKeepAlive: head.version == "HTTP/1.0",
                omitBody: head.method == "HEAD"
            )
            guard HTTPSocket.sendAll(fd, bytes, stallTimeout: stallTimeout) else {
                return .closeAtOnce
            }
            return keepAlive ? .keepOpen : .closeGracefully
        }
    }

    /// Whether to send `100 Continue` before reading the body: the client asked and
    /// the body has not already arrived.
    private func shouldSendContinue(head: HTTPRequestHead, framing: HTTPBodyFraming) -> Bool {
        guard head.version == "HTTP/1.1",
              let expectation = head.headers["Expect"],
              expectation.lowercased() == "100-continue"
        else { return false }
        switch framing {
        case .none:
            return false
        case .length(let length):
            return length > 0 && buffer.count - start < length
        case .chunked:
            return buffer.count == start
        }
    }

    private static func isConnectionClose(_ field: (name: String, value: String)) -> Bool {
        guard field.name.lowercased() == "connection" else { return false }
        return field.value.split(separator: ",").contains {
            HTTPText.trimmed(String($0)).lowercased() == "close"
        }
    }

    // MARK: - Failures

    /// Answers a parse failure with its status and `Connection: close`.
    private func fail(_ error: HTTPParseError) -> Outcome {
        sendError(status: error.status)
    }

    /// Answers a request that did not arrive in time with 408.
    private func failTimedOut() -> Outcome {
        sendError(status: 408)
    }

    private func sendError(status: Int) -> Outcome {
        let response = HTTPResponse(
            status: status,
            headers: [(name: "Content-Type", value: "text/plain; charset=utf-8")],
            body: Array("\(status) \(HTTPText.reasonPhrase(status))\n".utf8)
        )
        let bytes = HTTPResponseWriter.serialize(response, keepAlive: false, announceKeepAlive: false, omitBody: false)
        guard HTTPSocket.sendAll(fd, bytes, stallTimeout: stallTimeout) else {
            return .closeAtOnce
        }
        return .closeGracefully
    }

    // MARK: - Buffer and socket

    /// How long a send may make no progress: the idle timeout, else none.
    private var stallTimeout: Double? {
        configuration.idleTimeout > 0 ? configuration.idleTimeout : nil
    }

    /// The monotonic deadline `seconds` from now; nil (no limit) when not positive.
    private func deadline(after seconds: Double) -> Double? {
        seconds > 0 ? HTTPSocket.monotonicNow() + seconds : nil
    }

    /// Waits (up to `deadline`) for bytes and appends them to the buffer.
    private mutating func read(deadline: Double?) -> ReadResult {
        let timeout = deadline.map { max(0, $0 - HTTPSocket.monotonicNow()) }
        switch HTTPSocket.waitReadable(fd, timeout: timeout) {
        case .ready:
            break
        case .timedOut:
            return .timedOut
        case .failed:
            return .closed
        }
        switch HTTPSocket.receive(fd, appendingTo: &buffer, scratch: &scratch) {
        case .received:
            return .received
        case .closed, .failed:
            return .closed
        }
    }

    /// Drops consumed bytes from the front of the buffer.
    private mutating func compact() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 4 * Self.readChunkBytes)
            start = 0
        } else if start > 0 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
    }

    /// Skips the empty lines a client may send before a request line.
    private mutating func skipBlankLines() {
        while start < buffer.count, buffer[start] == 0x0D || buffer[start] == 0x0A {
            start += 1
        }
    }

    /// After a closing response: send FIN, then read and discard until the peer closes
    /// (bounded in time and bytes) so unread input does not turn our close into a reset
    /// that could destroy the response in flight.
    private mutating func linger() {
        HTTPSocket.shutdownWrite(fd)
        let deadline = HTTPSocket.monotonicNow() + Self.lingerSeconds
        var discarded = 0
        while discarded < Self.lingerMaxBytes {
            buffer.removeAll(keepingCapacity: true)
            start = 0
            guard read(deadline: deadline) == .received else { return }
            discarded += buffer.count
        }
    }
}
