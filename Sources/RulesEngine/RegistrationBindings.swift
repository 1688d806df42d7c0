import Foundation
import LuaKit

/// The registration functions: `fms.watch`, `tail`, `every`, `cron`, `balance_below`,
/// `on_report`, `on_failure`.
///
/// Each checks its arguments, then (in check mode) records what it registers and returns a
/// handle object with `:stop()`. `fms run` refuses them: a script runs once, rules need
/// `fms watch`.
enum RegistrationBindings {
    static let handleClass = "fms.registration"

    static func functions(_ context: FMSModuleContext) -> [String: LuaFunctionBody] {
        [
            "watch": { call throws(LuaBindingError) in
                let options = try call.options(1, allowed: ["path", "match", "on", "recursive", "debounce", "handler"])
                let path = try options.string("path")
                guard !path.isEmpty else { throw options.fieldError("path", "is empty") }
                let match = try options.optionalString("match")
                let events = try eventList(options)
                let recursive = try options.optionalBoolean("recursive") ?? false
                let debounce = try SendBindings.duration(options, "debounce")
                try requireHandler(options)
                var summary = path + (match.map { "/\($0)" } ?? "") + " (" + events.joined(separator: ", ") + ")"
                if recursive { summary += " recursive" }
                if let debounce { summary += " debounce \(format(debounce))" }
                let spec = WatchSpec(path: path, glob: match, kinds: Set(events.compactMap(FileEvent.Kind.init(rawValue:))),
                                     recursive: recursive, debounce: debounce ?? 0)
                return try register(call, context, kind: "watch", summary: summary, spec: .watch(spec), handler: .field(options))
            },
            "tail": { call throws(LuaBindingError) in
                let options = try call.options(1, allowed: ["path", "match", "handler"])
                let path = try options.string("path")
                guard !path.isEmpty else { throw options.fieldError("path", "is empty") }
                let match = try options.optionalString("match")
                try requireHandler(options)
                return try register(call, context, kind: "tail", summary: path + (match.map { " matching '\($0)'" } ?? ""),
                                    spec: .tail(path: WatchSpec.normalize(path), match: match.flatMap { $0.isEmpty ? nil : $0 }),
                                    handler: .field(options))
            },
            "every": { call throws(LuaBindingError) in
                let text = try call.string(1)
                guard let seconds = DurationText.seconds(text), seconds > 0 else {
                    throw call.argumentError(1, "'\(text)' is not a positive duration such as \"30s\", \"5m\" or \"1h\"")
                }
                try requireFunction(call, 2)
                guard let timer = EveryTimer(period: seconds) else {
                    throw call.argumentError(1, "'\(text)' is not a positive duration such as \"30s\", \"5m\" or \"1h\"")
                }
                return try register(call, context, kind: "every", summary: "every \(format(seconds))",
                                    spec: .every(timer), handler: .argument(2))
            },
            "cron": { call throws(LuaBindingError) in
                let text = try call.string(1)
                let expression: CronExpression
                do throws(CronExpression.ParseError) {
                    expression = try CronExpression(text)
                } catch {
                    throw call.argumentError(1, error.description)
                }
                try requireFunction(call, 2)
                return try register(call, context, kind: "cron", summary: "cron '\(text)'",
                                    spec: .cron(expression), handler: .argument(2))
            },
            "balance_below": { call throws(LuaBindingError) in
                let options = try call.options(1, allowed: ["threshold", "every", "rearm", "handler"])
                guard let threshold = try options.optionalInteger("threshold") else {
                    throw options.fieldError("threshold", "integer expected, got \(options.typeName("threshold"))")
                }
                let interval = try SendBindings.duration(options, "every") ?? 600
                guard interval > 0 else { throw options.fieldError("every", "must be positive") }
                let rearm = try options.optionalInteger("rearm") ?? BalanceEdge.defaultRearm(threshold: threshold)
                guard rearm >= threshold else {
                    throw options.fieldError("rearm", "\(rearm) is below the threshold \(threshold); it must be at or above it")
                }
                try requireHandler(options)
                return try register(call, context, kind: "balance_below",
                                    summary: "balance below \(threshold) (re-armed at \(rearm)), checked every \(format(interval))",
                                    spec: .balanceBelow(threshold: threshold, rearm: rearm, interval: interval),
                                    handler: .field(options))
            },
            "on_report": { call throws(LuaBindingError) in
                let options = try call.options(1, allowed: ["state", "mobile", "handler"])
                let state = try options.optionalString("state")
                let mobile = try options.optionalString("mobile")
                try requireHandler(options)
                var summary = "reports"
                if let state { summary += " in state \(state)" }
                if let mobile { summary += " for \(mobile)" }
                return try register(call, context, kind: "on_report", summary: summary,
                                    spec: .onReport(state: state, mobile: mobile), handler: .field(options))
            },
            "on_failure": { call throws(LuaBindingError) in
                try requireFunction(call, 1)
                return try register(call, context, kind: "on_failure", summary: "sends that failed for good",
                                    spec: .onFailure, handler: .argument(1))
            },
        ]
    }

    static let eventNames = ["create", "modify", "move", "delete", "attrib"]

    private static func eventList(_ options: LuaOptions) throws(LuaBindingError) -> [String] {
        switch try options.value("on") {
        case .nil: return ["create", "modify", "move", "delete"]
        case .string(let text):
            guard eventNames.contains(text.text) else { throw unknownEvent(options, text.text) }
            return [text.text]
        case .table(let table) where table.fields.isEmpty && !table.sequence.isEmpty:
            var names: [String] = []
            for element in table.sequence {
                guard let name = element.stringValue, eventNames.contains(name) else {
                    throw unknownEvent(options, element.stringValue ?? element.description)
                }
                names.append(name)
            }
            return names
        case let other:
            throw options.fieldError("on", "a list of events expected, got \(other.typeName)")
        }
    }

    private static func unknownEvent(_ options: LuaOptions, _ name: String) -> LuaBindingError {
        options.fieldError("on", "unknown event '\(name)' (events are \(eventNames.joined(separator: ", ")))")
    }

    private static func requireHandler(_ options: LuaOptions) throws(LuaBindingError) {
        guard options.typeName("handler") == "function" else {
            throw options.fieldError("handler", "function expected, got \(options.typeName("handler"))")
        }
    }

    private static func requireFunction(_ call: LuaCall, _ index: Int) throws(LuaBindingError) {
        guard call.typeName(index) == "function" else {
            throw call.argumentError(index, "function expected, got \(call.typeName(index))")
        }
    }

    /// Where a registration's handler is: an argument, or the `handler` field of its options.
    private enum HandlerPlace {
        case argument(Int)
        case field(LuaOptions)
    }

    private static func register(_ call: LuaCall, _ context: FMSModuleContext, kind: String, summary: String,
                                 spec: RegistrationSpec, handler: HandlerPlace) throws(LuaBindingError) -> LuaCallResult {
        guard context.mode != .run else {
            throw LuaBindingError("fms.\(kind) registers a rule, which needs 'fms watch'; 'fms run' runs a script once "
                                  + "(use 'fms check' to validate rule files)")
        }
        guard context.acceptsRegistrations else {
            throw LuaBindingError("fms.\(kind) registers a rule while the rule files load (at the top level of a rule "
                                  + "file), not from a handler: a registration made later would never start")
        }
        let position = LuaPosition.trimmed(call.callerPosition())
        var registration = Registration(kind: kind, summary: summary, position: position)
        registration.rule = context.ruleFile(at: position)
        if context.mode == .watch {
            registration.spec = spec
            switch handler {
            case .argument(let index): registration.handler = try call.function(index)
            case .field(let options): registration.handler = try options.optionalFunction("handler")
            }
        }
        let id = context.registry.add(registration)
        return .object(LuaTable(["kind": .text(kind), "id": .integer(Int64(id))]), className: handleClass)
    }

    /// "5m", "1h30m", "500ms".
    static func format(_ seconds: Double) -> String {
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        var rest = Int(seconds.rounded())
        var text = ""
        for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] where rest >= size {
            text += "\(rest / size)\(unit)"
            rest %= size
        }
        return text
    }
}
