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
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw LoadError(file: file, message: "\(file): no such file or cannot read it")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw LoadError(file: file, message: "\(file): not UTF-8 text")
            }
            let source = text.hasPrefix("#!") ? "--" + text : text
            context.noteRuleFile(file)
            if case .failure(let error) = await runtime.run(source: source, chunkName: "@" + file) {
                throw LoadError(file: file, message: error.message, traceback: error.traceback)
            }
        }
        context.finishLoading()
        return RuleSet(runtime: runtime, context: context, files: files)
    }
}
