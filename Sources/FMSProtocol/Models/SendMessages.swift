/// Template variables: name → value, all strings on the wire.
public typealias TemplateVariables = [String: String]

/// Encodes variables as a JSON object with sorted keys (deterministic bytes).
func variablesJSON(_ variables: TemplateVariables) -> JSONValue {
    .object(variables.keys.sorted().map { JSONMember($0, .string(variables[$0] ?? "")) })
}

/// Reads `content` as the gateway does: an object, a string holding JSON (even the vendor
/// demo's single-quoted pseudo-JSON), or absent. Values are rendered as strings.
func readVariables(_ json: JSONValue, field: String) throws(FieldError) -> TemplateVariables {
    guard let content = json["content"] else { return [:] }
    var object = content
    if case .string(let text) = content {
        let trimmed = text.trimmingSpaces()
        if trimmed.isEmpty { return [:] }
        do {
            object = try JSONParser.parse(trimmed, options: .relaxed)
        } catch {
            throw FieldError(field: field, problem: "not a JSON object: \(error)")
        }
    }
    guard let members = object.objectMembers else {
        throw FieldError.wrongKind(field, expected: "an object", got: object)
    }
    var variables: TemplateVariables = [:]
    for member in members {
        let value = member.value.lenientString ?? (member.value == .null ? "" : JSONWriter.string(of: member.value))
        variables[member.key.trimmingSpaces()] = value
    }
    return variables
}

/// Sends one message: the payload of `sendSingleFMS`.
public struct SingleSendRequest: Sendable, Equatable {
    /// One mainland mobile number.
    public var mobile: String
    /// A registered template id.
    public var templateId: String
    /// The template's variables.
    public var content: TemplateVariables
    /// The caller's id for this message (≤ 32 characters), echoed in reports.
    public var customFmsId: String?

    /// Creates a request.
    public init(mobile: String, templateId: String, content: TemplateVariables = [:], customFmsId: String? = nil) {
        self.mobile = mobile
        self.templateId = templateId
        self.content = content
        self.customFmsId = customFmsId
    }

    /// The payload members.
    public var payload: [JSONMember] {
        var members = [JSONMember("mobile", .string(mobile)), JSONMember("templateId", .string(templateId)),
                       JSONMember("content", variablesJSON(content))]
        if let customFmsId { members.append(JSONMember("customFmsId", .string(customFmsId))) }
        return members
    }

    /// Reads a request object (gateway side); missing ids and mobiles read as empty.
    public init(json: JSONValue) throws(FieldError) {
        mobile = try json.optionalString("mobile") ?? ""
        templateId = try json.optionalString("templateId") ?? ""
        content = try readVariables(json, field: "content")
        customFmsId = try json.optionalString("customFmsId")
    }
}

/// One message of a batch.
public struct BatchEntry: Sendable, Equatable {
    /// One mainland mobile number.
    public var mobile: String
    /// The caller's id for this message (≤ 32 characters).
    public var customFmsId: String?
    /// The template's variables for this message.
    public var content: TemplateVariables

    /// Creates an entry.
    public init(mobile: String, customFmsId: String? = nil, content: TemplateVariables = [:]) {
        self.mobile = mobile
        self.customFmsId = customFmsId
        self.content = content
    }

    /// The entry as JSON.
    public var json: JSONValue {
        var members = [JSONMember("mobile", .string(mobile))]
        if let customFmsId { members.append(JSONMember("customFmsId", .string(customFmsId))) }
        members.append(JSONMember("content", variablesJSON(content)))
        return .object(members)
    }
}

/// Sends up to 300 messages of one template: the payload of `sendBatchFMS`.
public struct BatchSendRequest: Sendable, Equatable {
    /// A registered template id.
    public var templateId: String
    /// The messages, at most 300.
    public var entries: [BatchEntry]

    /// Creates a request.
    public init(templateId: String, entries: [BatchEntry]) {
        self.templateId = templateId
        self.entries = entries
    }

    /// The payload members.
    public var payload: [JSONMember] {
        [JSONMember("templateId", .string(templateId)), JSONMember("fmses", .array(entries.map(\.json)))]
    }

    /// Reads a request object (gateway side).
    public init(json: JSONValue) throws(FieldError) {
        templateId = try json.optionalString("templateId") ?? ""
        guard let list = json["fmses"] else { entries = []; return }
        guard let elements = list.arrayElements else { throw FieldError.wrongKind("fmses", expected: "an array", got: list) }
        var entries: [BatchEntry] = []
        entries.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            let field = "fmses[\(index)]"
            guard case .object = element else { throw FieldError.wrongKind(field, expected: "an object", got: element) }
            do {
                entries.append(BatchEntry(mobile: try element.optionalString("mobile") ?? "",
                                          customFmsId: try element.optionalString("customFmsId"),
                                          content: try readVariables(element, field: "content")))
            } catch {
                throw FieldError(field: "\(field).\(error.field)", problem: error.problem)
            }
        }
        self.entries = entries
    }
}

/// One accepted message: the answer to `sendSingleFMS`, and each element of `sendBatchFMS`'s.
public struct SentMessage: Sendable, Equatable {
    /// The mobile as the gateway echoed it.
    public var mobile: String
    /// The gateway's id of the message.
    public var fmsId: String
    /// The caller's id, when one was given.
    public var customFmsId: String?

    /// Creates a record.
    public init(mobile: String, fmsId: String, customFmsId: String?) {
        self.mobile = mobile
        self.fmsId = fmsId
        self.customFmsId = customFmsId
    }

    /// The record as JSON.
    public var json: JSONValue {
        .object([JSONMember("mobile", .string(mobile)), JSONMember("fmsId", .string(fmsId)),
                 JSONMember("customFmsId", customFmsId.map(JSONValue.string) ?? .null)])
    }

    /// Reads a record (client side).
    public init(json: JSONValue) throws(FieldError) {
        guard case .object = json else { throw FieldError.wrongKind("message", expected: "an object", got: json) }
        mobile = try json.optionalString("mobile") ?? ""
        fmsId = try json.requiredString("fmsId")
        let custom = try json.optionalString("customFmsId")
        customFmsId = (custom?.isEmpty ?? true) ? nil : custom
    }

    /// Reads the array answer of `sendBatchFMS`.
    public static func list(json: JSONValue) throws(FieldError) -> [SentMessage] {
        guard let elements = json.arrayElements else { throw FieldError.wrongKind("(answer)", expected: "an array", got: json) }
        var messages: [SentMessage] = []
        messages.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            do {
                messages.append(try SentMessage(json: element))
            } catch {
                throw FieldError(field: "[\(index)].\(error.field)", problem: error.problem)
            }
        }
        return messages
    }
}
