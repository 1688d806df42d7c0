import Foundation
import FMSProtocol

/// The flash-push API client: one async method per endpoint.
///
/// Arguments are validated before anything is sent; secure bodies are gzip-compressed and
/// AES-encrypted; batches of any size are split into requests of at most 300 and their
/// answers stitched back in input order. Every failure is an `FMSClientError` that says
/// whether retrying can help.
public final class FMSClient: Sendable {
    /// The settings this client was made with.
    public let configuration: FMSClientConfiguration
    private let transport: any HTTPTransport

    /// Creates a client over `transport` (the network by default).
    ///
    /// The default is `SocketHTTPTransport` for `http://` gateways (the vendor's is plain
    /// `http://ip:port`) and `URLSessionTransport` only for `https://`: on Linux,
    /// FoundationNetworking busy-polls while it waits (`strace -f -c fms balance` against a
    /// gateway answering after 1 s: ~1,700 futex/epoll_wait/read/write wake-ups a second and
    /// ~1.3 s of system CPU per 2 s wait), which an idle watcher cannot afford; the socket
    /// transport waits in one `poll` and is the lean path the throughput goals need.
    public init(configuration: FMSClientConfiguration, transport: (any HTTPTransport)? = nil) throws(FMSClientError) {
        try configuration.validate()
        self.configuration = configuration
        let connections = max(4, configuration.maxConcurrentRequests * 2)
        self.transport = transport ?? (configuration.baseURL.scheme?.lowercased() == "http"
            ? SocketHTTPTransport(maxConnections: connections) : URLSessionTransport(maxConnections: connections))
    }

    // MARK: Endpoints

    /// Registers a template (`templateReport`); `{name}` and `${name}` mark variables.
    public func reportTemplate(_ text: String) async throws(FMSClientError) -> TemplateReportResponse {
        let request = TemplateReportRequest(templateInfo: try ArgumentValidation.templateText(text))
        let json = try await call(.templateReport, payload: request.payload)
        return try decode(.templateReport, json) { json throws(FieldError) in try TemplateReportResponse(json: json) }
    }

    /// Asks for a template's review per carrier (`querytemplate`).
    ///
    /// An unknown id comes back as -1 for every carrier, whether the gateway says so
    /// (the document) or answers `ERROR_TEMPLATE_ID_ERROR` (the vendor's server).
    public func queryTemplate(_ templateId: String) async throws(FMSClientError) -> TemplateStatus {
        let id = try ArgumentValidation.templateId(templateId)
        let json: JSONValue
        do {
            json = try await call(.queryTemplate, payload: TemplateQueryRequest(templateId: id).payload)
        } catch let error where error.resultCode == .templateIdError {
            return TemplateStatus.unknown(id)
        }
        return try decode(.queryTemplate, json) { json throws(FieldError) in try TemplateStatus(json: json, requestedId: id) }
    }

    /// Sends one message (`sendSingleFMS`).
    public func sendSingle(mobile: String, templateId: String, variables: TemplateVariables = [:],
                           customFmsId: String? = nil) async throws(FMSClientError) -> SentMessage {
        let request = SingleSendRequest(mobile: try ArgumentValidation.mobile(mobile),
                                        templateId: try ArgumentValidation.templateId(templateId),
                                        content: try ArgumentValidation.variables(variables),
                                        customFmsId: try ArgumentValidation.customFmsId(customFmsId))
        let json = try await call(.sendSingle, payload: request.payload)
        return try decode(.sendSingle, json) { json throws(FieldError) in try SentMessage(json: json) }
    }

    /// Sends any number of messages of one template (`sendBatchFMS`, ≤ 300 per request).
    ///
    /// Every entry is validated first (errors name `messages[i].field`). The answer has one
    /// `SentMessage` per entry, in input order. If some requests fail, `.batchIncomplete`
    /// lists what was accepted and which positions failed, so nothing is silently lost.
    public func sendBatch(templateId: String, entries: [BatchEntry]) async throws(FMSClientError) -> [SentMessage] {
        let id = try ArgumentValidation.templateId(templateId)
        guard !entries.isEmpty else {
            throw .invalidArgument(field: "messages", value: "[]", reason: "a batch needs at least one message")
        }
        var checked: [BatchEntry] = []
        checked.reserveCapacity(entries.count)
        for (index, entry) in entries.enumerated() {
            let place = "messages[\(index + 1)]"
            checked.append(BatchEntry(mobile: try ArgumentValidation.mobile(entry.mobile, field: "\(place).mobile"),
                                      customFmsId: try ArgumentValidation.customFmsId(entry.customFmsId, field: "\(place).id"),
                                      content: try ArgumentValidation.variables(entry.content, field: "\(place).vars")))
        }
        let chunkSize = ProtocolText.maximumBatchSize
        let ranges = stride(from: 0, to: checked.count, by: chunkSize).map { $0..<min($0 + chunkSize, checked.count) }
        if ranges.count == 1 {
            return try await sendChunk(templateId: id, entries: checked)
        }
        var results = [SentMessage?](repeating: nil, count: checked.count)
        var failures: [BatchIncomplete.Failure] = []
        let limit = configuration.maxConcurrentRequests
        await withTaskGroup(of: (Range<Int>, Result<[SentMessage], FMSClientError>).self) { group in
            var next = 0
            func launch() {
                let range = ranges[next]
                next += 1
                let slice = Array(checked[range])
                group.addTask {
                    // Build the Result first: returning the tuple from inside `do throws(E)` is
                    // miscompiled by Swift 6.3.1 -O (the range comes back as 0..<0).
                    let outcome: Result<[SentMessage], FMSClientError>
                    do throws(FMSClientError) {
                        outcome = .success(try await self.sendChunk(templateId: id, entries: slice))
                    } catch {
                        outcome = .failure(error)
                    }
                    return (range, outcome)
                }
            }
            while next < min(limit, ranges.count) { launch() }
            for await (range, outcome) in group {
                switch outcome {
                case .success(let messages):
                    for (offset, message) in messages.enumerated() { results[range.lowerBound + offset] = message }
                case .failure(let error):
                    failures.append(BatchIncomplete.Failure(range: range, error: error))
                }
                if next < ranges.count { launch() }
            }
        }
        guard failures.isEmpty else {
            failures.sort { $0.range.lowerBound < $1.range.lowerBound }
            throw .batchIncomplete(BatchIncomplete(results: results, failures: failures))
        }
        return results.compactMap { $0 }
    }

    /// Pops up to `max` delivery reports (`getFMSReport`, several calls of ≤ 500 when needed).
    ///
    /// Reports are popped by the gateway: the caller must store them before anything else.
    /// Stops early when the gateway has no more. Because popped reports must never be
    /// dropped, a failure after some calls succeeded returns what was fetched (the next
    /// call will meet the failure again); only a failure of the first call throws.
    public func fetchReports(max: Int = ProtocolText.maximumReportsPerCall) async throws(FMSClientError) -> [DeliveryReport] {
        guard max >= 1 else { throw .invalidArgument(field: "max", value: String(max), reason: "must be at least 1") }
        var reports: [DeliveryReport] = []
        while reports.count < max {
            let number = min(ProtocolText.maximumReportsPerCall, max - reports.count)
            let batch: [DeliveryReport]
            do {
                batch = try await fetchReportsOnce(number: number)
            } catch {
                if reports.isEmpty { throw error }
                return reports
            }
            reports.append(contentsOf: batch)
            if batch.count < number { break }
        }
        return reports
    }

    /// One `getFMSReport` call for at most `number` (1...500) reports.
    public func fetchReportsOnce(number: Int) async throws(FMSClientError) -> [DeliveryReport] {
        guard (1...ProtocolText.maximumReportsPerCall).contains(number) else {
            throw .invalidArgument(field: "number", value: String(number), reason: "must be 1 to 500")
        }
        let json = try await call(.getReports, payload: ReportsRequest(number: Int64(number)).payload)
        return try decode(.getReports, json) { json throws(FieldError) in try DeliveryReport.list(json: json) }
    }

    /// Reads the account balance (`getBalance`), in messages.
    public func balance() async throws(FMSClientError) -> Int64 {
        let json = try await call(.getBalance, payload: [])
        return try decode(.getBalance, json) { json throws(FieldError) in try Balance(json: json).amount }
    }

    // MARK: Plumbing

    private func sendChunk(templateId: String, entries: [BatchEntry]) async throws(FMSClientError) -> [SentMessage] {
        let request = BatchSendRequest(templateId: templateId, entries: entries)
        let json = try await call(.sendBatch, payload: request.payload)
        let messages = try decode(.sendBatch, json) { json throws(FieldError) in try SentMessage.list(json: json) }
        guard messages.count == entries.count else {
            throw .malformedResponse(endpoint: .sendBatch,
                                     reason: "\(messages.count) results for \(entries.count) messages", excerpt: "")
        }
        return messages
    }

    private func decode<T>(_ endpoint: Endpoint, _ json: JSONValue,
                           _ read: (JSONValue) throws(FieldError) -> T) throws(FMSClientError) -> T {
        do {
            return try read(json)
        } catch {
            throw .malformedResponse(endpoint: endpoint, reason: error.description,
                                     excerpt: Self.excerpt(JSONWriter.bytes(of: json)))
        }
    }

    /// Sends one request and returns the answer's JSON, or throws what went wrong.
    private func call(_ endpoint: Endpoint, payload: [JSONMember]) async throws(FMSClientError) -> JSONValue {
        let configuration = self.configuration
        let secure = configuration.mode == .secure
        let envelope = RequestEnvelope(appId: secure ? nil : configuration.appId, requestTime: configuration.clock(),
                                       requestValidPeriod: configuration.requestValidPeriod)
        let json = JSONWriter.bytes(of: envelope.wrap(payload))
        var headers: [(name: String, value: String)] = []
        let body: [UInt8]
        if secure, let key = configuration.secretKey {
            headers.append((ProtocolHeader.appId, configuration.appId))
            if configuration.gzip { headers.append((ProtocolHeader.gzip, "on")) }
            headers.append(("Content-Type", "application/octet-stream"))
            do {
                body = try SecureEnvelope.seal(json, key: key, gzip: configuration.gzip, level: configuration.gzipLevel)
            } catch {
                throw .configuration("cannot encrypt the request: \(error)")
            }
        } else {
            headers.append(("Content-Type", "application/json; charset=utf-8"))
            body = json
        }
        let url = configuration.baseURL.appendingPathComponent(String(endpoint.path(configuration.mode).dropFirst()))
        let response: TransportResponse
        do {
            response = try await transport.post(TransportRequest(url: url, headers: headers, body: body,
                                                                 timeout: configuration.timeout))
        } catch {
            throw .transport(endpoint: endpoint, message: error.message, timedOut: error.timedOut)
        }
        guard response.status == 200 else { throw .httpStatus(endpoint: endpoint, status: response.status) }
        guard let resultText = response.header(ProtocolHeader.result) else {
            throw .malformedResponse(endpoint: endpoint, reason: "no 'result' header", excerpt: Self.excerpt(response.body))
        }
        let code = ResultCode(resultText)
        guard code == .success else { throw .gateway(endpoint: endpoint, code: code) }
        guard !response.body.isEmpty else {
            throw .malformedResponse(endpoint: endpoint, reason: "SUCCESS without a body", excerpt: "")
        }
        var plain = response.body
        if secure, let key = configuration.secretKey {
            do {
                plain = try AESECB.decrypt(response.body, key: key)
                // The answer is gzipped only when we asked; look at the magic bytes to be safe.
                if plain.count >= 2, plain[0] == 0x1F, plain[1] == 0x8B {
                    plain = try Gzip.decompress(plain)
                }
            } catch {
                throw .undecryptable(endpoint: endpoint, reason: error)
            }
        }
        do {
            return try JSONParser.parse(plain, options: .tolerant)
        } catch {
            throw .malformedResponse(endpoint: endpoint, reason: "\(error.reason) at byte \(error.offset)",
                                     excerpt: Self.excerpt(plain))
        }
    }

    /// The first 80 characters of a body, for error messages.
    static func excerpt(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.prefix(80), as: UTF8.self)
        return bytes.count > 80 ? text + "…" : text
    }
}
