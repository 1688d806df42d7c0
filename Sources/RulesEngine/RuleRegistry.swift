import Foundation
import LuaKit
import Synchronization

/// What a registration listens to, as the watcher needs it.
public enum RegistrationSpec: Sendable {
    /// `fms.watch{…}`: a file or folder.
    case watch(WatchSpec)
    /// `fms.tail{…}`: new lines of a log file (containing `match`, when given).
    case tail(path: String, match: String?)
    /// `fms.every(…)`: a period on the monotonic clock.
    case every(EveryTimer)
    /// `fms.cron(…)`: wall-clock times; the zone is settled when the watcher starts the rule set.
    case cron(CronExpression)
    /// `fms.balance_below{…}`: fires once below `threshold`, again only after rising to `rearm`.
    case balanceBelow(threshold: Int64, rearm: Int64, interval: Double)
    /// `fms.on_report{…}`: delivery reports whose state matches the glob and mobile, when given.
    case onReport(state: String?, mobile: String?)
    /// `fms.on_failure(…)`: queued sends that died.
    case onFailure
}

/// One thing a rule file registered: a watch, a timer, a threshold, a report handler.
public struct Registration: Sendable {
    /// The registering function without `fms.` (`every`, `watch`…).
    public var kind: String
    /// What it does, in a few words (`every 5m`, `/var/log/app/*.log (create, modify)`).
    public var summary: String
    /// `file:line` of the call.
    public var position: String
    /// Its number in the rule set, from 1 (the handle's `id`).
    public var id: Int = 0
    /// What it listens to (recorded by `fms watch`; nil in check mode).
    public var spec: RegistrationSpec?
    /// The handler, kept by a registry reference of the rule set's state (nil in check mode).
    public var handler: LuaReference?

    /// Creates a registration.
    public init(kind: String, summary: String, position: String, spec: RegistrationSpec? = nil, handler: LuaReference? = nil) {
        self.kind = kind
        self.summary = summary
        self.position = position
        self.spec = spec
        self.handler = handler
    }

    /// The rule file that made it (its whole path: positions may be shortened by Lua).
    public var rule: String = ""
}

/// The registrations a loaded rule set made, in order, and which were stopped with `:stop()`.
public final class RuleRegistry: Sendable {
    private struct Entries {
        var registrations: [Registration] = []
        var stopped: Set<Int> = []
        var stopObserver: (@Sendable (Int) -> Void)?
    }
    private let entries = Mutex(Entries())

    /// Creates an empty registry.
    public init() {}

    /// Records a registration and returns its id.
    func add(_ registration: Registration) -> Int {
        entries.withLock { entries in
            var registration = registration
            registration.id = entries.registrations.count + 1
            if registration.rule.isEmpty { registration.rule = LuaPosition.rule(of: registration.position) ?? registration.position }
            entries.registrations.append(registration)
            return registration.id
        }
    }

    /// Everything registered so far.
    public var registrations: [Registration] { entries.withLock { $0.registrations } }

    /// Whether registration `id` was stopped.
    public func isStopped(_ id: Int) -> Bool { entries.withLock { $0.stopped.contains(id) } }

    /// Stops registration `id` (`handle:stop()`); later calls do nothing.
    func stop(_ id: Int) {
        let observer: (@Sendable (Int) -> Void)? = entries.withLock { entries in
            guard entries.stopped.insert(id).inserted else { return nil }
            return entries.stopObserver
        }
        observer?(id)
    }

    /// Tells `observer` about each registration stopped from now on.
    public func observeStops(_ observer: @escaping @Sendable (Int) -> Void) {
        entries.withLock { $0.stopObserver = observer }
    }
}
