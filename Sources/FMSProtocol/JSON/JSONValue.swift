/// A JSON document held as a Swift value: what the codec reads and writes.
///
/// Objects keep their members in order, so what we write is deterministic and
/// what we read can be echoed faithfully. Integers and floating-point numbers are
/// kept apart so that millisecond timestamps survive a round trip exactly.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])
}

/// One `"key": value` pair of a JSON object.
public struct JSONMember: Sendable, Equatable {
    public var key: String
    public var value: JSONValue

    /// Creates a member.
    public init(_ key: String, _ value: JSONValue) {
        self.key = key
        self.value = value
    }
}

extension JSONValue {
    /// Looks up an object member, tolerating stray spaces around the key.
    ///
    /// The vendor document writes keys such as `"receiveTime "`: an exact match wins,
    /// otherwise the first member whose trimmed key equals `key` is returned.
    /// Returns nil for non-objects and for members whose value is `null`.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        var found: JSONValue?
        for member in members where member.key == key {
            found = member.value
            break
        }
        if found == nil {
            for member in members where member.key.trimmingSpaces() == key {
                found = member.value
                break
            }
        }
        if case .null? = found { return nil }
        return found
    }

    /// The members of an object, or nil.
    public var objectMembers: [JSONMember]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The elements of an array, or nil.
    public var arrayElements: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// A string, or a number or boolean rendered as the vendor's Java would; trimmed.
    ///
    /// Returns nil for `null`, arrays and objects.
    public var lenientString: String? {
        switch self {
        case .string(let text): return text.trimmingSpaces()
        case .integer(let number): return String(number)
        case .double(let number):
            if number.rounded() == number, abs(number) < 1e15 { return String(Int64(number)) }
            return String(number)
        case .bool(let flag): return flag ? "true" : "false"
        case .null, .array, .object: return nil
        }
    }

    /// An integer given as a number or as a string of digits (trimmed); nil otherwise.
    public var lenientInteger: Int64? {
        switch self {
        case .integer(let number): return number
        case .double(let number):
            guard number.rounded() == number, abs(number) < 9.2e18 else { return nil }
            return Int64(number)
        case .string(let text):
            let trimmed = text.trimmingSpaces()
            if let number = Int64(trimmed) { return number }
            if let number = Double(trimmed), number.rounded() == number, abs(number) < 9.2e18 {
                return Int64(number)
            }
            return nil
        case .null, .bool, .array, .object: return nil
        }
    }

    /// A short name of the value's kind, for error messages ("string", "object"…).
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .integer, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and line breaks.
    ///
    /// Also drops the full-width space (U+3000), which Chinese documents use.
    public func trimmingSpaces() -> String {
        // Fast path: neither end byte can start or end a space (U+3000 is E3 80 80 in UTF-8).
        if let first = utf8.first, let last = utf8.last {
            let edge: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
            if !edge(first), !edge(last), first != 0xE3, last != 0x80 { return self }
        }
        // Compare scalars: "\r\n" is a single Character and would not equal "\n".
        let isSpace: (Character) -> Bool = { character in
            character.unicodeScalars.allSatisfy { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\u{3000}" }
        }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        guard let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        if first == startIndex && last == index(before: endIndex) { return self }
        return String(self[first...last])
    }
}
