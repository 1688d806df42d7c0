import Foundation

// A pure model of when `fms.every` and `fms.cron` timers fire. Nothing here reads a clock: the
// caller passes "now" and keeps one value per timer, its due time. The loop is:
//
//     var due = timer.firstDue(startingAt: now)
//     … sleep until `due` (or until woken), then:
//     switch timer.decide(due: due, now: now) {
//     case .wait(let until): due = until
//     case .fire(let next, let skipped): run the handler once; due = next (nil: never again)
//     }
//
// A late wake-up — a suspended laptop, a stopped process, a handler that ran longer than a period —
// fires ONCE, however many windows were missed; the missed ones are only counted (`skipped`).

/// What a timer should do at the moment it is asked.
public enum TimerDecision<Instant: Sendable & Equatable>: Sendable, Equatable {
    /// Not due yet: ask again at `until`, and keep it as the due time (it may differ from the due
    /// time passed in when the clock moved backwards).
    case wait(until: Instant)
    /// Run the handler once now. `skipped` further windows were missed and are folded into this one
    /// (not run); `next` is the new due time, nil when the schedule never fires again.
    case fire(next: Instant?, skipped: Int)
}

/// `fms.every(period, fn)`: fires every `period` seconds on a fixed grid from its start, on a
/// monotonic clock (seconds as a Double, from any origin; use one that keeps counting during
/// suspend, such as CLOCK_BOOTTIME, for "every 5m" to mean real time).
public struct EveryTimer: Sendable, Equatable {
    /// The period in seconds (> 0).
    public let period: Double

    /// A timer of `period` seconds; nil unless positive and finite.
    public init?(period: Double) {
        guard period > 0, period.isFinite else { return nil }
        self.period = period
    }

    /// A timer of a duration as rules write it (`"30s"`, `"5m"`, `"1h30m"`); nil if it is not a
    /// positive duration.
    public init?(_ text: String) {
        guard let seconds = DurationText.seconds(text) else { return nil }
        self.init(period: seconds)
    }

    /// The first due time of a timer started at `now`: one period later.
    public func firstDue(startingAt now: Double) -> Double { now + period }

    /// The decision at `now` for a timer due at `due`. When late, it fires once and the next due
    /// time stays on the grid `due + k·period` (the first grid point after `now`), so a 3-hour
    /// suspend of a 5-minute timer is one fire with `skipped == 35`, not 36 fires.
    public func decide(due: Double, now: Double) -> TimerDecision<Double> {
        if now < due {
            // A monotonic clock never does this; a clock that was set back would leave the due
            // time more than a period away: start over from now rather than stall.
            return .wait(until: due - now > period ? now + period : due)
        }
        let missed = ((now - due) / period).rounded(.down)
        var next = due + (missed + 1) * period
        if next <= now { next = now + period } // rounding at huge counts
        return .fire(next: next, skipped: Int(min(missed, 1e15)))
    }
}

/// `fms.cron(expression, fn)`: fires at the expression's minutes in `timeZone`, on the wall clock
/// (`Date`), with daylight saving handled by `CronExpression.nextFire(after:in:)`.
public struct CronTimer: Sendable, Equatable {
    /// The schedule.
    public let expression: CronExpression
    /// The zone its wall times are read in.
    public let timeZone: TimeZone

    /// Missed windows are counted up to this many (a week asleep with a per-minute job reports 1000).
    public static let skipCountLimit = 1_000
    /// A step back of the wall clock this long or longer restarts the schedule from the new time
    /// (Vixie cron's threshold); shorter steps do not repeat fixed-time jobs that already ran.
    public static let largeClockStepBack: TimeInterval = 3 * 3_600

    /// A timer for `expression` read in `timeZone`.
    public init(_ expression: CronExpression, timeZone: TimeZone) {
        self.expression = expression
        self.timeZone = timeZone
    }

    /// The first due time of a timer started at `now` (nil: the expression never matches).
    public func firstDue(startingAt now: Date) -> Date? { expression.nextFire(after: now, in: timeZone) }

    /// The decision at `now` (wall clock) for a timer due at `due`.
    ///
    /// * `now >= due`: fire once; the next due time is the first window after `now`, so every
    ///   window missed while asleep is folded into this one fire (counted in `skipped`).
    /// * `now < due`: wait. If the wall clock was set back (a window now lies before `due`),
    ///   wildcard jobs ("*/15 * * * *") follow the clock and wait for that earlier window, while
    ///   fixed-time jobs ("0 9 * * *") keep `due` and do not run a window twice — unless the clock
    ///   went back 3 hours or more, when the schedule starts over from `now`, as in Vixie cron.
    public func decide(due: Date, now: Date) -> TimerDecision<Date> {
        if now < due {
            guard let sooner = expression.nextFire(after: now, in: timeZone), sooner < due else {
                return .wait(until: due)
            }
            if expression.followsRealTime { return .wait(until: sooner) }
            // The last window before `due` is (about) the last one that ran; if it lies within
            // 3 hours of `now`, the clock stepped back a little: do not repeat what already ran.
            var latest = sooner
            var steps = 0
            while steps < 200, let later = expression.nextFire(after: latest, in: timeZone), later < due {
                latest = later
                steps += 1
            }
            let stepBack = latest.timeIntervalSince(now)
            return .wait(until: steps < 200 && stepBack < Self.largeClockStepBack ? due : sooner)
        }
        var skipped = 0
        var window = due
        while skipped < Self.skipCountLimit, let later = expression.nextFire(after: window, in: timeZone), later <= now {
            skipped += 1
            window = later
        }
        return .fire(next: expression.nextFire(after: now, in: timeZone), skipped: skipped)
    }
}
