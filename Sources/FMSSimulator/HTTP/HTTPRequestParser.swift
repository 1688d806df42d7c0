/// Why a request could not be read; each maps to the status sent before closing.
enum HTTPParseError: Error, Equatable, Sendable {
    /// The request line or a header field is malformed (400).
    case malformed(String)
    /// The request line plus header fields (or a chunked trailer) exceed the limit (431).
    case headersTooLarge
    /// The declared or decoded body exceeds the limit (413).
    case bodyTooLarge

    /// The status code answered for this error.
    var status: Int {
        switch self {
        case .malformed: 400
        case .headersTooLarge: 431
        case .bodyTooLarge: 413
        }
    }
}

/// The request line and header fields of one request.
struct HTTPRequestHead: Sendable {
    var method: String
    var target: String
    var version: String
    var headers: HTTPHeaders
}

/// How the body of a request is delimited.
enum HTTPBodyFraming: Equatable, Sendable {
    /// No body (neither Content-Length nor chunked).
    case none
    /// Exactly this many bytes follow the head.
    case length(Int)
    /// `Transfer-Encoding: chunked`; `alsoHadLength` flags a Content-Length that was ignored.
    case chunked(alsoHadLength: Bool)
}

/// Pure functions that find and parse a request head; no I/O.
enum HTTPRequestParser {
    private static let lf: UInt8 = 0x0A
    private static let cr: UInt8 = 0x0D

    /// The index one past the blank line ending the head that starts at `start`, or nil
    /// when it is not complete yet. Scanning resumes at `scanFrom` (an earlier scan's
    /// end) so repeated calls stay linear. Bare LF line endings are tolerated.
    static func headEnd(in bytes: [UInt8], start: Int, scanFrom: Int) -> Int? {
        var index = max(start, scanFrom)
        while index < bytes.count {
            if bytes[index] == lf {
                if index - 1 >= start, bytes[index - 1] == lf {
                    return index + 1
                }
                if index - 2 >= start, bytes[index - 1] == cr, bytes[index - 2] == lf {
                    return index + 1
                }
            }
            index += 1
        }
        return nil
    }

    /// Where a later `headEnd` call may resume scanning once `count` bytes were scanned:
    /// each position's check looks only backwards, so scanned positions stay settled.
    static func resumeIndex(start: Int, count: Int) -> Int {
        max(start, count)
    }

    /// Parses a complete head (request line, fields, blank line).
    static func parseHead(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPRequestHead {
        var lines = try splitLines(bytes)
        // Drop the blank line(s) that ended the head.
        while let last = lines.last, last.isEmpty {
            lines.removeLast()
        }
        guard let requestLine = lines.first else {
            throw .malformed("empty request")
        }
        var head = try parseRequestLine(requestLine)
        for line in lines.dropFirst() {
            let (name, value) = try parseField(line)
            head.headers.add(name: name, value: value)
        }
        return head
    }

    /// Decides how the body is delimited, validating Content-Length and Transfer-Encoding.
    /// A Content-Length over `maxBodyBytes` throws `.bodyTooLarge`.
    static func bodyFraming(of head: HTTPRequestHead, maxBodyBytes: Int) throws(HTTPParseError) -> HTTPBodyFraming {
        let lengthValues = head.headers.values(for: "Content-Length")
        let codingValues = head.headers.values(for: "Transfer-Encoding")
        if !codingValues.isEmpty {
            let codings = codingValues
                .flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
                .map { HTTPText.trimmed(String($0)).lowercased() }
            guard let last = codings.last, last == "chunked",
                  codings.filter({ $0 == "chunked" }).count == 1,
                  !codings.contains(where: \.isEmpty)
            else {
                throw .malformed("unsupported Transfer-Encoding")
            }
            return .chunked(alsoHadLength: !lengthValues.isEmpty)
        }
        guard !lengthValues.isEmpty else {
            return .none
        }
        var length: Int?
        for element in lengthValues.flatMap({ $0.split(separator: ",", omittingEmptySubsequences: false) }) {
            let value = try parseLength(HTTPText.trimmed(String(element)))
            if let earlier = length, earlier != value {
                throw .malformed("conflicting Content-Length values")
            }
            length = value
        }
        guard let length else {
            throw .malformed("empty Content-Length")
        }
        if length > maxBodyBytes {
            throw .bodyTooLarge
        }
        return .length(length)
    }

    /// Whether the connection stays open after this request, from version and Connection.
    static func wantsKeepAlive(_ head: HTTPRequestHead) -> Bool {
        if head.headers.containsToken("close", in: "Connection") {
            return false
        }
        if head.version == "HTTP/1.0" {
            return head.headers.containsToken("keep-alive", in: "Connection")
        }
        return true
    }

    // MARK: - Pieces

    /// Splits on LF, dropping one CR before each LF; any other CR is malformed.
    private static func splitLines(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = bytes.startIndex
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == lf {
                var lineEnd = index
                if lineEnd > lineStart, bytes[lineEnd - 1] == cr {
                    lineEnd -= 1
                }
                lines.append(bytes[lineStart..<lineEnd])
                lineStart = index + 1
            } else if byte == cr, index + 1 < bytes.endIndex, bytes[index + 1] != lf {
                throw .malformed("bare CR")
            }
            index += 1
        }
        if lineStart < bytes.endIndex {
            lines.append(bytes[lineStart..<bytes.endIndex])
        }
        return lines
    }

    private static func parseRequestLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPRequestHead {
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw .malformed("request line needs method, target and version")
        }
        let method = parts[0], target = parts[1], version = parts[2]
        guard !method.isEmpty, method.allSatisfy(isTokenByte) else {
            throw .malformed("bad method")
        }
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .malformed("bad request target")
        }
        let versionText = String(decoding: version, as: UTF8.self)
        guard versionText == "HTTP/1.1" || versionText == "HTTP/1.0" else {
            throw .malformed("unsupported version")
        }
        return HTTPRequestHead(
            method: String(decoding: method, as: UTF8.self),
            target: String(decoding: target, as: UTF8.self),
            version: versionText,
            headers: HTTPHeaders()
        )
    }

    private static func parseField(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> (String, String) {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw .malformed("header field without colon")
        }
        let name = line[line.startIndex..<colon]
        // Also rejects obsolete line folding (a line starting with a space or tab).
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
            throw .malformed("bad header field name")
        }
        let value = line[(colon + 1)...]
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw .malformed("control character in header field value")
        }
        return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    /// A Content-Length element: decimal digits only; absurdly long values saturate
    /// (and so end up as "too large" rather than "malformed").
    private static func parseLength(_ text: String) throws(HTTPParseError) -> Int {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw .malformed("Content-Length is not a non-negative integer")
        }
        var value = 0
        for digit in text.utf8 {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(digit - 0x30))
            if overflow1 || overflow2 {
                return Int.max
            }
            value = sum
        }
        return value
    }

    /// RFC 9110 `tchar`.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
