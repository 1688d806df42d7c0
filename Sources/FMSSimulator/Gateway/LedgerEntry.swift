import FMSProtocol

/// One message the simulated gateway accepted, as listed by `GET /__sim/ledger`.
public struct LedgerEntry: Sendable, Equatable {
    /// The account that sent it.
    public var appId: String
    /// The id the gateway gave it.
    public var fmsId: String
    /// The caller's id, if any.
    public var customFmsId: String?
    /// The mobile as received.
    public var mobile: String
    /// The template used.
    public var templateId: String
    /// The variables.
    public var content: TemplateVariables
    /// The state its report will carry.
    public var state: ReportState

    /// The entry as JSON.
    public var json: JSONValue {
        .object([
            JSONMember("appId", .string(appId)), JSONMember("fmsId", .string(fmsId)),
            JSONMember("customFmsId", customFmsId.map(JSONValue.string) ?? .null),
            JSONMember("mobile", .string(mobile)), JSONMember("templateId", .string(templateId)),
            JSONMember("content", .object(content.keys.sorted().map { JSONMember($0, .string(content[$0] ?? "")) })),
            JSONMember("state", .string(state.name)),
        ])
    }
}

/// What the gateway answers one request with: a result code and, on SUCCESS, the body.
public struct GatewayAnswer: Sendable {
    /// The `result` header.
    public var result: ResultCode
    /// The body (sealed on the secure interface); empty unless SUCCESS.
    public var body: [UInt8]

    /// An answer without a body.
    static func failure(_ code: ResultCode) -> GatewayAnswer { GatewayAnswer(result: code, body: []) }
}
