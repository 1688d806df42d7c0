import CLua

/// A Lua coroutine running one handler; anchored in the registry until it ends.
public struct LuaCoroutine {
    let thread: OpaquePointer
    let anchor: LuaReference
    /// Whether it has been resumed at least once.
    var started = false
}

/// How a resume ended.
public enum LuaResumeOutcome {
    /// The function returned these values; the coroutine is finished and released.
    case finished([LuaValue])
    /// A binding suspended it; run the operation, then resume with its result.
    case suspended(LuaSuspension)
    /// It raised an error; the coroutine is finished and released.
    case failed(LuaError)
}

extension LuaState {
    /// A new coroutine that will call `function`.
    public func makeCoroutine(_ function: LuaReference) -> LuaCoroutine {
        checkConfinement()
        guard let thread = lua_newthread(L) else { fatalError("lua_newthread returned NULL") }
        let anchor = makeReference()
        lua_rawgeti(thread, clua_registryindex(), lua_Integer(function.id))
        return LuaCoroutine(thread: thread, anchor: anchor)
    }

    /// Starts a coroutine with `arguments`.
    public func start(_ coroutine: inout LuaCoroutine, arguments: [LuaValue]) -> LuaResumeOutcome {
        checkConfinement()
        precondition(!coroutine.started, "a coroutine is started once")
        coroutine.started = true
        guard lua_checkstack(coroutine.thread, Int32(clamping: arguments.count + 1)) != 0 else {
            return finish(coroutine, .failed(LuaError(kind: .host, message: "too many arguments")))
        }
        for argument in arguments { push(argument, on: coroutine.thread) }
        return resume(coroutine, argumentCount: Int32(arguments.count))
    }

    /// Resumes a suspended coroutine with the outcome of its operation.
    public func resume(_ coroutine: LuaCoroutine, with result: Result<[LuaValue], LuaBindingError>,
                       callerPosition: String = "") -> LuaResumeOutcome {
        checkConfinement()
        let thread = coroutine.thread
        switch result {
        case .success(let values):
            guard lua_checkstack(thread, Int32(clamping: values.count + 1)) != 0 else {
                return finish(coroutine, .failed(LuaError(kind: .host, message: "too many results")))
            }
            lua_pushboolean(thread, 1)
            for value in values { push(value, on: thread) }
            return resume(coroutine, argumentCount: Int32(values.count + 1))
        case .failure(let error):
            lua_pushboolean(thread, 0)
            push(.text((error.prefixCallerPosition ? callerPosition : "") + error.message), on: thread)
            return resume(coroutine, argumentCount: 2)
        }
    }

    private func resume(_ coroutine: LuaCoroutine, argumentCount: Int32) -> LuaResumeOutcome {
        let thread = coroutine.thread
        pendingSuspension = nil
        clua_setbudget(thread, Int32(clamping: instructionBudget))
        var resultCount: Int32 = 0
        clua_enterlua(L, 1)
        let status = lua_resume(thread, L, argumentCount, &resultCount)
        clua_enterlua(L, 0)
        clua_setbudget(thread, 0)
        switch status {
        case LUA_OK:
            let top = lua_gettop(thread)
            var values: [LuaValue] = []
            if resultCount > 0 {
                for index in (top - resultCount + 1)...top {
                    values.append((try? value(at: index, on: thread)) ?? .nil)
                }
            }
            return finish(coroutine, .finished(values))
        case LUA_YIELD:
            guard let suspension = pendingSuspension else {
                let error = LuaError(kind: .host, message: "a handler called coroutine.yield() outside a coroutine of its own")
                return finish(coroutine, .failed(error))
            }
            pendingSuspension = nil
            lua_settop(thread, lua_gettop(thread) - resultCount)
            return .suspended(suspension)
        default:
            let message = popMessage(from: thread)
            luaL_traceback(L, thread, nil, 0)
            let traceback = popMessage()
            var error = classify(status: status, messageWithTraceback: message)
            error.traceback = traceback
            return finish(coroutine, .failed(error))
        }
    }

    private func finish(_ coroutine: LuaCoroutine, _ outcome: LuaResumeOutcome) -> LuaResumeOutcome {
        lua_resetthread(coroutine.thread)
        release(coroutine.anchor)
        if case .failed(let error) = outcome { recoverAfter(error) }
        return outcome
    }
}
