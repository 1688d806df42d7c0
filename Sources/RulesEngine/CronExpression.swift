/// A five-field cron schedule, `minute hour day-of-month month day-of-week`, as crontab(5) reads it.
///
/// Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, lists `a,b`, and names
/// for months (`jan`…) and weekdays (`sun`…; 0 and 7 are Sunday).
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    /// Allowed minutes (0…59).
    public var minutes: Set<Int>
    /// Allowed hours (0…23).
    public var hours: Set<Int>
    /// Allowed days of the month (1…31).
    public var daysOfMonth: Set<Int>
    /// Allowed months (1…12).
    public var months: Set<Int>
    /// Allowed weekdays (0…6, Sunday is 0).
    public var daysOfWeek: Set<Int>
    /// Whether day-of-month was restricted (cron ORs the two day fields when both are).
    public var restrictsDayOfMonth: Bool
    /// Whether day-of-week was restricted.
    public var restrictsDayOfWeek: Bool
    /// The text it was read from.
    public let text: String

    /// Why an expression was refused.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        /// The sentence.
        public var description: String
    }

    private static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    /// Parses `text`.
    public init(_ text: String) throws(ParseError) {
        self.text = text
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw ParseError(description: "cron expression '\(text)' has \(fields.count) fields; expected 5 (minute hour day month weekday)")
        }
        minutes = try Self.field(fields[0], name: "minute", range: 0...59, names: [])
        hours = try Self.field(fields[1], name: "hour", range: 0...23, names: [])
        daysOfMonth = try Self.field(fields[2], name: "day of month", range: 1...31, names: [])
        months = try Self.field(fields[3], name: "month", range: 1...12, names: Self.monthNames, nameBase: 1)
        var weekdays = try Self.field(fields[4], name: "weekday", range: 0...7, names: Self.dayNames)
        if weekdays.remove(7) != nil { weekdays.insert(0) }
        daysOfWeek = weekdays
        restrictsDayOfMonth = fields[2] != "*"
        restrictsDayOfWeek = fields[4] != "*"
    }

    /// The text.
    public var description: String { text }

    private static func field(_ text: String, name: String, range: ClosedRange<Int>, names: [String],
                              nameBase: Int = 0) throws(ParseError) -> Set<Int> {
        var values: Set<Int> = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw ParseError(description: "empty item in the \(name) field '\(text)'") }
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw ParseError(description: "bad step in the \(name) field '\(text)'") }
            var step = 1
            if pieces.count == 2 {
                guard let value = Int(pieces[1]), value > 0 else {
                    throw ParseError(description: "bad step '\(pieces[1])' in the \(name) field")
                }
                step = value
            }
            let span = pieces[0]
            var low = range.lowerBound
            var high = range.upperBound
            if span != "*" {
                let bounds = span.split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2 else { throw ParseError(description: "bad range '\(span)' in the \(name) field") }
                low = try value(String(bounds[0]), name: name, range: range, names: names, nameBase: nameBase)
                high = bounds.count == 2
                    ? try value(String(bounds[1]), name: name, range: range, names: names, nameBase: nameBase)
                    : (pieces.count == 2 ? range.upperBound : low)
                guard low <= high else { throw ParseError(description: "range '\(span)' runs backwards in the \(name) field") }
            }
            values.formUnion(stride(from: low, through: high, by: step))
        }
        return values
    }

    private static func value(_ text: String, name: String, range: ClosedRange<Int>, names: [String],
                              nameBase: Int) throws(ParseError) -> Int {
        if let number = Int(text) {
            guard range.contains(number) else {
                throw ParseError(description: "\(name) \(number) is out of range \(range.lowerBound)-\(range.upperBound)")
            }
            return number
        }
        if let index = names.firstIndex(of: text.lowercased()) { return index + nameBase }
        throw ParseError(description: "'\(text)' is not a valid \(name)")
    }
}
