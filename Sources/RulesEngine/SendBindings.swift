import FMSClient
import FMSProtocol
import LuaKit
import Outbox

/// `fms.send{…}` and `fms.batch{…}`: argument checks, cooldowns, then the backend.
enum SendBindings {
    static let sendKeys = ["mobile", "template", "vars", "id", "key", "cooldown", "summary", "wait", "urgent"]

    static func send(_ call: LuaCall, _ context: FMSModuleContext) throws(LuaBindingError) -> LuaCallResult {
        let options = try call.options(1, allowed: sendKeys)
        let mobile = try checkedMobile(try options.string("mobile"), field: "mobile", options)
        let template = try checkedTemplate(options)
        let variables = try checkedVariables(try options.value("vars"), field: "vars", options)
        let id = try checkedId(try options.optionalString("id"), field: "id", options)
        let wait = try options.optionalBoolean("wait") ?? false
        let urgent = try options.optionalBoolean("urgent") ?? false
        let key = try options.optionalString("key")
        let summary = try options.optionalBoolean("summary") ?? false
        let cooldown = try duration(options, "cooldown")
        if cooldown == nil, summary { throw options.fieldError("summary", "needs a 'cooldown' (and a 'key')") }
        let rule = context.rule ?? context.ruleFile(at: call.callerPosition())
        var message = NewMessage(customId: id ?? Outbox.generateId(), template: template, mobile: mobile,
                                 variables: variables, rule: rule, key: key)
        if let cooldown {
            guard let key else { throw options.fieldError("cooldown", "needs a 'key' naming what repeats") }
            if let remaining = context.claimCooldown(key: key, cooldown: cooldown, message: message, summary: summary) {
                let left = Int(remaining.rounded(.up))
                return .values([.nil, .text("suppressed: key '\(key)' is cooling down for \(left)s more")])
            }
        }
        if context.dryRun {
            context.log(LuaLogLine(level: "info", message: "dry run: would send template \(template) to \(mobile)"
                                   + (variables.isEmpty ? "" : " with " + variables.keys.sorted().map { "\($0)=\(variables[$0] ?? "")" }
                                   .joined(separator: ", ")), position: LuaPosition.trimmed(call.callerPosition())))
            context.tally.noteDryRun(1)
            return .value(.table(LuaTable(["customFmsId": .text(message.customId), "mobile": .text(mobile), "dryRun": .boolean(true)])))
        }
        if let outbox = context.outbox {
            message.notBefore = context.sendTime(urgent: urgent)
            do {
                return try OutboxBindings.enqueue([message], outbox: outbox, wait: wait && message.notBefore == nil,
                                                  single: true, context: context)
            } catch {
                // Not queued: the window it opened must not hold back the next attempt.
                if cooldown != nil, let key { context.cancelCooldown(key: key) }
                throw error
            }
        }
        return FMSModule.suspend("fms.send", context) { () throws(FMSClientError) -> [LuaValue] in
            let sent = try await context.backend.send(mobile: mobile, templateId: template, variables: variables, customFmsId: id)
            context.tally.noteAccepted(1)
            return [FMSModule.table(sent)]
        }
    }

    static func batch(_ call: LuaCall, _ context: FMSModuleContext) throws(LuaBindingError) -> LuaCallResult {
        let options = try call.options(1, allowed: ["template", "messages"])
        let template = try checkedTemplate(options)
        guard case .table(let list) = try options.value("messages") else {
            throw options.fieldError("messages", "table expected, got \(options.typeName("messages"))")
        }
        guard list.fields.isEmpty else { throw options.fieldError("messages", "must be a list { {…}, {…} }, not a map") }
        guard !list.sequence.isEmpty else { throw options.fieldError("messages", "the list is empty") }
        var entries: [BatchEntry] = []
        entries.reserveCapacity(list.sequence.count)
        for (offset, element) in list.sequence.enumerated() {
            let place = "messages[\(offset + 1)]"
            guard case .table(let message) = element else {
                throw options.fieldError(place, "table expected, got \(element.typeName)")
            }
            for key in message.fields.keys {
                guard let name = key.stringValue, ["mobile", "vars", "id"].contains(name) else {
                    throw options.fieldError(place, "unknown field '\(key.stringValue ?? key.description)' (fields are mobile, vars, id)")
                }
            }
            guard let mobileText = message["mobile"].stringValue ?? numberText(message["mobile"]) else {
                throw options.fieldError("\(place).mobile", "string expected, got \(message["mobile"].typeName)")
            }
            let mobile = try checkedMobile(mobileText, field: "\(place).mobile", options)
            let variables = try checkedVariables(message["vars"], field: "\(place).vars", options)
            let idValue = message["id"]
            let id = try checkedId(idValue.stringValue ?? numberText(idValue), field: "\(place).id", options)
            entries.append(BatchEntry(mobile: mobile, customFmsId: id, content: variables))
        }
        if context.dryRun {
            context.log(LuaLogLine(level: "info", message: "dry run: would send template \(template) to \(entries.count) mobile(s): "
                                   + entries.prefix(5).map(\.mobile).joined(separator: ", ") + (entries.count > 5 ? ", …" : ""),
                                   position: LuaPosition.trimmed(call.callerPosition())))
            context.tally.noteDryRun(entries.count)
            return .value(.table(LuaTable(sequence: entries.map { entry in
                .table(LuaTable(["mobile": .text(entry.mobile), "dryRun": .boolean(true)]))
            })))
        }
        if let outbox = context.outbox {
            let rule = context.rule ?? context.ruleFile(at: call.callerPosition())
            let messages = entries.map { entry in
                NewMessage(customId: entry.customFmsId ?? Outbox.generateId(), template: template, mobile: entry.mobile,
                           variables: entry.content, rule: rule, notBefore: context.sendTime(urgent: false))
            }
            return try OutboxBindings.enqueue(messages, outbox: outbox, wait: false, single: false, context: context)
        }
        let messages = entries
        return FMSModule.suspend("fms.batch", context) { () throws(FMSClientError) -> [LuaValue] in
            do throws(FMSClientError) {
                let sent = try await context.backend.sendBatch(templateId: template, entries: messages)
                context.tally.noteAccepted(sent.count)
                return [.table(LuaTable(sequence: sent.map(FMSModule.table)))]
            } catch {
                if case .batchIncomplete(let failure) = error { context.tally.noteAccepted(failure.acceptedCount) }
                throw error
            }
        }
    }

    // MARK: Checks shared by send and batch

    static func checkedMobile(_ text: String, field: String, _ options: LuaOptions) throws(LuaBindingError) -> String {
        let trimmed = text.trimmingSpaces()
        guard ProtocolText.isValidMobile(trimmed) else {
            throw options.fieldError(field, "'\(text)' is not a mainland mobile number (11 digits starting with 1)")
        }
        return trimmed
    }

    static func checkedTemplate(_ options: LuaOptions) throws(LuaBindingError) -> String {
        let template = try options.string("template").trimmingSpaces()
        guard !template.isEmpty else { throw options.fieldError("template", "is empty") }
        return template
    }

    static func checkedId(_ text: String?, field: String, _ options: LuaOptions) throws(LuaBindingError) -> String? {
        guard let id = text?.trimmingSpaces(), !id.isEmpty else { return nil }
        let length = ProtocolText.vendorLength(id)
        guard length <= ProtocolText.maximumCustomFmsIdLength else {
            throw options.fieldError(field, "'\(id)' is \(length) characters; at most \(ProtocolText.maximumCustomFmsIdLength)")
        }
        return id
    }

    /// `vars` as the wire's string map: names to strings, numbers or booleans.
    static func checkedVariables(_ value: LuaValue, field: String, _ options: LuaOptions) throws(LuaBindingError) -> TemplateVariables {
        switch value {
        case .nil: return [:]
        case .table(let table):
            guard table.sequence.isEmpty else {
                throw options.fieldError(field, "must map names to values ({ host = \"db1\" }), not be a list")
            }
            var variables: TemplateVariables = [:]
            for (key, element) in table.fields {
                guard let name = key.stringValue else {
                    throw options.fieldError(field, "variable names must be strings, got \(key.typeName) \(key)")
                }
                let wire: VariableValue
                switch element {
                case .string(let text): wire = .text(text.text)
                case .integer(let number): wire = .integer(number)
                case .number(let number): wire = .number(number)
                case .boolean(let flag): wire = .flag(flag)
                default: throw options.fieldError("\(field).\(name)", "string, number or boolean expected, got \(element.typeName)")
                }
                variables[name] = wire.wireText
            }
            return variables
        default:
            throw options.fieldError(field, "table expected, got \(value.typeName)")
        }
    }

    static func numberText(_ value: LuaValue) -> String? {
        switch value {
        case .integer(let number): return String(number)
        case .number(let number) where number.rounded() == number: return String(Int64(number))
        default: return nil
        }
    }

    /// A duration field given as text (`"30m"`) or seconds.
    static func duration(_ options: LuaOptions, _ key: String) throws(LuaBindingError) -> Double? {
        switch try options.value(key) {
        case .nil: return nil
        case .integer(let number) where number >= 0: return Double(number)
        case .number(let number) where number >= 0 && number.isFinite: return number
        case .string(let text):
            guard let seconds = DurationText.seconds(text.text) else {
                throw options.fieldError(key, "'\(text.text)' is not a duration such as \"30s\", \"5m\" or \"1h\"")
            }
            return seconds
        case let other:
            throw options.fieldError(key, "duration expected (\"5m\" or seconds), got \(other.typeName) \(other)")
        }
    }
}
