/// Registers a content template: the payload of `templateReport`.
public struct TemplateReportRequest: Sendable, Equatable {
    /// The template text with `{name}` or `${name}` variables.
    public var templateInfo: String

    /// Creates a request.
    public init(templateInfo: String) { self.templateInfo = templateInfo }

    /// The payload members.
    public var payload: [JSONMember] { [JSONMember("templateInfo", .string(templateInfo))] }

    /// Reads a request object (gateway side). A missing text reads as empty.
    public init(json: JSONValue) throws(FieldError) {
        templateInfo = try json.optionalString("templateInfo") ?? ""
    }
}

/// The gateway's answer to `templateReport`.
public struct TemplateReportResponse: Sendable, Equatable {
    /// The id to send with.
    public var templateId: String
    /// The variable names the gateway found (the vendor's `"variable": "name,age"`); may be empty.
    public var variables: [String]

    /// Creates an answer.
    public init(templateId: String, variables: [String]) {
        self.templateId = templateId
        self.variables = variables
    }

    /// The answer as JSON.
    public var json: JSONValue {
        .object([JSONMember("templateId", .string(templateId)),
                 JSONMember("variable", .string(variables.joined(separator: ",")))])
    }

    /// Reads an answer (client side).
    public init(json: JSONValue) throws(FieldError) {
        templateId = try json.requiredString("templateId")
        let variable = try json.optionalString("variable") ?? ""
        variables = variable.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
    }
}

/// Asks for a template's review status: the payload of `querytemplate`.
public struct TemplateQueryRequest: Sendable, Equatable {
    /// The template id.
    public var templateId: String

    /// Creates a request.
    public init(templateId: String) { self.templateId = templateId }

    /// The payload members.
    public var payload: [JSONMember] { [JSONMember("templateId", .string(templateId))] }

    /// Reads a request object (gateway side). A missing id reads as empty.
    public init(json: JSONValue) throws(FieldError) {
        templateId = try json.optionalString("templateId") ?? ""
    }
}

/// One carrier's review of a template.
public enum CarrierReview: Sendable, Hashable, CustomStringConvertible {
    /// -1: the carrier has no such template.
    case missing
    /// 0: under review.
    case pending
    /// 1: approved: messages can be sent.
    case approved
    /// 2: rejected.
    case rejected
    /// 3: the carrier does not support it.
    case unsupported
    /// Any other number, verbatim.
    case other(Int64)

    /// Maps the vendor's number.
    public init(code: Int64) {
        switch code {
        case -1: self = .missing
        case 0: self = .pending
        case 1: self = .approved
        case 2: self = .rejected
        case 3: self = .unsupported
        default: self = .other(code)
        }
    }

    /// The vendor's number.
    public var code: Int64 {
        switch self {
        case .missing: return -1
        case .pending: return 0
        case .approved: return 1
        case .rejected: return 2
        case .unsupported: return 3
        case .other(let code): return code
        }
    }

    /// "approved", "pending"…
    public var description: String {
        switch self {
        case .missing: return "missing"
        case .pending: return "pending"
        case .approved: return "approved"
        case .rejected: return "rejected"
        case .unsupported: return "unsupported"
        case .other(let code): return "status \(code)"
        }
    }
}

/// The gateway's answer to `querytemplate`: the review by each of the three carriers.
public struct TemplateStatus: Sendable, Equatable {
    /// The template id.
    public var templateId: String
    /// China Mobile.
    public var cmcc: CarrierReview
    /// China Unicom.
    public var cucc: CarrierReview
    /// China Telecom.
    public var ctcc: CarrierReview

    /// Creates a status.
    public init(templateId: String, cmcc: CarrierReview, cucc: CarrierReview, ctcc: CarrierReview) {
        self.templateId = templateId
        self.cmcc = cmcc
        self.cucc = cucc
        self.ctcc = ctcc
    }

    /// The status of a template no carrier knows (-1 everywhere).
    public static func unknown(_ templateId: String) -> TemplateStatus {
        TemplateStatus(templateId: templateId, cmcc: .missing, cucc: .missing, ctcc: .missing)
    }

    /// The answer as JSON; with `numbersAsStrings` the codes are written as `"1"` (as some vendor builds do).
    public func json(numbersAsStrings: Bool = false) -> JSONValue {
        func code(_ review: CarrierReview) -> JSONValue {
            numbersAsStrings ? .string(String(review.code)) : .integer(review.code)
        }
        return .object([
            JSONMember("templateId", .string(templateId)),
            JSONMember("status", .object([JSONMember("cmcc", code(cmcc)), JSONMember("cucc", code(cucc)),
                                          JSONMember("ctcc", code(ctcc))])),
        ])
    }

    /// Reads an answer (client side); codes may be numbers or strings, a missing one is -1.
    public init(json: JSONValue, requestedId: String) throws(FieldError) {
        templateId = try json.optionalString("templateId") ?? requestedId
        let status = json["status"] ?? .object([])
        guard case .object = status else { throw FieldError.wrongKind("status", expected: "an object", got: status) }
        func review(_ carrier: String) throws(FieldError) -> CarrierReview {
            guard let value = status[carrier] else { return .missing }
            guard let code = value.lenientInteger else {
                throw FieldError.wrongKind("status.\(carrier)", expected: "a number", got: value)
            }
            return CarrierReview(code: code)
        }
        cmcc = try review("cmcc")
        cucc = try review("cucc")
        ctcc = try review("ctcc")
    }
}
