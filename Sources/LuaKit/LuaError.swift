/// A failure inside Lua: a syntax error, a runtime error, a refused allocation or an
/// exhausted instruction budget, with the message (`file:line: text`) and a traceback.
public struct LuaError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure.
    public enum Kind: Sendable, Equatable {
        /// The chunk did not compile.
        case syntax
        /// An error raised while running (including errors raised by Swift bindings).
        case runtime
        /// The memory cap was reached ("not enough memory").
        case memory
        /// The instruction budget of one resume was used up.
        case budget
        /// Something the host refused (yield outside a coroutine, a closed state…).
        case host
    }

    /// The kind.
    public var kind: Kind
    /// The message, usually starting with `chunkname:line:`.
    public var message: String
    /// The Lua traceback (`stack traceback:` …), empty when there is none.
    public var traceback: String

    /// Creates an error.
    public init(kind: Kind, message: String, traceback: String = "") {
        self.kind = kind
        self.message = message
        self.traceback = traceback
    }

    /// The message, then the traceback on the following lines.
    public var description: String {
        traceback.isEmpty ? message : message + "\n" + traceback
    }
}

/// An error a Swift binding raises into Lua; LuaKit prefixes the caller's `file:line:`.
public struct LuaBindingError: Error, Sendable, CustomStringConvertible {
    /// The message without position.
    public var message: String
    /// Whether to prefix the position of the Lua line that called the binding (default true).
    public var prefixCallerPosition: Bool

    /// Creates an error.
    public init(_ message: String, prefixCallerPosition: Bool = true) {
        self.message = message
        self.prefixCallerPosition = prefixCallerPosition
    }

    /// The message.
    public var description: String { message }
}
