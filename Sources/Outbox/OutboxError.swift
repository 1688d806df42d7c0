/// Why the outbox could not do what was asked, with the file or setting at fault.
public struct OutboxError: Error, Sendable, CustomStringConvertible {
    /// Kinds of failure.
    public enum Kind: Sendable, Equatable {
        /// Another process holds the state directory's lock.
        case locked
        /// The state directory or a file in it cannot be created, written or read.
        case storage
        /// The database is damaged.
        case corrupt
        /// The database was written by a newer version.
        case tooNew
        /// A message or argument was refused.
        case invalid
        /// No such message.
        case notFound
    }

    /// The kind.
    public var kind: Kind
    /// The sentence.
    public var message: String

    /// Creates an error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// Wraps an SQLite failure.
    init(_ error: SQLiteError) {
        if error.isCorruption {
            self.init(.corrupt, error.description)
        } else if error.isStorageFailure {
            self.init(.storage, error.description)
        } else {
            self.init(.storage, error.description)
        }
    }

    /// The sentence.
    public var description: String { message }
}
