import Foundation
import Glibc
import Synchronization
import Testing
@testable import FMSClient
import FMSProtocol
import FMSSimulator

// SocketHTTPTransport against a tiny HTTP server on a raw loopback socket that each test
// scripts. Helper names carry a `Sock` prefix so they cannot clash with other test files.

/// One request as the test server read it.
struct SockReceived: Sendable {
    var requestLine: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func values(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }
}

/// The server side of one accepted connection; the handler runs on its own thread.
final class SockServerConnection: @unchecked Sendable {
    let index: Int
    private let lock = NSLock()
    private var fd: Int32
    private var buffer: [UInt8] = []
    private unowned let server: SockTestServer

    init(fd: Int32, index: Int, server: SockTestServer) {
        self.fd = fd
        self.index = index
        self.server = server
    }

    /// Reads one request (head and Content-Length body); nil when the client closed or after `timeout`.
    func readRequest(timeout: Double = 10) -> SockReceived? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let end = find(Array("\r\n\r\n".utf8)) {
                let lines = String(decoding: buffer[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
                var headers: [(name: String, value: String)] = []
                for line in lines.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
                }
                var request = SockReceived(requestLine: lines[0], headers: headers, body: [])
                let length = Int(request.values("Content-Length").first ?? "0") ?? 0
                while buffer.count < end + 4 + length {
                    guard receive(until: deadline) else { return nil }
                }
                request.body = Array(buffer[(end + 4)..<(end + 4 + length)])
                buffer.removeFirst(end + 4 + length)
                server.record(request)
                return request
            }
            guard receive(until: deadline) else { return nil }
        }
    }

    /// Writes all of `text`.
    func write(_ text: String) { write(Array(text.utf8)) }

    /// Writes all of `bytes` (errors ignored: the client may be gone).
    func write(_ bytes: [UInt8]) {
        let fd = lock.withLock { self.fd }
        guard fd >= 0 else { return }
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return }
            offset += sent
        }
    }

    /// Reads and drops everything until the client closes (true) or `timeout` passes (false).
    func waitForClose(timeout: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if !receive(until: deadline) { return Date() < deadline }
            buffer.removeAll()
        }
    }

    /// Closes the socket (a FIN; with `reset`, an RST).
    func close(reset: Bool = false) {
        lock.withLock {
            guard fd >= 0 else { return }
            if reset {
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            }
            Glibc.close(fd)
            fd = -1
        }
    }

    /// Wakes a handler blocked on the socket (server stop).
    func shutdown() {
        lock.withLock { if fd >= 0 { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) } }
    }

    private func receive(until deadline: Date) -> Bool {
        let fd = lock.withLock { self.fd }
        guard fd >= 0 else { return false }
        let remaining = deadline.timeIntervalSinceNow
        guard remaining > 0 else { return false }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&entry, 1, Int32(remaining * 1000) + 1)
        if ready < 0 && errno == EINTR { return receive(until: deadline) }
        guard ready > 0 else { return false }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return false }
        buffer.append(contentsOf: chunk[0..<count])
        return true
    }

    private func find(_ needle: [UInt8]) -> Int? {
        guard buffer.count >= needle.count else { return nil }
        for start in 0...(buffer.count - needle.count) where buffer[start] == needle[0] {
            if Array(buffer[start..<(start + needle.count)]) == needle { return start }
        }
        return nil
    }
}

/// A listening socket on 127.0.0.1, port chosen by the system; each accepted connection
/// runs `handler` on its own thread and is closed when the handler returns.
final class SockTestServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var connections: [SockServerConnection] = []
    private var received: [SockReceived] = []
    private let threads = DispatchGroup()
    private let handler: @Sendable (SockServerConnection) -> Void

    init(ipv6: Bool = false, _ handler: @escaping @Sendable (SockServerConnection) -> Void) throws {
        self.handler = handler
        (listener, port) = try Self.listen(ipv6: ipv6)
        threads.enter()
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Connections accepted so far.
    var accepted: Int { lock.withLock { connections.count } }
    /// Requests read so far, in order.
    var requests: [SockReceived] { lock.withLock { received } }

    func record(_ request: SockReceived) { lock.withLock { received.append(request) } }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Stops accepting, wakes and waits for the handlers, closes everything.
    func stop() {
        _ = Glibc.shutdown(listener, Int32(SHUT_RDWR))
        for connection in lock.withLock({ connections }) { connection.shutdown() }
        threads.wait()
        Glibc.close(listener)
    }

    private func acceptLoop() {
        defer { threads.leave() }
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            let connection = lock.withLock { () -> SockServerConnection in
                let connection = SockServerConnection(fd: fd, index: connections.count, server: self)
                connections.append(connection)
                return connection
            }
            threads.enter()
            let thread = Thread { [self] in
                handler(connection)
                connection.close()
                threads.leave()
            }
            thread.start()
        }
    }

    /// A bound, listening socket on loopback (127.0.0.1, or ::1 with `ipv6`) and its port.
    static func listen(backlog: Int32 = 64, ipv6: Bool = false) throws -> (Int32, Int) {
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SockSetupError(text: "socket: errno \(errno)") }
        var storage = sockaddr_storage()
        var length: socklen_t
        if ipv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            _ = inet_pton(AF_INET6, "::1", &address.sin6_addr)
            withUnsafeMutableBytes(of: &storage) { target in withUnsafeBytes(of: &address) { target.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            withUnsafeMutableBytes(of: &storage) { target in withUnsafeBytes(of: &address) { target.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        }
        let bound = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(fd, generic, length) == 0 && Glibc.listen(fd, backlog) == 0 && getsockname(fd, generic, &length) == 0
            }
        }
        guard bound else {
            let code = errno
            Glibc.close(fd)
            throw SockSetupError(text: "bind/listen: errno \(code)")
        }
        // The port sits at the same offset in sockaddr_in and sockaddr_in6.
        let port = withUnsafeBytes(of: &storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
        return (fd, Int(port))
    }
}

struct SockSetupError: Error {
    var text: String
}

enum Sock {
    /// A 200 answer with Content-Length, a `result` header and `extra` header lines.
    static func answer(_ body: String, extra: [String] = [], status: String = "200 OK") -> String {
        var head = "HTTP/1.1 \(status)\r\nContent-Length: \(body.utf8.count)\r\nRESULT: SUCCESS\r\n"
        for line in extra { head += line + "\r\n" }
        return head + "\r\n" + body
    }

    /// Answers every request on the connection with `answer(request)` until the client closes.
    static func serve(_ connection: SockServerConnection, _ answer: (SockReceived) -> String) {
        while let request = connection.readRequest() {
            connection.write(answer(request))
        }
    }

    /// An echo server: the answer's body is the request's body.
    static func echo() throws -> SockTestServer {
        try SockTestServer { connection in
            serve(connection) { answer(String(decoding: $0.body, as: UTF8.self)) }
        }
    }

    static func request(_ url: String, body: String = "hello", timeout: Double = 5,
                        headers: [(name: String, value: String)] = [("Content-Type", "text/plain")]) -> TransportRequest {
        TransportRequest(url: URL(string: url)!, headers: headers, body: Array(body.utf8), timeout: timeout)
    }

    /// The error of a post that must fail.
    static func failure(_ transport: SocketHTTPTransport, _ request: TransportRequest) async -> TransportError? {
        do {
            let response = try await transport.post(request)
            Issue.record("expected an error, got status \(response.status)")
            return nil
        } catch {
            return error
        }
    }

    /// Polls `condition` every 10 ms for up to `seconds`.
    static func eventually(_ seconds: Double = 5, _ condition: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        return condition()
    }

    static func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    static func text(_ response: TransportResponse) -> String { String(decoding: response.body, as: UTF8.self) }
}

@Suite("SocketHTTPTransport over loopback", .serialized)
struct SocketTransportTests {
    @Test("two requests share one keep-alive connection; the request is framed as HTTP/1.1 wants")
    func keepAliveReuse() async throws {
        let server = try Sock.echo()
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        let headers: [(name: String, value: String)] = [("Content-Type", "application/json"), ("appId", "A-1"),
                                                        ("content-length", "999")]
        let first = try await transport.post(Sock.request(server.baseURL + "/fms/secure/getBalance?x=1#frag",
                                                          body: "{\"a\":1}", headers: headers))
        let second = try await transport.post(Sock.request(server.baseURL + "/fms/secure/getBalance", body: "second"))
        #expect(first.status == 200 && Sock.text(first) == "{\"a\":1}")
        #expect(first.header("result") == "SUCCESS", "header lookup is case-insensitive")
        #expect(Sock.text(second) == "second")
        #expect(server.accepted == 1)
        let request = try #require(server.requests.first)
        #expect(request.requestLine == "POST /fms/secure/getBalance?x=1 HTTP/1.1")
        #expect(request.values("Host") == ["127.0.0.1:\(server.port)"])
        #expect(request.values("Content-Length") == ["7"], "the caller's Content-Length is replaced")
        #expect(request.values("Connection") == ["keep-alive"])
        #expect(request.values("appId") == ["A-1"])
        #expect(request.values("Content-Type") == ["application/json"])
        #expect(transport.openConnections == 1)
    }

    @Test("100 Continue interim answers are skipped")
    func continueSkipped() async throws {
        let server = try SockTestServer { connection in
            Sock.serve(connection) { _ in
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n" + Sock.answer("final")
            }
        }
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        let response = try await transport.post(Sock.request(server.baseURL + "/x"))
        #expect(response.status == 200 && Sock.text(response) == "final")
        #expect(Sock.text(try await transport.post(Sock.request(server.baseURL + "/x"))) == "final")
        #expect(server.accepted == 1)
    }

    @Test("a chunked answer is decoded (extensions, trailers) and the connection reused")
    func chunked() async throws {
        let server = try SockTestServer { connection in
            Sock.serve(connection) { _ in
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nresult: SUCCESS\r\n\r\n"
                    + "5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
            }
        }
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        let first = try await transport.post(Sock.request(server.baseURL + "/x"))
        let second = try await transport.post(Sock.request(server.baseURL + "/x"))
        #expect(Sock.text(first) == "hello 0123456789")
        #expect(Sock.text(second) == "hello 0123456789")
        #expect(server.accepted == 1)
    }

    @Test("a large chunked answer arriving in pieces")
    func largeChunked() async throws {
        let piece = String(repeating: "abcdefgh", count: 8192)  // 64 KiB
        let server = try SockTestServer { connection in
            while connection.readRequest() != nil {
                connection.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                for _ in 0..<20 {
                    connection.write(String(piece.utf8.count, radix: 16) + "\r\n" + piece + "\r\n")
                }
                connection.write("0\r\n\r\n")
            }
        }
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        let response = try await transport.post(Sock.request(server.baseURL + "/x"))
        #expect(response.body.count == 20 * 65536)
        #expect(Sock.text(response) == String(repeating: piece, count: 20))
    }

    @Test("an answer without length is read to the close, and the connection not reused")
    func readToEOF() async throws {
        let server = try SockTestServer { connection in
            guard connection.readRequest() != nil else { return }
            connection.write("HTTP/1.1 200 OK\r\nresult: SUCCESS\r\n\r\nuntil the end")
        }
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        #expect(Sock.text(try await transport.post(Sock.request(server.baseURL + "/x"))) == "until the end")
        #expect(Sock.text(try await transport.post(Sock.request(server.baseURL + "/x"))) == "until the end")
        #expect(server.accepted == 2)
        #expect(await Sock.eventually { transport.openConnections == 0 })
    }

    @Test("an answer with Connection: close is not reused", arguments: ["HTTP/1.1", "HTTP/1.0"])
    func connectionClose(version: String) async throws {
        let server = try SockTestServer { connection in
            Sock.serve(connection) { request in
                let answer = Sock.answer(String(decoding: request.body, as: UTF8.self),
                                         extra: version == "HTTP/1.1" ? ["Connection: close"] : [])
                return answer.replacingOccurrences(of: "HTTP/1.1 ", with: version + " ")
            }
        }
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        #expect(Sock.text(try await transport.post(Sock.request(server.baseURL + "/x", body: "a"))) == "a")
        #expect(Sock.text(try await transport.post(Sock.request(server.baseURL + "/x", body: "b"))) == "b")
        #expect(server.accepted == 2)
    }

    @Test("HTTP/1.0 with keep-alive is reused")
    func http10KeepAlive() async throws {
        let server = try SockTestServer { connection in
            Sock.serve(connection) { _ in
                "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok"
            }
        }
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        _ = try await transport.post(Sock.request(server.baseURL + "/x"))
        _ = try await transport.post(Sock.request(server.baseURL + "/x"))
        #expect(server.accepted == 1)
    }

    @Test("an idle pooled connection the server closed is replaced before sending")
    func idleCloseDetected() async throws {
        let closed = Atomic<Int>(0)
        let server = try SockTestServer { connection in
            guard let request = connection.readRequest() else { return }
            connection.write(Sock.answer(String(decoding: request.body, as: UTF8.self)))
            if connection.index == 0 {
                connection.close()
                closed.add(1, ordering: .sequentiallyConsistent)
                return
            }
            Sock.serve(connection) { Sock.answer(String(decoding: $0.body, as: UTF8.self)) }
        }
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        #expect(Sock.text(try await transport.post(Sock.request(server.baseURL + "/x", body: "1"))) == "1")
        #expect(await Sock.eventually { closed.load(ordering: .sequentiallyConsistent) == 1 })
        try await Task.sleep(nanoseconds: 50_000_000)
        #expect(Sock.text(try await transport.post(Sock.request(server.baseURL + "/x", body: "2"))) == "2")
        #expect(server.accepted == 2)
        #expect(server.requests.map { String(decoding: $0.body, as: UTF8.self) } == ["1", "2"],
                "the request never went out on the dead connection")
    }

    @Test("the keep-alive race: a reused connection dying before any answer byte is retried once",
          arguments: [false, true])
    func keepAliveRaceRetried(reset: Bool) async throws {
        let server = try SockTestServer { connection in
            if connection.index == 0 {
                guard let first = connection.readRequest() else { return }
                connection.write(Sock.answer(String(decoding: first.body, as: UTF8.self)))
                // Reads the second request, then closes without a byte of answer.
                _ = connection.readRequest()
                connection.close(reset: reset)
                return
            }
            Sock.serve(connection) { Sock.answer("retried " + String(decoding: $0.body, as: UTF8.self)) }
        }
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        #expect(Sock.text(try await transport.post(Sock.request(server.baseURL + "/x", body: "1"))) == "1")
        #expect(Sock.text(try await transport.post(Sock.request(server.baseURL + "/x", body: "2"))) == "retried 2")
        #expect(server.accepted == 2)
        #expect(server.requests.map { String(decoding: $0.body, as: UTF8.self) } == ["1", "2", "2"])
    }

    @Test("a retried request that fails again is not retried a second time")
    func retriedOnlyOnce() async throws {
        let server = try SockTestServer { connection in
            if connection.index == 0 {
                guard connection.readRequest() != nil else { return }
                connection.write(Sock.answer("first"))
            }
            _ = connection.readRequest()
            connection.close()
        }
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        _ = try await transport.post(Sock.request(server.baseURL + "/x"))
        let error = try #require(await Sock.failure(transport, Sock.request(server.baseURL + "/x")))
        #expect(error.message.contains("may have been carried out"))
        #expect(server.accepted == 2)
    }

    @Test("no retry when the connection dies in the middle of an answer")
    func noRetryMidAnswer() async throws {
        let server = try SockTestServer { connection in
            guard connection.readRequest() != nil else { return }
            connection.write(Sock.answer("ok"))
            guard connection.readRequest() != nil else { return }
            connection.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
            connection.close()
        }
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        let url = server.baseURL + "/fms/secure/sendSingleFMS"
        _ = try await transport.post(Sock.request(url))
        let error = try #require(await Sock.failure(transport, Sock.request(url)))
        #expect(error.message == "\(url): the connection closed without a complete answer (the request may have been carried out)")
        #expect(!error.timedOut)
        try await Task.sleep(nanoseconds: 100_000_000)
        #expect(server.accepted == 1)
        #expect(server.requests.count == 2)
    }

    @Test("no retry when a new connection closes without answering")
    func noRetryOnFreshConnection() async throws {
        let server = try SockTestServer { connection in
            _ = connection.readRequest()
        }
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        let error = try #require(await Sock.failure(transport, Sock.request(server.baseURL + "/x")))
        #expect(error.message.contains("may have been carried out"))
        try await Task.sleep(nanoseconds: 100_000_000)
        #expect(server.accepted == 1)
    }

    @Test("a closed port: connection refused")
    func connectionRefused() async throws {
        let (fd, port) = try SockTestServer.listen()
        Glibc.close(fd)
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        let url = "http://127.0.0.1:\(port)/x"
        let error = try #require(await Sock.failure(transport, Sock.request(url)))
        #expect(error.message == "\(url): connection refused")
        #expect(!error.timedOut)
        #expect(transport.openConnections == 0)
    }

    @Test("a server that never answers: timed out, well before the hang bound")
    func timeout() async throws {
        let server = try SockTestServer { connection in
            _ = connection.readRequest()
            _ = connection.waitForClose()
        }
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        let url = server.baseURL + "/x"
        let started = Date()
        let error = try #require(await Sock.failure(transport, Sock.request(url, timeout: 0.5)))
        let elapsed = Date().timeIntervalSince(started)
        #expect(error.timedOut)
        #expect(error.message == "\(url): timed out after 0.5s")
        #expect(elapsed >= 0.45)
        #expect(elapsed < 10, "hang check")
        #expect(await Sock.eventually { transport.openConnections == 0 })
    }

    @Test("a name through getaddrinfo: localhost, trying its addresses in turn")
    func localhostName() async throws {
        let server = try Sock.echo()
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        let response = try await transport.post(Sock.request("http://localhost:\(server.port)/x", body: "by name"))
        #expect(Sock.text(response) == "by name")
        #expect(server.requests.first?.values("Host") == ["localhost:\(server.port)"])
    }

    @Test("an IPv6 literal", .enabled(if: (try? SockTestServer.listen(ipv6: true)).map { Glibc.close($0.0) } != nil))
    func ipv6Literal() async throws {
        let server = try SockTestServer(ipv6: true) { connection in
            Sock.serve(connection) { Sock.answer(String(decoding: $0.body, as: UTF8.self)) }
        }
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        let response = try await transport.post(Sock.request("http://[::1]:\(server.port)/x", body: "six"))
        #expect(Sock.text(response) == "six")
        #expect(server.requests.first?.values("Host") == ["[::1]:\(server.port)"])
    }

    @Test("an unknown host")
    func unknownHost() async throws {
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        let url = "http://no-such-host.invalid:8080/x"
        let error = try #require(await Sock.failure(transport, Sock.request(url, timeout: 10)))
        #expect(error.message.hasPrefix("\(url): unknown host"))
        #expect(!error.timedOut)
    }

    /// A scripted bad answer and the reason the error must give.
    struct Malformed: CustomTestStringConvertible, Sendable {
        var name: String
        var answer: String
        var reason: String
        var testDescription: String { name }
    }

    static let malformedAnswers = [
        Malformed(name: "70 KiB head", answer: "HTTP/1.1 200 OK\r\nX-Big: \(String(repeating: "a", count: 70_000))\r\n\r\n",
                  reason: "the head is larger than 64 KiB"),
        Malformed(name: "100 MB body", answer: "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n",
                  reason: "a body of 100000000 bytes is larger than 64 MiB"),
        Malformed(name: "not HTTP", answer: "SSH-2.0-OpenSSH_9.6\r\n\r\n", reason: "bad status line 'SSH-2.0-OpenSSH_9.6'"),
        Malformed(name: "two lengths", answer: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
                  reason: "conflicting Content-Length values '5, 6'"),
        Malformed(name: "negative length", answer: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                  reason: "bad Content-Length '-1'"),
        Malformed(name: "bad chunk size", answer: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                  reason: "bad chunk size line 'zz'"),
        Malformed(name: "chunk longer than its size", answer: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
                  reason: "chunk data longer than its size 2"),
        Malformed(name: "gzip transfer coding", answer: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                  reason: "unsupported Transfer-Encoding 'gzip, chunked'"),
        Malformed(name: "header without colon", answer: "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
                  reason: "header line without a name and colon: 'no colon here'"),
        Malformed(name: "101", answer: "HTTP/1.1 101 Switching Protocols\r\n\r\n", reason: "unexpected 101 Switching Protocols"),
    ]

    @Test("malformed answers and the 64 KiB head / 64 MiB body limits", arguments: malformedAnswers)
    func malformed(_ bad: Malformed) async throws {
        let server = try SockTestServer { connection in
            guard connection.readRequest() != nil else { return }
            connection.write(bad.answer)
            _ = connection.waitForClose()
        }
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        let url = server.baseURL + "/x"
        let error = try #require(await Sock.failure(transport, Sock.request(url)))
        #expect(error.message == "\(url): malformed HTTP answer (\(bad.reason))")
        #expect(await Sock.eventually { transport.openConnections == 0 })
    }

    @Test("32 concurrent requests over a pool of 4: all answered, at most 4 connections")
    func boundedPool() async throws {
        let inFlight = Mutex((now: 0, most: 0))
        let server = try SockTestServer { connection in
            Sock.serve(connection) { request in
                inFlight.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
                usleep(20_000)
                inFlight.withLock { $0.now -= 1 }
                return Sock.answer(String(decoding: request.body, as: UTF8.self))
            }
        }
        defer { server.stop() }
        let transport = SocketHTTPTransport(maxConnections: 4)
        defer { transport.close() }
        let url = server.baseURL + "/x"
        let answers = await withTaskGroup(of: (Int, String?).self) { group in
            for index in 0..<32 {
                group.addTask {
                    let response = try? await transport.post(Sock.request(url, body: "n\(index)"))
                    return (index, response.map(Sock.text))
                }
            }
            var answers: [Int: String?] = [:]
            for await (index, text) in group { answers[index] = text }
            return answers
        }
        #expect(answers.count == 32)
        for index in 0..<32 { #expect(answers[index] == "n\(index)", "request \(index)") }
        #expect(server.accepted <= 4)
        #expect(inFlight.withLock { $0.most } <= 4)
        #expect(transport.openConnections <= 4)
    }

    @Test("callers beyond the limit are served in arrival order; a wait times out or is cancelled without losing the slot")
    func queueOrderTimeoutCancel() async throws {
        let gate = DispatchSemaphore(value: 0)
        let server = try SockTestServer { connection in
            var first = true
            Sock.serve(connection) { request in
                if first { gate.wait() }
                first = false
                return Sock.answer(String(decoding: request.body, as: UTF8.self))
            }
        }
        defer { server.stop() }
        let transport = SocketHTTPTransport(maxConnections: 1)
        defer { transport.close() }
        let url = server.baseURL + "/x"
        func launch(_ body: String, timeout: Double = 10) -> Task<Result<String, TransportError>, Never> {
            Task {
                do throws(TransportError) {
                    return .success(Sock.text(try await transport.post(Sock.request(url, body: body, timeout: timeout))))
                } catch {
                    return .failure(error)
                }
            }
        }
        let holder = launch("A")
        #expect(await Sock.eventually { server.requests.count == 1 })

        // Waiting for the only connection: the deadline still applies.
        let started = Date()
        let late = await launch("late", timeout: 0.3).value
        guard case .failure(let timeoutError) = late else { Issue.record("expected a timeout"); return }
        #expect(timeoutError.timedOut && timeoutError.message == "\(url): timed out after 0.3s")
        #expect(Date().timeIntervalSince(started) < 5)

        // A waiter cancelled while in line.
        let cancelled = launch("cancelled")
        try await Task.sleep(nanoseconds: 50_000_000)
        var queued: [Task<Result<String, TransportError>, Never>] = []
        for name in ["B", "C", "D"] {
            queued.append(launch(name))
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        cancelled.cancel()
        guard case .failure(let cancelError) = await cancelled.value else { Issue.record("expected cancellation"); return }
        #expect(cancelError.message == "\(url): cancelled")

        gate.signal()
        #expect(try await holder.value.get() == "A")
        for (task, name) in zip(queued, ["B", "C", "D"]) { #expect(try await task.value.get() == name) }
        #expect(server.requests.map { String(decoding: $0.body, as: UTF8.self) } == ["A", "B", "C", "D"])
        #expect(server.accepted == 1)
    }

    @Test("cancelling the calling task fails at once and closes the connection")
    func cancellation() async throws {
        let sawClose = Atomic<Bool>(false)
        let server = try SockTestServer { connection in
            _ = connection.readRequest()
            if connection.waitForClose() { sawClose.store(true, ordering: .sequentiallyConsistent) }
        }
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        let url = server.baseURL + "/x"
        let task = Task { () -> TransportError? in
            await Sock.failure(transport, Sock.request(url, timeout: 30))
        }
        #expect(await Sock.eventually { server.requests.count == 1 })
        let started = Date()
        task.cancel()
        let error = await task.value
        #expect(error?.message == "\(url): cancelled")
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(await Sock.eventually { sawClose.load(ordering: .sequentiallyConsistent) }, "the server saw the close")
        #expect(await Sock.eventually { transport.openConnections == 0 })
    }

    @Test("a task cancelled before it posts fails without connecting")
    func cancelledBeforeStart() async throws {
        let server = try Sock.echo()
        defer { server.stop() }
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        let task = Task { () -> TransportError? in
            while !Task.isCancelled { await Task.yield() }
            return await Sock.failure(transport, Sock.request(server.baseURL + "/x"))
        }
        task.cancel()
        #expect(await task.value?.message.hasSuffix(": cancelled") == true)
        #expect(transport.openConnections == 0)
    }

    @Test("close() releases every descriptor and connection thread")
    func descriptorsReleased() async throws {
        let server = try Sock.echo()
        defer { server.stop() }
        let url = server.baseURL + "/x"
        // Warm up lazily created process-wide descriptors (dispatch, timers) first.
        let warm = SocketHTTPTransport()
        _ = try await warm.post(Sock.request(url))
        warm.close()
        try await Task.sleep(nanoseconds: 20_000_000)
        #expect(await Sock.eventually { SocketHTTPConnection.liveThreads.load(ordering: .relaxed) == 0 })
        let threadsBefore = SocketHTTPConnection.liveThreads.load(ordering: .relaxed)
        #expect(await Sock.eventually { Sock.openDescriptors() == Sock.openDescriptors() })
        let before = Sock.openDescriptors()

        let transport = SocketHTTPTransport(maxConnections: 4)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<12 {
                group.addTask { _ = try await transport.post(Sock.request(url, body: "\(index)")) }
            }
            try await group.waitForAll()
        }
        #expect(Sock.openDescriptors() > before)
        #expect(SocketHTTPConnection.liveThreads.load(ordering: .relaxed) > threadsBefore)
        transport.close()
        #expect(SocketHTTPConnection.liveThreads.load(ordering: .relaxed) == threadsBefore,
                "close() waits for idle connections' threads")
        #expect(await Sock.eventually { Sock.openDescriptors() == before },
                "descriptors: \(Sock.openDescriptors()) now, \(before) before")
        let error = try #require(await Sock.failure(transport, Sock.request(url)))
        #expect(error.message.hasSuffix("the transport was closed"))
    }

    @Test("FMSClient's default transport for http:// talks to the simulator over loopback")
    func clientOverSimulator() async throws {
        let clock = ManualClock(Date().timeIntervalSince1970)
        let server = SimulatorServer(gateway: Fixture.gateway(clock: clock, balance: 1000))
        try server.start()
        defer { server.stop() }
        var configuration = FMSClientConfiguration(baseURL: URL(string: server.baseURL)!, appId: Fixture.appId,
                                                   secretKey: Fixture.key, timeout: 10)
        configuration.clock = { clock.milliseconds }
        let client = try FMSClient(configuration: configuration)
        #expect(try await client.balance() == 1000)
        let template = try await client.reportTemplate("disk {host} at {pct}")
        clock.advance(6)
        let entries = (0..<650).map { BatchEntry(mobile: "138\(String(format: "%08d", $0))", customFmsId: "m\($0)",
                                                 content: ["host": "h\($0)", "pct": "9\($0 % 10)"]) }
        let sent = try await client.sendBatch(templateId: template.templateId, entries: entries)
        #expect(sent.map(\.customFmsId) == entries.map(\.customFmsId))
        #expect(try await client.balance() == 350)
    }
}

@Suite("SocketHTTPTransport parsing")
struct SocketCodecTests {
    @Test("URLs: host, port, Host header and request target", arguments: [
        ("http://127.0.0.1:8080/fms/a?b=c#f", "127.0.0.1", 8080, "127.0.0.1:8080", "/fms/a?b=c"),
        ("HTTP://Example.COM", "Example.COM", 80, "Example.COM", "/"),
        ("http://user:pw@gw:81?q", "gw", 81, "gw:81", "/?q"),
        ("http://[::1]:9000/x%20y", "::1", 9000, "[::1]:9000", "/x%20y"),
        ("http://[fe80::1]/", "fe80::1", 80, "[fe80::1]", "/"),
    ])
    func targets(url: String, host: String, port: Int, hostHeader: String, requestTarget: String) throws {
        let target = try #require(SocketTarget(url))
        #expect(target.host == host)
        #expect(Int(target.port) == port)
        #expect(target.hostHeader == hostHeader)
        #expect(target.requestTarget == requestTarget)
    }

    @Test("URLs the socket transport refuses", arguments: [
        "https://127.0.0.1/x", "ftp://h/x", "http://:80/x", "http://h:0/", "http://h:70000/", "http://h:8a/",
        "http://[::1/", "http://a:b:c/", "http://h:+80/", "http://[::1]x/",
    ])
    func refusedTargets(url: String) {
        #expect(SocketTarget(url) == nil)
    }

    @Test("https and header injection are refused before connecting")
    func refusedRequests() async {
        let transport = SocketHTTPTransport()
        defer { transport.close() }
        let https = await Sock.failure(transport, Sock.request("https://127.0.0.1:1/x"))
        #expect(https?.message.contains("not an http:// URL") == true)
        let injected = await Sock.failure(transport, Sock.request("http://127.0.0.1:1/x", headers: [("X-A", "1\r\nEvil: 2")]))
        #expect(injected?.message == "http://127.0.0.1:1/x: header field 'X-A' has a character HTTP forbids")
    }

    @Test("framing rules")
    func framing() throws {
        func head(_ text: String) throws -> SocketHTTPHead {
            try SocketHTTPCodec.parseHead(Array(text.utf8)[...])
        }
        let length = try SocketHTTPCodec.framing(of: head("HTTP/1.1 200 OK\r\ncontent-length: 5, 5\r\n\r\n"))
        #expect(length.framing == .length(5) && length.keepAlive)
        let noContent = try SocketHTTPCodec.framing(of: head("HTTP/1.1 204 No Content\r\n\r\n"))
        #expect(noContent.framing == .none && noContent.keepAlive)
        let both = try SocketHTTPCodec.framing(of: head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"))
        #expect(both.framing == .chunked && !both.keepAlive)
        let old = try SocketHTTPCodec.framing(of: head("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n"))
        #expect(old.framing == .length(3) && !old.keepAlive)
        let close = try SocketHTTPCodec.framing(of: head("HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\nContent-Length: 0\r\n\r\n"))
        #expect(!close.keepAlive)
        let folded = try head("HTTP/1.1 200\nX-A: one\n  two\nX-B:three \n\n")
        #expect(folded.status == 200 && folded.headers.map(\.value) == ["one two", "three"])
        #expect(SocketHTTPCodec.headEnd(in: Array("HTTP/1.1 200 OK\nA: b\n\nbody".utf8), from: 0) == 22)
        #expect(try SocketHTTPCodec.chunkSize(Array("1aF ; ext=1".utf8)[...]) == 0x1AF)
    }
}
