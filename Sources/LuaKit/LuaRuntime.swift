/// An actor that owns a `LuaState` on its serial executor and drives its coroutines.
///
/// A handler runs in its own coroutine. When a binding suspends it (to wait for the network),
/// only that coroutine waits: the actor is free to start or resume others, so several suspended
/// handlers make progress at once. ``LuaRuntime`` is the plain one; a host with an executor of
/// its own (a thread that also reads the events that start the handlers) conforms too.
public protocol LuaHost: Actor {
    /// The state; touch it only on this actor (checked on every entry point).
    var state: LuaState { get }
}

extension LuaHost {
    /// Runs `body` with the state, on this actor.
    public func withState<T: Sendable>(_ body: (LuaState) throws -> T) rethrows -> T {
        try body(state)
    }

    /// Runs `body` isolated to this actor: a loop there (a queue's consumer) calls the other
    /// methods without hopping.
    public func isolated<T: Sendable>(_ body: @Sendable (isolated Self) async -> T) async -> T {
        await body(self)
    }

    /// Runs `function` in a new coroutine until it ends, waiting out its suspensions.
    public func run(_ function: LuaReference, arguments: [LuaValue] = []) async -> Result<[LuaValue], LuaError> {
        var coroutine = state.makeCoroutine(function)
        var outcome = state.start(&coroutine, arguments: arguments)
        while true {
            switch outcome {
            case .finished(let values):
                return .success(values)
            case .failed(let error):
                return .failure(error)
            case .suspended(let suspension):
                let result = await suspension.operation()
                outcome = state.resume(coroutine, with: result, callerPosition: suspension.callerPosition)
            }
        }
    }

    /// Compiles and runs a chunk in a coroutine; `arguments` become its `...`.
    public func run(source: String, chunkName: String, arguments: [LuaValue] = []) async -> Result<[LuaValue], LuaError> {
        let function: LuaReference
        do {
            function = try state.load(source, chunkName: chunkName)
        } catch {
            return .failure(error)
        }
        defer { state.release(function) }
        return await run(function, arguments: arguments)
    }
}

/// A `LuaState` on an actor of its own (Swift's default executor).
public actor LuaRuntime: LuaHost {
    /// The state; touch it only from this actor (checked on every entry point).
    public let state: LuaState

    /// Creates a runtime with limits (0: none).
    public init(memoryLimit: Int = 0, instructionBudget: Int = 0) throws(LuaError) {
        state = try LuaState(memoryLimit: memoryLimit, instructionBudget: instructionBudget)
        state.bindOwner(self)
    }
}
