#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Foundation

// The https:// transport of `fms`, as a plugin (libFMSURLSessionPlugin.so) loaded only when a
// gateway URL is https://.
//
// FoundationNetworking (URLSession over libcurl, gnutls, krb5…: some fifty libraries and
// ~12 MiB of resident memory) is needed only for TLS. Linking it into `fms` would make every
// run, and the long-running watcher, pay for it; so `fms` speaks plain http:// itself and
// loads this library with dlopen(3) for https://. The interface is C: one function taking the
// request and a completion callback (the library keeps its own copy of the Swift modules, so no
// Swift type crosses it).

/// Called once with the outcome: `status` ≥ 0 with `headers` ("Name: value" lines) and the body,
/// or `status` -1 with `error` (and `timedOut` 1 when the deadline passed). The pointers are
/// valid during the call only.
public typealias FMSURLSessionCompletion = @convention(c) (
    _ context: UnsafeMutableRawPointer?, _ status: Int32, _ headers: UnsafePointer<CChar>?,
    _ body: UnsafePointer<UInt8>?, _ bodyLength: Int, _ timedOut: Int32, _ error: UnsafePointer<CChar>?
) -> Void

/// Sessions by connection limit, made on first use and kept for the process.
private final class Sessions: @unchecked Sendable {
    private let lock = NSLock()
    private var sessions: [Int: URLSession] = [:]

    func session(maxConnections: Int) -> URLSession {
        lock.lock()
        defer { lock.unlock() }
        if let session = sessions[maxConnections] { return session }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = maxConnections
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        let session = URLSession(configuration: configuration)
        sessions[maxConnections] = session
        return session
    }
}

private let sessions = Sessions()

/// The completion, sent across to the task's thread.
private struct Reply: @unchecked Sendable {
    let context: UnsafeMutableRawPointer?
    let completion: FMSURLSessionCompletion
    let url: String

    func fail(_ message: String, timedOut: Bool) {
        message.withCString { completion(context, -1, nil, nil, 0, timedOut ? 1 : 0, $0) }
    }

    func succeed(status: Int, headers: String, body: Data) {
        headers.withCString { headerText in
            body.withUnsafeBytes { bytes in
                completion(context, Int32(clamping: status), headerText, bytes.bindMemory(to: UInt8.self).baseAddress,
                           bytes.count, 0, nil)
            }
        }
    }
}

/// POSTs `body` to `url` with `headers` ("Name: value" lines), waiting at most `timeout` seconds;
/// calls `completion` once, from another thread.
@_cdecl("fms_urlsession_post")
public func fms_urlsession_post(_ url: UnsafePointer<CChar>, _ headers: UnsafePointer<CChar>,
                                _ body: UnsafePointer<UInt8>?, _ bodyLength: Int, _ timeout: Double,
                                _ maxConnections: Int32, _ context: UnsafeMutableRawPointer?,
                                _ completion: FMSURLSessionCompletion) {
    let urlText = String(cString: url)
    let reply = Reply(context: context, completion: completion, url: urlText)
    guard let target = URL(string: urlText) else {
        reply.fail("\(urlText): not a URL", timedOut: false)
        return
    }
    var request = URLRequest(url: target, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
    request.httpMethod = "POST"
    for line in String(cString: headers).split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        let name = String(line[..<colon])
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        request.setValue(value, forHTTPHeaderField: name)
    }
    request.httpBody = body.map { Data(bytes: $0, count: bodyLength) } ?? Data()
    let session = sessions.session(maxConnections: max(1, Int(maxConnections)))
    let finished = NSLock()
    nonisolated(unsafe) var done = false
    // Once: the answer, or the deadline (FoundationNetworking does not always honour
    // `timeoutInterval`), whichever comes first.
    let once: @Sendable (() -> Void) -> Void = { body in
        finished.lock()
        let first = !done
        done = true
        finished.unlock()
        if first { body() }
    }
    let task = session.dataTask(with: request) { data, response, error in
        once {
            if let error = error as? URLError {
                reply.fail(describe(error, url: urlText), timedOut: error.code == .timedOut)
            } else if let error {
                reply.fail("\(urlText): \(error.localizedDescription)", timedOut: false)
            } else if let http = response as? HTTPURLResponse {
                var lines = ""
                for (key, value) in http.allHeaderFields {
                    if let name = key as? String, let text = value as? String { lines += "\(name): \(text)\n" }
                }
                reply.succeed(status: http.statusCode, headers: lines, body: data ?? Data())
            } else {
                reply.fail("\(urlText): not an HTTP response", timedOut: false)
            }
        }
    }
    task.resume()
    DispatchQueue.global().asyncAfter(deadline: .now() + max(0.001, timeout)) {
        once {
            task.cancel()
            reply.fail("\(urlText): timed out after \(timeout)s", timedOut: true)
        }
    }
}

private func describe(_ error: URLError, url: String) -> String {
    switch error.code {
    case .timedOut: return "\(url): timed out"
    case .cannotConnectToHost: return "\(url): connection refused"
    case .cannotFindHost: return "\(url): unknown host"
    case .networkConnectionLost, .badServerResponse:
        return "\(url): the connection closed without a complete answer (the request may have been carried out)"
    case .notConnectedToInternet: return "\(url): network unreachable"
    case .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid,
         .serverCertificateHasUnknownRoot, .secureConnectionFailed:
        return "\(url): TLS failed: \(error.localizedDescription)"
    default: return "\(url): \(error.localizedDescription) (URLError \(error.code.rawValue))"
    }
}
