import FMSClient
import FMSProtocol

/// What the `fms` Lua module sends through: the live client, or a validator for `fms check`.
public protocol GatewayBackend: Sendable {
    /// Sends one message and waits for the gateway's answer.
    func send(mobile: String, templateId: String, variables: TemplateVariables, customFmsId: String?) async throws(FMSClientError) -> SentMessage
    /// Sends many messages of one template.
    func sendBatch(templateId: String, entries: [BatchEntry]) async throws(FMSClientError) -> [SentMessage]
    /// Pops up to `max` delivery reports.
    func fetchReports(max: Int) async throws(FMSClientError) -> [DeliveryReport]
    /// Reads the balance.
    func balance() async throws(FMSClientError) -> Int64
    /// Registers a template.
    func reportTemplate(_ text: String) async throws(FMSClientError) -> TemplateReportResponse
    /// Reads a template's review status.
    func queryTemplate(_ templateId: String) async throws(FMSClientError) -> TemplateStatus
}

extension FMSClient: GatewayBackend {
    /// Sends one message (`sendSingleFMS`).
    public func send(mobile: String, templateId: String, variables: TemplateVariables,
                     customFmsId: String?) async throws(FMSClientError) -> SentMessage {
        try await sendSingle(mobile: mobile, templateId: templateId, variables: variables, customFmsId: customFmsId)
    }
}

/// The backend of `fms check`: arguments were already validated by the bindings; nothing is
/// sent and answers are placeholders, so rule files can be loaded without a gateway.
public struct ValidatingBackend: GatewayBackend {
    /// Creates the backend.
    public init() {}

    public func send(mobile: String, templateId: String, variables: TemplateVariables,
                     customFmsId: String?) async throws(FMSClientError) -> SentMessage {
        SentMessage(mobile: mobile, fmsId: "check", customFmsId: customFmsId)
    }

    public func sendBatch(templateId: String, entries: [BatchEntry]) async throws(FMSClientError) -> [SentMessage] {
        entries.map { SentMessage(mobile: $0.mobile, fmsId: "check", customFmsId: $0.customFmsId) }
    }

    public func fetchReports(max: Int) async throws(FMSClientError) -> [DeliveryReport] { [] }

    public func balance() async throws(FMSClientError) -> Int64 { 0 }

    public func reportTemplate(_ text: String) async throws(FMSClientError) -> TemplateReportResponse {
        TemplateReportResponse(templateId: "check", variables: ProtocolText.templateVariables(text))
    }

    public func queryTemplate(_ templateId: String) async throws(FMSClientError) -> TemplateStatus {
        TemplateStatus.unknown(templateId)
    }
}
