import CLua

/// The arguments of one call from Lua into a Swift function, with checks whose errors
/// read like Lua's own: `bad argument #1 to 'send' (table expected, got nil)`.
///
/// Reads never run metamethods (raw access), so a hostile table cannot raise an error
/// through Swift frames.
///
/// A `LuaCall` is valid only while its Swift function runs (its stack indexes mean nothing
/// afterwards); it is not `Sendable`, so a suspension's operation cannot capture it.
public struct LuaCall {
    let L: OpaquePointer
    /// Unretained: the call never outlives the state that runs it, and the atomic reference
    /// counting of an `unowned` reference was a large share of a call from Lua into Swift
    /// (`fms-bench lua`, docs/benchmarks.md).
    unowned(unsafe) let state: LuaState
    /// The function's name as Lua code sees it (`fms.send`).
    public let functionName: String

    /// How many arguments were passed.
    public var argumentCount: Int { Int(lua_gettop(L)) }

    /// `chunkname:line:` of the Lua code that made this call, or "" if unknown.
    public func callerPosition() -> String {
        luaL_where(L, 1)
        defer { clua_pop(L, 1) }
        var length = 0
        guard let pointer = lua_tolstring(L, -1, &length) else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    /// The Lua type name of argument `index` (1-based): `nil`, `table`, `no value`…
    public func typeName(_ index: Int) -> String {
        if index > argumentCount { return "no value" }
        return String(cString: clua_typename(L, Int32(index)))
    }

    /// `bad argument #N to 'name' (problem)`.
    public func argumentError(_ index: Int, _ problem: String) -> LuaBindingError {
        LuaBindingError("bad argument #\(index) to '\(functionName)' (\(problem))")
    }

    /// An error about this call that names the function.
    public func error(_ message: String) -> LuaBindingError {
        LuaBindingError("\(functionName): \(message)")
    }

    /// Argument `index` as data.
    public func value(_ index: Int) throws(LuaBindingError) -> LuaValue {
        do {
            return try state.value(at: Int32(index), on: L)
        } catch {
            throw argumentError(index, error.description)
        }
    }

    /// Argument `index` as a string (numbers are converted, as Lua does).
    public func string(_ index: Int) throws(LuaBindingError) -> String {
        guard let text = try optionalString(index) else {
            throw argumentError(index, "string expected, got \(typeName(index))")
        }
        return text
    }

    /// Argument `index` as a string, or nil when absent or nil.
    public func optionalString(_ index: Int) throws(LuaBindingError) -> String? {
        switch lua_type(L, Int32(index)) {
        case LUA_TNONE, LUA_TNIL: return nil
        case LUA_TSTRING, LUA_TNUMBER:
            let argument = try value(index)
            return argument.stringValue ?? LuaCall.render(argument)
        default: throw argumentError(index, "string expected, got \(typeName(index))")
        }
    }

    /// Argument `index` as an integer (a float with an integral value is accepted).
    public func integer(_ index: Int) throws(LuaBindingError) -> Int64 {
        guard let number = try optionalInteger(index) else {
            throw argumentError(index, "number expected, got \(typeName(index))")
        }
        return number
    }

    /// Argument `index` as an integer, or nil when absent.
    public func optionalInteger(_ index: Int) throws(LuaBindingError) -> Int64? {
        switch try value(index) {
        case .nil: return nil
        case .integer(let number): return number
        case .number(let number) where number.rounded() == number && abs(number) < 9.2e18: return Int64(number)
        case .number: throw argumentError(index, "number has no integer representation")
        default: throw argumentError(index, "number expected, got \(typeName(index))")
        }
    }

    /// Argument `index` as a function, kept by a new registry reference (release it).
    public func function(_ index: Int) throws(LuaBindingError) -> LuaReference {
        guard lua_type(L, Int32(index)) == LUA_TFUNCTION else {
            throw argumentError(index, "function expected, got \(typeName(index))")
        }
        lua_pushvalue(L, Int32(index))
        let id = luaL_ref(L, clua_registryindex())
        state.noteReferenceCreated()
        return LuaReference(id: id)
    }

    /// Argument `index` as a declarative options table whose keys must be among `allowed`.
    public func options(_ index: Int, allowed: [String]) throws(LuaBindingError) -> LuaOptions {
        guard lua_type(L, Int32(index)) == LUA_TTABLE else {
            throw argumentError(index, "table expected, got \(typeName(index))")
        }
        let options = LuaOptions(call: self, index: Int32(index))
        try options.checkKeys(allowed)
        return options
    }

    /// Text for a number or other data, as Lua's `tostring` would print it.
    static func render(_ value: LuaValue) -> String {
        switch value {
        case .string(let string): return string.text
        case .integer(let number): return String(number)
        case .number(let number):
            if number.rounded() == number, abs(number) < 1e15 { return String(Int64(number)) + ".0" }
            return String(number)
        case .boolean(let flag): return String(flag)
        case .nil: return "nil"
        case .table: return "table"
        }
    }
}

/// A table of named options passed to a Swift function (`fms.send{ mobile = …, … }`).
public struct LuaOptions {
    let call: LuaCall
    let index: Int32

    /// Fails on a key outside `allowed`: `unknown field 'mobil' in fms.send (did you mean 'mobile'?)`.
    func checkKeys(_ allowed: [String]) throws(LuaBindingError) {
        let L = call.L
        lua_pushnil(L)
        while lua_next(L, index) != 0 {
            clua_pop(L, 1)
            guard lua_type(L, -1) == LUA_TSTRING else {
                let type = String(cString: clua_typename(L, -1))
                clua_pop(L, 1)
                throw call.error("option keys must be names, got a \(type) key")
            }
            var length = 0
            let key = lua_tolstring(L, -1, &length).map {
                String(decoding: UnsafeRawBufferPointer(start: $0, count: length), as: UTF8.self)
            } ?? ""
            if !allowed.contains(key) {
                clua_pop(L, 1)
                let hint = LuaOptions.closest(to: key, among: allowed).map { " (did you mean '\($0)'?)" } ?? ""
                throw LuaBindingError("unknown field '\(key)' in \(call.functionName)\(hint)")
            }
        }
    }

    /// Pushes the raw value of field `key`.
    private func pushField(_ key: String) {
        let L = call.L
        _ = key.withCString { lua_pushstring(L, $0) }
        lua_rawget(L, index)
    }

    /// The Lua type name of field `key`.
    public func typeName(_ key: String) -> String {
        pushField(key)
        defer { clua_pop(call.L, 1) }
        return String(cString: clua_typename(call.L, -1))
    }

    /// Whether field `key` is present (not nil).
    public func has(_ key: String) -> Bool {
        pushField(key)
        defer { clua_pop(call.L, 1) }
        return lua_type(call.L, -1) != LUA_TNIL
    }

    /// `field 'mobile' of fms.send: string expected, got nil`.
    public func fieldError(_ key: String, _ problem: String) -> LuaBindingError {
        LuaBindingError("field '\(key)' of \(call.functionName): \(problem)")
    }

    /// Field `key` as data.
    public func value(_ key: String) throws(LuaBindingError) -> LuaValue {
        pushField(key)
        defer { clua_pop(call.L, 1) }
        do {
            return try call.state.value(at: -1, on: call.L)
        } catch {
            throw fieldError(key, error.description)
        }
    }

    /// Field `key` as a required string (numbers converted).
    public func string(_ key: String) throws(LuaBindingError) -> String {
        guard let text = try optionalString(key) else { throw fieldError(key, "string expected, got \(typeName(key))") }
        return text
    }

    /// Field `key` as a string, or nil.
    public func optionalString(_ key: String) throws(LuaBindingError) -> String? {
        let value = try value(key)
        switch value {
        case .nil: return nil
        case .string, .integer, .number: return LuaCall.render(value)
        default: throw fieldError(key, "string expected, got \(value.typeName)")
        }
    }

    /// Field `key` as an integer, or nil.
    public func optionalInteger(_ key: String) throws(LuaBindingError) -> Int64? {
        switch try value(key) {
        case .nil: return nil
        case .integer(let number): return number
        case .number(let number) where number.rounded() == number && abs(number) < 9.2e18: return Int64(number)
        case let other: throw fieldError(key, "integer expected, got \(other.typeName) \(other)")
        }
    }

    /// Field `key` as a boolean, or nil.
    public func optionalBoolean(_ key: String) throws(LuaBindingError) -> Bool? {
        switch try value(key) {
        case .nil: return nil
        case .boolean(let flag): return flag
        case let other: throw fieldError(key, "boolean expected, got \(other.typeName)")
        }
    }

    /// Field `key` as a function, kept by a new registry reference; nil when absent.
    public func optionalFunction(_ key: String) throws(LuaBindingError) -> LuaReference? {
        pushField(key)
        let L = call.L
        switch lua_type(L, -1) {
        case LUA_TNIL:
            clua_pop(L, 1)
            return nil
        case LUA_TFUNCTION:
            let id = luaL_ref(L, clua_registryindex())
            call.state.noteReferenceCreated()
            return LuaReference(id: id)
        default:
            let type = String(cString: clua_typename(L, -1))
            clua_pop(L, 1)
            throw fieldError(key, "function expected, got \(type)")
        }
    }

    static func closest(to key: String, among names: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            if a.isEmpty { return b.count }
            if b.isEmpty { return a.count }
            var previous = Array(0...b.count)
            for i in 1...a.count {
                var current = [i] + Array(repeating: 0, count: b.count)
                for j in 1...b.count {
                    current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                }
                previous = current
            }
            return previous[b.count]
        }
        let keyCharacters = Array(key)
        let best = names.map { ($0, distance(keyCharacters, Array($0))) }.min { $0.1 < $1.1 }
        guard let best, best.1 <= Swift.max(2, key.count / 3) else { return nil }
        return best.0
    }
}

extension LuaState {
    /// Counts a reference made outside `makeReference` (by argument readers).
    func noteReferenceCreated() { adjustReferenceCount(by: 1) }
}
