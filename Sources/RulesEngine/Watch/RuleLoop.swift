import Foundation
import LuaKit
import Synchronization

/// One thread for one rule set: it runs the rule set's Lua (it is the executor of its
/// ``LoopLuaHost``) and reads the rule set's `fms.watch` inotify queue, so a file event starts its
/// handler on the thread that read it — no hand-off to another thread, the one step that kept a
/// watcher with a thread per job behind a single-threaded one such as lsyncd.
///
/// Jobs and calls from other threads go into an inbox and wake the thread through a pipe; the
/// thread sleeps in `poll` when it has nothing to do (no wake-ups while nothing is due).
final class RuleLoop: SerialExecutor, @unchecked Sendable {
    /// What the loop's thread alone touches: the attached file watches.
    final class Watches {
        struct Entry {
            let engine: WatchEngine
            let handler: @Sendable (FileEvent) -> Void
            /// True while the handlers' queues are full: the inotify queue is then not read (the
            /// kernel keeps the events, and reports an overflow past its limit).
            let pressure: @Sendable () -> Bool
        }
        var entries: [Int: Entry] = [:]
        var nextId = 0
    }

    private struct Inbox {
        var jobs: [UnownedJob] = []
        var calls: [@Sendable (Watches) -> Void] = []
        var stopping = false
        var wakePending = false
    }

    private let inbox = Mutex(Inbox())
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let thread = Mutex<system_Thread?>(nil)
    /// Only ever used on the loop's thread.
    private let watches = Watches()

    /// Starts the thread.
    init() throws(FileWatchError) {
        var ends: [Int32] = [-1, -1]
        guard system_pipe_nonblocking(&ends) == 0 else { throw FileWatchError(call: "pipe", path: nil, errno: errno) }
        wakeRead = ends[0]
        wakeWrite = ends[1]
        let started = system_startThread(name: "fms-rules") { [self] in run() }
        switch started {
        case .success(let handle): thread.withLock { $0 = handle }
        case .failure(let failure):
            _ = system_close(wakeRead)
            _ = system_close(wakeWrite)
            throw FileWatchError.threadFailed(errno: failure.code)
        }
    }

    /// Whether the caller is the loop's thread.
    var isCurrent: Bool { thread.withLock { $0.map(system_isCurrentThread) ?? false } }

    // MARK: SerialExecutor

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        let onLoop = isCurrent
        let wake = inbox.withLock { inbox -> Bool in
            inbox.jobs.append(unowned)
            // The loop's own thread drains the inbox before it sleeps again: no wake needed.
            guard !onLoop, !inbox.wakePending else { return false }
            inbox.wakePending = true
            return true
        }
        if wake { wakeUp() }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    // MARK: Calls on the loop's thread

    /// Runs `call` on the loop's thread and returns its result.
    func perform<T: Sendable>(_ call: @escaping @Sendable (Watches) -> T) async -> T {
        await withCheckedContinuation { continuation in
            post { watches in continuation.resume(returning: call(watches)) }
        }
    }

    /// Runs `call` on the loop's thread and waits for it (at once when already there). Blocks the
    /// calling thread: not for Swift's cooperative threads.
    func performAndWait(_ call: @escaping @Sendable (Watches) -> Void) {
        if isCurrent {
            call(watches)
            return
        }
        let done = DispatchSemaphore(value: 0)
        post { watches in
            call(watches)
            done.signal()
        }
        done.wait()
    }

    private func post(_ call: @escaping @Sendable (Watches) -> Void) {
        let wake = inbox.withLock { inbox -> Bool in
            inbox.calls.append(call)
            guard !inbox.wakePending else { return false }
            inbox.wakePending = true
            return true
        }
        if wake { wakeUp() }
    }

    private func wakeUp() {
        var byte: UInt8 = 1
        _ = system_write(wakeWrite, &byte, 1)
    }

    /// Ends the thread once the jobs already queued ran. From the loop's own thread (the last
    /// reference went there) the thread is detached instead of joined.
    func stop() {
        guard let handle = thread.withLock({ current -> system_Thread? in
            defer { current = nil }
            return current
        }) else { return }
        inbox.withLock { $0.stopping = true }
        wakeUp()
        if system_isCurrentThread(handle) {
            system_detachThread(handle)
        } else {
            system_joinThread(handle)
        }
    }

    deinit { stop() }

    // MARK: The loop

    private func run() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 8)
        defer {
            buffer.deallocate()
            watches.entries = [:]
            _ = system_close(wakeRead)
            _ = system_close(wakeWrite)
        }
        let executor = asUnownedSerialExecutor()
        while true {
            let (jobs, calls, stopping) = inbox.withLock { inbox in
                defer {
                    inbox.jobs.removeAll(keepingCapacity: true)
                    inbox.calls.removeAll(keepingCapacity: true)
                }
                return (inbox.jobs, inbox.calls, inbox.stopping)
            }
            for call in calls { call(watches) }
            for job in jobs { job.runSynchronously(on: executor) }
            let pending = inbox.withLock { !$0.jobs.isEmpty || !$0.calls.isEmpty }
            if stopping && !pending { return }
            var descriptors = [wakeRead]
            var readers: [Int] = []
            var timeout: Int32 = pending ? 0 : -1
            let now = system_monotonicSeconds()
            for (id, entry) in watches.entries {
                if entry.pressure() {
                    // Look again soon: the handlers are catching up.
                    timeout = timeout < 0 ? 10 : min(timeout, 10)
                } else {
                    descriptors.append(entry.engine.inotify.fileDescriptor)
                    readers.append(id)
                }
                if let deadline = entry.engine.nextDeadline {
                    let milliseconds = Int32(max(0, min(((deadline - now) * 1000).rounded(.up), Double(Int32.max))))
                    timeout = timeout < 0 ? milliseconds : min(timeout, milliseconds)
                }
            }
            guard case .success(let states) = system_pollReadable(descriptors, timeout: timeout) else { continue }
            if states[0].readable {
                // Clear first: a wake asked for after this point writes again.
                inbox.withLock { $0.wakePending = false }
                var drain = [UInt8](repeating: 0, count: 64)
                while system_read(wakeRead, &drain, drain.count) > 0 {}
            }
            let readNow = system_monotonicSeconds()
            var emptied: Set<Int> = []
            for (offset, id) in readers.enumerated() where states[offset + 1].readable {
                guard let entry = watches.entries[id] else { continue }
                if let (events, bytes) = try? entry.engine.inotify.readEvents(into: buffer) {
                    if bytes <= buffer.count - Inotify.minimumBufferSize { emptied.insert(id) }
                    entry.engine.handle(events, now: readNow)
                }
            }
            for (id, entry) in watches.entries {
                // The kernel's queue is known to be empty unless it was read this round and filled the buffer.
                let read = readers.firstIndex(of: id).map { states[$0 + 1].readable } ?? false
                entry.engine.tick(now: system_monotonicSeconds(), queueEmpty: !read || emptied.contains(id))
                let events = entry.engine.outbox
                entry.engine.outbox.removeAll(keepingCapacity: true)
                for event in events { entry.handler(event) }
            }
        }
    }
}

/// `fms.watch` specs read by a ``RuleLoop``'s thread (see there): the same ``WatchEngine`` as a
/// ``FileWatcher``, without a thread of its own.
final class LoopFileWatcher: Sendable {
    private let loop: RuleLoop
    private let id: Int

    /// Attaches `specs` to `loop`; `handler` runs on the loop's thread.
    init(_ specs: [WatchSpec], loop: RuleLoop, errors: @escaping @Sendable (FileWatchError) -> Void,
         pressure: @escaping @Sendable () -> Bool, handler: @escaping @Sendable (FileEvent) -> Void) async throws(FileWatchError) {
        self.loop = loop
        let attached: Result<Int, FileWatchError> = await loop.perform { watches in
            do throws(FileWatchError) {
                let engine = try WatchEngine(specs: specs, reportError: errors)
                watches.nextId += 1
                watches.entries[watches.nextId] = .init(engine: engine, handler: handler, pressure: pressure)
                return .success(watches.nextId)
            } catch {
                return .failure(error)
            }
        }
        id = try attached.get()
    }

    /// Stops watching; `flushing` delivers what the kernel still queued and what waits out a
    /// debounce first. Blocks until done: call it off Swift's cooperative threads.
    func stop(flushing: Bool) {
        let id = id
        loop.performAndWait { watches in
            guard let entry = watches.entries.removeValue(forKey: id) else { return }
            guard flushing else { return }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 8)
            defer { buffer.deallocate() }
            while let (events, bytes) = try? entry.engine.inotify.readEvents(into: buffer), bytes > 0 {
                entry.engine.handle(events, now: system_monotonicSeconds())
            }
            entry.engine.flushPending(now: system_monotonicSeconds())
            let events = entry.engine.outbox
            entry.engine.outbox.removeAll()
            for event in events { entry.handler(event) }
        }
    }
}

/// A `LuaState` whose actor runs on a ``RuleLoop``'s thread.
actor LoopLuaHost: LuaHost {
    let state: LuaState
    /// The thread the state lives on.
    nonisolated let loop: RuleLoop

    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }

    /// A state with limits (0: none) on a new loop.
    init(memoryLimit: Int, instructionBudget: Int) throws(LuaError) {
        do {
            loop = try RuleLoop()
        } catch {
            throw LuaError(kind: .host, message: "cannot start the rules' thread: \(error)")
        }
        state = try LuaState(memoryLimit: memoryLimit, instructionBudget: instructionBudget)
        state.bindOwner(self)
    }

    deinit {
        // Its last job ran: the thread may go (no task can hold the host and still need it).
        loop.stop()
    }
}
