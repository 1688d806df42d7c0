import Foundation
import LuaKit

/// A Lua file as `fms` runs it: UTF-8 text, with a first `#!` line turned into a comment (so a
/// script can be made executable).
public enum LuaSourceFile {
    /// Why a file cannot be run.
    public enum ReadError: Error, Equatable, CustomStringConvertible {
        /// Missing, or not readable.
        case unreadable(path: String)
        /// Not UTF-8 text.
        case notText(path: String)

        public var description: String {
            switch self {
            case .unreadable(let path): return "\(path): no such file or cannot read it"
            case .notText(let path): return "\(path): not UTF-8 text"
            }
        }
    }

    /// The source to run from `path`.
    public static func read(_ path: String) throws(ReadError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path: path) }
        guard let text = String(data: data, encoding: .utf8) else { throw .notText(path: path) }
        return text.hasPrefix("#!") ? "--" + text : text
    }
}

/// Loads rule files, in order, into one Lua state: what `fms watch` starts and `fms check` lists.
enum RuleLoader {
    /// One file's load.
    struct Outcome {
        var file: String
        /// What it registered.
        var registrations: [Registration]
        /// Why it did not load, if it did not.
        var failure: Failure?
    }

    /// Why a file did not load.
    enum Failure {
        case read(LuaSourceFile.ReadError)
        case lua(LuaError)
    }

    /// Loads `files` into `runtime`, whose `fms` module shares `context`; stops after the first
    /// file that fails. One outcome per file tried.
    static func load(_ files: [String], into runtime: LuaRuntime, context: FMSModuleContext) async -> [Outcome] {
        var outcomes: [Outcome] = []
        for file in files {
            let source: String
            do throws(LuaSourceFile.ReadError) {
                source = try LuaSourceFile.read(file)
            } catch {
                outcomes.append(Outcome(file: file, registrations: [], failure: .read(error)))
                break
            }
            let before = context.registry.registrations.count
            context.noteRuleFile(file)
            let result = await runtime.run(source: source, chunkName: "@" + file)
            var outcome = Outcome(file: file, registrations: Array(context.registry.registrations.dropFirst(before)))
            if case .failure(let error) = result { outcome.failure = .lua(error) }
            outcomes.append(outcome)
            if outcome.failure != nil { break }
        }
        return outcomes
    }
}
