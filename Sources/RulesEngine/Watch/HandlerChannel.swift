import LuaKit

/// Delivers one registration's events to its Lua handler, in order, one run at a time.
///
/// Each run is a coroutine of the rule set's runtime; while one waits for the gateway, other
/// registrations' handlers run. A slow handler delays only its own registration's later events.
final class HandlerChannel: Sendable {
    /// One event: the handler's arguments, and work to do once the run ended (persisting a tail
    /// offset, marking a report dispatched).
    struct Delivery: Sendable {
        var arguments: [LuaValue]
        var afterwards: (@Sendable () async -> Void)?
    }

    /// How a run ended, for logs and metrics.
    typealias Completion = @Sendable (Registration, Result<[LuaValue], LuaError>) -> Void

    let registration: Registration
    private let continuation: AsyncStream<Delivery>.Continuation
    private let task: Task<Void, Never>

    /// Starts the channel of `registration` (which has a handler) in `runtime`.
    init(registration: Registration, handler: LuaReference, runtime: LuaRuntime, completion: @escaping Completion) {
        self.registration = registration
        let (stream, continuation) = AsyncStream<Delivery>.makeStream(bufferingPolicy: .unbounded)
        self.continuation = continuation
        task = Task {
            for await delivery in stream {
                let result = await runtime.run(handler, arguments: delivery.arguments)
                completion(registration, result)
                await delivery.afterwards?()
            }
        }
    }

    /// Queues an event; false when the channel was closed (the registration stopped).
    @discardableResult
    func deliver(_ arguments: [LuaValue], afterwards: (@Sendable () async -> Void)? = nil) -> Bool {
        if case .terminated = continuation.yield(Delivery(arguments: arguments, afterwards: afterwards)) { return false }
        return true
    }

    /// Accepts no more events; those queued still run.
    func close() { continuation.finish() }

    /// Waits until the queued events ran (after ``close()``).
    func finished() async { await task.value }
}
