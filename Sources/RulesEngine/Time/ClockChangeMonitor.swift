import CTimerFD
import Foundation
import Synchronization

/// Tells when the wall clock is set (by hand, by NTP stepping it, or on resume from suspend),
/// without waking otherwise: one thread blocked in `read` on a timerfd armed far in the future
/// with `TFD_TIMER_CANCEL_ON_SET`, which the kernel cancels whenever CLOCK_REALTIME is set.
///
/// The timer scheduler sleeps towards wall-clock deadlines (cron) in one stretch and relies on
/// this to recompute them after a jump.
final class ClockChangeMonitor: Sendable {

    private let descriptor: Int32
    private let thread: Mutex<system_Thread?> = Mutex(nil)

    /// Starts watching; `changed` runs on the monitor's thread after each clock change. Nil when
    /// the kernel offers no such timer (the scheduler then wakes once a minute instead).
    init?(changed: @escaping @Sendable () -> Void) {
        let descriptor = timerfd_create(CLOCK_REALTIME, ctimerfd_cloexec)
        guard descriptor >= 0 else { return nil }
        self.descriptor = descriptor
        guard ClockChangeMonitor.arm(descriptor) else {
            close(descriptor)
            return nil
        }
        let started = system_startThread(name: "fms-clock") { [descriptor] in
            var expirations: UInt64 = 0
            while true {
                let count = read(descriptor, &expirations, MemoryLayout<UInt64>.size)
                if count < 0 && errno == EINTR { continue }
                if count < 0 && errno == ECANCELED {
                    // The clock was set: re-arm first, so a change during `changed` is not missed.
                    guard ClockChangeMonitor.arm(descriptor) else { return }
                    changed()
                    continue
                }
                // Closed by `stop`, or the far-future expiry was reached: either way, done.
                return
            }
        }
        guard case .success(let thread) = started else {
            close(descriptor)
            return nil
        }
        self.thread.withLock { $0 = thread }
    }

    /// Arms `descriptor` for an absolute time a century ahead, cancelled on clock changes.
    private static func arm(_ descriptor: Int32) -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var value = itimerspec()
        value.it_value.tv_sec = now.tv_sec + 100 * 365 * 86_400
        return timerfd_settime(descriptor, ctimerfd_absolute | ctimerfd_cancel_on_set, &value, nil) == 0
    }

    /// Stops the thread.
    func stop() {
        guard let thread = thread.withLock({ current -> system_Thread? in
            defer { current = nil }
            return current
        }) else { return }
        // Disarming makes the blocked read return nothing: expire it now.
        var value = itimerspec()
        value.it_value.tv_nsec = 1
        _ = timerfd_settime(descriptor, 0, &value, nil)
        system_joinThread(thread)
        close(descriptor)
    }

    deinit { stop() }
}
