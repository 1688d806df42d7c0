import Foundation

/// Runs timed work for the watcher: `fms.every` on a monotonic clock that keeps counting during
/// suspend, `fms.cron` on the wall clock, balance and report polls, and one-shot deadlines.
///
/// One task sleeps until the earliest deadline, so nothing wakes while nothing is due. A
/// ``ClockChangeMonitor`` wakes it when the wall clock is set (or the machine resumes), to
/// recompute wall-clock deadlines; without one, wall-clock waits are cut into steps of a minute.
/// Late timers fire once and count what they missed (see ``EveryTimer``, ``CronTimer``).
actor TimerScheduler {
    /// When an entry fires.
    enum Schedule: Sendable {
        /// On a period, due at a monotonic time.
        case every(EveryTimer, due: Double)
        /// On a cron expression, due at a wall-clock time.
        case cron(CronTimer, due: Date)
        /// Once, at a wall-clock time (Unix seconds).
        case once(at: Double)
    }

    /// What a firing entry is told.
    struct Firing: Sendable {
        /// Windows missed and folded into this one.
        var skipped: Int
        /// The wall-clock time (Unix seconds).
        var time: Double
    }

    private struct Entry {
        var schedule: Schedule
        let fire: @Sendable (Firing) -> Void
    }

    /// The longest sleep towards a wall-clock deadline: a day with a clock-change monitor, else a minute.
    private var wallClockStep = 60.0
    private var clockMonitor: ClockChangeMonitor?

    private var entries: [Int: Entry] = [:]
    private var nextToken = 0
    private var loop: Task<Void, Never>?
    private let monotonic: @Sendable () -> Double
    private let wallClock: @Sendable () -> Double

    /// A scheduler on the system's boot-time clock and wall clock (or others, for tests).
    init(monotonic: @escaping @Sendable () -> Double = TimerScheduler.bootTime,
         wallClock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.monotonic = monotonic
        self.wallClock = wallClock
    }

    /// Seconds of CLOCK_BOOTTIME: monotonic, and counting while the machine is suspended.
    static let bootTime: @Sendable () -> Double = {
        var spec = timespec()
        clock_gettime(CLOCK_BOOTTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// Watches the wall clock for changes (call once); until then wall-clock waits are cut into minutes.
    func watchClockChanges() {
        guard clockMonitor == nil else { return }
        clockMonitor = ClockChangeMonitor { [weak self] in
            Task { await self?.clockChanged() }
        }
        if clockMonitor != nil { wallClockStep = 86_400 }
    }

    private func clockChanged() {
        if !entries.isEmpty { restart() }
    }

    /// Adds an entry; returns its token for ``remove(_:)``.
    @discardableResult
    func add(_ schedule: Schedule, fire: @escaping @Sendable (Firing) -> Void) -> Int {
        nextToken += 1
        entries[nextToken] = Entry(schedule: schedule, fire: fire)
        restart()
        return nextToken
    }

    /// An `.every` entry first due one period from now.
    @discardableResult
    func addEvery(_ timer: EveryTimer, firstIn delay: Double? = nil, fire: @escaping @Sendable (Firing) -> Void) -> Int {
        add(.every(timer, due: monotonic() + (delay ?? timer.period)), fire: fire)
    }

    /// Removes entries; unknown tokens are ignored.
    func remove(_ tokens: [Int]) {
        for token in tokens { entries[token] = nil }
        restart()
    }

    /// Stops the loop and forgets every entry.
    func stop() {
        entries = [:]
        loop?.cancel()
        loop = nil
        clockMonitor?.stop()
        clockMonitor = nil
    }

    private func restart() {
        loop?.cancel()
        loop = nil
        guard !entries.isEmpty else { return }
        loop = Task { await self.run() }
    }

    private func run() async {
        while !Task.isCancelled {
            guard let wait = tick() else { return }
            do {
                // The continuous clock keeps counting while the machine sleeps: a deadline passed
                // during a suspend is met on resume, not a suspend's length later.
                let nanoseconds = Int64(Sleeping.nanoseconds(max(0.001, wait)))
                try await Task.sleep(until: .now + .nanoseconds(nanoseconds), clock: .continuous)
            } catch {
                return
            }
        }
    }

    /// Fires what is due; returns how long to sleep (nil: nothing scheduled).
    private func tick() -> Double? {
        let now = monotonic()
        let wall = wallClock()
        var firings: [(@Sendable (Firing) -> Void, Firing)] = []
        var wait = Double.infinity
        for (token, entry) in entries {
            switch entry.schedule {
            case .every(let timer, let due):
                switch timer.decide(due: due, now: now) {
                case .wait(let until):
                    entries[token]?.schedule = .every(timer, due: until)
                    wait = min(wait, until - now)
                case .fire(let next, let skipped):
                    firings.append((entry.fire, Firing(skipped: skipped, time: wall)))
                    if let next {
                        entries[token]?.schedule = .every(timer, due: next)
                        wait = min(wait, next - now)
                    } else {
                        entries[token] = nil
                    }
                }
            case .cron(let timer, let due):
                switch timer.decide(due: due, now: Date(timeIntervalSince1970: wall)) {
                case .wait(let until):
                    entries[token]?.schedule = .cron(timer, due: until)
                    wait = min(wait, until.timeIntervalSince1970 - wall, wallClockStep)
                case .fire(let next, let skipped):
                    firings.append((entry.fire, Firing(skipped: skipped, time: wall)))
                    if let next {
                        entries[token]?.schedule = .cron(timer, due: next)
                        wait = min(wait, next.timeIntervalSince1970 - wall, wallClockStep)
                    } else {
                        entries[token] = nil
                    }
                }
            case .once(let at):
                if at <= wall {
                    firings.append((entry.fire, Firing(skipped: 0, time: wall)))
                    entries[token] = nil
                } else {
                    wait = min(wait, at - wall, wallClockStep)
                }
            }
        }
        for (fire, firing) in firings { fire(firing) }
        if entries.isEmpty { return nil }
        return wait.isFinite ? max(0, wait) : nil
    }
}
