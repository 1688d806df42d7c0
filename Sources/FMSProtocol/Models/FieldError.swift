/// A message field that is missing or has the wrong shape.
///
/// Raised when reading a request (gateway side) or an answer (client side); the
/// description names the field and what was wrong with it.
public struct FieldError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field's name, with a path for nested fields (`fmses[3].mobile`).
    public var field: String
    /// What is wrong ("missing", "expected a string, got object").
    public var problem: String

    /// Creates an error.
    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }

    /// A missing field.
    public static func missing(_ field: String) -> FieldError { FieldError(field: field, problem: "missing") }

    /// A field of the wrong kind.
    public static func wrongKind(_ field: String, expected: String, got value: JSONValue) -> FieldError {
        FieldError(field: field, problem: "expected \(expected), got \(value.kindName)")
    }

    /// "field 'mobile': missing".
    public var description: String { "field '\(field)': \(problem)" }
}

extension JSONValue {
    /// A required string member (numbers accepted and rendered), trimmed.
    func requiredString(_ key: String) throws(FieldError) -> String {
        guard let value = self[key] else { throw FieldError.missing(key) }
        guard let text = value.lenientString else { throw FieldError.wrongKind(key, expected: "a string", got: value) }
        return text
    }

    /// An optional string member (numbers accepted), trimmed; nil when absent or null.
    func optionalString(_ key: String) throws(FieldError) -> String? {
        guard let value = self[key] else { return nil }
        guard let text = value.lenientString else { throw FieldError.wrongKind(key, expected: "a string", got: value) }
        return text
    }

    /// An optional integer member given as a number or a string of digits.
    func optionalInteger(_ key: String) throws(FieldError) -> Int64? {
        guard let value = self[key] else { return nil }
        guard let number = value.lenientInteger else { throw FieldError.wrongKind(key, expected: "an integer", got: value) }
        return number
    }
}
