import Foundation
import LuaKit
import Synchronization

/// Delivers one registration's events to its Lua handler, in order, one run at a time.
///
/// Each run is a coroutine of the rule set's runtime; while one waits for the gateway, other
/// registrations' handlers run. A slow handler delays only its own registration's later events.
/// The queue is bounded: the file watcher's thread waits when it is full (so a flood of events
/// backs up into the kernel, which reports an overflow, and a long log backlog is read as the
/// handler keeps up) rather than filling memory.
final class HandlerChannel: Sendable {
    /// One event: the handler's arguments (made when the run starts, so a timer can fold the
    /// firings it missed into one run), and work to do once the run ended (persisting a tail
    /// offset, marking a report dispatched).
    struct Delivery: Sendable {
        /// Nil: no handler run, only `afterwards` (in order with the runs).
        var arguments: (@Sendable () -> [LuaValue])?
        var afterwards: (@Sendable () async -> Void)?
    }

    /// How a run ended, for logs and metrics.
    typealias Completion = @Sendable (Registration, Result<[LuaValue], LuaError>) -> Void

    /// Events queued beyond this make `deliverWaiting` wait.
    static let capacity = 10_000

    private struct State {
        var queued = 0
        var closed = false
        var dropQueued = false
    }

    /// The state, in a box the consumer task can share.
    private final class Shared: Sendable {
        let mutex = Mutex(State())
        func withLock<T>(_ body: (inout State) -> T) -> T { mutex.withLock { body(&$0) } }
    }

    let registration: Registration
    private let continuation: AsyncStream<Delivery>.Continuation
    private let task: Task<Void, Never>
    private let state: Shared

    /// Starts the channel of `registration` (which has a handler) in `runtime`.
    init(registration: Registration, handler: LuaReference, runtime: LuaRuntime, completion: @escaping Completion) {
        self.registration = registration
        let (stream, continuation) = AsyncStream<Delivery>.makeStream(bufferingPolicy: .unbounded)
        self.continuation = continuation
        let state = Shared()
        self.state = state
        task = Task {
            for await delivery in stream {
                let skip = state.withLock { state -> Bool in
                    state.queued -= 1
                    return state.dropQueued
                }
                // Dropped at shutdown: not handled, so not marked (a report is dispatched again after
                // the restart, a tail line read again from the saved offset).
                if skip { continue }
                if let arguments = delivery.arguments {
                    let result = await runtime.run(handler, arguments: arguments())
                    completion(registration, result)
                }
                await delivery.afterwards?()
            }
        }
    }

    /// Queues an event; false when the channel was closed (the registration stopped).
    @discardableResult
    func deliver(_ arguments: [LuaValue], afterwards: (@Sendable () async -> Void)? = nil) -> Bool {
        deliver(lazy: { arguments }, afterwards: afterwards)
    }

    /// Queues an event whose arguments are made when its run starts.
    @discardableResult
    func deliver(lazy arguments: (@Sendable () -> [LuaValue])?, afterwards: (@Sendable () async -> Void)? = nil) -> Bool {
        let open = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.queued += 1
            return true
        }
        guard open else { return false }
        if case .terminated = continuation.yield(Delivery(arguments: arguments, afterwards: afterwards)) {
            state.withLock { $0.queued -= 1 }
            return false
        }
        return true
    }

    /// Like ``deliver(_:afterwards:)``, but first waits (blocking the calling thread, which must
    /// not be one of Swift's cooperative threads) while the queue is full. Nil `arguments` queue
    /// only `afterwards`.
    @discardableResult
    func deliverWaiting(_ arguments: [LuaValue]?, afterwards: (@Sendable () async -> Void)? = nil) -> Bool {
        while state.withLock({ !$0.closed && $0.queued >= Self.capacity }) { usleep(1_000) }
        let made: (@Sendable () -> [LuaValue])?
        if let arguments { made = { arguments } } else { made = nil }
        return deliver(lazy: made, afterwards: afterwards)
    }

    /// Accepts no more events; those queued still run, unless `dropQueued` (a shutdown: only the
    /// run in progress finishes).
    func close(dropQueued: Bool = false) {
        state.withLock { state in
            state.closed = true
            if dropQueued { state.dropQueued = true }
        }
        continuation.finish()
    }

    /// Waits until the queued events ran (after ``close(dropQueued:)``).
    func finished() async { await task.value }
}

/// Runs `work` for at most `seconds`: true when it finished in time. The work goes on after a
/// timeout (it is not cancelled); only the wait ends.
func waitAtMost(_ seconds: Double, _ work: @escaping @Sendable () async -> Void) async -> Bool {
    final class Once: Sendable {
        let continuation = Mutex<CheckedContinuation<Bool, Never>?>(nil)
    }
    let once = Once()
    let resume: @Sendable (Bool) -> Void = { value in
        once.continuation.withLock { continuation in
            continuation?.resume(returning: value)
            continuation = nil
        }
    }
    return await withCheckedContinuation { continuation in
        once.continuation.withLock { $0 = continuation }
        Task {
            await work()
            resume(true)
        }
        Task {
            try? await Task.sleep(nanoseconds: Sleeping.nanoseconds(seconds))
            resume(false)
        }
    }
}

/// Sleep lengths made safe: a duration from a rule file or the command line may be huge.
enum Sleeping {
    /// The longest single sleep: about 31 years.
    static let longest = 1e9

    /// `seconds` as nanoseconds, clamped to 0…``longest`` seconds (NaN: 0).
    static func nanoseconds(_ seconds: Double) -> UInt64 {
        guard seconds.isFinite, seconds > 0 else { return seconds == .infinity ? UInt64(longest * 1e9) : 0 }
        return UInt64(min(seconds, longest) * 1e9)
    }
}
