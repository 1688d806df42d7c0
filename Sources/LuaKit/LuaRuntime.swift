/// Owns a `LuaState` on one serial executor (this actor) and drives its coroutines.
///
/// A handler runs in its own coroutine. When a binding suspends it (to wait for the
/// network), only that coroutine waits: the actor is free to start or resume others,
/// so several suspended handlers make progress at once.
public actor LuaRuntime {
    /// The state; touch it only from this actor (checked on every entry point).
    public let state: LuaState

    /// Creates a runtime with limits (0: none).
    public init(memoryLimit: Int = 0, instructionBudget: Int = 0) throws(LuaError) {
        state = try LuaState(memoryLimit: memoryLimit, instructionBudget: instructionBudget)
        state.bindOwner(self)
    }

    /// Runs `body` with the state, on this actor.
    public func withState<T: Sendable>(_ body: (LuaState) throws -> T) rethrows -> T {
        try body(state)
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
