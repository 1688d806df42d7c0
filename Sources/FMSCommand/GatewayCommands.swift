import FMSClient
import FMSProtocol
import Outbox

/// The one-shot commands that call the gateway: template, send, batch, reports, balance.
enum GatewayCommands {
    static let all: [Command] = [templateReport, templateQuery, send, batch, reports, balance]

    static func client(_ arguments: ParsedArguments, _ context: CommandContext) throws(CommandError) -> FMSClient {
        let configuration = try AccountSettings.resolve(arguments, environment: context.environment)
        do {
            return try FMSClient(configuration: configuration)
        } catch {
            throw CommandError(error)
        }
    }

    static let templateReport = Command(
        words: ["template", "report"], summary: "Register a content template and print its id.",
        usage: "template report [options] TEXT",
        details: "Variables are written {name} or ${name}. Limits: 70 characters, 3 variables, no repeats.\n"
            + "The same text always gets the same id. Carriers review a new template before it can be sent.",
        options: AccountSettings.options + [jsonOption]
    ) { arguments, context throws(CommandError) in
        let text = try single(arguments, "TEXT", command: "template report")
        let client = try client(arguments, context)
        let answer: TemplateReportResponse
        do throws(FMSClientError) { answer = try await client.reportTemplate(text) } catch { throw CommandError(error) }
        if context.output.json {
            context.output.json(.object([JSONMember("templateId", .string(answer.templateId)),
                                         JSONMember("variables", .array(answer.variables.map(JSONValue.string)))]))
        } else {
            context.output.line(answer.templateId)
        }
    }

    static let templateQuery = Command(
        words: ["template", "query"], summary: "Show a template's review status at each carrier.",
        usage: "template query [options] ID",
        details: "Statuses: missing (-1), pending (0), approved (1), rejected (2), unsupported (3).\n"
            + "cmcc is China Mobile, cucc China Unicom, ctcc China Telecom.",
        options: AccountSettings.options + [jsonOption]
    ) { arguments, context throws(CommandError) in
        let id = try single(arguments, "ID", command: "template query")
        let client = try client(arguments, context)
        let status: TemplateStatus
        do throws(FMSClientError) { status = try await client.queryTemplate(id) } catch { throw CommandError(error) }
        let carriers: [(String, CarrierReview)] = [("cmcc", status.cmcc), ("cucc", status.cucc), ("ctcc", status.ctcc)]
        if context.output.json {
            context.output.json(.object([JSONMember("templateId", .string(status.templateId))]
                + carriers.map { JSONMember($0.0, .object([JSONMember("code", .integer($0.1.code)),
                                                          JSONMember("status", .string($0.1.description))])) }))
        } else {
            for (name, review) in carriers { context.output.line("\(name)\t\(review)") }
        }
    }

    static let send = Command(
        words: ["send"], summary: "Send one message now and print its ids.",
        usage: "send [options] --mobile M --template T [--var NAME=VALUE]... [--id ID]",
        details: "Prints: mobile, fmsId, customFmsId (tab-separated). Without --queue nothing is queued: on failure\n"
            + "nothing was sent and the exit status says why (65 refused, 75 try again later, 69 unreachable,\n"
            + "78 configuration). With --queue the message is checked, stored durably in the outbox and the\n"
            + "command returns at once, printing its customFmsId; 'fms outbox drain' (or 'fms run') sends it.",
        options: [.value("mobile", "M", "mainland mobile number, 11 digits starting with 1"),
                  .value("template", "T", "template id"),
                  .value("var", "NAME=VALUE", "template variable (repeatable)", repeatable: true),
                  .value("id", "ID", "your id for the message (customFmsId, at most 32 characters)"),
                  .flag("queue", "store the message in the outbox and return; do not send now")]
            + OutboxCommands.stateOptions + [OutboxCommands.durabilityOption]
            + AccountSettings.options + [jsonOption]
    ) { arguments, context throws(CommandError) in
        guard arguments.positionals.isEmpty else {
            throw .usage("send: unexpected argument '\(arguments.positionals[0])'")
        }
        guard let mobile = arguments.value("mobile") else { throw .usage("send: --mobile is required") }
        guard let template = arguments.value("template") else { throw .usage("send: --template is required") }
        let variables = try parseVariables(arguments.all("var"))
        if arguments.has("queue") {
            try await queue(mobile: mobile, template: template, variables: variables, arguments, context)
            return
        }
        let client = try client(arguments, context)
        let sent: SentMessage
        do throws(FMSClientError) {
            sent = try await client.sendSingle(mobile: mobile, templateId: template, variables: variables,
                                               customFmsId: arguments.value("id"))
        } catch {
            throw CommandError(error)
        }
        printSent([sent], context.output, asArray: false)
    }

    static let batch = Command(
        words: ["batch"], summary: "Send many messages of one template from a CSV or JSON-lines file.",
        usage: "batch [options] --template T FILE|-",
        details: "CSV: a header 'mobile,id,<var>...' ('id' optional), one message per row.\n"
            + "JSON lines: one object per line, {\"mobile\": \"…\", \"id\": \"…\", \"vars\": {\"name\": \"…\"}}.\n"
            + "Any number of messages: they go out in requests of at most 300. Every row is checked before\n"
            + "anything is sent; errors name the file and line. Prints one line per accepted message.",
        options: [.value("template", "T", "template id")] + AccountSettings.options + [jsonOption]
    ) { arguments, context throws(CommandError) in
        guard let template = arguments.value("template") else { throw .usage("batch: --template is required") }
        let path = try single(arguments, "FILE", command: "batch")
        let entries = try BatchFileReader.read(path: path)
        let client = try client(arguments, context)
        do throws(FMSClientError) {
            let sent = try await client.sendBatch(templateId: template, entries: entries)
            printSent(sent, context.output, asArray: true)
        } catch {
            if case .batchIncomplete(let failure) = error {
                printSent(failure.results.compactMap { $0 }, context.output, asArray: true)
            }
            throw CommandError(error)
        }
    }

    static let reports = Command(
        words: ["reports"], summary: "Fetch delivery reports and print them.",
        usage: "reports [options] [--max N]",
        details: "The gateway hands each report out once: what this prints is gone from the gateway.\n"
            + "Prints: state, mobile, fmsId, customFmsId, receiveTime, desc (tab-separated).",
        options: [.value("max", "N", "fetch at most N reports (default 500; more than 500 takes several calls)")]
            + AccountSettings.options + [jsonOption]
    ) { arguments, context throws(CommandError) in
        guard arguments.positionals.isEmpty else { throw .usage("reports: unexpected argument '\(arguments.positionals[0])'") }
        var max = 500
        if let text = arguments.value("max") {
            guard let number = Int(text), number >= 1 else { throw .usage("reports: --max '\(text)' is not a positive integer") }
            max = number
        }
        let client = try client(arguments, context)
        let list: [DeliveryReport]
        do throws(FMSClientError) { list = try await client.fetchReports(max: max) } catch { throw CommandError(error) }
        if context.output.json {
            context.output.json(.array(list.map(\.json)))
        } else {
            for report in list {
                context.output.line([report.state.name, report.mobile, report.fmsId, report.customFmsId ?? "-",
                                     report.receiveTime, report.desc].joined(separator: "\t"))
            }
        }
    }

    static let balance = Command(
        words: ["balance"], summary: "Print the account balance (messages left).",
        usage: "balance [options]", details: "",
        options: AccountSettings.options + [jsonOption]
    ) { arguments, context throws(CommandError) in
        guard arguments.positionals.isEmpty else { throw .usage("balance: unexpected argument '\(arguments.positionals[0])'") }
        let client = try client(arguments, context)
        let amount: Int64
        do throws(FMSClientError) { amount = try await client.balance() } catch { throw CommandError(error) }
        if context.output.json {
            context.output.json(.object([JSONMember("balance", .integer(amount))]))
        } else {
            context.output.line(String(amount))
        }
    }

    // MARK: Helpers

    /// `fms send --queue`: checks the message, stores it in the outbox, prints its customFmsId.
    static func queue(mobile: String, template: String, variables: TemplateVariables, _ arguments: ParsedArguments,
                      _ context: CommandContext) async throws(CommandError) {
        let trimmedMobile = mobile.trimmingSpaces()
        guard ProtocolText.isValidMobile(trimmedMobile) else {
            throw CommandError("send: invalid mobile '\(mobile)': not a mainland mobile number (11 digits starting with 1)",
                               exitCode: .dataError)
        }
        let templateId = template.trimmingSpaces()
        guard !templateId.isEmpty else { throw CommandError("send: --template is empty", exitCode: .dataError) }
        var id = arguments.value("id")?.trimmingSpaces() ?? ""
        if id.isEmpty { id = Outbox.generateId() }
        guard ProtocolText.vendorLength(id) <= ProtocolText.maximumCustomFmsIdLength else {
            throw CommandError("send: --id '\(id)' is longer than \(ProtocolText.maximumCustomFmsIdLength) characters", exitCode: .dataError)
        }
        let message = NewMessage(customId: id, template: templateId, mobile: trimmedMobile, variables: variables)
        let configuration = try OutboxCommands.configuration(arguments, context, lockWait: 0)
        do throws(OutboxError) {
            let outbox = try Outbox(configuration: configuration, client: nil)
            if let existing = try await outbox.find(id), existing.message.customId == id {
                throw OutboxError(.invalid, "customFmsId '\(id)' already names a message in the outbox (\(existing.state.rawValue)); "
                                  + "give each message its own --id")
            }
            try outbox.enqueue(message)
        } catch where error.kind == .locked {
            // Another fms (the watcher) holds the state directory: hand the message over to it.
            do throws(OutboxError) {
                _ = try IntakeHandover.hand([message], directory: configuration.directory, durability: configuration.durability)
            } catch {
                throw CommandError(error)
            }
            Output.diagnostic("send: queued through \(IntakeHandover.folder(configuration.directory)) for the fms process "
                              + "using the state directory, which sends it")
        } catch {
            throw CommandError(error)
        }
        if context.output.json {
            context.output.json(.object([JSONMember("customFmsId", .string(id)), JSONMember("mobile", .string(trimmedMobile)),
                                         JSONMember("queued", .bool(true))]))
        } else {
            context.output.line("\(trimmedMobile)\tqueued\t\(id)")
        }
    }

    static func single(_ arguments: ParsedArguments, _ name: String, command: String) throws(CommandError) -> String {
        guard let first = arguments.positionals.first else { throw .usage("\(command): missing \(name)") }
        guard arguments.positionals.count == 1 else {
            throw .usage("\(command): unexpected argument '\(arguments.positionals[1])' (quote \(name) if it has spaces)")
        }
        return first
    }

    static func parseVariables(_ pairs: [String]) throws(CommandError) -> TemplateVariables {
        var variables: TemplateVariables = [:]
        for pair in pairs {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw .usage("--var '\(pair)' is not NAME=VALUE")
            }
            let name = String(pair[..<equals])
            guard variables[name] == nil else { throw .usage("--var '\(name)' given twice") }
            variables[name] = String(pair[pair.index(after: equals)...])
        }
        return variables
    }

    static func printSent(_ messages: [SentMessage], _ output: Output, asArray: Bool) {
        if output.json {
            output.json(asArray ? .array(messages.map(\.json)) : (messages.first?.json ?? .null))
        } else {
            for message in messages {
                output.line("\(message.mobile)\t\(message.fmsId)\t\(message.customFmsId ?? "-")")
            }
        }
    }
}
