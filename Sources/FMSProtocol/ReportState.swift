/// The final state of one message, as a delivery report states it.
public enum ReportState: Sendable, Hashable, CustomStringConvertible {
    case delivered
    case timeout
    case failBalance
    case failMobile
    case failMobileSupport
    case failMobileRepeat
    case failBlackDict
    case failResponse
    case failUnknown
    /// A state this client does not know, verbatim.
    case unknown(String)

    /// Every known state.
    public static let allKnown: [ReportState] = [
        .delivered, .timeout, .failBalance, .failMobile, .failMobileSupport, .failMobileRepeat,
        .failBlackDict, .failResponse, .failUnknown,
    ]

    private static let byName: [String: ReportState] = Dictionary(uniqueKeysWithValues: allKnown.map { ($0.name, $0) })

    /// Parses a wire value, trimming stray spaces (the document shows `" DELIVRD"`).
    public init(_ text: String) {
        let trimmed = text.trimmingSpaces()
        self = ReportState.byName[trimmed] ?? .unknown(trimmed)
    }

    /// The wire name, e.g. `DELIVRD` or `FAIL_UNKNOW` (sic).
    public var name: String {
        switch self {
        case .delivered: return "DELIVRD"
        case .timeout: return "TIMEOUT"
        case .failBalance: return "FAIL_BALANCE"
        case .failMobile: return "FAIL_MOBILE"
        case .failMobileSupport: return "FAIL_MOBILE_SUPPORT"
        case .failMobileRepeat: return "FAIL_MOBILE_REPEAT"
        case .failBlackDict: return "FAIL_BLACK_DICT"
        case .failResponse: return "FAIL_RESPONSE"
        case .failUnknown: return "FAIL_UNKNOW"
        case .unknown(let text): return text
        }
    }

    /// Whether the message reached the handset.
    public var isDelivered: Bool { self == .delivered }

    /// The vendor's Chinese description, as sent in a report's `desc`.
    public var chineseDescription: String {
        switch self {
        case .delivered: return "成功"
        case .timeout: return "超时"
        case .failBalance: return "余额不足"
        case .failMobile: return "手机号错误"
        case .failMobileSupport: return "手机不支持闪推"
        case .failMobileRepeat: return "手机号重复"
        case .failBlackDict: return "黑名单"
        case .failResponse: return "响应失败"
        case .failUnknown: return "未知错误"
        case .unknown: return "未知状态"
        }
    }

    /// The wire name.
    public var description: String { name }
}
