import Foundation
import FMSClient
import FMSProtocol
import Outbox

/// `fms outbox stats|list|show|retry|purge|drain`: look into and act on the durable outbox.
enum OutboxCommands {
    static let all: [Command] = [stats, list, show, retry, purge, drain]

    static let stateOptions: [OptionSpec] = [
        .value("state-dir", "DIR", "the outbox's folder (default: $FMS_STATE_DIR, else $STATE_DIRECTORY, else "
               + "/var/lib/fms for root, else $XDG_STATE_HOME/fms or ~/.local/state/fms)"),
    ]

    static let durabilityOption = OptionSpec.value("durability", "LEVEL",
                                                   "normal (survives a killed process, default) or full (survives power loss)")

    /// The outbox settings from `--state-dir`, `--durability` and the environment.
    static func configuration(_ arguments: ParsedArguments, _ context: CommandContext,
                              lockWait: Double = 5) throws(CommandError) -> Outbox.Configuration {
        var configuration = Outbox.Configuration(directory: arguments.value("state-dir")
                                                 ?? StateDirectory.resolve(environment: context.environment))
        configuration.lockWait = lockWait
        if let text = arguments.value("durability") {
            guard let durability = Durability(rawValue: text) else { throw .usage("--durability '\(text)': use normal or full") }
            configuration.durability = durability
        }
        return configuration
    }

    /// Opens the outbox named by `--state-dir`/the environment, with `client` when sending.
    static func open(_ arguments: ParsedArguments, _ context: CommandContext, client: FMSClient? = nil,
                     lockWait: Double = 5) throws(CommandError) -> Outbox {
        let configuration = try configuration(arguments, context, lockWait: lockWait)
        do {
            return try Outbox(configuration: configuration, client: client)
        } catch {
            throw CommandError(error)
        }
    }

    static let stats = Command(
        words: ["outbox", "stats"], summary: "Count the outbox's messages by state, and its reports.",
        usage: "outbox stats [options]", details: "", options: stateOptions + [jsonOption]
    ) { arguments, context throws(CommandError) in
        try noPositionals(arguments, "outbox stats")
        let outbox = try open(arguments, context)
        let counts: OutboxCounts
        do throws(OutboxError) { counts = try await outbox.counts() } catch { throw CommandError(error) }
        if context.output.json {
            var members = [JSONMember("pending", .integer(Int64(counts.pending))), JSONMember("sent", .integer(Int64(counts.sent))),
                           JSONMember("dead", .integer(Int64(counts.dead))), JSONMember("reports", .integer(Int64(counts.reports))),
                           JSONMember("undispatchedReports", .integer(Int64(counts.undispatchedReports)))]
            members.append(JSONMember("oldestPendingSeconds", counts.oldestPendingAge.map { .double($0.rounded()) } ?? .null))
            context.output.json(.object(members))
        } else {
            context.output.line("pending\t\(counts.pending)")
            context.output.line("sent\t\(counts.sent)")
            context.output.line("dead\t\(counts.dead)")
            context.output.line("reports\t\(counts.reports)")
            context.output.line("undispatched reports\t\(counts.undispatchedReports)")
            if let age = counts.oldestPendingAge { context.output.line("oldest pending\t\(Int(age))s") }
        }
    }

    static let list = Command(
        words: ["outbox", "list"], summary: "List messages in the outbox, newest first.",
        usage: "outbox list [options] [--state pending|sent|dead]",
        details: "Prints: id, state, customFmsId, mobile, template, attempts, fmsId or last error (tab-separated).",
        options: [.value("state", "STATE", "only messages in this state: pending, sent or dead"),
                  .value("limit", "N", "at most N messages (default 100)")] + stateOptions + [jsonOption]
    ) { arguments, context throws(CommandError) in
        try noPositionals(arguments, "outbox list")
        var state: MessageState?
        if let text = arguments.value("state") {
            guard let parsed = MessageState(rawValue: text) else { throw .usage("outbox list: --state '\(text)': use pending, sent or dead") }
            state = parsed
        }
        var limit = 100
        if let text = arguments.value("limit") {
            guard let number = Int(text), number >= 1 else { throw .usage("outbox list: --limit '\(text)' is not a positive integer") }
            limit = number
        }
        let outbox = try open(arguments, context)
        let messages: [StoredMessage]
        do throws(OutboxError) { messages = try await outbox.list(state: state, limit: limit) } catch { throw CommandError(error) }
        if context.output.json {
            context.output.json(.array(messages.map(json)))
        } else {
            for message in messages {
                let detail = message.state == .sent ? (message.fmsId ?? "") : (message.lastError ?? "")
                context.output.line([String(message.id), message.state.rawValue, message.message.customId, message.message.mobile,
                                     message.message.template, String(message.attempts), detail].joined(separator: "\t"))
            }
        }
    }

    static let show = Command(
        words: ["outbox", "show"], summary: "Show one message (by id or customFmsId).",
        usage: "outbox show [options] ID", details: "", options: stateOptions + [jsonOption]
    ) { arguments, context throws(CommandError) in
        let reference = try GatewayCommands.single(arguments, "ID", command: "outbox show")
        let outbox = try open(arguments, context)
        let found: StoredMessage?
        do throws(OutboxError) { found = try await outbox.find(reference) } catch { throw CommandError(error) }
        guard let message = found else { throw CommandError("outbox show: no message '\(reference)'", exitCode: .dataError) }
        if context.output.json {
            context.output.json(json(message))
        } else {
            guard case .object(let members) = json(message) else { return }
            for member in members {
                let value: String
                switch member.value {
                case .object: value = JSONWriter.string(of: member.value)
                case .null: value = "-"
                default: value = member.value.lenientString ?? JSONWriter.string(of: member.value)
                }
                context.output.line("\(member.key)\t\(value)")
            }
        }
    }

    static let retry = Command(
        words: ["outbox", "retry"], summary: "Put dead (or pending) messages back in the queue, due now.",
        usage: "outbox retry [options] ID...\n       fms outbox retry [options] --all-dead",
        details: "IDs are outbox ids or customFmsIds. Sent messages are left alone.",
        options: [.flag("all-dead", "every dead letter (after fixing what killed them, say a wrong key)")] + stateOptions
    ) { arguments, context throws(CommandError) in
        let all = arguments.has("all-dead")
        guard all != !arguments.positionals.isEmpty else {
            throw .usage("outbox retry: give IDs or --all-dead (not both)")
        }
        let outbox = try open(arguments, context)
        let moved: Int
        do throws(OutboxError) {
            let references = all ? try await outbox.list(state: .dead, limit: Int.max).map { String($0.id) } : arguments.positionals
            moved = references.isEmpty ? 0 : try await outbox.retry(references)
        } catch {
            throw CommandError(error)
        }
        context.output.line("\(moved) message\(moved == 1 ? "" : "s") queued again")
    }

    static let purge = Command(
        words: ["outbox", "purge"], summary: "Delete every dead letter (needs --dead).",
        usage: "outbox purge [options] --dead", details: "", options: [.flag("dead", "delete the dead letters")] + stateOptions
    ) { arguments, context throws(CommandError) in
        try noPositionals(arguments, "outbox purge")
        guard arguments.has("dead") else { throw .usage("outbox purge: say what to purge: --dead") }
        let outbox = try open(arguments, context)
        let removed: Int
        do throws(OutboxError) { removed = try await outbox.purgeDead() } catch { throw CommandError(error) }
        context.output.line("\(removed) dead letter\(removed == 1 ? "" : "s") deleted")
    }

    static let drain = Command(
        words: ["outbox", "drain"], summary: "Send everything pending; exit 0 only when nothing is left pending.",
        usage: "outbox drain [options] [--wait SECONDS]",
        details: "The path after a crash, or for cron-driven setups. Retries follow the usual backoff; messages\n"
            + "that cannot be sent become dead letters. Exit 75 if messages are still pending at the timeout.\n"
            + "Messages that fms watch held back for later (its rate limit, quiet hours) wait for their time: not counted.",
        options: [.value("wait", "SECONDS", "give up after this long (default 300)")] + stateOptions + [durabilityOption]
            + AccountSettings.options + [jsonOption]
    ) { arguments, context throws(CommandError) in
        try noPositionals(arguments, "outbox drain")
        var timeout = 300.0
        if let text = arguments.value("wait") {
            guard let seconds = Double(text), seconds > 0 else { throw .usage("outbox drain: --wait '\(text)' is not a number of seconds") }
            timeout = seconds
        }
        let client = try GatewayCommands.client(arguments, context)
        let outbox = try open(arguments, context, client: client)
        let counts: OutboxCounts
        let deadBefore: Int
        do throws(OutboxError) {
            deadBefore = try await outbox.counts().dead
            counts = try await outbox.drain(timeout: timeout)
        } catch {
            throw CommandError(error)
        }
        await outbox.stop(timeout: 5)
        if context.output.json {
            context.output.json(.object([JSONMember("pending", .integer(Int64(counts.pending))),
                                         JSONMember("sent", .integer(Int64(counts.sent))), JSONMember("dead", .integer(Int64(counts.dead)))]))
        } else {
            context.output.line("pending\t\(counts.pending)\nsent\t\(counts.sent)\ndead\t\(counts.dead)")
        }
        if counts.held > 0 {
            Output.diagnostic("outbox drain: \(counts.held) message(s) held back by a rate limit or quiet hours wait for their time")
        }
        if counts.pending > counts.held {
            throw CommandError("outbox drain: \(counts.pending - counts.held) message(s) still pending after \(Int(timeout))s",
                               exitCode: .temporaryFailure)
        }
        if counts.dead > deadBefore {
            let newest = try? await outbox.list(state: .dead, limit: 1).first
            let code = newest?.lastCode.map { CommandError.exitCode(for: .gateway(endpoint: .sendBatch, code: ResultCode($0))) }
            throw CommandError("outbox drain: \(counts.dead - deadBefore) message(s) became dead letters; last: "
                               + "\(newest?.lastError ?? "?") (see 'fms outbox list --state dead'; 'fms outbox retry --all-dead' "
                               + "queues them again once the cause is fixed)", exitCode: code ?? .dataError)
        }
    }

    static func noPositionals(_ arguments: ParsedArguments, _ command: String) throws(CommandError) {
        if let extra = arguments.positionals.first { throw .usage("\(command): unexpected argument '\(extra)'") }
    }

    static func json(_ message: StoredMessage) -> JSONValue {
        func optional(_ text: String?) -> JSONValue { text.map(JSONValue.string) ?? .null }
        return .object([
            JSONMember("id", .integer(message.id)), JSONMember("state", .string(message.state.rawValue)),
            JSONMember("customFmsId", .string(message.message.customId)), JSONMember("mobile", .string(message.message.mobile)),
            JSONMember("template", .string(message.message.template)),
            JSONMember("vars", .object(message.message.variables.keys.sorted().map { JSONMember($0, .string(message.message.variables[$0] ?? "")) })),
            JSONMember("rule", optional(message.message.rule)), JSONMember("key", optional(message.message.key)),
            JSONMember("attempts", .integer(Int64(message.attempts))), JSONMember("createdAt", .double(message.createdAt)),
            JSONMember("nextAttemptAt", .double(message.nextAttemptAt)),
            JSONMember("sentAt", message.sentAt.map(JSONValue.double) ?? .null), JSONMember("fmsId", optional(message.fmsId)),
            JSONMember("lastError", optional(message.lastError)), JSONMember("lastCode", optional(message.lastCode)),
        ])
    }
}

extension CommandError {
    /// The command-line form of an outbox error: 75 when locked (try later), 74 for storage, 65 otherwise.
    init(_ error: OutboxError) {
        let code: ExitCode
        switch error.kind {
        case .locked: code = .temporaryFailure
        case .storage, .corrupt: code = .ioError
        case .tooNew: code = .configuration
        case .invalid, .notFound: code = .dataError
        }
        self.init("outbox: \(error)", exitCode: code)
    }
}
