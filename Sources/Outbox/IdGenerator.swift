import Foundation
import Synchronization

/// Makes customFmsIds unique per host: prefix, seconds since 2020 (base 36), process id and a counter.
final class IdGenerator: Sendable {
    static let shared = IdGenerator()
    private let counter = Mutex<UInt64>(0)
    private let stem: String

    private init() {
        let seconds = UInt64(max(0, Date().timeIntervalSince1970 - 1_577_836_800))
        stem = String(seconds, radix: 36) + String(UInt64(getpid()), radix: 36)
    }

    /// `fp` + time + pid + counter, at most 32 characters.
    func next(prefix: String) -> String {
        let number = counter.withLock { value -> UInt64 in
            value += 1
            return value
        }
        let id = prefix + stem + "-" + String(number, radix: 36)
        return String(id.prefix(32))
    }
}
