import Foundation
import LuaKit

/// Loads rule files without sending anything (`fms check`): reports what each registers,
/// or the first `file:line: message` that stops it from loading.
public enum RuleChecker {
    /// The result for one file.
    public struct FileReport: Sendable {
        /// The file's path as given (or found in a folder).
        public var path: String
        /// What it registered, in order.
        public var registrations: [Registration]
        /// Why it failed to load, if it did.
        public var error: LuaError?
    }

    /// A path that cannot be checked (missing, unreadable, a folder without rules).
    public struct InputError: Error, Sendable, CustomStringConvertible {
        /// The sentence.
        public var description: String
    }

    /// The files to check: files as given, and each `*.lua` in a folder (sorted, not recursive).
    /// Files ending in `.meta.lua` (editor stubs) are skipped in folders.
    /// - Parameter allowEmptyFolders: a folder without rule files counts (the watcher waits for files to appear).
    public static func expand(_ paths: [String], allowEmptyFolders: Bool = false) throws(InputError) -> [String] {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw InputError(description: "\(path): no such file or directory")
            }
            if isDirectory.boolValue {
                let names: [String]
                do {
                    names = try FileManager.default.contentsOfDirectory(atPath: path)
                } catch {
                    throw InputError(description: "\(path): cannot list the folder")
                }
                let rules = names.filter { $0.hasSuffix(".lua") && !$0.hasSuffix(".meta.lua") && !$0.hasPrefix(".") }.sorted()
                guard !rules.isEmpty || allowEmptyFolders else { throw InputError(description: "\(path): no .lua files in this folder") }
                let base = path.hasSuffix("/") ? path : path + "/"
                files.append(contentsOf: rules.map { base + $0 })
            } else {
                files.append(path)
            }
        }
        return files
    }

    /// Loads `paths` in check mode into one Lua state, in order, as `fms watch` loads a rule set
    /// (so that files clashing over a global fail here too); stops after the first file that fails.
    public static func check(paths: [String], limits: LuaLimits = LuaLimits()) async throws(InputError) -> [FileReport] {
        let context = FMSModuleContext(mode: .check, backend: ValidatingBackend(), log: { _ in })
        let runtime: LuaRuntime
        do {
            runtime = try LuaRuntime(memoryLimit: limits.memoryBytes, instructionBudget: limits.instructionBudget)
        } catch {
            return [FileReport(path: paths.first ?? "", registrations: [], error: error)]
        }
        await runtime.withState { state in FMSModule.install(into: state, context: context) }
        var reports: [FileReport] = []
        for outcome in await RuleLoader.load(paths, into: runtime, context: context) {
            switch outcome.failure {
            case .read(let error)?:
                throw InputError(description: error.description)
            case .lua(let error)?:
                reports.append(FileReport(path: outcome.file, registrations: outcome.registrations, error: error))
            case nil:
                reports.append(FileReport(path: outcome.file, registrations: outcome.registrations, error: nil))
            }
        }
        return reports
    }

    /// Loads one file in check mode.
    public static func check(path: String, limits: LuaLimits = LuaLimits()) async throws(InputError) -> FileReport {
        guard let report = try await check(paths: [path], limits: limits).first else {
            throw InputError(description: "\(path): cannot read")
        }
        return report
    }
}
