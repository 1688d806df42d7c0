import Glibc

/// The state behind a ``FileWatcher``: the inotify watches, what each ``WatchSpec`` currently
/// watches, the folder listings that tell a new entry from one already reported, moves waiting
/// for their other half, and the debounce buffers.
///
/// Not thread-safe: it is built on the caller's thread, then owned by the watcher's thread alone.
///
/// How a spec is watched depends on what its path is now:
/// - a folder: the folder itself (and, when recursive, every folder below it); its own
///   delete and move events tell when it goes away;
/// - a file: the folder holding it, so that a delete, a recreation and a rename over it are seen;
/// - missing: the nearest existing folder above it, for the creation of the next component;
///   when the path appears it is watched as above and its creation reported (with a folder's
///   contents, as creates).
final class WatchEngine {
    /// How a spec's path is watched at the moment.
    enum Mode: Equatable {
        case directory
        case file
        case missing(anchor: String)
    }

    /// Why a spec's watches are being (re)established.
    enum Reason {
        /// At start: nothing is reported, failures are thrown.
        case start
        /// After a change to the path or a folder above it: its appearance or disappearance is reported.
        case change
        /// After an overflow: everything that exists is reported as `.rescan`.
        case rescan
    }

    /// One spec and how it is watched.
    struct Watch {
        let spec: WatchSpec
        var mode: Mode
        /// Whether the handler was last told that the path exists.
        var present = false
        var coalescer: EventCoalescer
    }

    /// One watched folder.
    struct Directory {
        var path: String
        /// Whether its entries are of interest (and listed in `known`), or it only waits for a
        /// path below it to appear.
        var tracked: Bool
        /// Its entries (name: is a folder), kept from listings and events.
        var known: [String: Bool] = [:]
    }

    /// A move-out waiting for its move-in: the next event, or (when it was the last one queued)
    /// a short grace.
    struct PendingMove {
        var path: String
        var isDirectory: Bool
        var deadline: Double
    }

    /// What a folder's watch asks for when its entries are of interest.
    static let trackedMask: Inotify.Mask = [.create, .modify, .attrib, .movedFrom, .movedTo, .delete,
                                            .deleteSelf, .moveSelf, .onlyDirectory, .excludeUnlinked]
    /// What a folder's watch asks for when it only waits for a path below it to appear.
    static let anchorMask: Inotify.Mask = [.create, .movedTo, .deleteSelf, .moveSelf, .onlyDirectory]
    /// How long a move-out that was the last event queued waits for its move-in (the kernel
    /// may queue the second half of a rename a moment after the first).
    static let moveGrace = 0.01

    let inotify: Inotify
    private(set) var watches: [Watch]
    private var directories: [Int32: Directory] = [:]
    private var descriptorByPath: [String: Int32] = [:]
    private var pendingMoves: [UInt32: PendingMove] = [:]
    private var dirty: Set<Int> = []
    /// Whether some watch may no longer be needed.
    private var needsPrune = false
    private let reportError: @Sendable (FileWatchError) -> Void
    /// Events ready for the handler, in order.
    var outbox: [FileEvent] = []

    /// Watches `specs`; throws when a path cannot be watched at all (its own watch, or the
    /// watch of the folder above a missing path, fails) or the watch limit is reached.
    /// Folders below it that cannot be watched are reported to `reportError` and skipped.
    init(specs: [WatchSpec], reportError: @escaping @Sendable (FileWatchError) -> Void) throws(FileWatchError) {
        inotify = try Inotify()
        self.reportError = reportError
        watches = specs.enumerated().map { index, spec in
            Watch(spec: spec, mode: .missing(anchor: "/"), coalescer: EventCoalescer(window: spec.debounce, specIndex: index))
        }
        for index in watches.indices {
            try resolve(index, reason: .start)
        }
        prune()
    }

    /// The folders watched now (for tests).
    var watchedPaths: Set<String> {
        Set(descriptorByPath.keys)
    }

    /// The mode of each spec (for tests).
    var modes: [Mode] {
        watches.map(\.mode)
    }

    // MARK: - Reading

    /// Handles a batch of events read at `now`.
    func handle(_ events: [Inotify.Event], now: Double) {
        for event in events {
            handle(event, now: now)
            for index in dirty.sorted() {
                dirty.remove(index)
                try? resolve(index, reason: .change, now: now)
                needsPrune = true
            }
            if needsPrune { prune() }
        }
    }

    /// Reports the moves whose move-in did not come as deletes, and moves due debounced events
    /// to the outbox. `queueEmpty` tells whether the last read emptied the kernel's queue.
    func tick(now: Double, queueEmpty: Bool) {
        if queueEmpty {
            let expired = pendingMoves.filter { $0.value.deadline <= now }
            for (cookie, move) in expired.sorted(by: { $0.key < $1.key }) {
                pendingMoves[cookie] = nil
                movedAway(move, now: now)
            }
            if needsPrune { prune() }
        }
        for index in watches.indices where watches[index].spec.debounce > 0 {
            deliver(watches[index].coalescer.takeDue(now: now), of: index)
        }
    }

    /// Delivers every debounced change now, due or not (a flushing stop).
    func flushPending(now: Double) {
        tick(now: now, queueEmpty: true)
        for index in watches.indices where watches[index].spec.debounce > 0 {
            deliver(watches[index].coalescer.takeAll(), of: index)
        }
    }

    /// The earliest time `tick` has something to do, or nil.
    var nextDeadline: Double? {
        let moves = pendingMoves.values.lazy.map(\.deadline).min()
        let debounced = watches.lazy.compactMap(\.coalescer.nextDeadline).min()
        switch (moves, debounced) {
        case let (move?, debounce?): return min(move, debounce)
        case let (move?, nil): return move
        case let (nil, debounce?): return debounce
        case (nil, nil): return nil
        }
    }

    private func handle(_ event: Inotify.Event, now: Double) {
        let mask = event.mask
        // The kernel queues both halves of a rename one after the other: a move-out followed
        // by anything but its move-in left the watched folders (inotify(7) suggests this).
        if !pendingMoves.isEmpty, !(mask.contains(.movedTo) && pendingMoves[event.cookie] != nil) {
            for (cookie, move) in pendingMoves.sorted(by: { $0.key < $1.key }) {
                pendingMoves[cookie] = nil
                movedAway(move, now: now)
            }
        }
        if mask.contains(.queueOverflow) {
            overflow(now: now)
            return
        }
        if mask.contains(.ignored) {
            if let directory = directories.removeValue(forKey: event.watch) {
                if descriptorByPath[directory.path] == event.watch { descriptorByPath[directory.path] = nil }
                markDirty(directory.path)
            }
            return
        }
        guard let directory = directories[event.watch] else { return }
        let isDirectory = mask.contains(.isDirectory)
        if event.name.isEmpty {
            handleSelf(mask, path: directory.path, isDirectory: isDirectory, now: now)
            return
        }
        let path = WatchPath.join(directory.path, event.name)
        if mask.contains(.create) {
            created(path, name: event.name, in: event.watch, isDirectory: isDirectory, now: now)
        }
        if mask.contains(.modify) {
            emitCovering(.modify, path: path, isDirectory: isDirectory, now: now)
        }
        if mask.contains(.attrib) {
            emitCovering(.attrib, path: path, isDirectory: isDirectory, now: now)
        }
        if mask.contains(.delete) {
            directories[event.watch]?.known[event.name] = nil
            emitCovering(.delete, path: path, isDirectory: isDirectory, now: now)
            markDirty(path)
        }
        if mask.contains(.movedFrom) {
            directories[event.watch]?.known[event.name] = nil
            pendingMoves[event.cookie] = PendingMove(path: path, isDirectory: isDirectory, deadline: now + Self.moveGrace)
            markDirty(path)
        }
        if mask.contains(.movedTo) {
            let replaced = directories[event.watch]?.known[event.name] != nil
            if directories[event.watch]?.tracked == true { directories[event.watch]?.known[event.name] = isDirectory }
            if let origin = pendingMoves.removeValue(forKey: event.cookie) {
                moved(from: origin.path, to: path, isDirectory: isDirectory, replaced: replaced, now: now)
            } else {
                movedIn(path, isDirectory: isDirectory, replaced: replaced, now: now)
            }
            markDirty(path)
        }
    }

    /// An event about a watched folder itself. Its parent's watch, when there is one, reports
    /// the same change as an entry event, so only the folder's disappearance is acted on then.
    private func handleSelf(_ mask: Inotify.Mask, path: String, isDirectory: Bool, now: Double) {
        let parent = WatchPath.parent(path)
        let parentReports = path != "/" && descriptorByPath[parent].flatMap { directories[$0]?.tracked } == true
        if !mask.intersection([.deleteSelf, .moveSelf, .unmount]).isEmpty {
            markDirty(path)
        } else if mask.contains(.attrib), !parentReports {
            emitCovering(.attrib, path: path, isDirectory: true, now: now)
        }
    }

    private func created(_ path: String, name: String, in watch: Int32, isDirectory: Bool, now: Double) {
        markDirty(path)
        guard let directory = directories[watch], directory.tracked else { return }
        // Already reported by a listing made after the watch was added.
        if directory.known[name] != nil { return }
        directories[watch]?.known[name] = isDirectory
        emitCovering(.create, path: path, isDirectory: isDirectory, now: now)
        if isDirectory { reportContents(of: path, now: now) }
    }

    /// Watches a folder that just appeared (as far as the specs need) and reports what is
    /// already in it as creates, to the specs that see its contents (and pass `to`).
    private func reportContents(of path: String, to audience: ((Int) -> Bool)? = nil, now: Double) {
        let viewers = watches.indices.filter { coversContents($0, path) && audience?($0) != false }
        let recursive = watches.contains { watch in
            watch.mode == .directory && watch.spec.recursive
                && (watch.spec.path == path || WatchPath.isInside(path, watch.spec.path))
        }
        guard !viewers.isEmpty || (recursive && descriptorByPath[path] == nil) else { return }
        let entries = walk(path, recursive: recursive, follow: watches.contains { $0.spec.path == path })
        for entry in entries {
            for index in viewers where matches(index, entry.path) {
                emit(index, .create, path: entry.path, isDirectory: entry.isDirectory, now: now)
            }
        }
    }

    /// A rename inside the watched folders, both halves seen.
    private func moved(from origin: String, to path: String, isDirectory: Bool, replaced: Bool, now: Double) {
        if isDirectory {
            rebase(origin, to: path)
            needsPrune = true
        }
        for index in watches.indices {
            let source = matches(index, origin), target = matches(index, path)
            switch (source, target) {
            case (true, true) where replaced:
                emit(index, .delete, path: origin, isDirectory: isDirectory, now: now)
                emit(index, .modify, path: path, isDirectory: isDirectory, oldPath: origin, now: now)
            case (true, true) where watches[index].spec.kinds.contains(.move):
                emit(index, .move, path: path, isDirectory: isDirectory, oldPath: origin, now: now)
            case (true, true):
                emit(index, .delete, path: origin, isDirectory: isDirectory, now: now)
                emit(index, .create, path: path, isDirectory: isDirectory, now: now)
            case (true, false):
                emit(index, .delete, path: origin, isDirectory: isDirectory, now: now)
            case (false, true):
                emit(index, replaced ? .modify : .create, path: path, isDirectory: isDirectory,
                     oldPath: replaced ? origin : nil, now: now)
            case (false, false):
                break
            }
        }
        // Specs that see the folder's contents only now are told about them as creates.
        if isDirectory { reportContents(of: path, to: { !self.coversContents($0, origin) }, now: now) }
    }

    /// A rename into the watched folders from elsewhere: a create (a modify when it replaced an entry).
    private func movedIn(_ path: String, isDirectory: Bool, replaced: Bool, now: Double) {
        emitCovering(replaced ? .modify : .create, path: path, isDirectory: isDirectory, now: now)
        if isDirectory { reportContents(of: path, now: now) }
    }

    /// A rename out of the watched folders: a delete.
    private func movedAway(_ move: PendingMove, now: Double) {
        emitCovering(.delete, path: move.path, isDirectory: move.isDirectory, now: now)
        if move.isDirectory {
            forgetTree(move.path)
            needsPrune = true
        }
    }

    /// After an overflow: flushes what is pending, reports `.overflow` for every spec, then
    /// watches everything afresh and reports what exists as `.rescan`.
    private func overflow(now: Double) {
        for (cookie, move) in pendingMoves.sorted(by: { $0.key < $1.key }) {
            pendingMoves[cookie] = nil
            movedAway(move, now: now)
        }
        for index in watches.indices where watches[index].spec.debounce > 0 {
            deliver(watches[index].coalescer.takeAll(), of: index)
        }
        for index in watches.indices {
            outbox.append(FileEvent(kind: .overflow, path: watches[index].spec.path,
                                    isDirectory: watches[index].mode == .directory, specIndex: index))
        }
        dirty.removeAll()
        for index in watches.indices {
            try? resolve(index, reason: .rescan, now: now)
        }
        prune()
    }

    // MARK: - Specs

    /// Establishes how spec `index` is watched, from what its path is now; reports its
    /// appearance or disappearance (`.change`), or everything in it (`.rescan`).
    private func resolve(_ index: Int, reason: Reason, now: Double = 0) throws(FileWatchError) {
        let spec = watches[index].spec
        let root = spec.path
        for _ in 0..<64 {
            let type = system_fileType(root, followLinks: true)
            switch type {
            case .success(.directory):
                let wasWatched = watches[index].mode == .directory && watches[index].present
                let watch: (descriptor: Int32, fresh: Bool)
                switch watchDirectory(root, tracked: true, follow: true) {
                case .success(let added): watch = added
                case .failure(let error) where error.errno == ENOENT || error.errno == ENOTDIR: continue
                case .failure(let error):
                    if reason == .start { throw error }
                    reportError(error)
                    return
                }
                if reason == .change, wasWatched, watch.fresh {
                    // Another folder took the watched one's place unseen.
                    emit(index, .delete, path: root, isDirectory: true, now: now)
                }
                watches[index].mode = .directory
                // An entry event still queued for the folder's creation reports it (to every
                // spec that sees it); otherwise this does.
                let announce = reason == .change && !watches[index].present && !creationQueued(root)
                if reason != .change || announce {
                    watches[index].present = true
                    noteExisting(root, isDirectory: true)
                }
                guard reason != .change || !wasWatched || watch.fresh else { return }
                var failures: [FileWatchError] = []
                let entries = walk(root, recursive: spec.recursive, follow: true, failures: &failures)
                if reason == .start, let limit = failures.first(where: { $0.errno == ENOSPC }) { throw limit }
                failures.forEach(reportError)
                switch reason {
                case .start:
                    break
                case .change:
                    guard announce else { return }
                    emit(index, .create, path: root, isDirectory: true, now: now)
                    for entry in entries where matches(index, entry.path) {
                        emit(index, .create, path: entry.path, isDirectory: entry.isDirectory, now: now)
                    }
                case .rescan:
                    // Folders whose removal the overflow hid are watched no more.
                    if spec.recursive {
                        let folders = Set([root] + entries.filter(\.isDirectory).map(\.path))
                        for path in descriptorByPath.keys where WatchPath.isInside(path, root) && !folders.contains(path) {
                            forgetTree(path)
                        }
                    }
                    rescanned(index, root, isDirectory: true)
                    for entry in entries where matches(index, entry.path) {
                        rescanned(index, entry.path, isDirectory: entry.isDirectory)
                    }
                }
                return

            case .success(.other):
                let parent = WatchPath.parent(root)
                switch watchDirectory(parent, tracked: true, follow: true) {
                case .success(let added):
                    if added.fresh || reason == .rescan { _ = list(parent) }
                case .failure(let error) where error.errno == ENOENT || error.errno == ENOTDIR: continue
                case .failure(let error):
                    if reason == .start { throw error }
                    reportError(error)
                    return
                }
                watches[index].mode = .file
                let announce = reason == .change && !watches[index].present && !creationQueued(root)
                if reason != .change || announce {
                    watches[index].present = true
                    noteExisting(root, isDirectory: false)
                }
                switch reason {
                case .start: break
                case .change: if announce { emit(index, .create, path: root, isDirectory: false, now: now) }
                case .rescan: rescanned(index, root, isDirectory: false)
                }
                return

            case .failure(let failure) where failure.code == ENOENT || failure.code == ENOTDIR:
                if watches[index].present, reason != .start {
                    emit(index, .delete, path: root, isDirectory: watches[index].mode == .directory, now: now)
                }
                watches[index].present = false
                var anchor = WatchPath.parent(root)
                while anchor != "/", (try? system_fileType(anchor, followLinks: true).get()) != .directory {
                    anchor = WatchPath.parent(anchor)
                }
                watches[index].mode = .missing(anchor: anchor)
                switch watchDirectory(anchor, tracked: false, follow: true) {
                case .success: break
                case .failure(let error) where error.errno == ENOENT || error.errno == ENOTDIR: continue
                case .failure(let error):
                    if reason == .start { throw error }
                    reportError(error)
                    return
                }
                // The next component may have appeared before the watch was in place.
                let next = nextComponent(of: root, below: anchor)
                switch system_fileType(next, followLinks: true) {
                case .success(.directory): continue
                case .success where next == root: continue
                default: return
                }

            case .failure(let failure):
                let error = FileWatchError(call: "stat", path: root, errno: failure.code)
                if reason == .start { throw error }
                reportError(error)
                return
            }
        }
    }

    /// Whether the creation of `path` (found by `stat`) is still to come as an entry event:
    /// its parent is tracked and does not list it yet.
    private func creationQueued(_ path: String) -> Bool {
        guard path != "/", let parent = descriptorByPath[WatchPath.parent(path)],
              let directory = directories[parent], directory.tracked else { return false }
        return directory.known[WatchPath.name(path)] == nil
    }

    /// Records that `path` exists in its (tracked) parent's entries, so that a create event
    /// still queued for it is not reported again.
    private func noteExisting(_ path: String, isDirectory: Bool) {
        guard path != "/", let parent = descriptorByPath[WatchPath.parent(path)],
              directories[parent]?.tracked == true else { return }
        directories[parent]?.known[WatchPath.name(path)] = isDirectory
    }

    /// The path of the component of `path` right below its ancestor `anchor`.
    private func nextComponent(of path: String, below anchor: String) -> String {
        var next = path
        while WatchPath.parent(next) != anchor, next != "/" {
            next = WatchPath.parent(next)
        }
        return next
    }

    /// Marks the specs whose path is `path` or below it for re-resolving.
    private func markDirty(_ path: String) {
        for index in watches.indices {
            let root = watches[index].spec.path
            if root == path || WatchPath.isInside(root, path) { dirty.insert(index) }
        }
    }

    /// Whether spec `index` covers `path` (ignoring its name pattern).
    private func covers(_ index: Int, _ path: String) -> Bool {
        let spec = watches[index].spec
        switch watches[index].mode {
        case .directory:
            if path == spec.path { return true }
            return spec.recursive ? WatchPath.isInside(path, spec.path) : WatchPath.parent(path) == spec.path && path != "/"
        case .file:
            return path == spec.path
        case .missing:
            return false
        }
    }

    /// Whether spec `index` reports events for `path`: covered, and the name matches the pattern
    /// (the watched path itself always matches).
    private func matches(_ index: Int, _ path: String) -> Bool {
        guard covers(index, path) else { return false }
        let spec = watches[index].spec
        guard let glob = spec.glob, path != spec.path else { return true }
        return system_fnmatch(glob, WatchPath.name(path))
    }

    /// Whether spec `index` covers the entries of the folder `path`.
    private func coversContents(_ index: Int, _ path: String) -> Bool {
        let spec = watches[index].spec
        guard watches[index].mode == .directory else { return false }
        return path == spec.path || (spec.recursive && WatchPath.isInside(path, spec.path))
    }

    /// Whether any spec needs the folder `path` watched.
    private func needed(_ path: String) -> Bool {
        watches.contains { watch in
            switch watch.mode {
            case .directory:
                return path == watch.spec.path || (watch.spec.recursive && WatchPath.isInside(path, watch.spec.path))
            case .file:
                return path == WatchPath.parent(watch.spec.path)
            case .missing(let anchor):
                return path == anchor
            }
        }
    }

    // MARK: - Watches

    /// Watches the folder `path` (again: the kernel returns the same descriptor for the same
    /// folder); `fresh` tells whether the descriptor is new for this path, or newly tracked.
    private func watchDirectory(_ path: String, tracked: Bool, follow: Bool) -> Result<(descriptor: Int32, fresh: Bool), FileWatchError> {
        let existing = descriptorByPath[path]
        let keepTracked = existing.flatMap { directories[$0]?.tracked } ?? false
        var mask = tracked || keepTracked ? Self.trackedMask : Self.anchorMask
        if !follow { mask.insert(.dontFollow) }
        let descriptor: Int32
        do {
            descriptor = try inotify.addWatch(path, mask: mask)
        } catch {
            return .failure(error)
        }
        if let existing, existing != descriptor {
            // Another folder took this path's place: the old one's watches are stale.
            forgetTree(path)
        }
        if let other = directories[descriptor], other.path != path {
            // The same folder under another path (moved unseen, or reached through a link).
            if descriptorByPath[other.path] == descriptor { descriptorByPath[other.path] = nil }
        }
        let fresh = existing != descriptor || (tracked && !keepTracked)
        var directory = directories[descriptor] ?? Directory(path: path, tracked: false)
        directory.path = path
        directory.tracked = directory.tracked || tracked || keepTracked
        directories[descriptor] = directory
        descriptorByPath[path] = descriptor
        return .success((descriptor, fresh))
    }

    /// Lists the folder `path`, recording its entries as known; empty when it cannot be read.
    @discardableResult
    private func list(_ path: String) -> [(name: String, isDirectory: Bool)] {
        guard case .success(let entries) = system_listDirectory(path) else { return [] }
        if let descriptor = descriptorByPath[path], directories[descriptor]?.tracked == true {
            directories[descriptor]?.known = Dictionary(entries.map { ($0.name, $0.isDirectory) }, uniquingKeysWith: { $1 })
        }
        return entries
    }

    private func walk(_ root: String, recursive: Bool, follow: Bool) -> [(path: String, isDirectory: Bool)] {
        var failures: [FileWatchError] = []
        let entries = walk(root, recursive: recursive, follow: follow, failures: &failures)
        failures.forEach(reportError)
        return entries
    }

    /// Watches the folder `root` (and, when `recursive`, every folder below it), lists them,
    /// and returns every entry found below `root`. Folders that vanish meanwhile are skipped;
    /// other failures are collected in `failures`.
    private func walk(_ root: String, recursive: Bool, follow: Bool,
                      failures: inout [FileWatchError]) -> [(path: String, isDirectory: Bool)] {
        var found: [(path: String, isDirectory: Bool)] = []
        var stack = [root]
        while let folder = stack.popLast() {
            switch watchDirectory(folder, tracked: true, follow: follow && folder == root) {
            case .success: break
            case .failure(let error) where error.errno == ENOENT || error.errno == ENOTDIR: continue
            case .failure(let error):
                failures.append(error)
                continue
            }
            for entry in list(folder) {
                let path = WatchPath.join(folder, entry.name)
                found.append((path, entry.isDirectory))
                if recursive && entry.isDirectory { stack.append(path) }
            }
        }
        return found
    }

    /// Renames the watched folders at `origin` and below it to `path`.
    private func rebase(_ origin: String, to path: String) {
        let moving = descriptorByPath.filter { $0.key == origin || WatchPath.isInside($0.key, origin) }
        for (old, _) in moving { descriptorByPath[old] = nil }
        for (old, descriptor) in moving {
            let new = WatchPath.rebase(old, from: origin, to: path)
            directories[descriptor]?.path = new
            descriptorByPath[new] = descriptor
        }
    }

    /// Stops watching the folder `path` and every folder below it.
    private func forgetTree(_ path: String) {
        let gone = descriptorByPath.filter { $0.key == path || WatchPath.isInside($0.key, path) }
        for (old, descriptor) in gone {
            descriptorByPath[old] = nil
            directories[descriptor] = nil
            try? inotify.removeWatch(descriptor)
        }
    }

    /// Removes the watches no spec needs any more.
    private func prune() {
        needsPrune = false
        for (path, descriptor) in descriptorByPath where !needed(path) {
            descriptorByPath[path] = nil
            directories[descriptor] = nil
            try? inotify.removeWatch(descriptor)
        }
    }

    // MARK: - Reporting

    /// Reports a change to every spec that matches `path`.
    private func emitCovering(_ kind: FileEvent.Kind, path: String, isDirectory: Bool, now: Double) {
        for index in watches.indices where matches(index, path) {
            emit(index, kind, path: path, isDirectory: isDirectory, now: now)
        }
    }

    /// Reports a change to spec `index`: at once without a debounce, else through its coalescer.
    private func emit(_ index: Int, _ kind: FileEvent.Kind, path: String, isDirectory: Bool,
                      oldPath: String? = nil, now: Double) {
        let root = watches[index].spec.path
        if path == root { watches[index].present = kind != .delete }
        if oldPath == root, kind == .move { watches[index].present = false }
        if watches[index].spec.debounce > 0 {
            watches[index].coalescer.add(kind, path: path, isDirectory: isDirectory, oldPath: oldPath, now: now)
        } else {
            deliver([FileEvent(kind: kind, path: path, isDirectory: isDirectory, oldPath: oldPath, specIndex: index)], of: index)
        }
    }

    private func rescanned(_ index: Int, _ path: String, isDirectory: Bool) {
        outbox.append(FileEvent(kind: .rescan, path: path, isDirectory: isDirectory, specIndex: index))
    }

    /// Puts the events of the kinds spec `index` asks for into the outbox.
    private func deliver(_ events: [FileEvent], of index: Int) {
        let kinds = watches[index].spec.kinds
        outbox.append(contentsOf: events.lazy.filter { kinds.contains($0.kind) })
    }
}
