import Foundation

// Next-fire computation for `fms.cron`, in local time, with daylight saving handled the way
// Vixie/ISC cron (cron(8): "Local time changes of less than three hours ... are handled specially")
// handles it.
//
// The rule implemented:
//
// * A job is *fixed-time* when neither its minute nor its hour field starts with `*` ("30 2 * * *",
//   "0 9 * * 1-5", "0,30 2 * * *"); otherwise it is *wildcard* ("0 * * * *", "*/15 * * * *",
//   "*/10 2 * * *"). This is Vixie cron's MIN_STAR|HR_STAR test: jobs that run more often than
//   hourly are "scheduled normally".
// * Wildcard jobs follow real time: they fire at every instant whose local wall time matches.
//   In a spring-forward gap the skipped wall times simply do not happen ("*/15" goes 01:45 → 03:00);
//   in a fall-back overlap the repeated wall times happen twice ("0 * * * *" fires at 01:00 EDT
//   and again at 01:00 EST, one real hour apart).
// * Fixed-time jobs fire once per matching wall time:
//   - a matching wall time inside a spring-forward gap (it does not exist) fires once, at the first
//     existing instant after the gap: "30 2 * * *" runs at 03:00 local on the day clocks jump from
//     02:00 to 03:00. Several matching times in one gap ("0,30 2 * * *") still fire only once there,
//     and a job that also matches the first minute after the gap ("0 2,3 * * *") fires there once.
//   - a matching wall time inside a fall-back overlap (it occurs twice) fires only at its first
//     occurrence: "30 1 * * *" in New York runs at 01:30 EDT, not again at 01:30 EST.
// * Day fields follow cron(5): when both day-of-month and day-of-week are restricted, a day matches
//   if either does ("0 0 13 * 5" is the 13th and every Friday); otherwise both must match.
// * The search gives up (nil) when nothing matches within 8 years of local time — long enough for
//   "0 0 29 2 *" across a century year that skips its leap day (2096 → 2104), short enough to
//   answer "0 0 30 2 *" quickly.
//
// Wall-clock dates are proleptic Gregorian calendar arithmetic on "local seconds" (the instant plus
// the zone's UTC offset, as Calendar(identifier: .gregorian) would compute them); the zone's offsets
// and transitions come from Foundation's TimeZone (`secondsFromGMT(for:)`,
// `nextDaylightSavingTimeTransition(after:)`). The search skips whole days that do not match and
// jumps straight to the next allowed hour and minute inside a matching day, so it costs at most a
// few thousand cheap day steps even for impossible expressions.

extension CronExpression {
    /// Whether the job is wildcard in Vixie cron's sense (its minute or hour field starts with `*`):
    /// such jobs follow real time across daylight-saving changes; the others are fixed-time jobs.
    public var followsRealTime: Bool {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count == 5 else { return minutes.count == 60 || hours.count == 24 }
        return fields[0].hasPrefix("*") || fields[1].hasPrefix("*")
    }

    /// The first instant strictly after `after` at which this schedule fires in `timeZone`, or nil
    /// when no minute matches within 8 years (an impossible expression such as "0 0 30 2 *").
    ///
    /// Daylight-saving changes follow Vixie cron; see the comment at the top of CronSchedule.swift.
    public func nextFire(after: Date, in timeZone: TimeZone) -> Date? {
        let matcher = CronMatcher(self)
        guard matcher.canMatch else { return nil }
        let fixedTime = !followsRealTime
        let start = Int64(after.timeIntervalSince1970.rounded(.down))
        let offsetNow = Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(start))))
        // Strictly after `after`: the minute after the one `after` falls in.
        var lowerLocal = floorDiv(start + offsetNow, 60) * 60 + 60
        let limitLocal = start + offsetNow + CronMatcher.searchLimit

        if fixedTime, let (transition, previousOffset) = Self.lastTransition(atOrBefore: start, in: timeZone),
           previousOffset > offsetNow {
            // `after` lies just after a fall-back: the wall times up to transition + previousOffset
            // were already lived through before the change; fixed-time jobs do not repeat them.
            lowerLocal = max(lowerLocal, transition + previousOffset)
        }

        var segmentOffset = offsetNow
        var cursor = start
        while lowerLocal < limitLocal {
            // The span of real time from `cursor` to the next transition has one constant offset.
            let transition = timeZone.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: Double(cursor)))
                .map { Int64($0.timeIntervalSince1970.rounded(.up)) }
            let upperLocal = transition.map { min($0 + segmentOffset, limitLocal) } ?? limitLocal
            if let local = matcher.firstMatch(from: lowerLocal, below: upperLocal) {
                return Date(timeIntervalSince1970: Double(local - segmentOffset))
            }
            guard let transition, transition + segmentOffset < limitLocal else { return nil }
            let nextOffset = Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(transition))))
            if nextOffset > segmentOffset {
                // Spring forward: wall times [transition + old, transition + new) never happen.
                if fixedTime, matcher.firstMatch(from: transition + segmentOffset, below: transition + nextOffset) != nil {
                    return Date(timeIntervalSince1970: Double(transition))
                }
                lowerLocal = ceilToMinute(transition + nextOffset)
            } else {
                // Fall back (or no change): wall times [transition + new, transition + old) repeat;
                // wildcard jobs live them again, fixed-time jobs do not.
                lowerLocal = ceilToMinute(transition + (fixedTime ? segmentOffset : nextOffset))
            }
            segmentOffset = nextOffset
            cursor = transition
        }
        return nil
    }

    /// The most recent offset change at or before `instant` within the last two days, with the
    /// offset that was in force just before it.
    private static func lastTransition(atOrBefore instant: Int64, in timeZone: TimeZone) -> (Int64, Int64)? {
        var probe = Date(timeIntervalSince1970: Double(instant - 2 * 86_400))
        var found: Int64?
        while let next = timeZone.nextDaylightSavingTimeTransition(after: probe) {
            let seconds = Int64(next.timeIntervalSince1970.rounded(.up))
            guard seconds <= instant else { break }
            found = seconds
            probe = next
        }
        guard let found else { return nil }
        return (found, Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(found - 1)))))
    }
}

/// The fields of a cron expression as sorted tables, matched against wall-clock "local seconds"
/// (seconds since 1970-01-01T00:00 of the local wall clock, proleptic Gregorian).
private struct CronMatcher {
    /// How far ahead (in local seconds) a search goes before giving up: 8 years.
    static let searchLimit: Int64 = 8 * 366 * 86_400

    let minutes: [Int]
    let hours: [Int]
    let months: [Bool]
    let daysOfMonth: [Bool]
    let daysOfWeek: [Bool]
    let eitherDay: Bool

    init(_ expression: CronExpression) {
        minutes = expression.minutes.filter { (0...59).contains($0) }.sorted()
        hours = expression.hours.filter { (0...23).contains($0) }.sorted()
        months = (0...12).map { expression.months.contains($0) }
        daysOfMonth = (0...31).map { expression.daysOfMonth.contains($0) }
        daysOfWeek = (0...6).map { expression.daysOfWeek.contains($0) }
        eitherDay = expression.restrictsDayOfMonth && expression.restrictsDayOfWeek
    }

    /// Whether any minute can match at all (every field non-empty).
    var canMatch: Bool {
        !minutes.isEmpty && !hours.isEmpty && months.contains(true) && (daysOfMonth.contains(true) || daysOfWeek.contains(true))
    }

    /// Whether the local day `day` (days since 1970-01-01) matches the month and day fields.
    func matches(day: Int64) -> Bool {
        let (_, month, dayOfMonth) = civil(fromDays: day)
        guard months[month] else { return false }
        let weekday = Int(floorMod(day + 4, 7)) // 1970-01-01 was a Thursday (4)
        return eitherDay ? (daysOfMonth[dayOfMonth] || daysOfWeek[weekday])
                         : (daysOfMonth[dayOfMonth] && daysOfWeek[weekday])
    }

    /// The first matching minute (in local seconds) in `[lower, upper)`, `lower` minute-aligned.
    func firstMatch(from lower: Int64, below upper: Int64) -> Int64? {
        guard lower < upper else { return nil }
        var day = floorDiv(lower, 86_400)
        var minuteOfDay = Int((lower - day * 86_400) / 60)
        while day * 86_400 < upper {
            if matches(day: day), let minute = firstMinute(atOrAfter: minuteOfDay) {
                let local = day * 86_400 + Int64(minute) * 60
                return local < upper ? local : nil
            }
            day += 1
            minuteOfDay = 0
        }
        return nil
    }

    /// The first allowed minute of the day (0…1439) at or after `minuteOfDay`.
    private func firstMinute(atOrAfter minuteOfDay: Int) -> Int? {
        let hour = minuteOfDay / 60
        let minute = minuteOfDay % 60
        for h in hours where h >= hour {
            let from = h == hour ? minute : 0
            if let m = minutes.first(where: { $0 >= from }) { return h * 60 + m }
        }
        return nil
    }
}

/// (year, month 1…12, day 1…31) of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
private func civil(fromDays days: Int64) -> (year: Int64, month: Int, day: Int) {
    let z = days + 719_468
    let era = floorDiv(z, 146_097)
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let shifted = (5 * dayOfYear + 2) / 153
    let day = Int(dayOfYear - (153 * shifted + 2) / 5 + 1)
    let month = Int(shifted < 10 ? shifted + 3 : shifted - 9)
    return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
}

@inline(__always) private func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

@inline(__always) private func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }

@inline(__always) private func ceilToMinute(_ local: Int64) -> Int64 { -floorDiv(-local, 60) * 60 }
