/// Header fields of a request: case-insensitive lookup, arrival order preserved.
///
/// Values are stored with surrounding spaces and tabs removed. Iterating yields
/// every field in the order it was added, repeated names included.
public struct HTTPHeaders: Sendable, Sequence {
    /// Each field as it was added: the name as spelled, the trimmed value.
    public typealias Element = (name: String, value: String)

    private var fields: [Element] = []

    /// Creates an empty set of header fields.
    public init() {}

    /// Creates header fields from `(name, value)` pairs, keeping their order.
    public init(_ fields: [(name: String, value: String)]) {
        for field in fields {
            add(name: field.name, value: field.value)
        }
    }

    /// The first value of the field called `name` (any case), or nil when absent.
    public subscript(name: String) -> String? {
        fields.first { Self.sameName($0.name, name) }?.value
    }

    /// Every value of the field called `name` (any case), in arrival order.
    public func values(for name: String) -> [String] {
        fields.filter { Self.sameName($0.name, name) }.map(\.value)
    }

    /// Whether some field called `name` (any case) is present.
    public func contains(_ name: String) -> Bool {
        fields.contains { Self.sameName($0.name, name) }
    }

    /// Appends a field; the value is trimmed of surrounding spaces and tabs.
    public mutating func add(name: String, value: String) {
        fields.append((name: name, value: HTTPText.trimmed(value)))
    }

    /// How many fields there are, repeated names counted each time.
    public var count: Int { fields.count }

    /// Iterates over the fields in the order they were added.
    public func makeIterator() -> IndexingIterator<[Element]> {
        fields.makeIterator()
    }

    /// Whether any comma-separated element of any `name` field equals `token`, ignoring case.
    func containsToken(_ token: String, in name: String) -> Bool {
        let wanted = token.lowercased()
        return values(for: name).contains { value in
            value.split(separator: ",").contains { HTTPText.trimmed(String($0)).lowercased() == wanted }
        }
    }

    private static func sameName(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.count == rhs.utf8.count && lhs.lowercased() == rhs.lowercased()
    }
}

/// One parsed request, as handed to the server's handler.
public struct HTTPRequest: Sendable {
    /// The method token, such as "POST".
    public var method: String
    /// The request target: the path plus any query, such as "/fms/secure/getBalance?x=1".
    public var target: String
    /// The protocol version: "HTTP/1.1" or "HTTP/1.0".
    public var version: String
    /// The header fields in arrival order.
    public var headers: HTTPHeaders
    /// The body read by Content-Length; empty when the upload was chunked.
    public var body: [UInt8]
    /// Whether the body came with `Transfer-Encoding: chunked` (and was discarded).
    public var wasChunked: Bool
    /// The client's IPv4 address in dotted form, such as "127.0.0.1".
    public var peerAddress: String

    /// Creates a request; handy for calling a handler directly in tests.
    public init(
        method: String,
        target: String,
        version: String = "HTTP/1.1",
        headers: HTTPHeaders = HTTPHeaders(),
        body: [UInt8] = [],
        wasChunked: Bool = false,
        peerAddress: String = "127.0.0.1"
    ) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        self.wasChunked = wasChunked
        self.peerAddress = peerAddress
    }

    /// The target without its query string, such as "/fms/secure/getBalance".
    public var path: String {
        if let mark = target.firstIndex(of: "?") {
            return String(target[..<mark])
        }
        return target
    }

    /// The query string after "?", or nil when the target has none.
    public var query: String? {
        guard let mark = target.firstIndex(of: "?") else { return nil }
        return String(target[target.index(after: mark)...])
    }
}

/// A response to send back; the server adds `Content-Length` and `Connection` itself.
public struct HTTPResponse: Sendable {
    /// The status code; anything outside 200...599 is sent as 500 with an empty body.
    public var status: Int
    /// Extra header fields in order. `Content-Length`, `Transfer-Encoding` and
    /// `Connection` are managed by the server (a `Connection: close` here closes the
    /// connection after the response); fields containing CR, LF or NUL are dropped.
    public var headers: [(name: String, value: String)]
    /// The body bytes (not sent for HEAD requests, though still counted in Content-Length).
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// What the handler wants done with a request.
public enum HTTPDisposition: Sendable {
    /// Send this response (then keep or close the connection as HTTP says).
    case respond(HTTPResponse)
    /// Close the socket at once without writing a byte (simulates a dropped connection).
    case closeWithoutResponse
}

/// Small text helpers shared by the parser and the serializer.
enum HTTPText {
    /// `text` without leading or trailing spaces and horizontal tabs.
    static func trimmed(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }),
              let last = scalars.lastIndex(where: { $0 != " " && $0 != "\t" })
        else { return "" }
        return String(scalars[first...last])
    }

    /// The standard reason phrase of `status`, or "" for a code without one here.
    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 415: "Unsupported Media Type"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: ""
        }
    }
}
