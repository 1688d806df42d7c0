/// Where a message stands.
public enum MessageState: String, Sendable, CaseIterable {
    /// Waiting to be sent (or to be retried).
    case pending
    /// The gateway accepted it (it has an fmsId).
    case sent
    /// It cannot be sent; kept with its last error for a person to look at.
    case dead
}

/// A message to enqueue.
public struct NewMessage: Sendable, Equatable {
    /// The customFmsId: the caller's, or generated; the same across retries.
    public var customId: String
    /// The template id.
    public var template: String
    /// The mobile (already validated).
    public var mobile: String
    /// Template variables.
    public var variables: [String: String]
    /// The rule (file) that sent it, if any.
    public var rule: String?
    /// The dedup/cooldown key it was sent under, if any.
    public var key: String?
    /// The earliest time (Unix seconds) to send it: set by a rate limit or quiet hours; nil sends at once.
    public var notBefore: Double?

    /// Creates a message.
    public init(customId: String, template: String, mobile: String, variables: [String: String], rule: String? = nil,
                key: String? = nil, notBefore: Double? = nil) {
        self.customId = customId
        self.template = template
        self.mobile = mobile
        self.variables = variables
        self.rule = rule
        self.key = key
        self.notBefore = notBefore
    }
}

/// A message as stored.
public struct StoredMessage: Sendable, Equatable {
    /// Row id (local).
    public var id: Int64
    /// The content.
    public var message: NewMessage
    /// Where it stands.
    public var state: MessageState
    /// Send attempts so far.
    public var attempts: Int
    /// When it was accepted (seconds since 1970).
    public var createdAt: Double
    /// When it may next be tried.
    public var nextAttemptAt: Double
    /// When the gateway accepted it.
    public var sentAt: Double?
    /// The gateway's id.
    public var fmsId: String?
    /// The last error, in words.
    public var lastError: String?
    /// The last vendor result code, if the gateway gave one.
    public var lastCode: String?
}

/// Counts by state.
public struct OutboxCounts: Sendable, Equatable {
    /// Pending messages.
    public var pending: Int
    /// Sent messages kept.
    public var sent: Int
    /// Dead letters.
    public var dead: Int
    /// Reports in the journal.
    public var reports: Int
    /// Reports not yet dispatched to handlers.
    public var undispatchedReports: Int
    /// The oldest pending message's age in seconds.
    public var oldestPendingAge: Double?
    /// Pending messages held back until later by a rate limit or quiet hours (counted in `pending`).
    public var held: Int = 0
}
