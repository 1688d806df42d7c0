import FMSClient
import Synchronization

/// Counts what rules sent, suppressed and deferred, and keeps the first send failures (for
/// `fms run`'s exit status and the watcher's metrics).
public final class SendTally: Sendable {
    /// The counters, read together.
    public struct Counts: Sendable, Equatable {
        /// Messages the gateway accepted (direct sends and waited-for queued sends).
        public var accepted = 0
        /// Messages put in the outbox.
        public var queued = 0
        /// Sends suppressed by a cooldown.
        public var suppressed = 0
        /// Queued sends held back by the rate limit or quiet hours.
        public var deferred = 0
        /// Sends only logged (`--dry-run`).
        public var dryRun = 0
        /// Failed sends and gateway calls (all of them; `failures` keeps the first few).
        public var failed = 0
    }

    /// How many failures are kept: a long-running watcher must not grow without bound.
    static let keptFailures = 100

    private struct State {
        var counts = Counts()
        var failures: [FMSClientError] = []
    }

    private let state = Mutex(State())

    /// Creates an empty tally.
    public init() {}

    /// Notes `count` messages accepted by the gateway.
    func noteAccepted(_ count: Int) { state.withLock { $0.counts.accepted += count } }

    /// Notes `count` messages queued, `deferred` of them for later.
    func noteQueued(_ count: Int, deferred: Int) {
        state.withLock { $0.counts.queued += count; $0.counts.deferred += deferred }
    }

    /// Notes a send suppressed by a cooldown.
    func noteSuppressed() { state.withLock { $0.counts.suppressed += 1 } }

    /// Notes `count` sends only logged.
    func noteDryRun(_ count: Int) { state.withLock { $0.counts.dryRun += count } }

    /// Notes a failed send (even if the script caught it).
    func noteFailure(_ error: FMSClientError) {
        state.withLock { state in
            state.counts.failed += 1
            if state.failures.count < Self.keptFailures { state.failures.append(error) }
        }
    }

    /// Messages accepted.
    public var accepted: Int { state.withLock { $0.counts.accepted } }

    /// Every counter.
    public var counts: Counts { state.withLock { $0.counts } }

    /// The first send failures, in order.
    public var failures: [FMSClientError] { state.withLock { $0.failures } }
}
