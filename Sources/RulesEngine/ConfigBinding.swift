import Foundation
import LuaKit

/// `fms.config{ rate = "30/min", quiet = "23:00-07:00", timezone = "Asia/Shanghai" }`.
///
/// Checked and stored here; the watcher applies them (rate limit, quiet hours, cron zone).
enum ConfigBinding {
    static func configure(_ call: LuaCall, _ context: FMSModuleContext) throws(LuaBindingError) -> LuaCallResult {
        let options = try call.options(1, allowed: ["rate", "quiet", "timezone"])
        let rate = try options.optionalString("rate").map { text throws(LuaBindingError) in
            guard let parsed = parseRate(text) else {
                throw options.fieldError("rate", "'\(text)' is not a rate such as \"30/min\", \"5/s\" or \"100/h\"")
            }
            return parsed
        }
        let quiet = try options.optionalString("quiet").map { text throws(LuaBindingError) in
            guard let parsed = parseQuietHours(text) else {
                throw options.fieldError("quiet", "'\(text)' is not a window such as \"23:00-07:00\"")
            }
            return parsed
        }
        let timezone = try options.optionalString("timezone")
        if let timezone, TimeZone(identifier: timezone) == nil {
            throw options.fieldError("timezone", "'\(timezone)' is not a time zone such as \"Asia/Shanghai\" or \"UTC\"")
        }
        context.configure { configuration in
            if let rate { configuration.rate = rate }
            if let quiet { configuration.quiet = quiet }
            if let timezone { configuration.timezone = timezone }
        }
        return .none
    }

    /// `"30/min"` → (30, 60).
    static func parseRate(_ text: String) -> (count: Int, seconds: Double)? {
        let parts = text.split(separator: "/", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let count = Int(parts[0]), count > 0 else { return nil }
        let seconds: Double
        switch parts[1].lowercased() {
        case "s", "sec", "second": seconds = 1
        case "m", "min", "minute": seconds = 60
        case "h", "hour": seconds = 3600
        case "d", "day": seconds = 86400
        default:
            guard let custom = DurationText.seconds(parts[1]), custom > 0 else { return nil }
            seconds = custom
        }
        return (count, seconds)
    }

    /// `"23:00-07:00"` → minutes after midnight (1380, 420).
    static func parseQuietHours(_ text: String) -> (start: Int, end: Int)? {
        let parts = text.split(separator: "-", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let start = minutes(parts[0]), let end = minutes(parts[1]), start != end else { return nil }
        return (start, end)
    }

    private static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]),
              (0...23).contains(hour), (0...59).contains(minute) else { return nil }
        return hour * 60 + minute
    }
}
