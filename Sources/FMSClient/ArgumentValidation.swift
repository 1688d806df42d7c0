import FMSProtocol

/// Checks arguments before any byte is sent, with errors naming the field and value.
enum ArgumentValidation {
    /// A trimmed mainland mobile number.
    static func mobile(_ mobile: String, field: String = "mobile") throws(FMSClientError) -> String {
        let trimmed = mobile.trimmingSpaces()
        guard !trimmed.isEmpty else { throw .invalidArgument(field: field, value: mobile, reason: "empty") }
        guard ProtocolText.isValidMobile(trimmed) else {
            throw .invalidArgument(field: field, value: mobile, reason: "not a mainland mobile number (11 digits starting with 1)")
        }
        return trimmed
    }

    /// A trimmed, non-empty template id.
    static func templateId(_ id: String) throws(FMSClientError) -> String {
        let trimmed = id.trimmingSpaces()
        guard !trimmed.isEmpty else { throw .invalidArgument(field: "templateId", value: id, reason: "empty") }
        return trimmed
    }

    /// A customFmsId of at most 32 characters (nil passes; empty becomes nil).
    static func customFmsId(_ id: String?, field: String = "customFmsId") throws(FMSClientError) -> String? {
        guard let id else { return nil }
        let trimmed = id.trimmingSpaces()
        if trimmed.isEmpty { return nil }
        let length = ProtocolText.vendorLength(trimmed)
        guard length <= ProtocolText.maximumCustomFmsIdLength else {
            throw .invalidArgument(field: field, value: id,
                                   reason: "\(length) characters; at most \(ProtocolText.maximumCustomFmsIdLength)")
        }
        return trimmed
    }

    /// Variables with non-empty names.
    static func variables(_ variables: TemplateVariables, field: String = "vars") throws(FMSClientError) -> TemplateVariables {
        for name in variables.keys where name.trimmingSpaces().isEmpty {
            throw .invalidArgument(field: field, value: name, reason: "a variable name is empty")
        }
        return variables
    }

    /// A template text within the vendor's limits.
    static func templateText(_ text: String) throws(FMSClientError) -> String {
        guard !text.trimmingSpaces().isEmpty else {
            throw .invalidArgument(field: "template", value: text, reason: "empty")
        }
        let length = ProtocolText.vendorLength(text)
        guard length <= ProtocolText.maximumTemplateLength else {
            throw .invalidArgument(field: "template", value: text,
                                   reason: "\(length) characters; at most \(ProtocolText.maximumTemplateLength)")
        }
        let names = ProtocolText.templateVariables(text)
        guard names.count <= ProtocolText.maximumTemplateVariables else {
            throw .invalidArgument(field: "template", value: text,
                                   reason: "\(names.count) variables; at most \(ProtocolText.maximumTemplateVariables)")
        }
        var seen: Set<String> = []
        for name in names where !seen.insert(name).inserted {
            throw .invalidArgument(field: "template", value: text, reason: "variable '\(name)' appears twice")
        }
        return text
    }
}

/// A variable value as callers have it: text, a number or a flag, sent as a string.
public enum VariableValue: Sendable, Equatable {
    case text(String)
    case integer(Int64)
    case number(Double)
    case flag(Bool)

    /// The string sent on the wire: integers without a fraction, `true`/`false` for flags.
    public var wireText: String {
        switch self {
        case .text(let text): return text
        case .integer(let number): return String(number)
        case .number(let number):
            if number.rounded() == number, abs(number) < 1e15 { return String(Int64(number)) }
            return String(number)
        case .flag(let flag): return flag ? "true" : "false"
        }
    }

    /// Converts a map of values into the wire's string map.
    public static func variables(_ values: [String: VariableValue]) -> TemplateVariables {
        values.mapValues(\.wireText)
    }
}
