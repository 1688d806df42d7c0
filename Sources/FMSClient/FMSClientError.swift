import FMSProtocol

/// Why a client call failed, and whether trying again later can help.
public enum FMSClientError: Error, Sendable, CustomStringConvertible {
    /// An argument was refused before anything was sent: the field, the value and why.
    case invalidArgument(field: String, value: String, reason: String)
    /// The client is misconfigured (no key in secure mode, bad URL…).
    case configuration(String)
    /// The gateway answered with a non-SUCCESS `result` code.
    case gateway(endpoint: Endpoint, code: ResultCode)
    /// The exchange did not complete: refused, reset, timed out.
    case transport(endpoint: Endpoint, message: String, timedOut: Bool)
    /// The server answered with an HTTP status other than 200.
    case httpStatus(endpoint: Endpoint, status: Int)
    /// The answer could not be decrypted or inflated: usually a wrong secret key.
    case undecryptable(endpoint: Endpoint, reason: CodecError)
    /// The answer decrypted but is not the JSON the endpoint returns.
    case malformedResponse(endpoint: Endpoint, reason: String, excerpt: String)
    /// Part of a multi-request batch failed; what was accepted is listed.
    case batchIncomplete(BatchIncomplete)

    /// Whether retrying the same call later can succeed.
    ///
    /// Transport failures, HTTP 5xx/429/408 and the retryable result codes (rate limit,
    /// expired request) can; invalid arguments, bad configuration, refused messages and
    /// undecryptable answers cannot.
    public var isRetryable: Bool {
        switch self {
        case .invalidArgument, .configuration, .undecryptable, .malformedResponse: return false
        case .gateway(_, let code): return code.isRetryable
        case .transport: return true
        case .httpStatus(_, let status): return status >= 500 || status == 429 || status == 408
        case .batchIncomplete(let failure): return failure.failures.allSatisfy { $0.error.isRetryable }
        }
    }

    /// The vendor result code, when the gateway gave one.
    public var resultCode: ResultCode? {
        if case .gateway(_, let code) = self { return code }
        return nil
    }

    /// One sentence naming what failed and, where known, what to do.
    public var description: String {
        switch self {
        case .invalidArgument(let field, let value, let reason):
            return "invalid \(field) '\(value)': \(reason)"
        case .configuration(let message):
            return "configuration: \(message)"
        case .gateway(let endpoint, let code):
            return "\(endpoint): the gateway answered \(code)"
        case .transport(let endpoint, let message, _):
            return "\(endpoint): \(message)"
        case .httpStatus(let endpoint, let status):
            return "\(endpoint): HTTP status \(status) (expected 200)"
        case .undecryptable(let endpoint, let reason):
            return "\(endpoint): cannot read the answer (\(reason)): check the secret key"
        case .malformedResponse(let endpoint, let reason, let excerpt):
            return "\(endpoint): malformed answer: \(reason)" + (excerpt.isEmpty ? "" : " near '\(excerpt)'")
        case .batchIncomplete(let failure):
            return failure.description
        }
    }
}

/// A batch split into several requests of which some failed.
public struct BatchIncomplete: Sendable, CustomStringConvertible {
    /// One failed request: which input positions it carried and why it failed.
    public struct Failure: Sendable {
        /// Positions in the caller's input.
        public var range: Range<Int>
        /// Why the request failed.
        public var error: FMSClientError
    }

    /// The accepted messages, one slot per input position; nil where not accepted.
    public var results: [SentMessage?]
    /// The failed requests.
    public var failures: [Failure]

    /// How many messages were accepted.
    public var acceptedCount: Int { results.lazy.compactMap { $0 }.count }

    /// "sendBatchFMS: 300 of 900 messages were not accepted: messages 300..<600: …".
    public var description: String {
        let failed = results.count - acceptedCount
        let details = failures.map { "messages \($0.range.lowerBound + 1)-\($0.range.upperBound): \($0.error)" }
        return "sendBatchFMS: \(failed) of \(results.count) messages were not accepted (" + details.joined(separator: "; ") + ")"
    }
}
