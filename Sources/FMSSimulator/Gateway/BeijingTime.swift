import Foundation

/// Formats instants as the vendor does in reports: `yyyy-MM-dd HH:mm:ss`, Beijing time (UTC+8).
enum BeijingTime {
    /// The text for `secondsSince1970`.
    static func format(_ secondsSince1970: Double) -> String {
        var seconds = time_t(secondsSince1970.rounded(.down)) + 8 * 3600
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : String(value) }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    }
}
