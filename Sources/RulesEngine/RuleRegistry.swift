import Synchronization

/// One thing a rule file registered: a watch, a timer, a threshold, a report handler.
public struct Registration: Sendable, Equatable {
    /// The registering function without `fms.` (`every`, `watch`…).
    public var kind: String
    /// What it does, in a few words (`every 5m`, `/var/log/app/*.log (create, modify)`).
    public var summary: String
    /// `file:line` of the call.
    public var position: String
}

/// The registrations a loaded rule file made, in order.
public final class RuleRegistry: Sendable {
    private let entries = Mutex<[Registration]>([])

    /// Creates an empty registry.
    public init() {}

    /// Records a registration.
    func add(_ registration: Registration) { entries.withLock { $0.append(registration) } }

    /// Everything registered so far.
    public var registrations: [Registration] { entries.withLock { $0 } }
}
