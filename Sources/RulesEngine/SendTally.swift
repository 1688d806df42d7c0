import FMSClient
import Synchronization

/// Counts what a script sent and keeps every send failure, for `fms run`'s exit status.
public final class SendTally: Sendable {
    private struct Counts {
        var accepted = 0
        var failures: [FMSClientError] = []
    }

    private let counts = Mutex(Counts())

    /// Creates an empty tally.
    public init() {}

    /// Notes `count` messages accepted by the gateway.
    func noteAccepted(_ count: Int) { counts.withLock { $0.accepted += count } }

    /// Notes a failed send (even if the script caught it).
    func noteFailure(_ error: FMSClientError) { counts.withLock { $0.failures.append(error) } }

    /// Messages accepted.
    public var accepted: Int { counts.withLock { $0.accepted } }

    /// Sends that failed, in order.
    public var failures: [FMSClientError] { counts.withLock { $0.failures } }
}
