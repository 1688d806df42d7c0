import CLua

/// The body of a Swift function exposed to Lua.
///
/// It reads its arguments through `LuaCall` and returns values, or asks to suspend the
/// calling coroutine until an async operation finishes. A thrown `LuaBindingError` is
/// raised in Lua as `file:line: message`, pointing at the caller's line.
public typealias LuaFunctionBody = (LuaCall) throws(LuaBindingError) -> LuaCallResult

/// What a Swift function returns to Lua.
public enum LuaCallResult {
    /// These values.
    case values([LuaValue])
    /// One value (no array to allocate: the common case, and the cheapest).
    case value(LuaValue)
    /// Suspend the calling coroutine; resume it with the operation's values (or raise its error).
    case suspend(LuaSuspension)
    /// A table with the metatable of a class made by `LuaState.defineClass` (an object with methods).
    case object(LuaTable, className: String)

    /// No values.
    public static var none: LuaCallResult { .values([]) }
}

/// An async operation a coroutine waits for.
public struct LuaSuspension: Sendable {
    /// The work; its values are returned to Lua, its error raised there.
    public let operation: @Sendable () async -> Result<[LuaValue], LuaBindingError>
    /// The Lua position (`file:line:`) of the call that suspended, prefixed to errors.
    var callerPosition = ""

    /// Creates a suspension.
    public init(_ operation: @escaping @Sendable () async -> Result<[LuaValue], LuaBindingError>) {
        self.operation = operation
    }
}

/// Holds one Swift function for the trampoline; owned by its `LuaState`.
final class LuaFunctionBox {
    let name: String
    /// Unretained: the state owns its boxes (`functionBoxes`) and closes Lua before releasing them.
    unowned(unsafe) let state: LuaState
    let body: LuaFunctionBody

    init(name: String, state: LuaState, body: @escaping LuaFunctionBody) {
        self.name = name
        self.state = state
        self.body = body
    }

    /// Runs the body for one call and translates its outcome for the C trampoline.
    func invoke(_ L: OpaquePointer) -> Int32 {
        let call = LuaCall(L: L, state: state, functionName: name)
        do {
            switch try body(call) {
            case .value(let value):
                // Lua guarantees LUA_MINSTACK free slots to a C function: one push needs no check.
                state.push(value, on: L)
                return 1
            case .values(let values):
                guard lua_checkstack(L, Int32(clamping: values.count)) != 0 else {
                    return raise(L, LuaBindingError("too many results"))
                }
                for value in values { state.push(value, on: L) }
                return Int32(values.count)
            case .object(let table, let className):
                guard lua_checkstack(L, 4) != 0 else { return raise(L, LuaBindingError("out of Lua stack space")) }
                state.push(.table(table), on: L)
                luaL_setmetatable(L, className)
                return 1
            case .suspend(var suspension):
                guard lua_isyieldable(L) != 0 else {
                    return raise(L, LuaBindingError("\(name) waits for the gateway and must run inside a handler "
                                                    + "(a coroutine), not from a metamethod or iterator"))
                }
                suspension.callerPosition = call.callerPosition()
                state.pendingSuspension = suspension
                return Int32(CLUA_SUSPEND)
            }
        } catch {
            return raise(L, error)
        }
    }

    private func raise(_ L: OpaquePointer, _ error: LuaBindingError) -> Int32 {
        var message = error.message
        if error.prefixCallerPosition {
            message = LuaCall(L: L, state: state, functionName: name).callerPosition() + message
        }
        state.push(.text(message), on: L)
        return Int32(CLUA_RAISE)
    }
}

/// The C-callable entry the trampoline calls: finds the box in upvalue 2 and runs it.
let luaKitTrampoline: clua_SwiftFunction = { L in
    guard let L, let context = clua_swiftcontext(L) else { return 0 }
    // The state keeps its boxes alive (`functionBoxes`) while Lua can call them: no retain needed.
    return Unmanaged<LuaFunctionBox>.fromOpaque(context)._withUnsafeGuaranteedRef { $0.invoke(L) }
}
