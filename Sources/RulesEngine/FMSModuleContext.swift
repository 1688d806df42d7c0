import Foundation
import FMSClient
import FMSProtocol
import Outbox
import Synchronization

/// How the `fms` module behaves: running a script, or checking rule files.
public enum FMSModuleMode: Sendable, Equatable {
    /// `fms run`: sends go to the gateway; registration functions are refused (they need `fms watch`).
    case run
    /// `fms check`: sends and network calls only validate; registrations are recorded.
    case check
    /// `fms watch`: registrations are recorded with their handlers and started by the watcher.
    case watch
}

/// A log line from Lua: level, text, and the `file:line:` that logged it.
public struct LuaLogLine: Sendable {
    /// `info`, `warn` or `error`.
    public var level: String
    /// The text.
    public var message: String
    /// `file:line` of the call.
    public var position: String
}

/// Settings made with `fms.config{…}`.
public struct RuleConfiguration: Sendable, Equatable {
    /// Most sends per window (`"30/min"` → 30 per 60 s).
    public var rate: (count: Int, seconds: Double)?
    /// Quiet hours as minutes after midnight (`"23:00-07:00"` → 1380…420).
    public var quiet: (start: Int, end: Int)?
    /// The time zone for cron and quiet hours.
    public var timezone: String?

    public static func == (lhs: RuleConfiguration, rhs: RuleConfiguration) -> Bool {
        lhs.rate?.count == rhs.rate?.count && lhs.rate?.seconds == rhs.rate?.seconds
            && lhs.quiet?.start == rhs.quiet?.start && lhs.quiet?.end == rhs.quiet?.end && lhs.timezone == rhs.timezone
    }
}

/// Everything the `fms` module's bindings share: where sends go, what was sent and
/// registered, where logs go, and per-key cooldowns.
public final class FMSModuleContext: Sendable {
    /// Run or check.
    public let mode: FMSModuleMode
    /// Where sends and queries go.
    public let backend: any GatewayBackend
    /// What was sent and what failed.
    public let tally: SendTally
    /// What rule files registered (check mode).
    public let registry = RuleRegistry()
    /// Whether sends are only logged (`fms watch --dry-run`).
    public let dryRun: Bool
    private let logSink: @Sendable (LuaLogLine) -> Void
    private let policy: CooldownState
    private let configurationStore = Mutex(RuleConfiguration())
    private let clock: @Sendable () -> Double

    /// Creates a context.
    public init(mode: FMSModuleMode, backend: any GatewayBackend, outbox: OutboxHandle? = nil, rule: String? = nil,
                dryRun: Bool = false, tally: SendTally = SendTally(), cooldowns: CooldownState = CooldownState(),
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
                log: @escaping @Sendable (LuaLogLine) -> Void) {
        self.mode = mode
        self.tally = tally
        self.policy = cooldowns
        self.dryRun = dryRun
        self.backend = backend
        self.outbox = outbox
        self.rule = rule
        self.clock = clock
        self.logSink = log
    }

    /// Where sends go when durable (opened on first use): `fms.send` enqueues and returns; nil sends directly.
    public let outbox: OutboxHandle?
    /// The rule (file) name recorded with each queued message.
    public let rule: String?
    private struct Queued { var list: [String] = []; var set: Set<String> = [] }
    private let queued = Mutex(Queued())

    /// The customFmsIds this context put in the outbox, in order.
    public var queuedIds: [String] { queued.withLock { $0.list } }

    /// Forgets ids whose enqueue failed.
    func forgetQueued(_ ids: [String]) {
        let dropped = Set(ids)
        queued.withLock { q in q.list.removeAll { dropped.contains($0) }; q.set.subtract(dropped) }
    }

    /// Records ids as queued by this context; false (recording nothing) if one was already used here.
    func noteQueued(_ ids: [String]) -> String? {
        // Only `fms run` waits for its messages; a long-running watcher must not remember every id.
        guard mode == .run else { return nil }
        return queued.withLock { q in
            var fresh = Set<String>()
            for id in ids where q.set.contains(id) || !fresh.insert(id).inserted { return id }
            q.list.append(contentsOf: ids)
            q.set.formUnion(ids)
            return nil
        }
    }

    private let ruleFiles = Mutex<[(path: String, canonical: String)]>([])
    private let loading = Mutex(true)

    /// Notes a rule file loaded in this context, so positions in it map back to it: to its
    /// canonical path (`realpath`), which names it in persisted state and metrics however the
    /// rules were given on the command line.
    public func noteRuleFile(_ path: String) {
        let canonical = path.withCString { name -> String in
            guard let resolved = realpath(name, nil) else { return path }
            defer { free(resolved) }
            return String(cString: resolved)
        }
        ruleFiles.withLock { $0.append((path, canonical)) }
    }

    /// The rule file of a `file:line` position (its canonical path when it is a loaded file).
    /// Lua shortens long chunk names to "...tail": the loaded file that ends with the tail is the one.
    func ruleFile(at position: String) -> String {
        guard let file = LuaPosition.rule(of: position) else { return position }
        return ruleFiles.withLock { files in
            if file.hasPrefix("...") {
                let tail = file.dropFirst(3)
                return files.last { $0.path.hasSuffix(tail) }?.canonical
            }
            return files.last { $0.path == file }?.canonical
        } ?? file
    }

    /// Whether registration functions may be called: while rule files load (and always in check
    /// mode), not from a handler later — a registration made there would never start.
    var acceptsRegistrations: Bool { mode == .check || loading.withLock { $0 } }

    /// Ends the loading of the rule files: registrations are refused from now on.
    public func finishLoading() { loading.withLock { $0 = false } }

    /// The settings made with `fms.config`.
    public var configuration: RuleConfiguration { configurationStore.withLock { $0 } }

    func log(_ line: LuaLogLine) { logSink(line) }

    func configure(_ change: (inout RuleConfiguration) -> Void) { configurationStore.withLock { change(&$0) } }

    /// Claims `key` for `cooldown` seconds: nil if free (now claimed), else the seconds left (the
    /// send is counted as suppressed, and kept for the window's summary when it asks for one).
    func claimCooldown(key: String, cooldown: Double, message: NewMessage, summary: Bool) -> Double? {
        let now = clock()
        let remaining: Double? = policy.cooldowns.withLock { table in
            if let remaining = table.suppress(key: key, message: message, now: now) { return remaining }
            table.open(key: key, until: now + cooldown, summary: summary, now: now)
            return nil
        }
        if remaining != nil {
            tally.noteSuppressed()
        } else {
            cooldownObserver.withLock { $0 }?(CooldownWindow(key: key, end: now + cooldown, summary: summary))
        }
        return remaining
    }

    /// Closes the window `key` just opened by a send that then failed to queue, so that the next
    /// attempt is not suppressed for a message that was never sent.
    func cancelCooldown(key: String) {
        policy.cooldowns.withLock { $0.cancel(key: key) }
    }

    /// A cooldown window that just opened.
    public struct CooldownWindow: Sendable, Equatable {
        /// The send's key.
        public var key: String
        /// When it closes (Unix seconds).
        public var end: Double
        /// Whether a summary is due when it closes.
        public var summary: Bool
    }

    private let cooldownObserver = Mutex<(@Sendable (CooldownWindow) -> Void)?>(nil)

    /// Tells `observer` about every cooldown window that opens (to persist it, and to send its summary).
    public func observeCooldownWindows(_ observer: @escaping @Sendable (CooldownWindow) -> Void) {
        cooldownObserver.withLock { $0 = observer }
    }

    /// Summary messages of the cooldown windows closed by `now` in which repeats were suppressed:
    /// the last suppressed message with `suppressed` and `summary` ("and 12 more") added to its variables.
    public func closedCooldownSummaries(now: Double? = nil) -> [NewMessage] {
        policy.cooldowns.withLock { $0.close(now: now ?? clock()) }
    }

    /// When a queued message may be sent: nil for now, or later when the rate limit of
    /// `fms.config` is used up or (unless `urgent`) quiet hours are on.
    func sendTime(urgent: Bool) -> Double? {
        let configuration = configuration
        // `fms run` only checks the policies: a one-shot script's sends go at once.
        guard mode == .watch, configuration.rate != nil || configuration.quiet != nil else { return nil }
        let now = clock()
        var time = now
        if !urgent, let quiet = configuration.quiet {
            let zone = configuration.timezone.flatMap(TimeZone.init(identifier:)) ?? TimeZone.current
            time = QuietHours(start: quiet.start, end: quiet.end, timeZone: zone).end(after: time) ?? time
        }
        if let rate = configuration.rate {
            time = policy.rateSlots.withLock { slots in
                // The first time at or after `time` whose window (t - seconds, t] holds fewer than
                // `count` sends. Only sends inside that window count: an urgent send now is not
                // held back by sends already scheduled for after quiet hours.
                var slot = time
                while true {
                    let inWindow = slots.filter { $0 > slot - rate.seconds && $0 <= slot }
                    guard inWindow.count >= rate.count else { break }
                    slot = inWindow[inWindow.count - rate.count] + rate.seconds
                }
                slots.removeAll { $0 <= now - rate.seconds }
                slots.insert(slot, at: slots.firstIndex { $0 > slot } ?? slots.endIndex)
                return slot
            }
        }
        return time > now + 0.001 ? time : nil
    }
}

/// The send policies' memory: cooldown windows and rate-limit slots. The watcher keeps one
/// across reloads, so a reload neither reopens cooldowns nor resets the rate limit.
public final class CooldownState: Sendable {
    let cooldowns = Mutex(CooldownTable())
    let rateSlots = Mutex<[Double]>([])

    /// Empty windows and slots.
    public init() {}

    /// Re-opens windows kept from an earlier run (without summaries: what they suppressed is gone).
    public func restore(_ windows: [String: Double], now: Double) {
        cooldowns.withLock { table in
            for (key, end) in windows where end > now { table.open(key: key, until: end, summary: false, now: now) }
        }
    }
}

/// Cooldown windows by key, with what each suppressed.
struct CooldownTable {
    struct Window {
        var until: Double
        var summary: Bool
        var suppressed = 0
        var last: NewMessage?
    }
    private var windows: [String: Window] = [:]
    private var closedWithSummary: [NewMessage] = []

    /// Counts a repeat inside an open window and returns the seconds left; nil when no window is open.
    mutating func suppress(key: String, message: NewMessage, now: Double) -> Double? {
        guard var window = windows[key], window.until > now else { return nil }
        window.suppressed += 1
        if window.summary { window.last = message }
        windows[key] = window
        return window.until - now
    }

    /// Opens a window for `key` (closing an expired one first).
    mutating func open(key: String, until: Double, summary: Bool, now: Double) {
        if let expired = windows[key], let message = Self.summary(of: expired) { closedWithSummary.append(message) }
        windows[key] = Window(until: until, summary: summary)
        if windows.count > 10_000 { closedWithSummary += close(now: now) }
    }

    /// Forgets the window of `key` (its send failed).
    mutating func cancel(key: String) { windows[key] = nil }

    /// Removes the windows closed by `now`; returns the summaries due.
    mutating func close(now: Double) -> [NewMessage] {
        var due = closedWithSummary
        closedWithSummary = []
        for (key, window) in windows where window.until <= now {
            if let message = Self.summary(of: window) { due.append(message) }
            windows[key] = nil
        }
        return due
    }

    private static func summary(of window: Window) -> NewMessage? {
        guard window.summary, window.suppressed > 0, var message = window.last else { return nil }
        message.customId = Outbox.generateId()
        message.variables["suppressed"] = String(window.suppressed)
        message.variables["summary"] = "and \(window.suppressed) more"
        return message
    }
}

/// Quiet hours: a daily window of local wall-clock time.
struct QuietHours {
    /// Minutes after midnight the window opens and closes (it may span midnight).
    var start: Int
    var end: Int
    var timeZone: TimeZone

    /// The end of the window when `time` falls inside it; nil otherwise.
    func end(after time: Double) -> Double? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let date = Date(timeIntervalSince1970: time)
        let parts = calendar.dateComponents([.hour, .minute], from: date)
        let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        let inside = start < end ? (minute >= start && minute < end) : (minute >= start || minute < end)
        guard inside else { return nil }
        let next = calendar.nextDate(after: date, matching: DateComponents(hour: end / 60, minute: end % 60, second: 0),
                                     matchingPolicy: .nextTime)
        return next?.timeIntervalSince1970
    }
}
