import Foundation
import FMSClient
import FMSProtocol
import LuaKit
import Outbox
import RulesEngine

/// `fms run` (a Lua script, once) and `fms check` (validate rule files).
enum LuaCommands {
    static let limitOptions: [OptionSpec] = [
        .value("memory", "MIB", "memory cap of the Lua state in MiB (default 64)"),
        .value("budget", "N", "instructions Lua may run between waits (default 100000000)"),
    ]

    static let run = Command(
        words: ["run"], summary: "Run a Lua script once, with the fms module, against the gateway.",
        usage: "run [options] SCRIPT.lua [ARGS...]\n       fms run [options] -e CHUNK [ARGS...]",
        details: "The script runs as a coroutine with arg[0] = SCRIPT, arg[1..] = ARGS (also as ...). fms.send,\n"
            + "fms.batch, fms.reports, fms.balance and fms.template.* wait for the gateway; see fms-lua(7).\n"
            + "Sends go through the outbox (see fms-outbox(7)) unless --direct; at the end fms run waits up to\n"
            + "--wait seconds for its queued messages.\n"
            + "Exit status: 0 when the script ends and every message was sent; 65 for a syntax error or a message\n"
            + "the gateway refused (a dead letter); 66 for a missing script; 70 for a script error; 75 on --timeout or\n"
            + "when queued messages are still pending at the end (they stay queued); otherwise the status of the\n"
            + "first failed send (see fms(1)). Registration functions (fms.every…) need 'fms watch'.",
        options: [.value("e", "CHUNK", "run CHUNK instead of a script file"),
                  .value("timeout", "SECONDS", "stop the whole run after this long (exit 75)"),
                  .flag("direct", "send straight to the gateway, without the outbox (nothing is kept if a send fails)"),
                  .value("wait", "SECONDS", "how long to wait at the end for queued messages to be sent (default 60)")]
            + OutboxCommands.stateOptions + [OutboxCommands.durabilityOption]
            + limitOptions + AccountSettings.options.filter { $0.name != "timeout" }
            + [.value("http-timeout", "SECONDS", "seconds to wait for each HTTP exchange (default 30)")],
        optionsEndAtFirstPositional: true
    ) { arguments, context throws(CommandError) in
        let limits = try parseLimits(arguments, command: "run")
        let source: String
        let chunkName: String
        let scriptName: String
        var scriptArguments = arguments.positionals
        if let chunk = arguments.value("e") {
            source = chunk
            chunkName = "=(command line)"
            scriptName = "-e"
        } else {
            guard let path = scriptArguments.first else { throw .usage("run: missing SCRIPT.lua (or -e CHUNK)") }
            scriptArguments.removeFirst()
            do throws(LuaSourceFile.ReadError) {
                source = try LuaSourceFile.read(path)
            } catch {
                let status: ExitCode
                switch error {
                case .unreadable: status = .noInput
                case .notText: status = .dataError
                }
                throw CommandError("run: \(error)", exitCode: status)
            }
            chunkName = "@" + path
            scriptName = path
        }
        if let text = arguments.value("timeout") {
            guard let seconds = Double(text), seconds > 0, seconds.isFinite else {
                throw .usage("run: --timeout '\(text)' is not a positive number of seconds")
            }
            Watchdog.exit(after: seconds, message: "run: timed out after \(text)s", status: .temporaryFailure)
        }
        var wait = 60.0
        if let text = arguments.value("wait") {
            guard let seconds = Double(text), seconds >= 0, seconds.isFinite else {
                throw .usage("run: --wait '\(text)' is not a number of seconds")
            }
            wait = seconds
        }
        let backend = LazyClient(arguments: arguments, environment: context.environment)
        var handle: OutboxHandle?
        if !arguments.has("direct") {
            let configuration = try OutboxCommands.configuration(arguments, context, lockWait: 30)
            let client = backend.configuredClient
            handle = OutboxHandle { () throws(OutboxError) in try Outbox(configuration: configuration, client: client) }
        }
        let moduleContext = FMSModuleContext(mode: .run, backend: backend, outbox: handle, rule: scriptName, log: { line in
            Output.diagnostic("\(line.level): \(line.position): \(line.message)")
        })
        let outcome = await ScriptRunner.run(source: source, chunkName: chunkName, scriptName: scriptName,
                                             arguments: scriptArguments, context: moduleContext, limits: limits)
        if let outbox = handle?.openedOutbox {
            try await settleQueued(moduleContext.queuedIds, outbox: outbox, backend: backend, wait: wait,
                                   scriptFailed: { if case .failure = outcome.result { return true } else { return false } }())
        }
        let failures = outcome.tally.failures
        switch outcome.result {
        case .failure(let error):
            let status: ExitCode
            switch error.kind {
            case .syntax: status = .dataError
            case .runtime where !failures.isEmpty && failures.contains(where: { error.message.contains($0.description) }):
                status = CommandError.exitCode(for: failures.last ?? failures[0])
            default: status = .software
            }
            throw CommandError("run: " + error.description, exitCode: status)
        case .success:
            if let first = failures.first {
                throw CommandError("run: the script ended, but \(failures.count) send(s) failed; first: \(first)",
                                   exitCode: CommandError.exitCode(for: first))
            }
        }
    }

    /// After the script: waits until the messages it queued are sent or dead, then stops the sender.
    ///
    /// Throws when some died (their vendor code's status) or are still pending (75: they stay
    /// queued), so the exit status says which.
    static func settleQueued(_ ids: [String], outbox: Outbox, backend: LazyClient, wait: Double,
                             scriptFailed: Bool) async throws(CommandError) {
        guard !ids.isEmpty else {
            await outbox.stop(timeout: 1)
            return
        }
        guard backend.configuredClient != nil else {
            await outbox.stop(timeout: 1)
            throw CommandError("run: \(ids.count) message(s) are queued in \(outbox.configuration.directory), but no gateway is "
                               + "configured to send them (\(backend.configurationProblem ?? "?"))", exitCode: .configuration)
        }
        let states: [String: MessageState]
        do {
            states = try await outbox.wait(for: ids, timeout: wait)
        } catch {
            await outbox.stop(timeout: 1)
            throw CommandError(error)
        }
        await outbox.stop(timeout: 5)
        let dead = ids.filter { states[$0] == .dead }
        let pending = ids.filter { states[$0] == .pending }
        if let first = dead.first {
            let stored = try? await outbox.find(first)
            let error = OutboxBindings.failure(of: stored)
            let message = "run: \(dead.count) of \(ids.count) queued message(s) could not be sent and are dead letters "
                + "(see 'fms outbox list --state dead'); first: \(stored?.lastError ?? "?")"
            if scriptFailed { Output.diagnostic(message) } else {
                throw CommandError(message, exitCode: CommandError.exitCode(for: error))
            }
        }
        if !pending.isEmpty {
            let message = "run: \(pending.count) of \(ids.count) queued message(s) are still pending; they stay in the outbox "
                + "(\(outbox.configuration.directory)) and 'fms outbox drain' sends them"
            if scriptFailed { Output.diagnostic(message) } else {
                throw CommandError(message, exitCode: .temporaryFailure)
            }
        }
    }

    static let check = Command(
        words: ["check"], summary: "Load rule files without sending anything; list what they register.",
        usage: "check [options] RULES...",
        details: "RULES are files or folders (each *.lua in a folder), loaded into one Lua state in order, as\n"
            + "'fms watch' loads them. Sends and gateway calls only check their\n"
            + "arguments. Prints each file and its registrations (watches, timers, thresholds, report handlers);\n"
            + "stops at the first file that fails to load, printing file:line: message, and exits 65.",
        options: limitOptions + [jsonOption]
    ) { arguments, context throws(CommandError) in
        guard !arguments.positionals.isEmpty else { throw .usage("check: missing RULES (files or folders)") }
        let limits = try parseLimits(arguments, command: "check")
        let files: [String]
        do {
            files = try RuleChecker.expand(arguments.positionals)
        } catch {
            throw CommandError("check: \(error)", exitCode: .noInput)
        }
        let checked: [RuleChecker.FileReport]
        do {
            checked = try await RuleChecker.check(paths: files, limits: limits)
        } catch {
            throw CommandError("check: \(error)", exitCode: .noInput)
        }
        var reports: [JSONValue] = []
        for report in checked {
            let path = report.path
            if context.output.json {
                reports.append(json(report))
            } else if report.error == nil {
                let count = report.registrations.count
                context.output.line("\(path): ok, \(count) registration\(count == 1 ? "" : "s")")
                for registration in report.registrations {
                    context.output.line("  \(registration.position): \(registration.kind): \(registration.summary)")
                }
            }
            if let error = report.error {
                if context.output.json { context.output.json(.array(reports)) }
                throw CommandError(error.message + (error.traceback.isEmpty ? "" : "\n" + error.traceback), exitCode: .dataError)
            }
        }
        if context.output.json { context.output.json(.array(reports)) }
    }

    static func json(_ report: RuleChecker.FileReport) -> JSONValue {
        var members = [JSONMember("path", .string(report.path)), JSONMember("ok", .bool(report.error == nil))]
        members.append(JSONMember("registrations", .array(report.registrations.map { registration in
            .object([JSONMember("kind", .string(registration.kind)), JSONMember("summary", .string(registration.summary)),
                     JSONMember("position", .string(registration.position))])
        })))
        if let error = report.error { members.append(JSONMember("error", .string(error.message))) }
        return .object(members)
    }

    static func parseLimits(_ arguments: ParsedArguments, command: String) throws(CommandError) -> LuaLimits {
        var limits = LuaLimits()
        if let text = arguments.value("memory") {
            guard let mebibytes = Int(text), mebibytes >= 1, mebibytes <= 1 << 20 else {
                throw .usage("\(command): --memory '\(text)' is not a size in MiB (1 or more)")
            }
            limits.memoryBytes = mebibytes << 20
        }
        if let text = arguments.value("budget") {
            guard let budget = Int(text), budget >= 1000 else {
                throw .usage("\(command): --budget '\(text)' is not a number of instructions (1000 or more)")
            }
            limits.instructionBudget = budget
        }
        return limits
    }
}

/// A client made on first use, so scripts that never call the gateway need no settings.
final class LazyClient: GatewayBackend {
    private let client: Result<FMSClient, FMSClientError>

    /// The client, if the settings allow one.
    var configuredClient: FMSClient? { try? client.get() }

    /// Why there is no client, if there is none.
    var configurationProblem: String? {
        if case .failure(let error) = client { return error.description }
        return nil
    }

    init(arguments: ParsedArguments, environment: [String: String]) {
        var settings = arguments
        if let timeout = arguments.value("http-timeout") { settings.values["timeout"] = [timeout] } else { settings.values["timeout"] = nil }
        do {
            let configuration = try AccountSettings.resolve(settings, environment: environment)
            client = .success(try FMSClient(configuration: configuration))
        } catch let error as CommandError {
            client = .failure(.configuration(error.message))
        } catch let error as FMSClientError {
            client = .failure(error)
        } catch {
            client = .failure(.configuration("\(error)"))
        }
    }

    private func get() throws(FMSClientError) -> FMSClient { try client.get() }

    func send(mobile: String, templateId: String, variables: TemplateVariables, customFmsId: String?) async throws(FMSClientError) -> SentMessage {
        try await get().sendSingle(mobile: mobile, templateId: templateId, variables: variables, customFmsId: customFmsId)
    }
    func sendBatch(templateId: String, entries: [BatchEntry]) async throws(FMSClientError) -> [SentMessage] {
        try await get().sendBatch(templateId: templateId, entries: entries)
    }
    func fetchReports(max: Int) async throws(FMSClientError) -> [DeliveryReport] { try await get().fetchReports(max: max) }
    func balance() async throws(FMSClientError) -> Int64 { try await get().balance() }
    func reportTemplate(_ text: String) async throws(FMSClientError) -> TemplateReportResponse { try await get().reportTemplate(text) }
    func queryTemplate(_ templateId: String) async throws(FMSClientError) -> TemplateStatus { try await get().queryTemplate(templateId) }
}

/// Ends the process after a deadline, whatever is running.
enum Watchdog {
    /// Prints `message` and exits with `status` after `seconds`.
    static func exit(after seconds: Double, message: String, status: ExitCode) {
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: seconds)
            Output.diagnostic(message)
            Foundation.exit(status.rawValue)
        }
    }
}
