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
    public let tally = SendTally()
    /// What rule files registered (check mode).
    public let registry = RuleRegistry()
    private let logSink: @Sendable (LuaLogLine) -> Void
    private let cooldowns = Mutex<[String: Double]>([:])
    private let configurationStore = Mutex(RuleConfiguration())
    private let clock: @Sendable () -> Double

    /// Creates a context.
    public init(mode: FMSModuleMode, backend: any GatewayBackend, outbox: OutboxHandle? = nil, rule: String? = nil,
                clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
                log: @escaping @Sendable (LuaLogLine) -> Void) {
        self.mode = mode
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
        queued.withLock { q in
            var fresh = Set<String>()
            for id in ids where q.set.contains(id) || !fresh.insert(id).inserted { return id }
            q.list.append(contentsOf: ids)
            q.set.formUnion(ids)
            return nil
        }
    }

    /// The settings made with `fms.config`.
    public var configuration: RuleConfiguration { configurationStore.withLock { $0 } }

    func log(_ line: LuaLogLine) { logSink(line) }

    func configure(_ change: (inout RuleConfiguration) -> Void) { configurationStore.withLock { change(&$0) } }

    /// Claims `key` for `cooldown` seconds: nil if free (now claimed), else the seconds left.
    func claimCooldown(key: String, cooldown: Double) -> Double? {
        let now = clock()
        return cooldowns.withLock { table in
            if let until = table[key], until > now { return until - now }
            table[key] = now + cooldown
            return nil
        }
    }
}
