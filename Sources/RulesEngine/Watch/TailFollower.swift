import Foundation
import Synchronization

/// A `LogTail` shared between the file watcher's thread (which polls it on changes) and the
/// handler channel (which persists its offset once the lines were handled).
final class TailFollower: Sendable {
    let path: String
    private let tail: Mutex<LogTail>

    /// Follows `path` from `state` (nil: from its end).
    init(path: String, match: String?, state: LogTailState?) {
        self.path = path
        tail = Mutex(LogTail(path: path, state: state, match: match))
    }

    /// Reads what is new (one batch; `more` asks for another poll).
    func poll() -> LogTail.Batch { tail.withLock { $0.poll() } }

    /// The state as JSON, for the outbox's rule state.
    static func encode(_ state: LogTailState) -> String {
        (try? JSONEncoder().encode(state)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// A state stored by ``encode(_:)``; nil for none or a damaged one.
    static func decode(_ text: String?) -> LogTailState? {
        guard let text else { return nil }
        return try? JSONDecoder().decode(LogTailState.self, from: Data(text.utf8))
    }
}
