import Foundation
import FMSProtocol

/// Writes the watcher's log lines to stderr: text, or one JSON object per line.
///
/// Text lines carry an ISO 8601 timestamp, except under systemd (`JOURNAL_STREAM` names the
/// stream stderr is connected to), where the journal stamps lines itself and a `<N>` prefix
/// gives each line its syslog priority.
public final class WatchLogger: Sendable {
    /// How lines look.
    public enum Format: String, Sendable, CaseIterable {
        case text
        case json
    }

    /// How serious a line is.
    public enum Level: String, Sendable {
        case info
        case warn
        case error

        /// The syslog priority the journal understands (`<6>`, `<4>`, `<3>`).
        var priority: Int {
            switch self {
            case .info: return 6
            case .warn: return 4
            case .error: return 3
            }
        }
    }

    /// The format.
    public let format: Format
    /// Whether stderr is the systemd journal.
    public let journal: Bool
    private let sink: @Sendable (String) -> Void
    private let clock: @Sendable () -> Double

    /// A logger in `format`; `journal` when stderr goes to the journal; `sink` receives whole lines with "\n".
    public init(format: Format, journal: Bool, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
                sink: @escaping @Sendable (String) -> Void = WatchLogger.standardError) {
        self.format = format
        self.journal = journal
        self.clock = clock
        self.sink = sink
    }

    /// Whether `environment` says stderr is the journal: `JOURNAL_STREAM` is "device:inode" of stderr.
    public static func stderrIsJournal(environment: [String: String]) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(2, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// Writes to file descriptor 2 in one `write` per line.
    public static let standardError: @Sendable (String) -> Void = { line in
        var bytes = Array(line.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 { if errno == EINTR { continue } else { return } }
            offset += written
        }
    }

    /// Logs `message`; `fields` add context (`rule`, `position`…), in order.
    public func log(_ level: Level, _ message: String, _ fields: [(String, String)] = []) {
        switch format {
        case .json:
            var members = [JSONMember("time", .string(Self.timestamp(clock()))), JSONMember("level", .string(level.rawValue)),
                           JSONMember("message", .string(message))]
            for (key, value) in fields { members.append(JSONMember(key, .string(value))) }
            sink(JSONWriter.string(of: .object(members)) + "\n")
        case .text:
            var line = journal ? "<\(level.priority)>" : Self.timestamp(clock()) + " "
            line += level.rawValue + " "
            if let position = fields.first(where: { $0.0 == "position" })?.1 { line += position + ": " }
            // Every line of a multi-line message keeps the journal's priority.
            line += journal ? message.replacingOccurrences(of: "\n", with: "\n<\(level.priority)>") : message
            for (key, value) in fields where key != "position" && key != "traceback" { line += " \(key)=\(value)" }
            if let traceback = fields.first(where: { $0.0 == "traceback" })?.1, !traceback.isEmpty {
                // One journal entry per line: indent the traceback under its message.
                for part in traceback.split(separator: "\n") {
                    line += "\n" + (journal ? "<\(level.priority)>" : "") + "    " + part
                }
            }
            sink(line + "\n")
        }
    }

    /// `2026-11-26T10:00:00.123Z`.
    static func timestamp(_ seconds: Double) -> String {
        let whole = Int64(seconds.rounded(.down))
        let millis = Int((seconds - Double(whole)) * 1000)
        var time = time_t(whole)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let fraction = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):"
            + "\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
    }
}
