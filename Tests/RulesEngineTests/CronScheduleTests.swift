import Foundation
import Testing
@testable import RulesEngine
@testable import FMSSimulator

private func instant(_ text: String) -> Date {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    guard let date = formatter.date(from: text) else { fatalError("bad instant \(text)") }
    return date
}

private func utc(_ date: Date?) -> String? {
    guard let date else { return nil }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: date)
}

private func zone(_ name: String) -> TimeZone { TimeZone(identifier: name)! }

private func cron(_ text: String) -> CronExpression { try! CronExpression(text) }

/// A seeded generator (the simulator's SplitMix64), so the randomized comparisons are reproducible.
private typealias SplitMix = SplitMix64

/// Minute by minute over real time, with Calendar reading the wall clock: the schedule a wildcard
/// job follows (it fires at every real minute whose local wall time matches).
private func bruteForceRealTime(_ expression: CronExpression, after: Date, in timeZone: TimeZone, limit: Int = 200_000) -> Date? {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = timeZone
    var t = (after.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60
    for _ in 0..<limit {
        let parts = calendar.dateComponents([.minute, .hour, .day, .month, .weekday], from: Date(timeIntervalSince1970: t))
        let dayOfMonth = expression.daysOfMonth.contains(parts.day!)
        let dayOfWeek = expression.daysOfWeek.contains(parts.weekday! - 1)
        let day = expression.restrictsDayOfMonth && expression.restrictsDayOfWeek ? (dayOfMonth || dayOfWeek) : (dayOfMonth && dayOfWeek)
        if expression.minutes.contains(parts.minute!), expression.hours.contains(parts.hour!),
           expression.months.contains(parts.month!), day {
            return Date(timeIntervalSince1970: t)
        }
        t += 60
    }
    return nil
}

/// The same scan an hour at a time (for zones whose offsets are whole hours), for long searches.
private func bruteForceHourly(_ expression: CronExpression, after: Date, in timeZone: TimeZone, hours: Int) -> Date? {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = timeZone
    let minutes = expression.minutes.sorted()
    var hourStart = (after.timeIntervalSince1970 / 3600).rounded(.down) * 3600
    for _ in 0..<hours {
        let parts = calendar.dateComponents([.minute, .hour, .day, .month, .weekday], from: Date(timeIntervalSince1970: hourStart))
        precondition(parts.minute == 0)
        let dayOfMonth = expression.daysOfMonth.contains(parts.day!)
        let dayOfWeek = expression.daysOfWeek.contains(parts.weekday! - 1)
        let day = expression.restrictsDayOfMonth && expression.restrictsDayOfWeek ? (dayOfMonth || dayOfWeek) : (dayOfMonth && dayOfWeek)
        if expression.hours.contains(parts.hour!), expression.months.contains(parts.month!), day,
           let minute = minutes.first(where: { hourStart + Double($0 * 60) > after.timeIntervalSince1970 }) {
            return Date(timeIntervalSince1970: hourStart + Double(minute * 60))
        }
        hourStart += 3600
    }
    return nil
}

@Suite("cron: next fire time")
struct CronScheduleTests {
    /// (expression, zone, after, expected next fire in UTC) — the local time is in the comment.
    static let table: [(String, String, String, String?)] = [
        // Strictly after, UTC.
        ("0 9 * * *", "UTC", "2025-06-01T08:59:59Z", "2025-06-01T09:00:00Z"),
        ("0 9 * * *", "UTC", "2025-06-01T09:00:00Z", "2025-06-02T09:00:00Z"),
        ("0 9 * * *", "UTC", "2025-06-01T09:00:30Z", "2025-06-02T09:00:00Z"),
        ("*/5 * * * *", "UTC", "2025-06-01T09:02:17Z", "2025-06-01T09:05:00Z"),
        // Month ends: day 31 and day 30 skip the months that lack them.
        ("0 0 31 * *", "UTC", "2025-01-31T00:00:00Z", "2025-03-31T00:00:00Z"),
        ("0 0 31 * *", "UTC", "2025-04-01T00:00:00Z", "2025-05-31T00:00:00Z"),
        ("30 12 30 * *", "UTC", "2025-01-30T12:30:00Z", "2025-03-30T12:30:00Z"),
        ("0 0 1 1 *", "UTC", "2025-12-31T23:59:30Z", "2026-01-01T00:00:00Z"),
        ("59 23 31 12 *", "UTC", "2025-12-31T23:59:00Z", "2026-12-31T23:59:00Z"),
        // Feb 29: leap years only; 2100 is not one.
        ("0 0 29 2 *", "UTC", "2024-01-01T00:00:00Z", "2024-02-29T00:00:00Z"),
        ("0 0 29 2 *", "UTC", "2024-02-29T00:00:00Z", "2028-02-29T00:00:00Z"),
        ("0 0 29 2 *", "UTC", "2025-01-01T00:00:00Z", "2028-02-29T00:00:00Z"),
        ("0 0 29 2 *", "UTC", "2097-03-01T00:00:00Z", "2104-02-29T00:00:00Z"),
        ("59 23 * 2 *", "UTC", "2025-02-28T23:59:00Z", "2026-02-01T23:59:00Z"),
        ("59 23 * 2 *", "UTC", "2024-02-28T23:59:00Z", "2024-02-29T23:59:00Z"),
        // Both day fields restricted: either matches (the 13th OR a Friday).
        ("0 0 13 * 5", "UTC", "2025-06-01T00:00:00Z", "2025-06-06T00:00:00Z"), // Fri 6th
        ("0 0 13 * 5", "UTC", "2025-06-06T00:00:00Z", "2025-06-13T00:00:00Z"), // Fri 13th
        ("0 0 13 * 5", "UTC", "2025-06-13T00:00:00Z", "2025-06-20T00:00:00Z"), // Fri 20th
        ("0 0 13 * 5", "UTC", "2025-07-11T00:00:00Z", "2025-07-13T00:00:00Z"), // Sun 13th
        ("0 0 30 2 5", "UTC", "2025-03-01T00:00:00Z", "2026-02-06T00:00:00Z"), // a Friday in February
        // Only one restricted: that one alone.
        ("0 0 * * 5", "UTC", "2025-07-11T00:00:00Z", "2025-07-18T00:00:00Z"),
        ("0 0 13 * *", "UTC", "2025-06-13T00:00:00Z", "2025-07-13T00:00:00Z"),
        // Impossible.
        ("0 0 30 2 *", "UTC", "2025-01-01T00:00:00Z", nil),
        ("0 0 31 4,6,9,11 *", "Europe/Berlin", "2025-01-01T00:00:00Z", nil),
        // Asia/Shanghai: UTC+8, no daylight saving.
        ("0 9 * * 1-5", "Asia/Shanghai", "2025-01-03T01:00:00Z", "2025-01-06T01:00:00Z"), // Fri 09:00 → Mon 09:00 +08
        ("0 9 * * 1-5", "Asia/Shanghai", "2025-01-05T20:00:00Z", "2025-01-06T01:00:00Z"), // Mon 04:00 +08
        ("30 2 * * *", "Asia/Shanghai", "2025-03-09T00:00:00Z", "2025-03-09T18:30:00Z"), // 2025-03-10 02:30 +08
        ("0 0 1 * *", "Asia/Shanghai", "2025-01-31T16:00:00Z", "2025-02-28T16:00:00Z"), // 2025-03-01 00:00 +08
        // New York, spring forward 2025-03-09 02:00 EST → 03:00 EDT (07:00Z).
        ("30 2 * * *", "America/New_York", "2025-03-07T08:00:00Z", "2025-03-08T07:30:00Z"), // 02:30 EST
        ("30 2 * * *", "America/New_York", "2025-03-08T12:00:00Z", "2025-03-09T07:00:00Z"), // gap: 03:00 EDT
        ("30 2 * * *", "America/New_York", "2025-03-09T06:59:00Z", "2025-03-09T07:00:00Z"), // 01:59 EST → 03:00 EDT
        ("30 2 * * *", "America/New_York", "2025-03-09T07:00:00Z", "2025-03-10T06:30:00Z"), // once: next day 02:30 EDT
        ("0 3 * * *", "America/New_York", "2025-03-08T12:00:00Z", "2025-03-09T07:00:00Z"), // 03:00 EDT
        ("0 * * * *", "America/New_York", "2025-03-09T06:30:00Z", "2025-03-09T07:00:00Z"), // 01:30 EST → 03:00 EDT
        ("0 * * * *", "America/New_York", "2025-03-09T07:00:00Z", "2025-03-09T08:00:00Z"), // 04:00 EDT
        ("*/15 * * * *", "America/New_York", "2025-03-09T06:45:00Z", "2025-03-09T07:00:00Z"), // 01:45 EST → 03:00 EDT
        ("*/15 * * * *", "America/New_York", "2025-03-09T07:00:00Z", "2025-03-09T07:15:00Z"),
        // New York, fall back 2025-11-02 02:00 EDT → 01:00 EST (06:00Z): 01:00–01:59 happen twice.
        ("30 1 * * *", "America/New_York", "2025-11-02T04:00:00Z", "2025-11-02T05:30:00Z"), // 01:30 EDT
        ("30 1 * * *", "America/New_York", "2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"), // not 01:30 EST again
        ("30 1 * * *", "America/New_York", "2025-11-02T06:10:00Z", "2025-11-03T06:30:00Z"), // from inside the repeat
        ("30 2 * * *", "America/New_York", "2025-11-01T12:00:00Z", "2025-11-02T07:30:00Z"), // 02:30 EST
        ("0 * * * *", "America/New_York", "2025-11-02T05:30:00Z", "2025-11-02T06:00:00Z"), // 01:00 EST (again)
        ("0 * * * *", "America/New_York", "2025-11-02T06:00:00Z", "2025-11-02T07:00:00Z"), // 02:00 EST
        ("*/15 * * * *", "America/New_York", "2025-11-02T05:45:00Z", "2025-11-02T06:00:00Z"), // 01:45 EDT → 01:00 EST
        ("*/15 * * * *", "America/New_York", "2025-11-02T06:00:00Z", "2025-11-02T06:15:00Z"), // 01:15 EST
        // Berlin, spring forward 2025-03-30 02:00 CET → 03:00 CEST (01:00Z).
        ("30 2 * * *", "Europe/Berlin", "2025-03-29T12:00:00Z", "2025-03-30T01:00:00Z"), // gap: 03:00 CEST
        ("30 2 * * *", "Europe/Berlin", "2025-03-30T01:00:00Z", "2025-03-31T00:30:00Z"), // 02:30 CEST next day
        ("0 * * * *", "Europe/Berlin", "2025-03-30T00:30:00Z", "2025-03-30T01:00:00Z"), // 01:30 CET → 03:00 CEST
        ("*/15 * * * *", "Europe/Berlin", "2025-03-30T00:45:00Z", "2025-03-30T01:00:00Z"), // 01:45 CET → 03:00 CEST
        ("0,30 2 * * *", "Europe/Berlin", "2025-03-29T12:00:00Z", "2025-03-30T01:00:00Z"), // two lost times: one fire
        ("0,30 2 * * *", "Europe/Berlin", "2025-03-30T01:00:00Z", "2025-03-31T00:00:00Z"),
        ("0 2,3 * * *", "Europe/Berlin", "2025-03-29T12:00:00Z", "2025-03-30T01:00:00Z"), // 02:00 lost + 03:00: one fire
        ("0 2,3 * * *", "Europe/Berlin", "2025-03-30T01:00:00Z", "2025-03-31T00:00:00Z"),
        ("*/10 2 * * *", "Europe/Berlin", "2025-03-29T12:00:00Z", "2025-03-31T00:00:00Z"), // wildcard minute: lost
        // Berlin, fall back 2025-10-26 03:00 CEST → 02:00 CET (01:00Z): 02:00–02:59 happen twice.
        ("30 2 * * *", "Europe/Berlin", "2025-10-25T12:00:00Z", "2025-10-26T00:30:00Z"), // 02:30 CEST
        ("30 2 * * *", "Europe/Berlin", "2025-10-26T00:30:00Z", "2025-10-27T01:30:00Z"), // not 02:30 CET again
        ("45 2 * * *", "Europe/Berlin", "2025-10-26T01:20:00Z", "2025-10-27T01:45:00Z"), // from inside the repeat
        ("0 * * * *", "Europe/Berlin", "2025-10-25T23:30:00Z", "2025-10-26T00:00:00Z"), // 02:00 CEST
        ("0 * * * *", "Europe/Berlin", "2025-10-26T00:30:00Z", "2025-10-26T01:00:00Z"), // 02:00 CET
        ("0 * * * *", "Europe/Berlin", "2025-10-26T01:00:00Z", "2025-10-26T02:00:00Z"), // 03:00 CET
        ("*/15 * * * *", "Europe/Berlin", "2025-10-26T00:50:00Z", "2025-10-26T01:00:00Z"), // 02:45 CEST → 02:00 CET
        ("*/10 2 * * *", "Europe/Berlin", "2025-10-26T00:50:00Z", "2025-10-26T01:00:00Z"), // wildcard: both 02:xx hours
        // Lord Howe Island: half-hour daylight saving.
        ("15 2 * * *", "Australia/Lord_Howe", "2025-10-04T12:00:00Z", "2025-10-04T15:30:00Z"), // gap 02:00–02:30 → 02:30 +11
        ("45 1 * * *", "Australia/Lord_Howe", "2025-04-05T14:00:00Z", "2025-04-05T14:45:00Z"), // 01:45 +11
        ("45 1 * * *", "Australia/Lord_Howe", "2025-04-05T14:45:00Z", "2025-04-06T15:15:00Z"), // not 01:45 +10:30 again
        ("*/20 * * * *", "Australia/Lord_Howe", "2025-04-05T14:50:00Z", "2025-04-05T15:10:00Z"), // 01:50 +11 → 01:40 +10:30
        // Samoa skipped 2011-12-30 entirely (−10 → +14): that day's fixed times fire at the first minute after.
        ("0 12 * * *", "Pacific/Apia", "2011-12-29T23:00:00Z", "2011-12-30T10:00:00Z"), // Dec 31 00:00 +14
        ("0 12 * * *", "Pacific/Apia", "2011-12-30T10:00:00Z", "2011-12-30T22:00:00Z"), // Dec 31 12:00 +14
        ("0 0 30 12 *", "Pacific/Apia", "2011-12-01T00:00:00Z", "2011-12-30T10:00:00Z"),
        ("0 * * * *", "Pacific/Apia", "2011-12-30T09:30:00Z", "2011-12-30T10:00:00Z"),
    ]

    @Test("next fire time table", arguments: table)
    func nextFire(_ row: (String, String, String, String?)) {
        let (text, zoneName, after, expected) = row
        let next = cron(text).nextFire(after: instant(after), in: zone(zoneName))
        #expect(utc(next) == expected, "\(text) in \(zoneName) after \(after)")
    }

    @Test("a fall-back day: wildcard jobs follow real time, fixed-time jobs fire once")
    func fallBackDay() {
        let newYork = zone("America/New_York")
        func fires(_ text: String) -> [String] {
            var out: [String] = []
            var at = instant("2025-11-02T04:00:00Z") // 00:00 EDT
            while let next = cron(text).nextFire(after: at, in: newYork), next < instant("2025-11-02T09:00:00Z") {
                out.append(utc(next)!)
                at = next
            }
            return out
        }
        #expect(fires("0 * * * *") == ["2025-11-02T05:00:00Z", "2025-11-02T06:00:00Z", "2025-11-02T07:00:00Z", "2025-11-02T08:00:00Z"])
        #expect(fires("0 1 * * *") == ["2025-11-02T05:00:00Z"])
        #expect(fires("*/30 1 * * *") == ["2025-11-02T05:00:00Z", "2025-11-02T05:30:00Z", "2025-11-02T06:00:00Z", "2025-11-02T06:30:00Z"])
        #expect(fires("0,30 1 * * *") == ["2025-11-02T05:00:00Z", "2025-11-02T05:30:00Z"])
    }

    @Test("a spring-forward day: wall times in the gap fire once at 03:00 for fixed-time jobs only")
    func springForwardDay() {
        let berlin = zone("Europe/Berlin")
        func fires(_ text: String) -> [String] {
            var out: [String] = []
            var at = instant("2025-03-29T23:00:00Z") // 00:00 CET
            while let next = cron(text).nextFire(after: at, in: berlin), next < instant("2025-03-30T03:00:00Z") {
                out.append(utc(next)!)
                at = next
            }
            return out
        }
        #expect(fires("0 * * * *") == ["2025-03-30T00:00:00Z", "2025-03-30T01:00:00Z", "2025-03-30T02:00:00Z"])
        #expect(fires("*/20 2 * * *") == [])
        #expect(fires("0,20,40 2 * * *") == ["2025-03-30T01:00:00Z"])
        #expect(fires("59 1 * * *") == ["2025-03-30T00:59:00Z"])
    }

    @Test("the vixie wildcard test: a minute or hour field starting with *")
    func wildcard() {
        #expect(cron("*/15 * * * *").followsRealTime)
        #expect(cron("0 * * * *").followsRealTime)
        #expect(cron("*/10 2 * * *").followsRealTime)
        #expect(!cron("30 2 * * *").followsRealTime)
        #expect(!cron("0 9 * * 1-5").followsRealTime)
        #expect(!cron("0-59 0-23 * * *").followsRealTime)
    }

    @Test("agrees with a minute-by-minute Calendar scan where no fall-back repeats a fixed time", arguments: [
        "UTC", "Asia/Shanghai", "America/New_York", "Europe/Berlin",
    ])
    func agreesWithCalendar(_ zoneName: String) {
        let timeZone = zone(zoneName)
        var random = SplitMix(seed: 42)
        func field(_ range: ClosedRange<Int>) -> String {
            switch Int.random(in: 0..<5, using: &random) {
            case 0: return "*"
            case 1: return "*/\(Int.random(in: 2...7, using: &random))"
            case 2: return "\(Int.random(in: range, using: &random))"
            case 3:
                let low = Int.random(in: range, using: &random)
                return "\(low)-\(Int.random(in: low...range.upperBound, using: &random))"
            default:
                return (0..<3).map { _ in "\(Int.random(in: range, using: &random))" }.joined(separator: ",")
            }
        }
        for _ in 0..<60 {
            // Wildcard hour, or a fixed time; day fields of any kind.
            let hour = Bool.random(using: &random) ? "*" : field(0...23)
            let minute = hour == "*" ? field(0...59) : "\(Int.random(in: 0...59, using: &random))"
            let text = "\(minute) \(hour) \(field(1...31)) \(field(1...12)) \(field(0...6))"
            let expression = cron(text)
            // From a year's spring change through its autumn one, skipping days whose local times
            // collide with a transition unless the job follows real time.
            var at = instant("2025-03-01T00:00:00Z").addingTimeInterval(Double(Int.random(in: 0..<86_400 * 200, using: &random)))
            for _ in 0..<5 {
                let expected = bruteForceHourly(expression, after: at, in: timeZone, hours: 24 * 400)
                let next = expression.nextFire(after: at, in: timeZone)
                guard let expected else {
                    if let next { #expect(next.timeIntervalSince(at) > 3600 * 24 * 399, "\(text) after \(utc(at)!)") }
                    break
                }
                let transition = timeZone.nextDaylightSavingTimeTransition(after: at)
                if !expression.followsRealTime, let transition, transition <= expected.addingTimeInterval(3_600) {
                    break // the daylight-saving rule for fixed-time jobs is covered by the table
                }
                #expect(utc(next) == utc(expected), "\(text) in \(zoneName) after \(utc(at)!)")
                at = expected
            }
        }
    }

    @Test("wildcard jobs match a real-time Calendar scan across both transitions", arguments: [
        ("America/New_York", "2025-03-08T12:00:00Z"), ("America/New_York", "2025-11-01T12:00:00Z"),
        ("Europe/Berlin", "2025-03-29T12:00:00Z"), ("Europe/Berlin", "2025-10-25T12:00:00Z"),
        ("Australia/Lord_Howe", "2025-04-05T00:00:00Z"), ("Australia/Lord_Howe", "2025-10-04T00:00:00Z"),
    ])
    func wildcardAcrossTransitions(_ zoneName: String, _ start: String) {
        let timeZone = zone(zoneName)
        for text in ["*/15 * * * *", "0 * * * *", "*/7 1-3 * * *", "* 2 * * *", "30 * * * *", "*/20 * 5-31 * 0"] {
            var at = instant(start)
            for _ in 0..<40 {
                let expected = bruteForceRealTime(cron(text), after: at, in: timeZone)
                let next = cron(text).nextFire(after: at, in: timeZone)
                #expect(utc(next) == utc(expected), "\(text) in \(zoneName) after \(utc(at)!)")
                guard let expected else { break }
                at = expected
            }
        }
    }

    @Test("1,000 successive fires of */5 terminate, each five minutes on from the last")
    func thousandFires() {
        for zoneName in ["UTC", "Europe/Berlin"] {
            let timeZone = zone(zoneName)
            let expression = cron("*/5 * * * *")
            var at = instant("2025-10-24T00:02:00Z")
            var previous: Date?
            for _ in 0..<1_000 {
                guard let next = expression.nextFire(after: at, in: timeZone) else {
                    Issue.record("no fire after \(at)")
                    return
                }
                if let previous { #expect(next.timeIntervalSince(previous) == 300) }
                previous = next
                at = next
            }
            #expect(utc(previous) == "2025-10-27T11:20:00Z") // 00:05 + 999 × 5 min
        }
    }

    @Test("impossible expressions give up rather than loop", arguments: ["0 0 30 2 *", "0 0 31 2 *", "59 23 31 4 *", "0 0 31 9,11 *"])
    func impossible(_ text: String) {
        for zoneName in ["UTC", "America/New_York"] {
            #expect(cron(text).nextFire(after: instant("2025-01-01T00:00:00Z"), in: zone(zoneName)) == nil)
        }
    }
}

/// A clock the tests move: the watcher loop "sleeps" until a due time, except that while the machine
/// is suspended nothing runs, so a wake-up that falls inside a suspension happens at its end.
private struct FakeClock<Instant: Comparable> {
    var now: Instant
    var suspended: [Range<Instant>] = []

    mutating func sleep(until instant: Instant) {
        var wake = max(now, instant)
        for range in suspended where range.contains(wake) { wake = range.upperBound }
        now = wake
    }
}

/// One run of a timer as `fms watch` would drive it: sleep until due, ask, fire or wait.
private func drive<Instant: Comparable>(_ clock: inout FakeClock<Instant>, first: Instant?, until end: Instant,
                                        decide: (Instant, Instant) -> TimerDecision<Instant>) -> [(at: Instant, skipped: Int)] {
    var fires: [(at: Instant, skipped: Int)] = []
    var due = first
    while let current = due {
        clock.sleep(until: current)
        guard clock.now < end else { break }
        switch decide(current, clock.now) {
        case .wait(let until): due = until
        case .fire(let next, let skipped):
            fires.append((clock.now, skipped))
            due = next
        }
    }
    return fires
}

/// Nested in CronScheduleTests so that `--filter CronScheduleTests` runs it too.
extension CronScheduleTests {
    @Suite("timers: when every and cron fire")
    struct Timers {
        @Test("every: on time, on a fixed grid")
        func everyOnTime() throws {
            let timer = try #require(EveryTimer("5m"))
            #expect(timer.period == 300)
            var clock = FakeClock(now: 1_000.0)
            let fires = drive(&clock, first: timer.firstDue(startingAt: clock.now), until: 1_000 + 3_600, decide: timer.decide)
            #expect(fires.map(\.at) == stride(from: 1_300.0, to: 4_600, by: 300).map { $0 })
            #expect(fires.allSatisfy { $0.skipped == 0 })
        }

        @Test("every: a 3-hour suspend with a 5-minute timer fires once on waking, not 36 times")
        func everyAfterSuspend() throws {
            let timer = try #require(EveryTimer(period: 300))
            var clock = FakeClock(now: 0.0, suspended: [3_700..<(3_700 + 3 * 3_600)])
            let fires = drive(&clock, first: timer.firstDue(startingAt: 0), until: 18_000, decide: timer.decide)
            let wake = 3_700.0 + 10_800
            let before = fires.filter { $0.at < 3_700 }
            let during = fires.filter { $0.at >= 3_700 && $0.at < wake }
            let atWake = fires.filter { $0.at == wake }
            #expect(before.count == 12)
            #expect(during.isEmpty)
            #expect(atWake.count == 1, "one fire for the 36 windows missed while suspended")
            #expect(atWake.first?.skipped == 35)
            // Back on the original grid afterwards (3900 + k·300), no catch-up burst.
            let after = fires.filter { $0.at > wake }.map(\.at)
            #expect(after == stride(from: 14_700.0, to: 18_000, by: 300).map { $0 })
            #expect(timer.decide(due: 3_900, now: wake) == .fire(next: 14_700, skipped: 35))
        }

        @Test("every: a handler that overran a period fires once and keeps the grid")
        func everyOverrun() {
            let timer = EveryTimer(period: 60)!
            #expect(timer.decide(due: 600, now: 600) == .fire(next: 660, skipped: 0))
            #expect(timer.decide(due: 600, now: 690) == .fire(next: 720, skipped: 1))
            #expect(timer.decide(due: 600, now: 599.5) == .wait(until: 600))
        }

        @Test("every: a clock that went backwards does not stall the timer")
        func everyClockBack() {
            let timer = EveryTimer(period: 60)!
            #expect(timer.decide(due: 10_000, now: 5_000) == .wait(until: 5_060))
        }

        @Test("every: durations", arguments: [("30s", 30.0), ("5m", 300.0), ("1h30m", 5_400.0), ("0.5", 0.5)] as [(String, Double)])
        func everyDurations(_ text: String, _ seconds: Double) {
            #expect(EveryTimer(text)?.period == seconds)
        }

        @Test("every: refused durations", arguments: ["0", "soon", "", "-5m"])
        func everyRefused(_ text: String) {
            #expect(EveryTimer(text) == nil)
        }

        @Test("cron: an hourly job missed while asleep fires once on waking")
        func cronAfterSleep() {
            let timer = CronTimer(cron("0 * * * *"), timeZone: zone("UTC"))
            let sleepStart = instant("2025-06-02T09:30:00Z")
            let wake = instant("2025-06-02T13:10:00Z")
            var clock = FakeClock(now: instant("2025-06-02T08:00:00Z"), suspended: [sleepStart..<wake])
            let fires = drive(&clock, first: timer.firstDue(startingAt: clock.now), until: instant("2025-06-02T16:30:00Z"),
                              decide: timer.decide)
            #expect(fires.map { utc($0.at)! } == ["2025-06-02T09:00:00Z", "2025-06-02T13:10:00Z", "2025-06-02T14:00:00Z",
                                                  "2025-06-02T15:00:00Z", "2025-06-02T16:00:00Z"])
            #expect(fires.map(\.skipped) == [0, 3, 0, 0, 0], "10:00, 11:00, 12:00 and 13:00 folded into one fire")
            #expect(timer.decide(due: instant("2025-06-02T10:00:00Z"), now: wake)
                    == .fire(next: instant("2025-06-02T14:00:00Z"), skipped: 3))
        }

        @Test("cron: a weekday job missed over a long sleep fires once")
        func cronOverWeekend() {
            let shanghai = zone("Asia/Shanghai")
            let timer = CronTimer(cron("0 9 * * 1-5"), timeZone: shanghai)
            // Asleep from Thursday 18:00 to Monday 08:00 (+08): Friday's 09:00 was missed.
            let asleep = instant("2025-01-02T10:00:00Z")..<instant("2025-01-06T00:00:00Z")
            var clock = FakeClock(now: instant("2025-01-02T00:00:00Z"), suspended: [asleep])
            let fires = drive(&clock, first: timer.firstDue(startingAt: clock.now), until: instant("2025-01-07T12:00:00Z"),
                              decide: timer.decide)
            #expect(fires.map { utc($0.at)! } == ["2025-01-02T01:00:00Z", "2025-01-06T00:00:00Z",
                                                  "2025-01-06T01:00:00Z", "2025-01-07T01:00:00Z"])
            #expect(fires.map(\.skipped) == [0, 0, 0, 0])
        }

        @Test("cron: a per-minute job asleep for a week fires once, with the skipped count capped")
        func cronLongSleep() {
            let timer = CronTimer(cron("* * * * *"), timeZone: zone("UTC"))
            let decision = timer.decide(due: instant("2025-06-01T00:00:00Z"), now: instant("2025-06-08T00:00:30Z"))
            #expect(decision == .fire(next: instant("2025-06-08T00:01:00Z"), skipped: CronTimer.skipCountLimit))
        }

        @Test("cron: daylight saving through the timer — one fire a day across both changes")
        func cronAcrossDaylightSaving() {
            let timer = CronTimer(cron("30 2 * * *"), timeZone: zone("Europe/Berlin"))
            for (start, expected) in [
                ("2025-03-28T12:00:00Z", ["2025-03-29T01:30:00Z", "2025-03-30T01:00:00Z", "2025-03-31T00:30:00Z"]),
                ("2025-10-24T12:00:00Z", ["2025-10-25T00:30:00Z", "2025-10-26T00:30:00Z", "2025-10-27T01:30:00Z"]),
            ] {
                var clock = FakeClock(now: instant(start))
                let fires = drive(&clock, first: timer.firstDue(startingAt: clock.now),
                                  until: instant(start).addingTimeInterval(3 * 86_400), decide: timer.decide)
                #expect(fires.map { utc($0.at)! } == expected)
            }
        }

        @Test("cron: a wall clock set back — wildcard jobs follow it, fixed-time jobs do not repeat a run")
        func cronClockBack() {
            let utcZone = zone("UTC")
            let quarterly = CronTimer(cron("*/15 * * * *"), timeZone: utcZone)
            #expect(quarterly.decide(due: instant("2025-06-02T10:15:00Z"), now: instant("2025-06-02T09:40:00Z"))
                    == .wait(until: instant("2025-06-02T09:45:00Z")))
            let twice = CronTimer(cron("0 9,10 * * *"), timeZone: utcZone)
            // Ran at 10:00, due tomorrow 09:00; the clock goes back 40 minutes: 10:00 is not run again.
            #expect(twice.decide(due: instant("2025-06-03T09:00:00Z"), now: instant("2025-06-02T09:30:00Z"))
                    == .wait(until: instant("2025-06-03T09:00:00Z")))
            // Back a whole day: start over from the new time, as Vixie cron does for large steps.
            #expect(twice.decide(due: instant("2025-06-03T09:00:00Z"), now: instant("2025-06-01T09:30:00Z"))
                    == .wait(until: instant("2025-06-01T10:00:00Z")))
            // Ordinary waiting.
            #expect(twice.decide(due: instant("2025-06-03T09:00:00Z"), now: instant("2025-06-02T23:00:00Z"))
                    == .wait(until: instant("2025-06-03T09:00:00Z")))
        }

        @Test("cron: on time, and never for impossible expressions")
        func cronOnTime() {
            let timer = CronTimer(cron("0 9 * * *"), timeZone: zone("UTC"))
            #expect(timer.decide(due: instant("2025-06-02T09:00:00Z"), now: instant("2025-06-02T09:00:00Z"))
                    == .fire(next: instant("2025-06-03T09:00:00Z"), skipped: 0))
            #expect(CronTimer(cron("0 0 30 2 *"), timeZone: zone("UTC")).firstDue(startingAt: instant("2025-01-01T00:00:00Z")) == nil)
        }
    }
}
