import CLua

/// A Lua value that cannot become a `LuaValue`: a function, userdata, a cycle, too deep.
public struct LuaConversionError: Error, Sendable, CustomStringConvertible {
    /// Where in the value (`vars.host`, `[3]`), empty for the value itself.
    public var path: String
    /// What is wrong.
    public var problem: String

    /// "vars.host: cannot convert a function".
    public var description: String { path.isEmpty ? problem : "\(path): \(problem)" }
}

extension LuaState {
    /// Most nested tables a conversion follows.
    static let maximumDepth = 64

    /// Pushes a value onto the stack.
    func push(_ value: LuaValue) {
        push(value, on: L)
    }

    func push(_ value: LuaValue, on L: OpaquePointer) {
        switch value {
        case .nil: lua_pushnil(L)
        case .boolean(let flag): lua_pushboolean(L, flag ? 1 : 0)
        case .integer(let number): lua_pushinteger(L, lua_Integer(number))
        case .number(let number): lua_pushnumber(L, number)
        case .string(let string):
            string.bytes.withUnsafeBufferPointer { bytes in
                bytes.withMemoryRebound(to: CChar.self) { chars in
                    _ = lua_pushlstring(L, chars.baseAddress, chars.count)
                }
            }
        case .table(let table):
            // Each nesting level needs a few slots beyond Lua's guaranteed minimum.
            guard lua_checkstack(L, 4) != 0 else {
                lua_pushnil(L)
                return
            }
            lua_createtable(L, Int32(clamping: table.sequence.count), Int32(clamping: table.fields.count))
            for (index, element) in table.sequence.enumerated() {
                push(element, on: L)
                lua_rawseti(L, -2, lua_Integer(index + 1))
            }
            for (key, element) in table.fields where key != .nil {
                push(key, on: L)
                push(element, on: L)
                lua_rawset(L, -3)
            }
        }
    }

    /// Copies the value at `index` (tables deeply, without metamethods).
    func value(at index: Int32, on thread: OpaquePointer? = nil) throws(LuaConversionError) -> LuaValue {
        let L = thread ?? self.L
        var visiting: Set<UnsafeRawPointer> = []
        let top = lua_gettop(L)
        do {
            return try value(at: lua_absindex(L, index), on: L, path: "", depth: 0, visiting: &visiting)
        } catch {
            // A failure deep inside a table leaves keys and values behind: drop them.
            lua_settop(L, top)
            throw error
        }
    }

    private func value(at index: Int32, on L: OpaquePointer, path: String, depth: Int,
                       visiting: inout Set<UnsafeRawPointer>) throws(LuaConversionError) -> LuaValue {
        switch lua_type(L, index) {
        case LUA_TNIL, LUA_TNONE: return .nil
        case LUA_TBOOLEAN: return .boolean(lua_toboolean(L, index) != 0)
        case LUA_TNUMBER:
            if lua_isinteger(L, index) != 0 { return .integer(Int64(clua_tointeger(L, index))) }
            return .number(clua_tonumber(L, index))
        case LUA_TSTRING:
            var length = 0
            guard let pointer = lua_tolstring(L, index, &length) else { return .nil }
            return .string(LuaString(bytes: Array(UnsafeRawBufferPointer(start: pointer, count: length))))
        case LUA_TTABLE:
            guard depth < LuaState.maximumDepth else {
                throw LuaConversionError(path: path, problem: "tables nested deeper than \(LuaState.maximumDepth)")
            }
            guard lua_checkstack(L, 4) != 0 else {
                throw LuaConversionError(path: path, problem: "out of Lua stack space")
            }
            guard let identity = lua_topointer(L, index) else { return .table(LuaTable()) }
            guard visiting.insert(identity).inserted else {
                throw LuaConversionError(path: path, problem: "the table contains itself (a cycle)")
            }
            defer { visiting.remove(identity) }
            let length = Int(lua_rawlen(L, index))
            var table = LuaTable()
            table.sequence.reserveCapacity(length)
            lua_pushnil(L)
            var pending: [Int: LuaValue] = [:]
            while lua_next(L, index) != 0 {
                let key: LuaValue
                if lua_type(L, -2) == LUA_TNUMBER, lua_isinteger(L, -2) != 0 {
                    key = .integer(Int64(clua_tointeger(L, -2)))
                } else {
                    let keyPath = lua_type(L, -2) == LUA_TSTRING ? "" : path + "[key]"
                    key = try value(at: lua_absindex(L, -2), on: L, path: keyPath, depth: depth + 1, visiting: &visiting)
                }
                let element: LuaValue
                switch lua_type(L, -1) {
                case LUA_TNIL, LUA_TBOOLEAN, LUA_TNUMBER, LUA_TSTRING:
                    // Scalars cannot fail: skip building the path used only in error messages.
                    element = try value(at: lua_absindex(L, -1), on: L, path: "", depth: depth + 1, visiting: &visiting)
                default:
                    let keyPath: String
                    switch key {
                    case .integer(let number): keyPath = path + "[\(number)]"
                    case .string(let name): keyPath = path.isEmpty ? name.text : path + "." + name.text
                    default: keyPath = path + "[\(key)]"
                    }
                    element = try value(at: lua_absindex(L, -1), on: L, path: keyPath, depth: depth + 1, visiting: &visiting)
                }
                clua_pop(L, 1)
                if case .integer(let number) = key, number >= 1, number <= Int64(length) {
                    pending[Int(number)] = element
                } else {
                    table.fields[key] = element
                }
            }
            if !pending.isEmpty {
                for position in 1...length {
                    table.sequence.append(pending[position] ?? .nil)
                }
            }
            return .table(table)
        default:
            let type = String(cString: clua_typename(L, index))
            throw LuaConversionError(path: path, problem: "cannot convert a \(type) to data")
        }
    }
}
