import FMSProtocol
import LuaKit
import Outbox

/// The Lua tables handlers receive.
enum EventTables {
    /// `{ kind, path, name, old_path?, is_dir, time }` for `fms.watch` handlers.
    static func file(_ event: FileEvent, time: Double) -> LuaValue {
        var fields: [String: LuaValue] = [
            "kind": .text(event.kind.rawValue), "path": .text(event.path), "name": .text(WatchPath.name(event.path)),
            "is_dir": .boolean(event.isDirectory), "time": .number(time),
        ]
        if let old = event.oldPath { fields["old_path"] = .text(old) }
        return .table(LuaTable(fields))
    }

    /// `{ time, skipped }` for timers.
    static func firing(_ firing: TimerScheduler.Firing) -> LuaValue {
        .table(LuaTable(["time": .number(firing.time), "skipped": .integer(Int64(firing.skipped))]))
    }

    /// A delivery report with what the outbox knows of its message.
    static func report(_ entry: JournaledReport, message: StoredMessage?) -> LuaValue {
        var fields: [String: LuaValue] = [
            "fmsId": .text(entry.report.fmsId), "mobile": .text(entry.report.mobile), "state": .text(entry.report.state.name),
        ]
        if let custom = entry.report.customFmsId { fields["customFmsId"] = .text(custom) }
        fields["desc"] = .text(entry.report.desc)
        fields["submitTime"] = .text(entry.report.submitTime)
        fields["receiveTime"] = .text(entry.report.receiveTime)
        if let rule = entry.rule { fields["rule"] = .text(rule) }
        if let key = entry.key { fields["key"] = .text(key) }
        if let message {
            fields["template"] = .text(message.message.template)
            fields["vars"] = variables(message.message.variables)
        }
        return .table(LuaTable(fields))
    }

    /// `{ customFmsId, mobile, template, vars, rule, key, attempts }` of a dead letter.
    static func message(_ stored: StoredMessage) -> LuaValue {
        var fields: [String: LuaValue] = [
            "customFmsId": .text(stored.message.customId), "mobile": .text(stored.message.mobile),
            "template": .text(stored.message.template), "vars": variables(stored.message.variables),
            "attempts": .integer(Int64(stored.attempts)),
        ]
        if let rule = stored.message.rule { fields["rule"] = .text(rule) }
        if let key = stored.message.key { fields["key"] = .text(key) }
        return .table(LuaTable(fields))
    }

    /// The error text of a dead letter: `CODE: text`.
    static func failureText(_ stored: StoredMessage) -> String {
        switch (stored.lastCode, stored.lastError) {
        case let (code?, error?): return error.hasPrefix(code) ? error : "\(code): \(error)"
        case let (code?, nil): return code
        case let (nil, error?): return error
        case (nil, nil): return "the message could not be sent"
        }
    }

    private static func variables(_ variables: [String: String]) -> LuaValue {
        var table = LuaTable()
        for (name, value) in variables { table.fields[.text(name)] = .text(value) }
        return .table(table)
    }
}
