import CZlib
import Synchronization

/// A few initialized zlib deflate states, reset and reused across `Gzip.compress` calls.
final class DeflateStatePool: Sendable {
    /// The process-wide pool.
    static let shared = DeflateStatePool()

    /// Most idle states kept; more are freed.
    private static let capacity = 8

    /// Idle states as (level, address) pairs; addresses are stored as integers to stay Sendable.
    private let idle = Mutex<[(level: Int32, address: UInt)]>([])

    /// An initialized, reset gzip deflate state for `level`, or nil if zlib cannot make one.
    func take(level: Int32) -> UnsafeMutablePointer<z_stream>? {
        let reused: UInt? = idle.withLock { list in
            guard let index = list.firstIndex(where: { $0.level == level }) else { return nil }
            return list.remove(at: index).address
        }
        if let reused, let stream = UnsafeMutablePointer<z_stream>(bitPattern: reused) {
            deflateReset(stream)
            return stream
        }
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard fp_deflate_init_gzip(stream, level) == Z_OK else {
            stream.deallocate()
            return nil
        }
        return stream
    }

    /// Returns a state taken with `take`.
    func give(_ stream: UnsafeMutablePointer<z_stream>, level: Int32) {
        let kept = idle.withLock { list -> Bool in
            guard list.count < DeflateStatePool.capacity else { return false }
            list.append((level, UInt(bitPattern: stream)))
            return true
        }
        if !kept {
            deflateEnd(stream)
            stream.deallocate()
        }
    }
}
