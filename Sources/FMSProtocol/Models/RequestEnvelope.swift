/// The fields every request carries besides its payload.
///
/// `requestTime` is the client's clock in milliseconds since 1970; the gateway refuses the
/// request once `requestTime + requestValidPeriod * 1000` is in the past. On the normal
/// interface `appId` travels inside the JSON as its first member.
public struct RequestEnvelope: Sendable, Equatable {
    /// The account id (normal interface only; nil on the secure one, where it is a header).
    public var appId: String?
    /// Milliseconds since 1970-01-01 UTC; 0 or absent is `ERROR_REQUESTTIME`.
    public var requestTime: Int64
    /// Seconds the request stays valid; 0 or absent is `ERROR_REQUESTVALIDPERIOD`.
    public var requestValidPeriod: Int64

    /// Creates an envelope.
    public init(appId: String? = nil, requestTime: Int64, requestValidPeriod: Int64) {
        self.appId = appId
        self.requestTime = requestTime
        self.requestValidPeriod = requestValidPeriod
    }

    /// The whole request object: `appId` (when set), the payload members, then the timing.
    public func wrap(_ payload: [JSONMember]) -> JSONValue {
        var members: [JSONMember] = []
        members.reserveCapacity(payload.count + 3)
        if let appId { members.append(JSONMember("appId", .string(appId))) }
        members.append(contentsOf: payload)
        members.append(JSONMember("requestTime", .integer(requestTime)))
        members.append(JSONMember("requestValidPeriod", .integer(requestValidPeriod)))
        return .object(members)
    }
}

/// Helpers for the text rules of the protocol: mobiles, lengths, template variables.
public enum ProtocolText {
    /// Most characters (UTF-16 code units) a template may have.
    public static let maximumTemplateLength = 70
    /// Most variables a template may declare.
    public static let maximumTemplateVariables = 3
    /// Most characters (UTF-16 code units) of a customFmsId.
    public static let maximumCustomFmsIdLength = 32
    /// Most messages in one batch request.
    public static let maximumBatchSize = 300
    /// Most reports one getFMSReport call returns.
    public static let maximumReportsPerCall = 500

    /// Whether `mobile` is a mainland number, `^1\d{10}$` after trimming.
    public static func isValidMobile(_ mobile: String) -> Bool {
        let trimmed = mobile.trimmingSpaces().utf8
        guard trimmed.count == 11, trimmed.first == UInt8(ascii: "1") else { return false }
        return trimmed.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// The length as the vendor's Java counts it: UTF-16 code units.
    public static func vendorLength(_ text: String) -> Int { text.utf16.count }

    /// The variable names of a template, in order: `{name}` (the document) and `${name}` (the vendor).
    public static func templateVariables(_ template: String) -> [String] {
        var names: [String] = []
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            let afterOpen = rest.index(after: open)
            guard let close = rest[afterOpen...].firstIndex(of: "}") else { break }
            let name = rest[afterOpen..<close]
            if !name.isEmpty, !name.contains("{") {
                names.append(String(name).trimmingSpaces())
                rest = rest[rest.index(after: close)...]
            } else {
                rest = rest[afterOpen...]
            }
        }
        return names
    }
}
