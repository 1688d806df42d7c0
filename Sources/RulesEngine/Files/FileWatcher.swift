import Synchronization

/// Watches files and folders with inotify and reports their changes to a handler, on a
/// thread of its own.
///
/// The thread sleeps in `poll` on the inotify descriptor and a wake pipe: it wakes for events,
/// for a debounce window that ends, and for ``stop()``, never on a timer while idle.
///
/// What it reports, per ``WatchSpec``:
/// - `create`, `modify`, `move`, `delete`, `attrib` of files and folders, with absolute paths;
///   a move is paired by its cookie (`oldPath` is where the entry was); a move out of the
///   watched folders is a delete, a move in from elsewhere a create. When the spec does not
///   ask for `move`, a move is a delete of the old path and a create of the new one.
/// - A file renamed over another (an editor's write to `x.tmp`, then rename to `x`) is a
///   `modify` of `x` (whose `oldPath` is `x.tmp`), provided `x` matches the pattern; `x.tmp`
///   gets a delete if it matches.
/// - Recursive specs pick up new folders: they are watched, and entries already in them when
///   the watch was added are reported as creates.
/// - A path that does not exist yet is waited for (the nearest existing folder above it is
///   watched); its creation is reported, then it is watched. A watched file that is deleted
///   and recreated, or replaced, keeps being watched.
/// - When the kernel's queue overflows, `overflow` for each spec, then `rescan` for the
///   spec's path and every matching entry that exists: the handler should look at them again.
/// - With a debounce, the changes to one path are combined (``EventCoalescer`` has the table).
///
/// The handler runs on the watcher's thread, one event at a time; events queue in the kernel
/// while it runs. It may call ``stop()``.
public final class FileWatcher: Sendable {
    /// The specs being watched; ``FileEvent/specIndex`` indexes them.
    public let specs: [WatchSpec]
    /// The inotify descriptor and the wake pipe's ends (for tests).
    let descriptors: [Int32]

    private struct Control: ~Copyable {
        var thread: system_Thread?
        var signal: WakeSignal?
    }

    private let control: Mutex<Control>

    /// Starts watching `specs`, delivering events to `handler` on the watcher's thread.
    ///
    /// - Parameter errors: told about problems met while running, such as a new folder that
    ///   cannot be watched (the watch limit, permissions); on the watcher's thread.
    /// - Throws: ``FileWatchError`` when a spec's path (or the folder above a missing path)
    ///   cannot be watched, the watch limit is reached, or the thread cannot start.
    public init(_ specs: [WatchSpec], errors: (@Sendable (FileWatchError) -> Void)? = nil,
                handler: @escaping @Sendable (FileEvent) -> Void) throws(FileWatchError) {
        self.specs = specs
        let engine = try WatchEngine(specs: specs, reportError: errors ?? { _ in })
        let signal = try WakeSignal()
        descriptors = [engine.inotify.fileDescriptor, signal.readEnd, signal.writeEnd]
        let transfer = EngineTransfer(engine)
        let thread = system_startThread(name: "fms-watch") {
            FileWatcher.run(transfer.take(), signal: signal, handler: handler)
        }
        switch thread {
        case .success(let thread):
            control = Mutex(Control(thread: thread, signal: signal))
        case .failure(let failure):
            throw FileWatchError.threadFailed(errno: failure.code)
        }
    }

    deinit {
        stop()
    }

    /// Stops watching: wakes the thread and waits for it to end (after the event being
    /// handled, if any), which closes the inotify descriptor and the pipe. Events not yet
    /// delivered, including debounced ones, are dropped, unless `flushing`: then the events the
    /// kernel queued and those waiting out a debounce are delivered first. Called from the
    /// handler, it returns at once and the thread ends when the handler returns. Later calls do nothing.
    public func stop(flushing: Bool = false) {
        let (thread, signal) = control.withLock { control -> (system_Thread?, WakeSignal?) in
            defer {
                control.thread = nil
                control.signal = nil
            }
            return (control.thread, control.signal)
        }
        guard let signal else { return }
        if flushing { signal.flushing.store(true, ordering: .releasing) }
        signal.stopping.store(true, ordering: .releasing)
        signal.wake()
        guard let thread else { return }
        if system_isCurrentThread(thread) {
            system_detachThread(thread)
        } else {
            system_joinThread(thread)
        }
    }

    /// The watcher's thread: waits for events, a debounce deadline or the wake pipe.
    private static func run(_ engine: WatchEngine, signal: WakeSignal, handler: @Sendable (FileEvent) -> Void) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 8)
        defer { buffer.deallocate() }
        var queueEmpty = true
        defer {
            if signal.flushing.load(ordering: .acquiring) { flush(engine, buffer: buffer, handler: handler) }
        }
        while !signal.stopping.load(ordering: .acquiring) {
            var timeout: Int32 = -1
            if let deadline = engine.nextDeadline {
                let milliseconds = ((deadline - system_monotonicSeconds()) * 1000).rounded(.up)
                timeout = Int32(max(0, min(milliseconds, Double(Int32.max))))
            }
            guard case .success(let states) = system_pollReadable([engine.inotify.fileDescriptor, signal.readEnd],
                                                                 timeout: timeout) else { break }
            if states[1].readable || states[1].failed || states[0].failed { break }
            queueEmpty = true
            if states[0].readable {
                do {
                    let (events, bytes) = try engine.inotify.readEvents(into: buffer)
                    // A read that left room for another event emptied the queue.
                    queueEmpty = bytes <= buffer.count - Inotify.minimumBufferSize
                    engine.handle(events, now: system_monotonicSeconds())
                } catch {
                    break
                }
            }
            engine.tick(now: system_monotonicSeconds(), queueEmpty: queueEmpty)
            let events = engine.outbox
            engine.outbox.removeAll(keepingCapacity: true)
            for event in events {
                if signal.stopping.load(ordering: .acquiring) { return }
                handler(event)
            }
        }
    }
}

extension FileWatcher {
    /// On a flushing stop: reads what the kernel still holds, then delivers it and every
    /// debounced change at once.
    fileprivate static func flush(_ engine: WatchEngine, buffer: UnsafeMutableRawBufferPointer,
                                  handler: @Sendable (FileEvent) -> Void) {
        while let (events, bytes) = try? engine.inotify.readEvents(into: buffer), bytes > 0 {
            engine.handle(events, now: system_monotonicSeconds())
        }
        engine.flushPending(now: system_monotonicSeconds())
        let events = engine.outbox
        engine.outbox.removeAll()
        for event in events { handler(event) }
    }
}

/// Hands the engine, built on the caller's thread, to the watcher's thread, which is its only
/// user from then on.
private final class EngineTransfer: @unchecked Sendable {
    private let engine: WatchEngine

    init(_ engine: WatchEngine) {
        self.engine = engine
    }

    /// The engine; called once, on the watcher's thread.
    func take() -> WatchEngine { engine }
}

/// The stop flag and the pipe that wakes the watcher's thread from `poll`; closed when the
/// last of the watcher and its thread lets go.
private final class WakeSignal: Sendable {
    let readEnd: Int32
    let writeEnd: Int32
    let stopping = Atomic<Bool>(false)
    /// Whether the thread delivers what is queued and debounced before it ends.
    let flushing = Atomic<Bool>(false)

    init() throws(FileWatchError) {
        var ends: (Int32, Int32) = (-1, -1)
        let created = withUnsafeMutablePointer(to: &ends) { pair in
            pair.withMemoryRebound(to: Int32.self, capacity: 2) { first in
                nothingOrErrno { system_pipe_nonblocking(first) }
            }
        }
        if case .failure(let failure) = created {
            throw FileWatchError(call: "pipe", path: nil, errno: failure.code)
        }
        readEnd = ends.0
        writeEnd = ends.1
    }

    deinit {
        _ = system_close(readEnd)
        _ = system_close(writeEnd)
    }

    /// Makes the read end readable (a full pipe is readable already).
    func wake() {
        var byte: UInt8 = 1
        _ = valueOrErrno { system_write(writeEnd, &byte, 1) }
    }
}
