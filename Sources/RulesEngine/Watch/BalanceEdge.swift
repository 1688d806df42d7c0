/// The edge of a `fms.balance_below` threshold: fires once on the way down, re-arms only
/// once the balance is back at `rearm` (hysteresis), so a balance hovering at the threshold
/// does not alert on every poll.
public struct BalanceEdge: Sendable, Equatable {
    /// Whether the balance is known to be below the threshold (the alert has fired).
    public enum Side: String, Sendable {
        case above
        case below
    }

    /// The threshold.
    public var threshold: Int64
    /// The balance at or above which the alert re-arms.
    public var rearm: Int64
    /// The side the last poll left it on (persisted: a restart does not re-alert).
    public var side: Side

    /// A re-arm level 10 % above the threshold (at least one more).
    public static func defaultRearm(threshold: Int64) -> Int64 {
        let margin = threshold / 10
        return threshold &+ max(margin, 1)
    }

    /// Creates an edge on `side` (a new threshold starts above: a low balance at start alerts).
    public init(threshold: Int64, rearm: Int64, side: Side = .above) {
        self.threshold = threshold
        self.rearm = rearm
        self.side = side
    }

    /// Moves the edge with a polled `balance`; true when the handler should run.
    public mutating func update(balance: Int64) -> Bool {
        switch side {
        case .above where balance < threshold:
            side = .below
            return true
        case .below where balance >= rearm:
            side = .above
            return false
        default:
            return false
        }
    }

    /// The key its side is persisted under in the outbox's rule state.
    var stateKey: String { "balance_below:\(threshold)" }
}
