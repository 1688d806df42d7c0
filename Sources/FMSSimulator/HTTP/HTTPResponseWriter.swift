/// Serializes responses into the exact bytes sent: status line, fields, body.
enum HTTPResponseWriter {
    /// Fields the server writes itself; the handler's copies are dropped.
    private static let managedFields: Set<String> = ["content-length", "transfer-encoding", "connection"]

    /// The bytes of `response`: status line, the handler's safe fields, then
    /// `Content-Length`, `Connection: close` when not `keepAlive` (or
    /// `Connection: keep-alive` when `announceKeepAlive`, for HTTP/1.0 clients),
    /// the blank line and, unless `omitBody`, the body.
    static func serialize(
        _ response: HTTPResponse,
        keepAlive: Bool,
        announceKeepAlive: Bool,
        omitBody: Bool
    ) -> [UInt8] {
        let valid = (200...599).contains(response.status)
        let status = valid ? response.status : 500
        let body = valid ? response.body : []
        var head = "HTTP/1.1 \(status) \(HTTPText.reasonPhrase(status))\r\n"
        for field in response.headers where isWritable(field) {
            head += "\(field.name): \(field.value)\r\n"
        }
        head += "Content-Length: \(body.count)\r\n"
        if !keepAlive {
            head += "Connection: close\r\n"
        } else if announceKeepAlive {
            head += "Connection: keep-alive\r\n"
        }
        head += "\r\n"
        var bytes = Array(head.utf8)
        if !omitBody {
            bytes.reserveCapacity(bytes.count + body.count)
            bytes.append(contentsOf: body)
        }
        return bytes
    }

    /// Whether a handler's field may be written: a token name, not server-managed,
    /// and a value free of CR, LF and NUL (no response splitting).
    private static func isWritable(_ field: (name: String, value: String)) -> Bool {
        guard !field.name.isEmpty,
              field.name.utf8.allSatisfy(HTTPRequestParser.isTokenByte),
              !managedFields.contains(field.name.lowercased())
        else { return false }
        return !field.value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }
    }
}
