import Dispatch
import Foundation
import Glibc
import Synchronization
import Testing

@testable import FMSSimulator

// MARK: - A raw loopback client

/// Why a test client operation failed.
private enum HTTPTestError: Error, CustomStringConvertible {
    case system(String, Int32)
    case timedOut(String)
    case closedEarly(String)
    case malformed(String)

    var description: String {
        switch self {
        case .system(let call, let code): "\(call) failed: errno \(code)"
        case .timedOut(let what): "timed out waiting for \(what)"
        case .closedEarly(let what): "connection closed while waiting for \(what)"
        case .malformed(let what): "malformed response: \(what)"
        }
    }
}

/// A response as read by the test client.
private struct HTTPTestResponse {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking client on a raw socket; every wait is bounded by a timeout.
private final class HTTPTestClient {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 65536)

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPTestError.system("socket", errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw HTTPTestError.system("connect", code)
        }
    }

    deinit {
        close(fd)
    }

    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress.map { $0 + offset }, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 {
                if errno == EINTR { continue }
                throw HTTPTestError.system("send", errno)
            }
            offset += sent
        }
    }

    /// Reads more bytes into the buffer; false on EOF or reset.
    private func fill(deadline: Double, what: String) throws -> Bool {
        while true {
            let remaining = deadline - HTTPSocket.monotonicNow()
            guard remaining > 0 else { throw HTTPTestError.timedOut(what) }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(remaining * 1000) + 1)
            if ready == 0 { continue }
            if ready < 0 {
                if errno == EINTR { continue }
                throw HTTPTestError.system("poll", errno)
            }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                chunk.withUnsafeBytes { buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                return true
            }
            if count < 0, errno == EINTR { continue }
            return false
        }
    }

    /// Reads exactly `count` bytes.
    func read(count: Int, timeout: Double = 5) throws -> [UInt8] {
        let deadline = HTTPSocket.monotonicNow() + timeout
        while buffer.count < count {
            guard try fill(deadline: deadline, what: "\(count) bytes") else {
                throw HTTPTestError.closedEarly("\(count) bytes")
            }
        }
        let bytes = Array(buffer[0..<count])
        buffer.removeFirst(count)
        return bytes
    }

    /// Reads one response framed by Content-Length (which the server always sends).
    func readResponse(timeout: Double = 5, bodyless: Bool = false) throws -> HTTPTestResponse {
        let deadline = HTTPSocket.monotonicNow() + timeout
        var headEnd: Int?
        while headEnd == nil {
            if let range = findHeadEnd() {
                headEnd = range
                break
            }
            guard try fill(deadline: deadline, what: "a response head") else {
                throw HTTPTestError.closedEarly("a response head")
            }
        }
        guard let headEnd else { throw HTTPTestError.malformed("no head") }
        let headText = String(decoding: buffer[0..<(headEnd - 4)], as: UTF8.self)
        buffer.removeFirst(headEnd)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0] == "HTTP/1.1", let status = Int(parts[1]) else {
            throw HTTPTestError.malformed(statusLine)
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw HTTPTestError.malformed(line) }
            headers.append((
                name: String(line[..<colon]),
                value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            ))
        }
        var response = HTTPTestResponse(status: status, headers: headers, body: [])
        guard let lengthText = response.header("Content-Length"), let length = Int(lengthText) else {
            throw HTTPTestError.malformed("no Content-Length")
        }
        if !bodyless {
            let remaining = max(0.01, deadline - HTTPSocket.monotonicNow())
            response.body = try read(count: length, timeout: remaining)
        }
        return response
    }

    /// Waits for the server to close; returns whether it closed in time and any bytes
    /// that arrived first.
    func waitForClose(timeout: Double = 5) -> (closed: Bool, bytes: [UInt8]) {
        let deadline = HTTPSocket.monotonicNow() + timeout
        do {
            while try fill(deadline: deadline, what: "close") {}
            let bytes = buffer
            buffer.removeAll()
            return (true, bytes)
        } catch {
            let bytes = buffer
            buffer.removeAll()
            return (false, bytes)
        }
    }

    private func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for index in 3..<buffer.count
        where buffer[index] == 0x0A && buffer[index - 1] == 0x0D && buffer[index - 2] == 0x0A && buffer[index - 3] == 0x0D {
            return index + 1
        }
        return nil
    }
}

// MARK: - Fixtures

/// Answers `/drop` with no response, `/echo` with the body, `/close` with
/// `Connection: close`, anything else with "METHOD target"; reports chunking in headers.
private let httpTestHandler: @Sendable (HTTPRequest) -> HTTPDisposition = { request in
    let info: [(name: String, value: String)] = [
        (name: "X-Chunked", value: request.wasChunked ? "true" : "false"),
        (name: "X-Body-Count", value: String(request.body.count)),
        (name: "X-Peer", value: request.peerAddress),
    ]
    switch request.path {
    case "/drop":
        return .closeWithoutResponse
    case "/echo":
        return .respond(HTTPResponse(status: 200, headers: info, body: request.body))
    case "/close":
        return .respond(HTTPResponse(status: 200, headers: info + [(name: "Connection", value: "close")], body: Array("bye".utf8)))
    case "/missing":
        return .respond(HTTPResponse(status: 404, headers: info))
    default:
        return .respond(HTTPResponse(status: 200, headers: info, body: Array("\(request.method) \(request.target)".utf8)))
    }
}

/// Starts a server on loopback port 0, runs `body`, and always stops the server.
private func withHTTPTestServer(
    _ configure: (inout HTTPServer.Configuration) -> Void = { _ in },
    handler: @escaping @Sendable (HTTPRequest) -> HTTPDisposition = httpTestHandler,
    _ body: (HTTPServer) throws -> Void
) throws {
    var configuration = HTTPServer.Configuration()
    configure(&configuration)
    let server = HTTPServer(configuration: configuration, handler: handler)
    try server.start()
    defer { server.stop() }
    try body(server)
}

private func httpGet(_ target: String, _ extra: String = "") -> String {
    "GET \(target) HTTP/1.1\r\nHost: localhost\r\n\(extra)\r\n"
}

// MARK: - Server behaviour

@Suite("HTTP server", .timeLimit(.minutes(2)))
struct HTTPServerTests {
    @Test("keep-alive: two requests on one connection")
    func keepAlive() throws {
        try withHTTPTestServer { server in
            let client = try HTTPTestClient(port: server.port)
            try client.send(httpGet("/first"))
            let first = try client.readResponse()
            #expect(first.status == 200)
            #expect(first.text == "GET /first")
            #expect(first.header("Content-Length") == "10")
            #expect(first.header("Connection") == nil)
            #expect(first.header("X-Peer") == "127.0.0.1")
            try client.send(httpGet("/second?x=1"))
            let second = try client.readResponse()
            #expect(second.status == 200)
            #expect(second.text == "GET /second?x=1")
        }
    }

    @Test("pipelined requests are answered in order")
    func pipelined() throws {
        try withHTTPTestServer { server in
            let client = try HTTPTestClient(port: server.port)
            try client.send(
                httpGet("/1")
                    + "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                    + httpGet("/missing") + httpGet("/4")
            )
            let responses = try (0..<4).map { _ in try client.readResponse() }
            #expect(responses.map(\.status) == [200, 200, 404, 200])
            #expect(responses.map(\.text) == ["GET /1", "abc", "", "GET /4"])
            #expect(responses[2].header("Content-Length") == "0")
        }
    }

    @Test("Content-Length body is echoed, large and binary too")
    func contentLengthEcho() throws {
        try withHTTPTestServer { server in
            let client = try HTTPTestClient(port: server.port)
            for size in [0, 1, 5000, 300_000] {
                let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
                try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(size)\r\n\r\n")
                try client.send(body)
                let response = try client.readResponse()
                #expect(response.status == 200)
                #expect(response.body == body)
                #expect(response.header("X-Body-Count") == String(size))
            }
        }
    }

    @Test("Expect: 100-continue gets 100 before the body is read")
    func expectContinue() throws {
        try withHTTPTestServer { server in
            let client = try HTTPTestClient(port: server.port)
            let body = [UInt8](repeating: UInt8(ascii: "z"), count: 2000)
            try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\nExpect: 100-continue\r\n\r\n")
            let interim = try client.read(count: 25)
            #expect(String(decoding: interim, as: UTF8.self) == "HTTP/1.1 100 Continue\r\n\r\n")
            try client.send(body)
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.body == body)
            // The connection stays usable.
            try client.send(httpGet("/next"))
            #expect(try client.readResponse().text == "GET /next")
        }
    }

    @Test("Expect: 100-continue with an oversize body gets 413 at once")
    func expectContinueTooLarge() throws {
        try withHTTPTestServer({ $0.maxBodyBytes = 1000 }) { server in
            let client = try HTTPTestClient(port: server.port)
            try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 413)
            #expect(response.header("Connection") == "close")
            #expect(client.waitForClose().closed)
        }
    }

    @Test("chunked upload reaches the handler empty, and the connection stays usable")
    func chunkedUpload() throws {
        try withHTTPTestServer { server in
            let client = try HTTPTestClient(port: server.port)
            try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            try client.send("5\r\nhello\r\n")
            try client.send("6;name=value\r\n world\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n")
            try client.send("0\r\nX-Trailer: yes\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.header("X-Chunked") == "true")
            #expect(response.body.isEmpty)
            #expect(response.header("Connection") == nil)
            try client.send(httpGet("/after"))
            let after = try client.readResponse()
            #expect(after.text == "GET /after")
            #expect(after.header("X-Chunked") == "false")
        }
    }

    @Test("chunked upload with Expect: 100-continue")
    func chunkedExpectContinue() throws {
        try withHTTPTestServer { server in
            let client = try HTTPTestClient(port: server.port)
            try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
            #expect(String(decoding: try client.read(count: 25), as: UTF8.self) == "HTTP/1.1 100 Continue\r\n\r\n")
            try client.send("3\r\nabc\r\n0\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.header("X-Chunked") == "true")
        }
    }

    @Test("chunked upload over the body limit gets 413")
    func chunkedTooLarge() throws {
        try withHTTPTestServer({ $0.maxBodyBytes = 100 }) { server in
            let client = try HTTPTestClient(port: server.port)
            try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            try client.send("40\r\n" + String(repeating: "a", count: 64) + "\r\n40\r\n")
            let response = try client.readResponse()
            #expect(response.status == 413)
            #expect(response.header("Connection") == "close")
            #expect(client.waitForClose().closed)
        }
    }

    @Test("oversize Content-Length gets 413 and close")
    func contentLengthTooLarge() throws {
        try withHTTPTestServer({ $0.maxBodyBytes = 1024 }) { server in
            let client = try HTTPTestClient(port: server.port)
            try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n")
            try client.send([UInt8](repeating: 1, count: 1025))
            let response = try client.readResponse()
            #expect(response.status == 413)
            #expect(response.header("Connection") == "close")
            #expect(client.waitForClose().closed)
        }
    }

    @Test("an absurd Content-Length gets 413, not a crash")
    func contentLengthHuge() throws {
        try withHTTPTestServer { server in
            let client = try HTTPTestClient(port: server.port)
            try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999999\r\n\r\n")
            #expect(try client.readResponse().status == 413)
        }
    }

    @Test("oversize headers get 431 and close", arguments: [true, false])
    func headersTooLarge(complete: Bool) throws {
        try withHTTPTestServer({ $0.maxHeaderBytes = 1024 }) { server in
            let client = try HTTPTestClient(port: server.port)
            let big = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "b", count: 2000) + "\r\n"
            try client.send(complete ? big + "\r\n" : big)
            let response = try client.readResponse()
            #expect(response.status == 431)
            #expect(response.header("Connection") == "close")
            #expect(client.waitForClose().closed)
        }
    }

    static let malformedRequests = [
        "GARBAGE\r\n\r\n",
        "GET /\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET / HTTP/1.1\r\nNoColonHere\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n",
        "POST /echo HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        "POST /echo HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        "POST /echo HTTP/1.1\r\nContent-Length: +5\r\n\r\nabcde",
        "POST /echo HTTP/1.1\r\nContent-Length: \r\n\r\n",
        "POST /echo HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "POST /echo HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\nabcd",
        "POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
    ]

    @Test("malformed requests get 400 and close", arguments: malformedRequests)
    func malformed(request: String) throws {
        try withHTTPTestServer { server in
            let client = try HTTPTestClient(port: server.port)
            try client.send(request)
            let response = try client.readResponse()
            #expect(response.status == 400)
            #expect(response.header("Connection") == "close")
            #expect(response.header("Content-Length") == String(response.body.count))
            #expect(client.waitForClose().closed)
        }
    }

    @Test("repeated equal Content-Length values, leading blank lines and bare LF are accepted")
    func lenientButValid() throws {
        try withHTTPTestServer { server in
            let client = try HTTPTestClient(port: server.port)
            try client.send("POST /echo HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc")
            #expect(try client.readResponse().text == "abc")
            try client.send("\r\n\r\nGET /blank HTTP/1.1\r\n\r\n")
            #expect(try client.readResponse().text == "GET /blank")
            try client.send("GET /lf HTTP/1.1\nHost: x\n\n")
            #expect(try client.readResponse().text == "GET /lf")
        }
    }

    @Test("an idle connection is closed after the idle timeout")
    func idleTimeout() throws {
        try withHTTPTestServer({ $0.idleTimeout = 0.3 }) { server in
            let silent = try HTTPTestClient(port: server.port)
            let used = try HTTPTestClient(port: server.port)
            try used.send(httpGet("/once"))
            #expect(try used.readResponse().status == 200)
            let silentEnd = silent.waitForClose(timeout: 5)
            #expect(silentEnd.closed)
            #expect(silentEnd.bytes.isEmpty)
            let usedEnd = used.waitForClose(timeout: 5)
            #expect(usedEnd.closed)
            #expect(usedEnd.bytes.isEmpty)
        }
    }

    @Test("a slow client gets 408 and close", arguments: [false, true])
    func slowClient(inBody: Bool) throws {
        try withHTTPTestServer({ $0.requestTimeout = 0.3 }) { server in
            let client = try HTTPTestClient(port: server.port)
            if inBody {
                try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            } else {
                try client.send("GET / HTTP/1.1\r\nHost: x\r\n")
            }
            let response = try client.readResponse(timeout: 5)
            #expect(response.status == 408)
            #expect(response.header("Connection") == "close")
            #expect(client.waitForClose().closed)
        }
    }

    @Test("HTTP/1.0 closes unless keep-alive is asked for")
    func http10() throws {
        try withHTTPTestServer { server in
            let plain = try HTTPTestClient(port: server.port)
            try plain.send("GET /old HTTP/1.0\r\n\r\n")
            let response = try plain.readResponse()
            #expect(response.status == 200)
            #expect(response.text == "GET /old")
            #expect(response.header("Connection") == "close")
            #expect(plain.waitForClose().closed)

            let kept = try HTTPTestClient(port: server.port)
            try kept.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let first = try kept.readResponse()
            #expect(first.header("Connection") == "keep-alive")
            try kept.send("GET /b HTTP/1.0\r\n\r\n")
            #expect(try kept.readResponse().text == "GET /b")
            #expect(kept.waitForClose().closed)
        }
    }

    @Test("Connection: close from the client or the handler closes after the response")
    func connectionClose() throws {
        try withHTTPTestServer { server in
            let client = try HTTPTestClient(port: server.port)
            try client.send(httpGet("/x", "Connection: close\r\n") + httpGet("/never"))
            let response = try client.readResponse()
            #expect(response.text == "GET /x")
            #expect(response.header("Connection") == "close")
            let end = client.waitForClose()
            #expect(end.closed)
            #expect(end.bytes.isEmpty)

            let other = try HTTPTestClient(port: server.port)
            try other.send(httpGet("/close"))
            let byHandler = try other.readResponse()
            #expect(byHandler.text == "bye")
            #expect(byHandler.headers.filter { $0.name.lowercased() == "connection" }.count == 1)
            #expect(byHandler.header("Connection") == "close")
            #expect(other.waitForClose().closed)
        }
    }

    @Test("HEAD gets the length but no body")
    func head() throws {
        try withHTTPTestServer { server in
            let client = try HTTPTestClient(port: server.port)
            try client.send("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n" + httpGet("/g"))
            let head = try client.readResponse(bodyless: true)
            #expect(head.status == 200)
            #expect(head.header("Content-Length") == "7")
            #expect(try client.readResponse().text == "GET /g")
        }
    }

    @Test("closeWithoutResponse closes with no bytes written")
    func closeWithoutResponse() throws {
        try withHTTPTestServer { server in
            let client = try HTTPTestClient(port: server.port)
            try client.send(httpGet("/drop"))
            let end = client.waitForClose()
            #expect(end.closed)
            #expect(end.bytes.isEmpty)
        }
    }

    @Test("50 concurrent connections doing 20 requests each all get correct answers")
    func concurrentConnections() throws {
        try withHTTPTestServer { server in
            let port = server.port
            let failures = Mutex<[String]>([])
            let done = DispatchGroup()
            for connection in 0..<50 {
                done.enter()
                let thread = Thread {
                    defer { done.leave() }
                    do {
                        let client = try HTTPTestClient(port: port)
                        for request in 0..<20 {
                            let payload = "c\(connection)-r\(request)"
                            if request % 2 == 0 {
                                try client.send(httpGet("/\(payload)"))
                                let response = try client.readResponse(timeout: 20)
                                if response.status != 200 || response.text != "GET /\(payload)" {
                                    failures.withLock { $0.append("\(payload): \(response.status) \(response.text)") }
                                }
                            } else {
                                try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(payload.utf8.count)\r\n\r\n\(payload)")
                                let response = try client.readResponse(timeout: 20)
                                if response.status != 200 || response.text != payload {
                                    failures.withLock { $0.append("\(payload): \(response.status) \(response.text)") }
                                }
                            }
                        }
                    } catch {
                        failures.withLock { $0.append("connection \(connection): \(error)") }
                    }
                }
                thread.start()
            }
            #expect(done.wait(timeout: .now() + 60) == .success)
            let recorded = failures.withLock { $0 }
            #expect(recorded.isEmpty, "\(recorded.prefix(5))")
        }
    }

    @Test("connections beyond maxConnections are closed at once")
    func connectionLimit() throws {
        try withHTTPTestServer({ $0.maxConnections = 2 }) { server in
            var first: HTTPTestClient? = try HTTPTestClient(port: server.port)
            let second = try HTTPTestClient(port: server.port)
            for client in [first, second].compactMap({ $0 }) {
                try client.send(httpGet("/in"))
                #expect(try client.readResponse().status == 200)
            }
            let third = try HTTPTestClient(port: server.port)
            let end = third.waitForClose()
            #expect(end.closed)
            #expect(end.bytes.isEmpty)

            first = nil  // closes the socket; the server frees the slot
            _ = first
            var served = false
            let deadline = HTTPSocket.monotonicNow() + 5
            while !served, HTTPSocket.monotonicNow() < deadline {
                let retry = try HTTPTestClient(port: server.port)
                try retry.send(httpGet("/again"))
                served = (try? retry.readResponse(timeout: 1))?.status == 200
                if !served { usleep(20_000) }
            }
            #expect(served)
        }
    }

    @Test("stop() with open idle connections returns promptly and closes them")
    func stopWithOpenConnections() throws {
        var configuration = HTTPServer.Configuration()
        configuration.idleTimeout = 600
        configuration.requestTimeout = 600
        let server = HTTPServer(configuration: configuration, handler: httpTestHandler)
        try server.start()
        var clients: [HTTPTestClient] = []
        for index in 0..<10 {
            let client = try HTTPTestClient(port: server.port)
            if index % 2 == 0 {
                try client.send(httpGet("/warm"))
                #expect(try client.readResponse().status == 200)
            } else if index == 3 {
                try client.send("POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial")
            }
            clients.append(client)
        }
        let began = ContinuousClock.now
        server.stop()
        #expect(ContinuousClock.now - began < .seconds(5))
        for client in clients {
            #expect(client.waitForClose(timeout: 5).closed)
        }
        server.stop()  // idempotent
    }

    @Test("stop() waits for a handler in progress, then returns")
    func stopDuringHandler() throws {
        let entered = DispatchSemaphore(value: 0)
        let server = HTTPServer(configuration: HTTPServer.Configuration()) { request in
            entered.signal()
            usleep(300_000)
            return httpTestHandler(request)
        }
        try server.start()
        let client = try HTTPTestClient(port: server.port)
        try client.send(httpGet("/slow"))
        #expect(entered.wait(timeout: .now() + 5) == .success)
        let began = ContinuousClock.now
        server.stop()
        #expect(ContinuousClock.now - began < .seconds(5))
        #expect(client.waitForClose(timeout: 5).closed)
    }

    @Test("stop() before start() and twice is harmless; start() twice throws")
    func lifecycle() throws {
        let never = HTTPServer(configuration: HTTPServer.Configuration(), handler: httpTestHandler)
        never.stop()
        never.stop()
        #expect(throws: HTTPServerError.alreadyStarted) { try never.start() }

        let server = HTTPServer(configuration: HTTPServer.Configuration(), handler: httpTestHandler)
        try server.start()
        defer { server.stop() }
        #expect(server.port > 0)
        #expect(throws: HTTPServerError.alreadyStarted) { try server.start() }
    }

    @Test("start() errors name the address and the errno text")
    func startErrors() throws {
        try withHTTPTestServer { running in
            var configuration = HTTPServer.Configuration()
            configuration.port = running.port
            let clash = HTTPServer(configuration: configuration, handler: httpTestHandler)
            do {
                try clash.start()
                Issue.record("binding a used port succeeded")
                clash.stop()
            } catch let error as HTTPServerError {
                #expect(error == .systemCall(name: "bind", address: "127.0.0.1:\(running.port)", errno: EADDRINUSE))
                #expect(error.description.contains("127.0.0.1:\(running.port)"))
                #expect(error.description.contains("Address already in use"))
            }
        }
        var badHost = HTTPServer.Configuration()
        badHost.host = "localhost"
        #expect(throws: HTTPServerError.invalidAddress(host: "localhost")) {
            try HTTPServer(configuration: badHost, handler: httpTestHandler).start()
        }
        var badPort = HTTPServer.Configuration()
        badPort.port = 70000
        #expect(throws: HTTPServerError.invalidPort(70000)) {
            try HTTPServer(configuration: badPort, handler: httpTestHandler).start()
        }
    }

    @Test("a blocking handler does not stall other connections")
    func blockingHandler() throws {
        let handler: @Sendable (HTTPRequest) -> HTTPDisposition = { request in
            if request.path == "/slow" {
                usleep(300_000)
            }
            return httpTestHandler(request)
        }
        try withHTTPTestServer(handler: handler) { server in
            let slow = try HTTPTestClient(port: server.port)
            try slow.send(httpGet("/slow"))
            let fast = try HTTPTestClient(port: server.port)
            try fast.send(httpGet("/fast"))
            #expect(try fast.readResponse().text == "GET /fast")
            #expect(try slow.readResponse().text == "GET /slow")
        }
    }
}

// MARK: - Parser pieces

@Suite("HTTP request parsing")
struct HTTPServerParsingTests {
    @Test("a chunked body split at every byte boundary decodes the same")
    func chunkedByteByByte() throws {
        let wire = Array("5\r\nhello\r\nA;x=y\r\n0123456789\r\n0\r\nT: v\r\n\r\nNEXT".utf8)
        for split in 0...wire.count {
            var decoder = HTTPChunkedDecoder(maxBodyBytes: 100, maxTrailerBytes: 100)
            var buffer = Array(wire[0..<split])
            var index = try decoder.consume(buffer, from: 0)
            buffer.append(contentsOf: wire[split...])
            if !decoder.isDone {
                index = try decoder.consume(buffer, from: index)
            }
            #expect(decoder.isDone)
            #expect(decoder.decodedBytes == 15)
            #expect(Array(buffer[index...]) == Array("NEXT".utf8))
        }
    }

    @Test("head parsing keeps header order and trims values")
    func parseHead() throws {
        let bytes = Array("POST /fms/secure/getBalance?a=b HTTP/1.1\r\nHost: x \r\nX-Dup: 1\r\nx-dup:\t2\r\n\r\n".utf8)
        let end = HTTPRequestParser.headEnd(in: bytes, start: 0, scanFrom: 0)
        #expect(end == bytes.count)
        let head = try HTTPRequestParser.parseHead(bytes[...])
        #expect(head.method == "POST")
        #expect(head.target == "/fms/secure/getBalance?a=b")
        #expect(head.version == "HTTP/1.1")
        #expect(head.headers["host"] == "x")
        #expect(head.headers["X-DUP"] == "1")
        #expect(head.headers.values(for: "x-dup") == ["1", "2"])
        #expect(head.headers.count == 3)
        #expect(head.headers.map(\.name) == ["Host", "X-Dup", "x-dup"])
        let request = HTTPRequest(method: head.method, target: head.target)
        #expect(request.path == "/fms/secure/getBalance")
        #expect(request.query == "a=b")
    }

    @Test("response serialization manages framing fields and drops unsafe ones")
    func serialize() {
        let response = HTTPResponse(
            status: 503,
            headers: [
                (name: "Content-Length", value: "999"),
                (name: "X-Evil", value: "a\r\nInjected: yes"),
                (name: "Content-Type", value: "application/json"),
            ],
            body: Array("{}".utf8)
        )
        let text = String(decoding: HTTPResponseWriter.serialize(response, keepAlive: false, announceKeepAlive: false, omitBody: false), as: UTF8.self)
        #expect(text == "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
    }
}
