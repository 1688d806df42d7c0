import Foundation

/// Catches signals without killing the process and hands them to async code, in order.
///
/// A plain signal handler writes the signal's number to a pipe that a thread reads: unlike a
/// dispatch signal source (registered later, on another thread, while the signal is ignored)
/// it loses no signal that arrives once `install` has returned.
enum SignalStream {
    /// Starts catching `signals` now; each arrival is one element of the stream.
    static func install(_ signals: [Int32]) -> AsyncStream<Int32> {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            // No pipe: keep the default actions (the process ends on the signal).
            return stream
        }
        SignalPipe.writeEnd = ends[1]
        let readEnd = ends[0]
        let reader = Thread {
            var byte: UInt8 = 0
            while true {
                let count = read(readEnd, &byte, 1)
                if count < 0 && errno == EINTR { continue }
                guard count == 1 else { break }
                continuation.yield(Int32(byte))
            }
            continuation.finish()
        }
        reader.start()
        for number in signals { signal(number, signalHandler) }
        return stream
    }
}

/// Waits for SIGINT or SIGTERM without killing the process.
enum SignalWaiter {
    /// Starts catching SIGINT and SIGTERM now; the returned latch opens once either arrives.
    static func install() -> SignalLatch {
        let latch = SignalLatch()
        let signals = SignalStream.install([SIGINT, SIGTERM])
        Task {
            for await _ in signals {
                latch.open()
                break
            }
        }
        return latch
    }
}

/// The write end of the signal pipe, set before any handler is installed.
private enum SignalPipe {
    nonisolated(unsafe) static var writeEnd: Int32 = -1
}

/// Async-signal-safe: one write(2).
private func signalHandler(_ number: Int32) {
    var byte = UInt8(truncatingIfNeeded: number)
    _ = write(SignalPipe.writeEnd, &byte, 1)
}

/// Opens once; `wait()` returns when it is open (at once if it already is).
final class SignalLatch: @unchecked Sendable {
    private let lock = NSLock()
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// Opens the latch and releases every waiter.
    func open() {
        lock.lock()
        guard !isOpen else { lock.unlock(); return }
        isOpen = true
        let released = waiters
        waiters = []
        lock.unlock()
        for waiter in released { waiter.resume() }
    }

    /// Returns once the latch is open.
    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.lock()
            if isOpen {
                lock.unlock()
                continuation.resume()
            } else {
                waiters.append(continuation)
                lock.unlock()
            }
        }
    }
}
