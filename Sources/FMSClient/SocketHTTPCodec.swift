import Foundation

/// Where an `http://` URL points: the host and port to connect to, the `Host` header and
/// the request target. Parsed from the URL text itself (no Foundation decoding).
struct SocketTarget: Equatable {
    /// The host to resolve or the literal address (IPv6 without brackets).
    var host: String
    /// The TCP port (80 when the URL has none).
    var port: UInt16
    /// The `Host` header: the URL's authority without user info.
    var hostHeader: String
    /// The request target: the percent-encoded path and query, `/` at least.
    var requestTarget: String

    /// The key of the connection pool: lowercased host and port.
    var poolKey: String { "\(host.lowercased()):\(port)" }

    /// Parses `text`, an absolute `http://` URL; nil when it is anything else.
    init?(_ text: String) {
        let schemeEnd = text.utf8.firstIndex(of: UInt8(ascii: ":"))
        guard let schemeEnd, text[..<schemeEnd].lowercased() == "http",
              text[schemeEnd...].hasPrefix("://") else { return nil }
        let rest = text[text.index(schemeEnd, offsetBy: 3)...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var portText: Substring = ""
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            portText = authority[authority.index(after: colon)...]
        } else {
            host = String(authority)
        }
        guard !host.isEmpty, !host.contains(":") || authority.hasPrefix("[") else { return nil }
        if portText.isEmpty {
            port = 80
        } else {
            guard portText.count <= 5, portText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let number = Int(portText),
                  (1...65535).contains(number) else { return nil }
            port = UInt16(number)
        }
        hostHeader = String(authority)
        var target = rest[authorityEnd...]
        if let hash = target.firstIndex(of: "#") { target = target[..<hash] }
        if target.isEmpty {
            requestTarget = "/"
        } else if target.hasPrefix("?") {
            requestTarget = "/" + target
        } else {
            requestTarget = String(target)
        }
    }
}

/// A status line and header fields, as parsed.
struct SocketHTTPHead {
    /// The minor version of `HTTP/1.x`.
    var minorVersion: Int
    /// The status code.
    var status: Int
    /// The fields in order, names as sent.
    var headers: [(name: String, value: String)]

    /// All values of a field (case-insensitive), in order.
    func values(_ name: String) -> [String] {
        headers.compactMap { $0.name.caseInsensitiveASCIIEquals(name) ? $0.value : nil }
    }

    /// The comma-separated tokens of all values of a field, lowercased.
    func tokens(_ name: String) -> [String] {
        values(name).flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            .filter { !$0.isEmpty }
    }
}

/// How the body of an answer is delimited.
enum SocketBodyFraming: Equatable {
    /// No body (1xx, 204, 304).
    case none
    /// Exactly this many bytes.
    case length(Int)
    /// `Transfer-Encoding: chunked`.
    case chunked
    /// Everything until the server closes.
    case untilClose
}

/// Request encoding and answer parsing for `SocketHTTPTransport`: pure functions, no I/O.
enum SocketHTTPCodec {
    /// The largest status line plus header fields accepted.
    static let maxHeadBytes = 64 << 10
    /// The largest body accepted.
    static let maxBodyBytes = 64 << 20

    /// Header fields the transport writes itself; the caller's copies are dropped.
    private static let ownedFields: Set<String> = ["host", "content-length", "connection", "transfer-encoding"]

    /// `POST target HTTP/1.1`, Host, Content-Length, the caller's fields,
    /// `Connection: keep-alive`, the blank line and the body, in one buffer.
    ///
    /// Returns the offending field name when one has a CR, LF or NUL (header injection).
    static func encodeRequest(_ request: TransportRequest, target: SocketTarget) -> Result<[UInt8], InvalidField> {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256 + request.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
                              + request.body.count)
        func append(_ text: String) { bytes.append(contentsOf: text.utf8) }
        append("POST ")
        append(target.requestTarget)
        append(" HTTP/1.1\r\nHost: ")
        append(target.hostHeader)
        append("\r\nContent-Length: ")
        append(String(request.body.count))
        append("\r\n")
        for header in request.headers {
            guard !header.name.isEmpty, isClean(header.name, allowSpace: false), isClean(header.value, allowSpace: true) else {
                return .failure(InvalidField(name: header.name))
            }
            if ownedFields.contains(header.name.lowercased()) { continue }
            append(header.name)
            append(": ")
            append(header.value)
            append("\r\n")
        }
        append("Connection: keep-alive\r\n\r\n")
        bytes.append(contentsOf: request.body)
        return .success(bytes)
    }

    /// A header field that cannot be sent.
    struct InvalidField: Error {
        var name: String
    }

    private static func isClean(_ text: String, allowSpace: Bool) -> Bool {
        for byte in text.utf8 {
            switch byte {
            case 0x0D, 0x0A, 0x00: return false
            case 0x20, 0x09, UInt8(ascii: ":"): if !allowSpace { return false }
            default: continue
            }
        }
        return true
    }

    /// The index just past the blank line ending a head in `bytes[from...]`; CRLF or bare LF line ends.
    static func headEnd(in bytes: [UInt8], from start: Int) -> Int? {
        bytes.withUnsafeBufferPointer { buffer in
            var index = start
            let count = buffer.count
            while index < count {
                if buffer[index] == 0x0A {
                    if index + 1 < count, buffer[index + 1] == 0x0A { return index + 2 }
                    if index + 2 < count, buffer[index + 1] == 0x0D, buffer[index + 2] == 0x0A { return index + 3 }
                }
                index += 1
            }
            return nil
        }
    }

    /// Parses a status line and header fields (the head, including its blank line).
    static func parseHead(_ bytes: ArraySlice<UInt8>) throws(ParseError) -> SocketHTTPHead {
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = bytes.startIndex
        for index in bytes.indices where bytes[index] == 0x0A {
            var line = bytes[lineStart..<index]
            if line.last == 0x0D { line = line.dropLast() }
            lines.append(line)
            lineStart = index + 1
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let statusLine = lines.first else { throw ParseError("empty head") }
        let (minor, status) = try parseStatusLine(statusLine)
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            if line.first == 0x20 || line.first == 0x09 {
                // Obsolete line folding: part of the previous value.
                guard !headers.isEmpty else { throw ParseError("a continuation line before any header field") }
                let more = trimmed(line)
                if !more.isEmpty { headers[headers.count - 1].value += " " + String(decoding: more, as: UTF8.self) }
                continue
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else {
                throw ParseError("header line without a name and colon: '\(excerpt(line))'")
            }
            let name = line[line.startIndex..<colon]
            guard !name.contains(0x20), !name.contains(0x09) else {
                throw ParseError("whitespace in header name '\(excerpt(name))'")
            }
            headers.append((String(decoding: name, as: UTF8.self),
                            String(decoding: trimmed(line[(colon + 1)...]), as: UTF8.self)))
        }
        return SocketHTTPHead(minorVersion: minor, status: status, headers: headers)
    }

    /// `HTTP/1.x SSS[ reason]`.
    private static func parseStatusLine(_ line: ArraySlice<UInt8>) throws(ParseError) -> (Int, Int) {
        let bytes = Array(line)
        let prefix = Array("HTTP/1.".utf8)
        guard bytes.count >= 12, Array(bytes[0..<7]) == prefix, isDigit(bytes[7]), bytes[8] == 0x20,
              isDigit(bytes[9]), isDigit(bytes[10]), isDigit(bytes[11]),
              bytes.count == 12 || bytes[12] == 0x20 else {
            throw ParseError("bad status line '\(excerpt(line))'")
        }
        let status = Int(bytes[9] - 48) * 100 + Int(bytes[10] - 48) * 10 + Int(bytes[11] - 48)
        guard status >= 100 else { throw ParseError("bad status code \(status)") }
        return (Int(bytes[7] - 48), status)
    }

    /// How the body after `head` is delimited, and whether the connection may carry another
    /// request afterwards (before looking at leftovers).
    static func framing(of head: SocketHTTPHead) throws(ParseError) -> (framing: SocketBodyFraming, keepAlive: Bool) {
        let connection = head.tokens("Connection")
        var keepAlive = head.minorVersion >= 1 ? !connection.contains("close") : connection.contains("keep-alive")
        if (100..<200).contains(head.status) || head.status == 204 || head.status == 304 {
            return (.none, keepAlive)
        }
        let encodings = head.tokens("Transfer-Encoding")
        if !encodings.isEmpty {
            guard encodings.allSatisfy({ $0 == "chunked" || $0 == "identity" }) else {
                throw ParseError("unsupported Transfer-Encoding '\(head.values("Transfer-Encoding").joined(separator: ", "))'")
            }
            guard encodings.last == "chunked" else { return (.untilClose, false) }
            // Content-Length beside Transfer-Encoding is ignored, and the connection not reused (RFC 9112 6.3).
            if !head.values("Content-Length").isEmpty { keepAlive = false }
            return (.chunked, keepAlive)
        }
        let lengths = head.values("Content-Length").flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        if lengths.isEmpty { return (.untilClose, false) }
        guard let first = lengths.first, !first.isEmpty, first.count <= 18,
              first.utf8.allSatisfy({ isDigit($0) }), let length = Int(first) else {
            throw ParseError("bad Content-Length '\(head.values("Content-Length").joined(separator: ", "))'")
        }
        guard lengths.allSatisfy({ $0 == first }) else {
            throw ParseError("conflicting Content-Length values '\(lengths.joined(separator: ", "))'")
        }
        return (.length(length), keepAlive)
    }

    /// The size of a chunk from its size line (hex, then optional `;extensions`).
    static func chunkSize(_ line: ArraySlice<UInt8>) throws(ParseError) -> Int {
        var end = line.startIndex
        while end < line.endIndex, line[end] != UInt8(ascii: ";") { end += 1 }
        let digits = trimmed(line[line.startIndex..<end])
        guard !digits.isEmpty, digits.count <= 15 else { throw ParseError("bad chunk size line '\(excerpt(line))'") }
        var size = 0
        for byte in digits {
            let value: Int
            switch byte {
            case 0x30...0x39: value = Int(byte) - 0x30
            case 0x41...0x46: value = Int(byte) - 0x41 + 10
            case 0x61...0x66: value = Int(byte) - 0x61 + 10
            default: throw ParseError("bad chunk size line '\(excerpt(line))'")
            }
            size = size * 16 + value
        }
        return size
    }

    /// Why an answer is not HTTP/1.x as we accept it.
    struct ParseError: Error, Equatable {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, first == 0x20 || first == 0x09 { slice = slice.dropFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 { slice = slice.dropLast() }
        return slice
    }

    /// Up to 60 bytes as text, for error messages.
    static func excerpt(_ bytes: ArraySlice<UInt8>) -> String {
        let text = String(decoding: bytes.prefix(60), as: UTF8.self)
        return bytes.count > 60 ? text + "…" : text
    }
}

fileprivate extension String {
    /// ASCII case-insensitive equality, without allocating.
    func caseInsensitiveASCIIEquals(_ other: String) -> Bool {
        let left = utf8, right = other.utf8
        guard left.count == right.count else { return false }
        for (a, b) in zip(left, right) where a != b {
            let lowerA = (a >= 0x41 && a <= 0x5A) ? a + 32 : a
            let lowerB = (b >= 0x41 && b <= 0x5A) ? b + 32 : b
            if lowerA != lowerB { return false }
        }
        return true
    }
}
