import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A failure of the little test HTTP client.
struct SimSocketError: Error, CustomStringConvertible {
    var description: String
}

/// One parsed HTTP response.
struct SimHTTPResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    /// The first value of `name` (any case).
    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// A blocking HTTP/1.1 client over raw loopback sockets: exactly the bytes the test writes,
/// one request per connection (`Connection: close`), the answer read to end of stream.
enum SimHTTP {
    /// Connects to 127.0.0.1:`port`, with a receive timeout so a broken server cannot hang a test.
    static func connect(port: Int, timeout: Int = 15) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SimSocketError(description: "socket: errno \(errno)") }
        var time = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(fd)
            throw SimSocketError(description: "connect to port \(port): errno \(code)")
        }
        return fd
    }

    /// Sends `bytes` completely.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { buffer in
                Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw SimSocketError(description: "send: errno \(errno)")
            }
            sent += count
        }
    }

    /// Reads until the peer closes (a reset counts as a close).
    static func readToEnd(_ fd: Int32) throws -> [UInt8] {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                output += buffer[0..<count]
            } else if count == 0 {
                return output
            } else {
                let code = errno
                if code == EINTR { continue }
                if code == ECONNRESET { return output }
                throw SimSocketError(description: "recv: errno \(code) after \(output.count) bytes")
            }
        }
    }

    /// Sends raw request bytes on a fresh connection and returns every byte of the answer.
    static func exchange(port: Int, _ request: [UInt8]) throws -> [UInt8] {
        let fd = try connect(port: port)
        defer { Glibc.close(fd) }
        try sendAll(fd, request)
        return try readToEnd(fd)
    }

    /// The bytes of a request with `Content-Length` (unless `headers` set the framing) and `Connection: close`.
    static func requestBytes(method: String, path: String, headers: [(String, String)] = [], body: [UInt8] = [],
                             contentLength: Bool = true) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if contentLength { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    /// Sends one request; nil when the server closed without answering.
    static func send(port: Int, method: String = "POST", path: String, headers: [(String, String)] = [],
                     body: [UInt8] = []) throws -> SimHTTPResponse? {
        let raw = try exchange(port: port, requestBytes(method: method, path: path, headers: headers, body: body))
        return try parse(raw)
    }

    /// Parses a whole response (status line, fields, body by Content-Length or to the end).
    static func parse(_ raw: [UInt8]) throws -> SimHTTPResponse? {
        guard !raw.isEmpty else { return nil }
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = (0...(raw.count - 4)).first(where: { Array(raw[$0..<($0 + 4)]) == separator }) else {
            throw SimSocketError(description: "no end of head in \(raw.count) bytes")
        }
        let head = String(decoding: raw[0..<end], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else {
            throw SimSocketError(description: "bad status line in \(head)")
        }
        let headers = lines.compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        var body = Array(raw[(end + 4)...])
        if let length = headers.first(where: { $0.name.lowercased() == "content-length" }).flatMap({ Int($0.value) }) {
            guard body.count >= length else {
                throw SimSocketError(description: "body cut short: \(body.count) of \(length)")
            }
            body = Array(body.prefix(length))
        }
        return SimHTTPResponse(status: status, headers: headers, body: body)
    }
}
