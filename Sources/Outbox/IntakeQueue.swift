import Synchronization

/// The intake log plus the messages written to it but not yet absorbed into the database.
///
/// Callable from any thread without suspending: `accept` is one locked `write(2)`, so the
/// Lua engine can enqueue synchronously.
final class IntakeQueue: Sendable {
    private struct State: ~Copyable {
        var log: IntakeLog
        var buffer: [NewMessage]
    }

    private let state: Mutex<State>

    /// Wraps an opened (and already replayed) log.
    init(log: sending IntakeLog) {
        state = Mutex(State(log: log, buffer: []))
    }

    /// Makes messages durable and queues them for absorption.
    func accept(_ messages: [NewMessage]) throws(OutboxError) {
        try state.withLock { state throws(OutboxError) in
            for message in messages {
                try state.log.append(message)
                state.buffer.append(message)
            }
        }
    }

    /// Hands the buffered messages to `commit` (which must store them in the database);
    /// the log is rotated first and the old part deleted only after `commit` succeeds.
    func absorb(_ commit: ([NewMessage]) throws(OutboxError) -> Void) throws(OutboxError) {
        let taken: [NewMessage] = try state.withLock { state throws(OutboxError) in
            guard !state.buffer.isEmpty else { return [] }
            try state.log.beginAbsorb()
            defer { state.buffer.removeAll(keepingCapacity: true) }
            return state.buffer
        }
        guard !taken.isEmpty else { return }
        do {
            try commit(taken)
        } catch {
            // Keep them: put them back in front, they are still in the absorbing log on disk.
            state.withLock { state in state.buffer.insert(contentsOf: taken, at: 0) }
            throw error
        }
        state.withLock { state in state.log.finishAbsorb() }
    }

    /// Messages accepted but not yet absorbed.
    var backlog: Int { state.withLock { $0.buffer.count } }
}
