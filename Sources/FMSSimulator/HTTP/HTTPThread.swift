import Glibc

/// Starts detached POSIX threads, reporting a failure instead of crashing.
enum HTTPThread {
    /// The closure handed to the new thread, kept alive across the C boundary.
    private final class Work: Sendable {
        let body: @Sendable () -> Void

        init(_ body: @escaping @Sendable () -> Void) {
            self.body = body
        }
    }

    /// Runs `body` on a new detached thread; returns nil on success, else the errno
    /// of `pthread_create` (the body then never runs).
    static func spawn(_ body: @escaping @Sendable () -> Void) -> Int32? {
        let work = Unmanaged.passRetained(Work(body))
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            Unmanaged<Work>.fromOpaque(argument).takeRetainedValue().body()
            return nil
        }, work.toOpaque())
        guard result == 0 else {
            work.release()
            return result
        }
        _ = pthread_detach(thread)
        return nil
    }
}
