/// The gateway's verdict on a request, sent in the `result` response header.
///
/// Known codes have a case each; any other text is kept verbatim in `.unknown`, so a
/// client never loses what the gateway said.
public enum ResultCode: Sendable, Hashable, CustomStringConvertible {
    case success
    case appId
    case params
    case clientIP
    case overSpeed
    case mobileEmpty
    case mobileNumber
    case mobileError
    case templateIdError
    case templateIdEmpty
    case templateEmpty
    case templateAboveLength
    case templateVarMore
    case templateVarRepeat
    case customFmsIdTooLong
    case requestTime
    case requestValidPeriod
    case requestTimeTimeout
    // Declared by the vendor but not emitted by its server.
    case contentEmpty
    case longContent
    case templateVarError
    case templateVarAboveLength
    case appIdNoSupportChannel
    case timestamp
    case sign
    /// A code this client does not know, verbatim.
    case unknown(String)

    /// Every known code, in the vendor's order.
    public static let allKnown: [ResultCode] = [
        .success, .appId, .params, .clientIP, .overSpeed, .mobileEmpty, .mobileNumber, .mobileError,
        .templateIdError, .templateIdEmpty, .templateEmpty, .templateAboveLength, .templateVarMore,
        .templateVarRepeat, .customFmsIdTooLong, .requestTime, .requestValidPeriod, .requestTimeTimeout,
        .contentEmpty, .longContent, .templateVarError, .templateVarAboveLength, .appIdNoSupportChannel,
        .timestamp, .sign,
    ]

    private static let byName: [String: ResultCode] = Dictionary(uniqueKeysWithValues: allKnown.map { ($0.name, $0) })

    /// Parses a header value (trimmed); unknown text becomes `.unknown`.
    public init(_ text: String) {
        let trimmed = text.trimmingSpaces()
        self = ResultCode.byName[trimmed] ?? .unknown(trimmed)
    }

    /// The wire name, e.g. `ERROR_OVER_SPEED`.
    public var name: String {
        switch self {
        case .success: return "SUCCESS"
        case .appId: return "ERROR_APPID"
        case .params: return "ERROR_PARAMS"
        case .clientIP: return "ERROR_CLIENT_IP"
        case .overSpeed: return "ERROR_OVER_SPEED"
        case .mobileEmpty: return "ERROR_MOBILE_EMPTY"
        case .mobileNumber: return "ERROR_MOBILE_NUMBER"
        case .mobileError: return "ERROR_MOBILE_ERROR"
        case .templateIdError: return "ERROR_TEMPLATE_ID_ERROR"
        case .templateIdEmpty: return "ERROR_TEMPLATE_ID_EMPTY"
        case .templateEmpty: return "ERROR_TEMPLATE_EMPTY"
        case .templateAboveLength: return "ERROR_TEMPLATE_ABOVE_LENGTH"
        case .templateVarMore: return "ERROR_TEMPLATE_VAR_MORE"
        case .templateVarRepeat: return "ERROR_TEMPLATE_VAR_REPEAT"
        case .customFmsIdTooLong: return "ERROR_CUSTOM_IMSID"
        case .requestTime: return "ERROR_REQUESTTIME"
        case .requestValidPeriod: return "ERROR_REQUESTVALIDPERIOD"
        case .requestTimeTimeout: return "ERROR_REQUESTTIME_TIMEOUT"
        case .contentEmpty: return "ERROR_CONTENT_EMPTY"
        case .longContent: return "ERROR_LONG_CONTENT"
        case .templateVarError: return "ERROR_TEMPLATE_VAR_ERROR"
        case .templateVarAboveLength: return "ERROR_TEMPLATE_VAR_ABOVE_LENGTH"
        case .appIdNoSupportChannel: return "ERROR_APPID_NO_SUPPORT_CHANNEL"
        case .timestamp: return "ERROR_TIMESTAMP"
        case .sign: return "ERROR_SIGN"
        case .unknown(let text): return text
        }
    }

    /// What the code means, in English.
    public var englishDescription: String {
        switch self {
        case .success: return "accepted"
        case .appId: return "the appId is missing, unknown or disabled"
        case .params: return "the request could not be decrypted or parsed"
        case .clientIP: return "this client IP is not on the account's allowlist"
        case .overSpeed: return "too many requests per second for this account"
        case .mobileEmpty: return "no mobile number given"
        case .mobileNumber: return "too many mobile numbers in one request (at most 300)"
        case .mobileError: return "invalid mobile number"
        case .templateIdError: return "unknown template id"
        case .templateIdEmpty: return "no template id given"
        case .templateEmpty: return "the template text is empty"
        case .templateAboveLength: return "the template text is longer than 70 characters"
        case .templateVarMore: return "the template has more than 3 variables"
        case .templateVarRepeat: return "the template repeats a variable name"
        case .customFmsIdTooLong: return "customFmsId is longer than 32 characters"
        case .requestTime: return "requestTime is missing or 0"
        case .requestValidPeriod: return "requestValidPeriod is missing or 0"
        case .requestTimeTimeout: return "the request expired (requestTime + requestValidPeriod is in the past: check the clock)"
        case .contentEmpty: return "the content is empty"
        case .longContent: return "the content is too long"
        case .templateVarError: return "a template variable is wrong"
        case .templateVarAboveLength: return "a template variable value is too long"
        case .appIdNoSupportChannel: return "the account has no channel for this service"
        case .timestamp: return "bad timestamp"
        case .sign: return "bad signature"
        case .unknown: return "a result code this client does not know"
        }
    }

    /// What the code means, in the vendor's Chinese.
    public var chineseDescription: String {
        switch self {
        case .success: return "提交成功"
        case .appId: return "appId 不存在或不可用"
        case .params: return "参数错误"
        case .clientIP: return "客户端 IP 不在白名单内"
        case .overSpeed: return "请求超速"
        case .mobileEmpty: return "手机号为空"
        case .mobileNumber: return "手机号数量超限"
        case .mobileError: return "手机号错误"
        case .templateIdError: return "模板 ID 错误"
        case .templateIdEmpty: return "模板 ID 为空"
        case .templateEmpty: return "模板内容为空"
        case .templateAboveLength: return "模板内容超长"
        case .templateVarMore: return "模板变量过多"
        case .templateVarRepeat: return "模板变量重复"
        case .customFmsIdTooLong: return "自定义消息 ID 超长"
        case .requestTime: return "请求时间错误"
        case .requestValidPeriod: return "请求有效时间错误"
        case .requestTimeTimeout: return "请求已超时"
        case .contentEmpty: return "内容为空"
        case .longContent: return "内容超长"
        case .templateVarError: return "模板变量错误"
        case .templateVarAboveLength: return "模板变量超长"
        case .appIdNoSupportChannel: return "appId 未开通该通道"
        case .timestamp: return "时间戳错误"
        case .sign: return "签名错误"
        case .unknown: return "未知状态码"
        }
    }

    /// Whether sending the same request again later can succeed.
    ///
    /// True for the rate limit and for an expired request (a fresh `requestTime` fixes it);
    /// false for everything that is wrong with the request or the account.
    public var isRetryable: Bool {
        switch self {
        case .overSpeed, .requestTimeTimeout: return true
        default: return false
        }
    }

    /// `ERROR_OVER_SPEED (too many requests …; 请求超速)`.
    public var description: String {
        "\(name) (\(englishDescription); \(chineseDescription))"
    }
}
