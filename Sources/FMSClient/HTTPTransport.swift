#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Foundation

/// One POST as the client hands it to a transport.
public struct TransportRequest: Sendable {
    /// Absolute URL of the endpoint.
    public var url: URL
    /// Header fields to send.
    public var headers: [(name: String, value: String)]
    /// The body, sent with Content-Length.
    public var body: [UInt8]
    /// Seconds to wait for the whole exchange.
    public var timeout: Double
}

/// What came back from the server.
public struct TransportResponse: Sendable {
    /// HTTP status code.
    public var status: Int
    /// Response headers, looked up case-insensitively by `header(_:)`.
    public var headers: [(name: String, value: String)]
    /// The body bytes.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of a header, case-insensitively.
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }
}

/// A failure to complete an HTTP exchange: nothing (usable) came back.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    /// What happened, in words.
    public var message: String
    /// Whether the exchange ran out of time.
    public var timedOut: Bool

    /// Creates an error.
    public init(message: String, timedOut: Bool) {
        self.message = message
        self.timedOut = timedOut
    }

    /// The message.
    public var description: String { message }
}

/// Something that can POST bytes and return the answer: the network (`SocketHTTPTransport`
/// for `http://`, `URLSessionTransport` for `https://`), or a gateway in memory.
public protocol HTTPTransport: Sendable {
    /// Performs one POST.
    func post(_ request: TransportRequest) async throws(TransportError) -> TransportResponse
}

/// The real network through one `URLSession` (keep-alive, bounded connections per host).
///
/// `FMSClient` uses it only for `https://` gateways: for `http://` it defaults to
/// `SocketHTTPTransport`, because FoundationNetworking on Linux busy-polls while a request
/// waits (thousands of wake-ups a second), which an idle watcher cannot afford.
public final class URLSessionTransport: HTTPTransport {
    private let session: URLSession

    /// Creates a transport keeping up to `maxConnections` connections to each host.
    public init(maxConnections: Int = 16) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = maxConnections
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        session = URLSession(configuration: configuration)
    }

    deinit {
        session.finishTasksAndInvalidate()
    }

    /// Performs one POST with the body as `Data` (so it goes out with Content-Length).
    public func post(_ request: TransportRequest) async throws(TransportError) -> TransportResponse {
        var urlRequest = URLRequest(url: request.url, cachePolicy: .reloadIgnoringLocalCacheData,
                                    timeoutInterval: request.timeout)
        urlRequest.httpMethod = "POST"
        for header in request.headers {
            urlRequest.setValue(header.value, forHTTPHeaderField: header.name)
        }
        urlRequest.httpBody = Data(request.body)
        let data: Data
        let response: URLResponse
        do {
            let prepared = urlRequest
            (data, response) = try await Self.withDeadline(request.timeout, url: request.url) { [session] in
                try await session.data(for: prepared)
            }
        } catch let error as TransportError {
            throw error
        } catch let error as URLError {
            throw TransportError(message: Self.describe(error, url: request.url), timedOut: error.code == .timedOut)
        } catch {
            throw TransportError(message: "\(request.url.absoluteString): \(error.localizedDescription)", timedOut: false)
        }
        guard let http = response as? HTTPURLResponse else {
            throw TransportError(message: "\(request.url.absoluteString): not an HTTP response", timedOut: false)
        }
        var headers: [(name: String, value: String)] = []
        for (key, value) in http.allHeaderFields {
            if let name = key as? String, let text = value as? String { headers.append((name, text)) }
        }
        return TransportResponse(status: http.statusCode, headers: headers, body: [UInt8](data))
    }

    /// Runs `work`, cancelling it and throwing a timeout once `seconds` have passed.
    ///
    /// FoundationNetworking does not always honour `URLRequest.timeoutInterval`, so the
    /// deadline is enforced here as well.
    private static func withDeadline<T: Sendable>(_ seconds: Double, url: URL,
                                                  _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await work() }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(max(0.001, seconds) * 1_000_000_000))
                throw TransportError(message: "\(url.absoluteString): timed out after \(seconds)s", timedOut: true)
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else {
                throw TransportError(message: "\(url.absoluteString): no answer", timedOut: false)
            }
            return first
        }
    }

    private static func describe(_ error: URLError, url: URL) -> String {
        let place = url.absoluteString
        switch error.code {
        case .timedOut: return "\(place): timed out"
        case .cannotConnectToHost: return "\(place): connection refused"
        case .cannotFindHost: return "\(place): unknown host"
        case .networkConnectionLost, .badServerResponse:
            return "\(place): the connection closed without a complete answer (the request may have been carried out)"
        case .notConnectedToInternet: return "\(place): network unreachable"
        default: return "\(place): \(error.localizedDescription) (URLError \(error.code.rawValue))"
        }
    }
}
