import FMSClient
import FMSProtocol

extension CommandError {
    /// The command-line form of a client error: its description and a sysexits status.
    ///
    /// Refused arguments and messages exit 65; a wrong key or account 78; an IP not on the
    /// allowlist 77; rate limits, timeouts and HTTP 5xx 75 (retry later); an unreachable
    /// gateway 69; an answer that breaks the protocol 76.
    init(_ error: FMSClientError) {
        self.init(error.description, exitCode: CommandError.exitCode(for: error))
    }

    static func exitCode(for error: FMSClientError) -> ExitCode {
        switch error {
        case .invalidArgument: return .dataError
        case .configuration: return .configuration
        case .gateway(_, let code):
            switch code {
            case .appId: return .configuration
            case .params: return .configuration  // almost always a wrong secret key
            case .clientIP: return .noPermission
            case .overSpeed, .requestTimeTimeout: return .temporaryFailure
            default: return .dataError
            }
        case .transport(_, _, let timedOut): return timedOut ? .temporaryFailure : .unavailable
        case .httpStatus(_, let status): return status >= 500 || status == 429 ? .temporaryFailure : .protocolError
        case .undecryptable: return .configuration
        case .malformedResponse: return .protocolError
        case .batchIncomplete(let failure):
            return failure.failures.first.map { exitCode(for: $0.error) } ?? .software
        }
    }
}
