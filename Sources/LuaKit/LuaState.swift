import CLua

/// One Lua state with its limits, its Swift functions and its references.
///
/// Not thread-safe: a `LuaState` belongs to one serial executor (normally a `LuaRuntime`
/// actor). When created with an owner, every entry point that runs Lua checks it is on
/// that owner's executor (`preconditionIsolated`) instead of assuming so.
public final class LuaState {
    /// The raw state (main thread).
    let L: OpaquePointer
    private let memory: UnsafeMutablePointer<clua_Memory>
    private var functionBoxes: [LuaFunctionBox] = []
    /// References handed out and not yet released.
    public private(set) var liveReferenceCount = 0
    /// Set by a binding that suspends its coroutine; read by `resume` right after the yield.
    var pendingSuspension: LuaSuspension?
    /// Weak: the owner (a `LuaRuntime`) holds the state, so a strong reference back would leak both.
    private weak var owner: (any Actor)?
    private var isClosed = false

    /// Instructions one resume (or protected call) may run; 0 means no limit.
    public var instructionBudget: Int

    /// The memory cap in bytes; 0 means none.
    public var memoryLimit: Int {
        get { Int(memory.pointee.limit) }
        set { memory.pointee.limit = newValue > 0 ? size_t(newValue) : 0 }
    }

    /// Bytes currently allocated by Lua.
    public var memoryInUse: Int { Int(memory.pointee.used) }

    /// Creates a state with the standard libraries.
    ///
    /// - Parameters:
    ///   - memoryLimit: bytes Lua may allocate (0: no cap). Past it, allocation fails with
    ///     "not enough memory" in the code that asked; the host survives.
    ///   - instructionBudget: instructions per resume (0: no limit).
    ///   - owner: the actor whose executor the state is confined to, checked on entry.
    public init(memoryLimit: Int = 0, instructionBudget: Int = 0, owner: (any Actor)? = nil) throws(LuaError) {
        memory = UnsafeMutablePointer<clua_Memory>.allocate(capacity: 1)
        // hostDepth 1: the host runs; `call` and `resume` drop it to 0 while Lua code runs.
        memory.initialize(to: clua_Memory(used: 0, limit: 0, hostDepth: 1, refused: 0))
        guard let state = clua_newstate(memory) else {
            memory.deallocate()
            throw LuaError(kind: .memory, message: "cannot create a Lua state")
        }
        L = state
        self.owner = owner
        self.instructionBudget = instructionBudget
        luaL_openlibs(L)
        lua_setwarnf(L, nil, nil)
        self.memoryLimit = memoryLimit
    }

    deinit {
        close()
    }

    /// Closes the state, releasing all Lua memory and Swift functions. Idempotent.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        lua_close(L)
        functionBoxes.removeAll()
        memory.deallocate()
    }

    /// Confines the state to `actor` from now on.
    func bindOwner(_ actor: any Actor) { owner = actor }

    /// Checks the caller is on the owner's executor.
    @inline(__always)
    func checkConfinement() {
        owner?.preconditionIsolated("a LuaState is used off its owner's executor")
    }

    // MARK: Loading and calling

    /// Compiles `source` as a chunk named `chunkName` (shown in messages as `chunkName:line:`).
    ///
    /// Returns a reference to the compiled function; release it when done.
    public func load(_ source: String, chunkName: String) throws(LuaError) -> LuaReference {
        checkConfinement()
        var source = source
        let status: Int32 = source.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                clua_loadtext(L, chars.baseAddress, chars.count, chunkName)
            }
        }
        guard status == LUA_OK else {
            let message = popMessage()
            throw LuaError(kind: status == LUA_ERRMEM ? .memory : .syntax, message: message)
        }
        return makeReference()
    }

    /// Calls a function in protected mode on the main thread (no yielding) and returns its results.
    public func call(_ function: LuaReference, _ arguments: [LuaValue] = []) throws(LuaError) -> [LuaValue] {
        checkConfinement()
        let base = lua_gettop(L)
        clua_pushtracebackhandler(L)
        push(function)
        for argument in arguments { push(argument) }
        clua_setbudget(L, Int32(clamping: instructionBudget))
        clua_enterlua(L, 1)
        let status = clua_pcall(L, Int32(arguments.count), clua_multret(), base + 1)
        clua_enterlua(L, 0)
        clua_setbudget(L, 0)
        guard status == LUA_OK else {
            let error = classify(status: status, messageWithTraceback: popMessage())
            lua_settop(L, base)
            recoverAfter(error)
            throw error
        }
        let results = collectResults(from: base + 2, to: lua_gettop(L))
        lua_settop(L, base)
        return results
    }

    /// Runs a protected call of Lua source (convenience for tests and one-liners).
    @discardableResult
    public func run(_ source: String, chunkName: String = "=(run)") throws(LuaError) -> [LuaValue] {
        let function = try load(source, chunkName: chunkName)
        defer { release(function) }
        return try call(function)
    }

    private func collectResults(from first: Int32, to last: Int32) -> [LuaValue] {
        guard last >= first else { return [] }
        return (first...last).map { (try? value(at: $0)) ?? .nil }
    }

    /// Splits "message\nstack traceback:..." and classifies the failure.
    func classify(status: Int32, messageWithTraceback: String) -> LuaError {
        var message = messageWithTraceback
        var traceback = ""
        let marker = "\nstack traceback:"
        if let start = messageWithTraceback.firstRange(of: marker)?.lowerBound {
            message = String(messageWithTraceback[..<start])
            traceback = String(messageWithTraceback[messageWithTraceback.index(after: start)...])
        }
        let kind: LuaError.Kind
        if status == LUA_ERRMEM {
            kind = .memory
        } else if message.hasSuffix("instruction budget exceeded") {
            kind = .budget
        } else if message.hasSuffix("not enough memory") {
            kind = .memory
        } else {
            kind = .runtime
        }
        return LuaError(kind: kind, message: message, traceback: traceback)
    }

    /// After a memory failure, collect garbage so the state is usable again.
    func recoverAfter(_ error: LuaError) {
        if error.kind == .memory { clua_collectgarbage(L) }
    }

    /// Pops the value on top as a message string.
    func popMessage(from thread: OpaquePointer? = nil) -> String {
        let L = thread ?? self.L
        var length = 0
        let message: String
        if let pointer = lua_tolstring(L, -1, &length) {
            message = String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
        } else {
            message = "(error object is a \(String(cString: clua_typename(L, -1))) value)"
        }
        clua_pop(L, 1)
        return message
    }

    // MARK: Globals and modules

    /// Sets a global variable.
    public func setGlobal(_ name: String, _ value: LuaValue) {
        checkConfinement()
        push(value)
        lua_setglobal(L, name)
    }

    /// Sets `table.key = value` on a global table (no-op if the global is not a table).
    public func setField(_ key: String, of table: String, to value: LuaValue) {
        checkConfinement()
        lua_getglobal(L, table)
        if lua_type(L, -1) == LUA_TTABLE {
            push(value)
            lua_setfield(L, -2, key)
        }
        clua_pop(L, 1)
    }

    /// Reads a global variable (data only; functions read as an error).
    public func global(_ name: String) throws(LuaConversionError) -> LuaValue {
        checkConfinement()
        lua_getglobal(L, name)
        defer { clua_pop(L, 1) }
        return try value(at: -1)
    }

    /// Creates (or extends) a module table: a global named `name`, also in `package.loaded`,
    /// with the given Swift functions. Dotted names (`fms.template`) create nested tables.
    public func defineModule(_ name: String, functions: [String: LuaFunctionBody]) {
        checkConfinement()
        let parts = name.split(separator: ".").map(String.init)
        guard let root = parts.first else { return }
        lua_getglobal(L, root)
        if lua_type(L, -1) != LUA_TTABLE {
            clua_pop(L, 1)
            clua_newtable(L)
            lua_pushvalue(L, -1)
            lua_setglobal(L, root)
            lua_getglobal(L, "package")
            lua_getfield(L, -1, "loaded")
            lua_pushvalue(L, -3)
            lua_setfield(L, -2, root)
            clua_pop(L, 2)
        }
        for (index, part) in parts.enumerated().dropFirst() {
            lua_getfield(L, -1, part)
            if lua_type(L, -1) != LUA_TTABLE {
                clua_pop(L, 1)
                clua_newtable(L)
                lua_pushvalue(L, -1)
                lua_setfield(L, -3, part)
            }
            clua_remove(L, -2)
            _ = index
        }
        for (functionName, body) in functions.sorted(by: { $0.key < $1.key }) {
            pushFunction(name: (parts.last.map { $0 + "." } ?? "") + functionName, body)
            lua_setfield(L, -2, functionName)
        }
        clua_pop(L, 1)
    }

    /// Creates a class: a metatable named `name` whose `__index` holds `methods`, for objects
    /// returned with `LuaCallResult.object`. Method errors name `name:method`.
    public func defineClass(_ name: String, methods: [String: LuaFunctionBody]) {
        checkConfinement()
        guard luaL_newmetatable(L, name) != 0 else {
            clua_pop(L, 1)
            return
        }
        clua_newtable(L)
        for (method, body) in methods.sorted(by: { $0.key < $1.key }) {
            pushFunction(name: "\(name):\(method)", body)
            lua_setfield(L, -2, method)
        }
        lua_setfield(L, -2, "__index")
        lua_pushstring(L, name)
        lua_setfield(L, -2, "__name")
        clua_pop(L, 1)
    }

    /// Pushes a Swift function as a Lua function named `name` (used in argument errors).
    func pushFunction(name: String, _ body: @escaping LuaFunctionBody) {
        let box = LuaFunctionBox(name: name, state: self, body: body)
        functionBoxes.append(box)
        clua_pushswiftfunction(L, luaKitTrampoline, Unmanaged.passUnretained(box).toOpaque())
    }

    /// Runs a full garbage collection.
    public func collectGarbage() {
        checkConfinement()
        clua_collectgarbage(L)
    }

    // MARK: References

    /// A registry reference to the value on top of the stack (popped).
    func makeReference() -> LuaReference {
        let id = luaL_ref(L, clua_registryindex())
        liveReferenceCount += 1
        return LuaReference(id: id)
    }

    /// A reference to the value at `index` (not popped).
    func reference(at index: Int32) -> LuaReference {
        lua_pushvalue(L, index)
        return makeReference()
    }

    /// Releases a reference; the value may then be collected. Releasing twice is a no-op.
    public func release(_ reference: LuaReference) {
        checkConfinement()
        guard reference.id != LUA_NOREF, reference.id != LUA_REFNIL, !isClosed else { return }
        luaL_unref(L, clua_registryindex(), reference.id)
        liveReferenceCount -= 1
    }

    /// Adjusts the live reference count (references made by argument readers).
    func adjustReferenceCount(by delta: Int) { liveReferenceCount += delta }

    /// Pushes the referenced value.
    func push(_ reference: LuaReference) {
        lua_rawgeti(L, clua_registryindex(), lua_Integer(reference.id))
    }

    /// The Lua type name of a referenced value (`function`, `table`…).
    public func typeName(of reference: LuaReference) -> String {
        push(reference)
        defer { clua_pop(L, 1) }
        return String(cString: clua_typename(L, -1))
    }
}

/// A value kept alive in the Lua registry until `LuaState.release` is called.
///
/// Registrations (handlers) are held this way, never tied to garbage collection.
public struct LuaReference: Sendable, Hashable {
    /// The registry slot.
    public let id: Int32
}
