/// A Lua value copied out of (or into) a Lua state: data only, no functions or userdata.
public enum LuaValue: Sendable, Hashable, CustomStringConvertible {
    case `nil`
    case boolean(Bool)
    case integer(Int64)
    case number(Double)
    case string(LuaString)
    case table(LuaTable)

    /// A string value from Swift text.
    public static func text(_ text: String) -> LuaValue { .string(LuaString(text)) }

    /// The Lua type name (`nil`, `boolean`, `number`, `string`, `table`).
    public var typeName: String {
        switch self {
        case .nil: return "nil"
        case .boolean: return "boolean"
        case .integer, .number: return "number"
        case .string: return "string"
        case .table: return "table"
        }
    }

    /// The text of a string value, or nil.
    public var stringValue: String? {
        if case .string(let string) = self { return string.text }
        return nil
    }

    /// A table's contents, or nil.
    public var tableValue: LuaTable? {
        if case .table(let table) = self { return table }
        return nil
    }

    /// A debugging rendering (`"text"`, `42`, `{…}`).
    public var description: String {
        switch self {
        case .nil: return "nil"
        case .boolean(let flag): return String(flag)
        case .integer(let number): return String(number)
        case .number(let number): return String(number)
        case .string(let string): return "\"\(string.text)\""
        case .table(let table): return table.description
        }
    }
}

/// The bytes of a Lua string: any bytes, including zeros, not necessarily UTF-8.
public struct LuaString: Sendable, Hashable, CustomStringConvertible {
    /// The raw bytes.
    public var bytes: [UInt8]

    /// The bytes of `text` (UTF-8).
    public init(_ text: String) { bytes = Array(text.utf8) }

    /// Raw bytes.
    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// The bytes decoded as UTF-8 (invalid sequences replaced).
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The text.
    public var description: String { text }
}

/// A Lua table split into its sequence part (keys 1...n) and everything else.
public struct LuaTable: Sendable, Hashable, CustomStringConvertible {
    /// Values at keys 1...n, in order.
    public var sequence: [LuaValue]
    /// All other keys.
    public var fields: [LuaValue: LuaValue]

    /// Creates a table.
    public init(sequence: [LuaValue] = [], fields: [LuaValue: LuaValue] = [:]) {
        self.sequence = sequence
        self.fields = fields
    }

    /// A table with string keys.
    public init(_ fields: [String: LuaValue]) {
        self.sequence = []
        self.fields = Dictionary(uniqueKeysWithValues: fields.map { (LuaValue.text($0.key), $0.value) })
    }

    /// Whether it has a sequence and no other keys (a Lua "array").
    public var isArray: Bool { fields.isEmpty }

    /// The value at a string key.
    public subscript(key: String) -> LuaValue {
        fields[.text(key)] ?? .nil
    }

    /// The string keys, sorted.
    public var stringKeys: [String] {
        fields.keys.compactMap(\.stringValue).sorted()
    }

    /// `{1, 2, a = "x"}` style, keys sorted for stable output.
    public var description: String {
        let items = sequence.map(\.description)
            + fields.map { "[\($0.key)] = \($0.value)" }.sorted()
        return "{" + items.joined(separator: ", ") + "}"
    }
}
