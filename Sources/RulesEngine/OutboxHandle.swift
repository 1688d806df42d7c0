import Outbox
import Synchronization

/// Opens the outbox on first use, so a script that sends nothing needs no state directory
/// (and takes no lock).
public final class OutboxHandle: Sendable {
    private let opener: @Sendable () throws(OutboxError) -> Outbox
    private let opened = Mutex<Result<Outbox, OutboxError>?>(nil)

    /// Creates a handle that calls `opener` once, when the outbox is first needed.
    public init(_ opener: @escaping @Sendable () throws(OutboxError) -> Outbox) {
        self.opener = opener
    }

    /// The outbox, opening it (and starting its sender) on first call.
    public func get() throws(OutboxError) -> Outbox {
        let result: Result<Outbox, OutboxError> = opened.withLock { cached in
            if let cached { return cached }
            let made: Result<Outbox, OutboxError>
            do throws(OutboxError) {
                let outbox = try opener()
                Task { await outbox.start() }
                made = .success(outbox)
            } catch {
                made = .failure(error)
            }
            cached = made
            return made
        }
        return try result.get()
    }

    /// The outbox if it was opened.
    public var openedOutbox: Outbox? {
        opened.withLock { cached in
            if case .success(let outbox)? = cached { return outbox }
            return nil
        }
    }
}
