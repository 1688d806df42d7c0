import LuaKit

/// Limits for one Lua state running scripts or rules.
public struct LuaLimits: Sendable {
    /// Bytes Lua may allocate (default 64 MiB).
    public var memoryBytes: Int = 64 << 20
    /// Instructions per resume (default 100 million: about a second of busy Lua).
    public var instructionBudget: Int = 100_000_000

    /// The defaults.
    public init() {}
}

/// Runs a Lua script once (`fms run`): the script is a coroutine with `arg` and `...` set.
public enum ScriptRunner {
    /// What a run produced.
    public struct Outcome: Sendable {
        /// The script's return values, or its error.
        public var result: Result<[LuaValue], LuaError>
        /// What it sent and which sends failed.
        public var tally: SendTally
    }

    /// Runs `source`, named `chunkName` (`@path` for files), with `arguments` as `arg[1…]` and `...`.
    ///
    /// - Parameter scriptName: `arg[0]`.
    public static func run(source: String, chunkName: String, scriptName: String, arguments: [String],
                           context: FMSModuleContext, limits: LuaLimits = LuaLimits()) async -> Outcome {
        let runtime: LuaRuntime
        do {
            runtime = try LuaRuntime(memoryLimit: limits.memoryBytes, instructionBudget: limits.instructionBudget)
        } catch {
            return Outcome(result: .failure(error), tally: context.tally)
        }
        await runtime.withState { state in
            FMSModule.install(into: state, context: context)
            var table = LuaTable(sequence: arguments.map(LuaValue.text))
            table.fields[.integer(0)] = .text(scriptName)
            state.setGlobal("arg", .table(table))
        }
        let result = await runtime.run(source: source, chunkName: chunkName, arguments: arguments.map(LuaValue.text))
        return Outcome(result: result, tally: context.tally)
    }
}
