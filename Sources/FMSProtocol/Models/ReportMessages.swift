/// Pops delivery reports: the payload of `getFMSReport`.
public struct ReportsRequest: Sendable, Equatable {
    /// How many reports to pop, 1...500 (the gateway treats anything else as 500).
    public var number: Int64

    /// Creates a request.
    public init(number: Int64 = 500) { self.number = number }

    /// The payload members.
    public var payload: [JSONMember] { [JSONMember("number", .integer(number))] }

    /// Reads a request object (gateway side); out-of-range or missing reads as 500.
    public init(json: JSONValue) throws(FieldError) {
        let requested = try json.optionalInteger("number") ?? 500
        number = (1...500).contains(requested) ? requested : 500
    }
}

/// The final outcome of one message, as the gateway reports it.
public struct DeliveryReport: Sendable, Equatable {
    /// The handset number (trimmed).
    public var mobile: String
    /// The gateway's message id.
    public var fmsId: String
    /// The caller's id, when one was given.
    public var customFmsId: String?
    /// Delivered or why not.
    public var state: ReportState
    /// The gateway's description (Chinese), possibly empty.
    public var desc: String
    /// When the carrier reported (`yyyy-MM-dd HH:mm:ss`, Beijing time).
    public var receiveTime: String
    /// When the message was submitted (`yyyy-MM-dd HH:mm:ss`).
    public var submitTime: String

    /// Creates a report.
    public init(mobile: String, fmsId: String, customFmsId: String?, state: ReportState, desc: String,
                receiveTime: String, submitTime: String) {
        self.mobile = mobile
        self.fmsId = fmsId
        self.customFmsId = customFmsId
        self.state = state
        self.desc = desc
        self.receiveTime = receiveTime
        self.submitTime = submitTime
    }

    /// The report as JSON.
    public var json: JSONValue {
        .object([
            JSONMember("mobile", .string(mobile)), JSONMember("fmsId", .string(fmsId)),
            JSONMember("customFmsId", customFmsId.map(JSONValue.string) ?? .null),
            JSONMember("state", .string(state.name)), JSONMember("desc", .string(desc)),
            JSONMember("receiveTime", .string(receiveTime)), JSONMember("submitTime", .string(submitTime)),
        ])
    }

    /// Reads a report (client side), trimming values and tolerating spaces in keys.
    public init(json: JSONValue) throws(FieldError) {
        guard case .object = json else { throw FieldError.wrongKind("report", expected: "an object", got: json) }
        mobile = try json.optionalString("mobile") ?? ""
        fmsId = try json.optionalString("fmsId") ?? ""
        let custom = try json.optionalString("customFmsId")
        customFmsId = (custom?.isEmpty ?? true) ? nil : custom
        state = ReportState(try json.requiredString("state"))
        desc = try json.optionalString("desc") ?? ""
        receiveTime = try json.optionalString("receiveTime") ?? ""
        submitTime = try json.optionalString("submitTime") ?? ""
    }

    /// Reads the array answer of `getFMSReport`.
    public static func list(json: JSONValue) throws(FieldError) -> [DeliveryReport] {
        guard let elements = json.arrayElements else { throw FieldError.wrongKind("(answer)", expected: "an array", got: json) }
        var reports: [DeliveryReport] = []
        reports.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            do {
                reports.append(try DeliveryReport(json: element))
            } catch {
                throw FieldError(field: "[\(index)].\(error.field)", problem: error.problem)
            }
        }
        return reports
    }
}

/// The answer to `getBalance`.
public struct Balance: Sendable, Equatable {
    /// Remaining messages the account may send.
    public var amount: Int64

    /// Creates a balance.
    public init(_ amount: Int64) { self.amount = amount }

    /// The document's shape: `{"balance":"10000"}`.
    public var documentJSON: JSONValue { .object([JSONMember("balance", .string(String(amount)))]) }
    /// The vendor server's shape: a bare string `"10000"`.
    public var vendorJSON: JSONValue { .string(String(amount)) }

    /// Reads any shape: `{"balance": "10000"}`, `{"balance": 10000}`, `"10000"` or `10000`.
    public init(json: JSONValue) throws(FieldError) {
        let value: JSONValue
        if case .object = json {
            guard let member = json["balance"] else { throw FieldError.missing("balance") }
            value = member
        } else {
            value = json
        }
        guard let amount = value.lenientInteger else {
            throw FieldError.wrongKind("balance", expected: "a number", got: value)
        }
        self.amount = amount
    }
}
