import Foundation
import Glibc
import Synchronization
import FMSClient

/// A minimal HTTP/1.1 keep-alive transport over POSIX sockets, for comparison only.
///
/// Not a product: it exists to measure how much of a single send's cost is URLSession's
/// (FoundationNetworking over libcurl) by replacing it with the least a client needs:
/// one blocking socket per connection, each served by its own thread, requests framed with
/// Content-Length, answers read by Content-Length. Loopback IPv4 only.
final class SocketTransport: HTTPTransport {
    private let host: String
    private let port: UInt16
    private let idle = Mutex<[SocketConnection]>([])

    init(url: URL) {
        host = url.host ?? "127.0.0.1"
        port = UInt16(url.port ?? 80)
    }

    deinit {
        for connection in idle.withLock({ $0 }) { connection.close() }
    }

    func post(_ request: TransportRequest) async throws(TransportError) -> TransportResponse {
        let connection: SocketConnection
        if let reused = idle.withLock({ $0.popLast() }) {
            connection = reused
        } else {
            connection = try SocketConnection(host: host, port: port)
        }
        var head = "POST \(request.url.path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Length: \(request.body.count)\r\n"
        for header in request.headers { head += "\(header.name): \(header.value)\r\n" }
        head += "\r\n"
        var bytes = Array(head.utf8)
        bytes.append(contentsOf: request.body)
        let outcome = await connection.exchange(bytes)
        switch outcome {
        case .success(let response):
            idle.withLock { $0.append(connection) }
            return response
        case .failure(let error):
            connection.close()
            throw error
        }
    }
}

/// One connection and the thread that does its blocking I/O.
final class SocketConnection: @unchecked Sendable {
    private let fd: Int32
    private let jobs = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var pending: (bytes: [UInt8], done: @Sendable (Result<TransportResponse, TransportError>) -> Void)?
    private var closed = false
    private var buffer: [UInt8] = []

    init(host: String, port: UInt16) throws(TransportError) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(port.bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw TransportError(message: "\(host): not an IPv4 address", timedOut: false)
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TransportError(message: "socket: errno \(errno)", timedOut: false) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let code = errno
            Glibc.close(fd)
            throw TransportError(message: "connect \(host):\(port): errno \(code)", timedOut: false)
        }
        self.fd = fd
        let thread = Thread { [self] in serve() }
        thread.name = "SocketTransport \(fd)"
        thread.start()
    }

    func exchange(_ bytes: [UInt8]) async -> Result<TransportResponse, TransportError> {
        await withCheckedContinuation { continuation in
            lock.lock()
            pending = (bytes, { continuation.resume(returning: $0) })
            lock.unlock()
            jobs.signal()
        }
    }

    func close() {
        lock.lock()
        closed = true
        lock.unlock()
        shutdown(fd, Int32(SHUT_RDWR))
        jobs.signal()
    }

    private func serve() {
        while true {
            jobs.wait()
            lock.lock()
            let job = pending
            pending = nil
            let stop = closed
            lock.unlock()
            if let job { job.done(perform(job.bytes)) }
            if stop { break }
        }
        Glibc.close(fd)
    }

    private func perform(_ bytes: [UInt8]) -> Result<TransportResponse, TransportError> {
        var sent = 0
        while sent < bytes.count {
            let written = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return .failure(TransportError(message: "send: errno \(errno)", timedOut: false)) }
            sent += written
        }
        // The head, up to the blank line.
        var headEnd: Int?
        while headEnd == nil {
            if let end = Self.find([0x0D, 0x0A, 0x0D, 0x0A], in: buffer) { headEnd = end; break }
            guard receive() else { return .failure(TransportError(message: "connection closed", timedOut: false)) }
        }
        guard let headEnd else { return .failure(TransportError(message: "no head", timedOut: false)) }
        let lines = String(decoding: buffer[0..<headEnd], as: UTF8.self).split(separator: "\r\n")
        guard let statusLine = lines.first, let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            return .failure(TransportError(message: "bad status line", timedOut: false))
        }
        var headers: [(name: String, value: String)] = []
        var length = 0
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon])
            let value = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            if name.lowercased() == "content-length" { length = Int(value) ?? 0 }
            headers.append((name, value))
        }
        let bodyStart = headEnd + 4
        while buffer.count - bodyStart < length {
            guard receive() else { return .failure(TransportError(message: "connection closed in the body", timedOut: false)) }
        }
        let body = Array(buffer[bodyStart..<(bodyStart + length)])
        buffer.removeFirst(bodyStart + length)
        return .success(TransportResponse(status: status, headers: headers, body: body))
    }

    private func receive() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return false }
        buffer.append(contentsOf: chunk[0..<count])
        return true
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index] == needle[0] {
            if Array(haystack[index..<(index + needle.count)]) == needle { return index }
        }
        return nil
    }
}
