import Foundation
import LuaKit

/// Rule files loaded into one Lua state: the unit the watcher starts, and replaces on reload.
final class RuleSet: Sendable {
    /// The state the rules and their handlers run in.
    let runtime: LuaRuntime
    /// What the `fms` module of this state shares (registrations, configuration).
    let context: FMSModuleContext
    /// The files, in load order.
    let files: [String]

    private init(runtime: LuaRuntime, context: FMSModuleContext, files: [String]) {
        self.runtime = runtime
        self.context = context
        self.files = files
    }

    /// Why a rule set did not load.
    struct LoadError: Error, CustomStringConvertible {
        /// The file at fault.
        var file: String
        /// `file:line: message` (or the reason the file could not be read).
        var message: String
        /// The Lua traceback, when there is one.
        var traceback: String = ""
        var description: String { message }
    }

    /// Loads `files` into a new state with `context`; the first file that fails stops the load.
    static func load(files: [String], context: FMSModuleContext, limits: LuaLimits) async throws(LoadError) -> RuleSet {
        let runtime: LuaRuntime
        do {
            runtime = try LuaRuntime(memoryLimit: limits.memoryBytes, instructionBudget: limits.instructionBudget)
        } catch {
            throw LoadError(file: files.first ?? "", message: "cannot create a Lua state: \(error)")
        }
        await runtime.withState { state in FMSModule.install(into: state, context: context) }
        for outcome in await RuleLoader.load(files, into: runtime, context: context) {
            switch outcome.failure {
            case .read(let error)?:
                throw LoadError(file: outcome.file, message: error.description)
            case .lua(let error)?:
                throw LoadError(file: outcome.file, message: error.message, traceback: error.traceback)
            case nil:
                continue
            }
        }
        context.finishLoading()
        return RuleSet(runtime: runtime, context: context, files: files)
    }
}
