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

/// The https:// network: `URLSession`, through the plugin `libFMSURLSessionPlugin.so`.
///
/// `FMSClient` uses it only for `https://` gateways: for `http://` it defaults to
/// `SocketHTTPTransport`, because FoundationNetworking on Linux busy-polls while a request
/// waits (thousands of wake-ups a second), which an idle watcher cannot afford. Nor is
/// FoundationNetworking linked into `fms` (some fifty libraries, ~12 MiB resident): the plugin
/// holds it and is loaded with dlopen(3) on first use, from `$FMS_PLUGIN_DIR`, the folder of the
/// running executable, or `../lib/fms` beside it (where `make install` puts it).
public final class URLSessionTransport: HTTPTransport {
    private let maxConnections: Int

    /// Creates a transport keeping up to `maxConnections` connections to each host.
    public init(maxConnections: Int = 16) {
        self.maxConnections = maxConnections
    }

    /// Performs one POST through the plugin.
    public func post(_ request: TransportRequest) async throws(TransportError) -> TransportResponse {
        let post: URLSessionPlugin.Post
        switch URLSessionPlugin.loaded {
        case .success(let function): post = function
        case .failure(let error): throw error
        }
        let headers = request.headers.map { "\($0.name): \($0.value)\n" }.joined()
        let outcome: Result<TransportResponse, TransportError> = await withCheckedContinuation { continuation in
            let box = Unmanaged.passRetained(URLSessionPlugin.Waiter(continuation)).toOpaque()
            request.url.absoluteString.withCString { url in
                headers.withCString { headerText in
                    request.body.withUnsafeBufferPointer { body in
                        post(url, headerText, body.baseAddress, body.count, request.timeout, Int32(clamping: maxConnections),
                             box, URLSessionPlugin.complete)
                    }
                }
            }
        }
        return try outcome.get()
    }
}

/// Loads the plugin and bridges its C completion back to Swift.
enum URLSessionPlugin {
    /// `fms_urlsession_post`.
    typealias Post = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafePointer<UInt8>?, Int, Double, Int32,
                                     UnsafeMutableRawPointer?, Completion) -> Void
    /// `FMSURLSessionCompletion` of the plugin.
    typealias Completion = @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<UInt8>?, Int,
                                           Int32, UnsafePointer<CChar>?) -> Void

    static let fileName = "libFMSURLSessionPlugin.so"

    /// The plugin's function, or why it could not be loaded (once per process).
    static let loaded: Result<Post, TransportError> = {
        var tried: [String] = []
        for folder in candidateFolders() {
            let path = folder + "/" + fileName
            guard FileManager.default.fileExists(atPath: path) else {
                tried.append(path)
                continue
            }
            guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
                let reason = dlerror().map { String(cString: $0) } ?? "?"
                return .failure(TransportError(message: "https:// needs \(path), which does not load: \(reason)", timedOut: false))
            }
            guard let symbol = dlsym(handle, "fms_urlsession_post") else {
                return .failure(TransportError(message: "\(path) has no fms_urlsession_post: not this fms's plugin", timedOut: false))
            }
            return .success(unsafeBitCast(symbol, to: Post.self))
        }
        return .failure(TransportError(message: "https:// gateways need \(fileName), which is not installed (looked for "
                                       + tried.joined(separator: ", ") + "); 'make install' puts it beside fms, or use an "
                                       + "http:// gateway URL", timedOut: false))
    }()

    /// `$FMS_PLUGIN_DIR`, the running executable's folder, and `../lib/fms` beside it.
    private static func candidateFolders() -> [String] {
        var folders: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["FMS_PLUGIN_DIR"], !explicit.isEmpty { folders.append(explicit) }
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let folder = (executable as NSString).deletingLastPathComponent
            folders.append(folder)
            folders.append(((folder as NSString).deletingLastPathComponent as NSString).appendingPathComponent("lib/fms"))
        }
        return folders
    }

    /// Holds the continuation across the C call.
    final class Waiter {
        let continuation: CheckedContinuation<Result<TransportResponse, TransportError>, Never>
        init(_ continuation: CheckedContinuation<Result<TransportResponse, TransportError>, Never>) {
            self.continuation = continuation
        }
    }

    static let complete: Completion = { context, status, headers, body, length, timedOut, error in
        guard let context else { return }
        let waiter = Unmanaged<Waiter>.fromOpaque(context).takeRetainedValue()
        guard status >= 0 else {
            let message = error.map { String(cString: $0) } ?? "the request failed"
            waiter.continuation.resume(returning: .failure(TransportError(message: message, timedOut: timedOut != 0)))
            return
        }
        var fields: [(name: String, value: String)] = []
        for line in (headers.map { String(cString: $0) } ?? "").split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let bytes = body.map { [UInt8](UnsafeBufferPointer(start: $0, count: length)) } ?? []
        waiter.continuation.resume(returning: .success(TransportResponse(status: Int(status), headers: fields, body: bytes)))
    }
}
