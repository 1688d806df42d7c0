/// Gathers the changes of one watch per path and combines those that come within the debounce
/// window of each other into one event, delivered when the window has passed.
///
/// The window restarts with every change to the path, but a path that keeps changing is still
/// delivered at the latest ``maximumWindows`` windows after its first change.
///
/// How a pending change (row) combines with the next change to the same path (column):
///
/// | pending \ next | create | modify | attrib | delete  | move in |
/// |----------------|--------|--------|--------|---------|---------|
/// | create         | create | create | create | nothing | create  |
/// | modify         | modify | modify | modify | delete  | move    |
/// | attrib         | modify | modify | attrib | delete  | move    |
/// | delete         | modify | modify | modify | delete  | modify  |
/// | move           | move   | move   | move   | nothing | move    |
///
/// Moves need three more rules, since a move touches two paths:
/// - A move from `a` to `b` first takes what is pending for `a`: a pending create makes it a
///   create of `b` (the file never existed before the window); a pending move from `z` makes
///   it a move from `z` (a move back to `z` is a modify); a pending modify or attrib is carried
///   by the move.
/// - When a combination turns a move into something else, the move's origin is reported gone:
///   a delete of the origin is combined at the origin's path (where a pending create becomes a
///   modify: the origin existed before the window and exists again).
/// - Renaming over an existing file is not a move: the watcher reports it as a delete of the
///   old path and a modify of the new one, whose `oldPath` names the file renamed over it.
struct EventCoalescer {
    typealias Kind = FileEvent.Kind

    /// The kinds in the order of the table's columns (and rows).
    static let order: [Kind] = [.create, .modify, .attrib, .delete, .move]

    /// The table above: `table[pending][column of next]`, nil for "nothing".
    static let table: [Kind: [Kind?]] = [
        //          + create    + modify    + attrib    + delete    + move in
        .create: [  .create,    .create,    .create,    nil,        .create ],
        .modify: [  .modify,    .modify,    .modify,    .delete,    .move   ],
        .attrib: [  .modify,    .modify,    .attrib,    .delete,    .move   ],
        .delete: [  .modify,    .modify,    .modify,    .delete,    .modify ],
        .move:   [  .move,      .move,      .move,      nil,        .move   ],
    ]

    /// The combination of a pending `old` change with the `next` one (nil: nothing remains).
    static func combine(_ old: Kind, _ next: Kind) -> Kind? {
        guard let row = table[old], let column = order.firstIndex(of: next) else { return next }
        return row[column]
    }

    /// A path that keeps changing is delivered at the latest this many windows after its first change.
    static let maximumWindows = 10.0

    /// One pending, combined change.
    struct Pending {
        var kind: Kind
        var isDirectory: Bool
        var oldPath: String?
        var first: Double
        var deadline: Double
        var sequence: Int
    }

    /// The debounce window in seconds.
    let window: Double
    /// The watch the events are for.
    let specIndex: Int
    /// The pending changes by path.
    private(set) var pending: [String: Pending] = [:]
    private var sequence = 0

    init(window: Double, specIndex: Int) {
        self.window = window
        self.specIndex = specIndex
    }

    /// The earliest time a pending change is due, or nil when none is pending.
    var nextDeadline: Double? {
        pending.values.lazy.map(\.deadline).min()
    }

    /// Adds a change at time `now`. For `.move`, `oldPath` is where the entry came from.
    mutating func add(_ kind: Kind, path: String, isDirectory: Bool, oldPath: String? = nil, now: Double) {
        guard kind == .move, let from = oldPath else {
            merge(kind, path: path, isDirectory: isDirectory, oldPath: kind == .modify ? oldPath : nil, now: now)
            return
        }
        var kind = Kind.move
        var origin: String? = from
        if let prior = pending.removeValue(forKey: from) {
            switch prior.kind {
            case .create:
                kind = .create
                origin = nil
            case .move:
                origin = prior.oldPath
                if origin == path {
                    kind = .modify
                    origin = nil
                }
            default:
                break
            }
        }
        merge(kind, path: path, isDirectory: isDirectory, oldPath: origin, now: now)
    }

    /// Combines one change into what is pending for `path`; `oldPath` is a move's origin or a
    /// rename-over modify's source.
    private mutating func merge(_ kind: Kind, path: String, isDirectory: Bool, oldPath: String?, now: Double) {
        guard let old = pending[path] else {
            sequence += 1
            pending[path] = Pending(kind: kind, isDirectory: isDirectory, oldPath: oldPath, first: now,
                                    deadline: now + window, sequence: sequence)
            return
        }
        let result = Self.combine(old.kind, kind)
        // A move that the combination turns into something else leaves its origin gone.
        var vanished: String?
        if kind == .move, result != .move { vanished = oldPath }
        if old.kind == .move, result != .move { vanished = old.oldPath }
        if let result {
            var combined = old
            combined.kind = result
            combined.isDirectory = isDirectory
            switch result {
            case .move: combined.oldPath = kind == .move ? oldPath : old.oldPath
            case .modify: combined.oldPath = oldPath ?? (old.kind == .modify ? old.oldPath : nil)
            default: combined.oldPath = nil
            }
            combined.deadline = min(now + window, old.first + window * Self.maximumWindows)
            pending[path] = combined
        } else {
            pending[path] = nil
        }
        if let vanished, vanished != path { originGone(vanished, isDirectory: isDirectory, now: now) }
    }

    /// Records that the origin of a move no longer exists.
    private mutating func originGone(_ path: String, isDirectory: Bool, now: Double) {
        if var recreated = pending[path], recreated.kind == .create {
            recreated.kind = .modify
            recreated.deadline = min(now + window, recreated.first + window * Self.maximumWindows)
            pending[path] = recreated
        } else {
            merge(.delete, path: path, isDirectory: isDirectory, oldPath: nil, now: now)
        }
    }

    /// Removes and returns the changes due at `now`, in the order their paths first changed.
    mutating func takeDue(now: Double) -> [FileEvent] {
        let due = pending.filter { $0.value.deadline <= now }
        for path in due.keys { pending[path] = nil }
        return events(due)
    }

    /// Removes and returns every pending change, in the order their paths first changed.
    mutating func takeAll() -> [FileEvent] {
        let all = pending
        pending = [:]
        return events(all)
    }

    private func events(_ entries: [String: Pending]) -> [FileEvent] {
        entries.sorted { $0.value.sequence < $1.value.sequence }.map { path, change in
            FileEvent(kind: change.kind, path: path, isDirectory: change.isDirectory,
                      oldPath: change.oldPath, specIndex: specIndex)
        }
    }
}
