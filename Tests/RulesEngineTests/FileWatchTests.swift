import Foundation
import Glibc
import Synchronization
import Testing
@testable import RulesEngine

/// The events a watcher delivered, and a bounded wait for the ones a test expects.
private final class EventLog: Sendable {
    private let events = Mutex<[FileEvent]>([])

    func append(_ event: FileEvent) {
        events.withLock { $0.append(event) }
    }

    var all: [FileEvent] {
        events.withLock { $0 }
    }

    /// The delivered events as "kind path-relative-to-base" (plus " <- old" for an old path).
    func lines(relativeTo base: String) -> [String] {
        all.map { event in
            var line = "\(event.kind.rawValue) \(relative(event.path, base))"
            if let old = event.oldPath { line += " <- \(relative(old, base))" }
            return line
        }
    }

    /// Polls until `condition` holds for the events, for at most `limit` seconds; whether it held.
    func wait(limit: Double = 5, until condition: ([FileEvent]) -> Bool) async -> Bool {
        let start = ContinuousClock.now
        while true {
            if events.withLock({ condition($0) }) { return true }
            if ContinuousClock.now - start > .seconds(limit) { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Waits until an event of `kind` for `path` has arrived.
    func wait(for kind: FileEvent.Kind, _ path: String, limit: Double = 5) async -> Bool {
        await wait(limit: limit) { $0.contains { $0.kind == kind && $0.path == path } }
    }
}

private func relative(_ path: String, _ base: String) -> String {
    path.hasPrefix(base + "/") ? String(path.dropFirst(base.count + 1)) : path
}

/// A fresh folder under /tmp, removed at the end.
private final class TempFolder {
    let path: String

    init() throws {
        var template = Array("/tmp/fms-watch-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        path = String(cString: made)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func at(_ name: String) -> String {
        path + "/" + name
    }
}

/// File operations with exactly the system calls a test means (no atomic-write helpers).
private enum Disk {
    /// Creates (or truncates) `path` and writes `text` when not empty.
    static func write(_ path: String, _ text: String = "", append: Bool = false) {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0o644)
        precondition(fd >= 0, "open \(path): \(String(cString: strerror(errno)))")
        if !text.isEmpty {
            var bytes = Array(text.utf8)
            precondition(Glibc.write(fd, &bytes, bytes.count) == bytes.count)
        }
        close(fd)
    }

    static func mkdir(_ path: String) {
        precondition(Glibc.mkdir(path, 0o755) == 0, "mkdir \(path): \(String(cString: strerror(errno)))")
    }

    static func rename(_ from: String, _ to: String) {
        precondition(Glibc.rename(from, to) == 0, "rename \(from): \(String(cString: strerror(errno)))")
    }

    static func remove(_ path: String) {
        precondition(unlink(path) == 0, "unlink \(path): \(String(cString: strerror(errno)))")
    }

    static func chmod(_ path: String, _ mode: mode_t) {
        precondition(Glibc.chmod(path, mode) == 0)
    }

    /// The targets of this process's open descriptors ("anon_inode:inotify", "pipe:[…]", …).
    static func openDescriptors() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0) }
    }

    /// The context switches of the watcher's thread so far (it is named "fms-watch").
    static func watcherThreadSwitches() -> Int? {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        for task in tasks {
            let comm = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)
            guard comm?.trimmingCharacters(in: .whitespacesAndNewlines) == "fms-watch",
                  let status = try? String(contentsOfFile: "/proc/self/task/\(task)/status", encoding: .utf8) else { continue }
            return status.split(separator: "\n").filter { $0.contains("ctxt_switches") }
                .compactMap { Int($0.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") }
                .reduce(0, +)
        }
        return nil
    }

    /// The names of this process's threads.
    static func threadNames() -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { task in
            (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}

/// Starts a watcher whose events go to a new log.
private func watch(_ specs: [WatchSpec]) throws -> (FileWatcher, EventLog) {
    let log = EventLog()
    let watcher = try FileWatcher(specs) { log.append($0) }
    return (watcher, log)
}

/// The file watcher against real inotify in temporary folders. Serialized: the thread and
/// descriptor checks count what the process has.
@Suite("file watching", .serialized)
struct FileWatchTests {
    @Test("each kind of change to a file")
    func fileKinds() async throws {
        let folder = try TempFolder()
        let (watcher, log) = try watch([WatchSpec(path: folder.path)])
        defer { watcher.stop() }
        Disk.write(folder.at("a.txt"))
        Disk.write(folder.at("a.txt"), "more", append: true)
        Disk.chmod(folder.at("a.txt"), 0o600)
        Disk.rename(folder.at("a.txt"), folder.at("b.txt"))
        Disk.remove(folder.at("b.txt"))
        Disk.mkdir(folder.at("dir"))
        #expect(await log.wait(for: .create, folder.at("dir")))
        #expect(log.lines(relativeTo: folder.path) == [
            "create a.txt", "modify a.txt", "attrib a.txt", "move b.txt <- a.txt", "delete b.txt", "create dir",
        ])
        #expect(log.all.map(\.isDirectory) == [false, false, false, false, false, true])
        #expect(log.all.allSatisfy { $0.specIndex == 0 })
    }

    @Test("only the kinds asked for; a move is a delete and a create without 'move'")
    func kindsFilter() async throws {
        let folder = try TempFolder()
        let (watcher, log) = try watch([WatchSpec(path: folder.path, kinds: [.create, .delete])])
        defer { watcher.stop() }
        Disk.write(folder.at("a"), "x")
        Disk.chmod(folder.at("a"), 0o600)
        Disk.rename(folder.at("a"), folder.at("b"))
        Disk.remove(folder.at("b"))
        #expect(await log.wait(for: .delete, folder.at("b")))
        #expect(log.lines(relativeTo: folder.path) == ["create a", "delete a", "create b", "delete b"])
    }

    @Test("recursive: a new folder, and files made in it before its watch, are seen")
    func recursiveNewFolders() async throws {
        let folder = try TempFolder()
        Disk.mkdir(folder.at("old"))
        let (watcher, log) = try watch([WatchSpec(path: folder.path, recursive: true)])
        defer { watcher.stop() }
        Disk.write(folder.at("old/a"))
        Disk.mkdir(folder.at("sub"))
        Disk.mkdir(folder.at("sub/deep"))
        Disk.write(folder.at("sub/deep/f.txt"), "x")
        Disk.write(folder.at("sub/g.txt"))
        #expect(await log.wait { events in
            ["old/a", "sub", "sub/deep", "sub/deep/f.txt", "sub/g.txt"].allSatisfy { name in
                events.contains { $0.kind == .create && $0.path == folder.at(name) }
            }
        })
        // Once picked up, the new folders are watched themselves.
        Disk.write(folder.at("sub/deep/later"))
        #expect(await log.wait(for: .create, folder.at("sub/deep/later")))
        let creates = log.all.filter { $0.kind == .create }.map(\.path)
        #expect(creates.count == Set(creates).count, "no create reported twice: \(creates)")
        #expect(log.all.first { $0.path == folder.at("sub/deep") }?.isDirectory == true)
    }

    @Test("not recursive: changes inside sub-folders are not reported")
    func notRecursive() async throws {
        let folder = try TempFolder()
        let (watcher, log) = try watch([WatchSpec(path: folder.path)])
        defer { watcher.stop() }
        Disk.mkdir(folder.at("sub"))
        Disk.write(folder.at("sub/inner"))
        Disk.write(folder.at("top"))
        #expect(await log.wait(for: .create, folder.at("top")))
        #expect(log.lines(relativeTo: folder.path) == ["create sub", "create top"])
    }

    @Test("the name pattern filters entries")
    func globFilter() async throws {
        let folder = try TempFolder()
        let (watcher, log) = try watch([WatchSpec(path: folder.path, glob: "*.log", recursive: true)])
        defer { watcher.stop() }
        Disk.write(folder.at("a.txt"), "x")
        Disk.write(folder.at("a.log"), "x")
        Disk.mkdir(folder.at("logs"))
        Disk.write(folder.at("logs/b.log"))
        Disk.write(folder.at("z.log"))
        #expect(await log.wait(for: .create, folder.at("z.log")))
        #expect(log.lines(relativeTo: folder.path) == ["create a.log", "modify a.log", "create logs/b.log", "create z.log"])
    }

    @Test("write-then-rename over a file is a modify of the final name")
    func writeThenRename() async throws {
        let folder = try TempFolder()
        Disk.write(folder.at("app.conf"), "old")
        let (watcher, log) = try watch([WatchSpec(path: folder.path, glob: "*.conf")])
        defer { watcher.stop() }
        Disk.write(folder.at("app.conf.tmp"), "new")
        Disk.rename(folder.at("app.conf.tmp"), folder.at("app.conf"))
        #expect(await log.wait(for: .modify, folder.at("app.conf")))
        #expect(log.lines(relativeTo: folder.path) == ["modify app.conf <- app.conf.tmp"])
    }

    @Test("write-then-rename without a pattern, debounced: one modify of the final name")
    func writeThenRenameDebounced() async throws {
        let folder = try TempFolder()
        Disk.write(folder.at("x"), "old")
        let (watcher, log) = try watch([WatchSpec(path: folder.path, debounce: 0.2)])
        defer { watcher.stop() }
        Disk.write(folder.at("x.tmp"), "new")
        Disk.rename(folder.at("x.tmp"), folder.at("x"))
        Disk.write(folder.at("sentinel"))
        #expect(await log.wait(for: .create, folder.at("sentinel")))
        #expect(log.lines(relativeTo: folder.path) == ["modify x <- x.tmp", "create sentinel"])
    }

    @Test("a watched file replaced by a rename keeps being watched")
    func watchedFileRenamedOver() async throws {
        let folder = try TempFolder()
        Disk.write(folder.at("app.log"), "old")
        let (watcher, log) = try watch([WatchSpec(path: folder.at("app.log"))])
        defer { watcher.stop() }
        Disk.write(folder.at("other"), "x")
        Disk.write(folder.at(".app.log.swp"), "new")
        Disk.rename(folder.at(".app.log.swp"), folder.at("app.log"))
        #expect(await log.wait(for: .modify, folder.at("app.log")))
        Disk.write(folder.at("app.log"), "again", append: true)
        #expect(await log.wait { $0.count >= 2 })
        #expect(log.lines(relativeTo: folder.path) == ["modify app.log <- .app.log.swp", "modify app.log"])
    }

    @Test("moves inside the tree are paired; a move out is a delete, a move in a create")
    func moves() async throws {
        let folder = try TempFolder()
        let tree = folder.at("tree")
        Disk.mkdir(tree)
        Disk.mkdir(tree + "/sub")
        Disk.write(tree + "/a", "x")
        Disk.write(folder.at("outside"), "x")
        let (watcher, log) = try watch([WatchSpec(path: tree, recursive: true)])
        defer { watcher.stop() }
        Disk.rename(tree + "/a", tree + "/sub/a2")
        Disk.rename(tree + "/sub/a2", folder.at("gone"))
        Disk.rename(folder.at("outside"), tree + "/in")
        Disk.rename(tree + "/sub", tree + "/moved")
        Disk.write(tree + "/moved/new")
        #expect(await log.wait(for: .create, tree + "/moved/new"))
        #expect(log.lines(relativeTo: tree) == [
            "move sub/a2 <- a", "delete sub/a2", "create in", "move moved <- sub", "create moved/new",
        ])
        #expect(log.all.first { $0.kind == .move && $0.path == tree + "/moved" }?.isDirectory == true)
    }

    @Test("a folder moved out of the tree is a delete and no longer watched")
    func folderMovedOut() async throws {
        let folder = try TempFolder()
        let tree = folder.at("tree")
        Disk.mkdir(tree)
        Disk.mkdir(tree + "/sub")
        let (watcher, log) = try watch([WatchSpec(path: tree, recursive: true)])
        defer { watcher.stop() }
        Disk.rename(tree + "/sub", folder.at("away"))
        #expect(await log.wait(for: .delete, tree + "/sub"))
        Disk.write(folder.at("away/file"))
        Disk.write(tree + "/sentinel")
        #expect(await log.wait(for: .create, tree + "/sentinel"))
        #expect(log.lines(relativeTo: tree) == ["delete sub", "create sentinel"])
    }

    @Test("a file path that does not exist yet is watched once it appears")
    func fileAppearsLater() async throws {
        let folder = try TempFolder()
        let target = folder.at("later/deeper/app.log")
        let (watcher, log) = try watch([WatchSpec(path: target)])
        defer { watcher.stop() }
        Disk.mkdir(folder.at("later"))
        Disk.write(folder.at("later/noise"))
        Disk.mkdir(folder.at("later/deeper"))
        Disk.write(target)
        #expect(await log.wait(for: .create, target))
        Disk.write(target, "line", append: true)
        #expect(await log.wait(for: .modify, target))
        #expect(log.lines(relativeTo: folder.path) == ["create later/deeper/app.log", "modify later/deeper/app.log"])
    }

    @Test("a folder path that appears later is reported with what is already in it")
    func folderAppearsLater() async throws {
        let folder = try TempFolder()
        let target = folder.at("spool")
        let (watcher, log) = try watch([WatchSpec(path: target, recursive: true)])
        defer { watcher.stop() }
        Disk.mkdir(target)
        Disk.mkdir(target + "/in")
        Disk.write(target + "/in/job")
        #expect(await log.wait { events in
            [target, target + "/in", target + "/in/job"].allSatisfy { path in
                events.contains { $0.kind == .create && $0.path == path }
            }
        })
        Disk.write(target + "/in/job2")
        #expect(await log.wait(for: .create, target + "/in/job2"))
        #expect(log.all.first?.path == target, "the folder's creation comes first")
        let creates = log.all.filter { $0.kind == .create }.map(\.path)
        #expect(creates.count == Set(creates).count, "no create reported twice: \(creates)")
    }

    @Test("a watched file deleted and recreated keeps being watched")
    func deleteAndRecreate() async throws {
        let folder = try TempFolder()
        let target = folder.at("app.log")
        Disk.write(target, "x")
        let (watcher, log) = try watch([WatchSpec(path: target)])
        defer { watcher.stop() }
        Disk.remove(target)
        #expect(await log.wait(for: .delete, target))
        Disk.write(target)
        #expect(await log.wait(for: .create, target))
        Disk.write(target, "y", append: true)
        #expect(await log.wait(for: .modify, target))
        Disk.remove(target)
        Disk.write(target)
        #expect(await log.wait { $0.filter { $0.kind == .create }.count == 2 })
        #expect(log.lines(relativeTo: folder.path) == ["delete app.log", "create app.log", "modify app.log",
                                                       "delete app.log", "create app.log"])
    }

    @Test("a watched folder deleted and recreated keeps being watched")
    func folderDeleteAndRecreate() async throws {
        let folder = try TempFolder()
        let target = folder.at("dir")
        Disk.mkdir(target)
        let (watcher, log) = try watch([WatchSpec(path: target)])
        defer { watcher.stop() }
        #expect(rmdir(target) == 0)
        #expect(await log.wait(for: .delete, target))
        Disk.mkdir(target)
        #expect(await log.wait(for: .create, target))
        Disk.write(target + "/f")
        #expect(await log.wait(for: .create, target + "/f"))
        #expect(log.lines(relativeTo: folder.path) == ["delete dir", "create dir", "create dir/f"])
    }

    @Test("a watched folder moved away is a delete; one put in its place is watched")
    func folderMovedAway() async throws {
        let folder = try TempFolder()
        let target = folder.at("dir")
        Disk.mkdir(target)
        Disk.mkdir(target + "/sub")
        let (watcher, log) = try watch([WatchSpec(path: target, recursive: true)])
        defer { watcher.stop() }
        Disk.rename(target, folder.at("elsewhere"))
        #expect(await log.wait(for: .delete, target))
        Disk.write(folder.at("elsewhere/sub/unseen"))
        Disk.mkdir(folder.at("other"))
        Disk.write(folder.at("other/inside"))
        Disk.rename(folder.at("other"), target)
        #expect(await log.wait(for: .create, target + "/inside"))
        Disk.write(target + "/later")
        #expect(await log.wait(for: .create, target + "/later"))
        #expect(log.lines(relativeTo: folder.path) == ["delete dir", "create dir", "create dir/inside", "create dir/later"])
    }

    @Test("debounce: rapid writes are one event; create then delete is nothing")
    func debounce() async throws {
        let folder = try TempFolder()
        let (watcher, log) = try watch([WatchSpec(path: folder.path, debounce: 0.2)])
        defer { watcher.stop() }
        for line in 0..<10 { Disk.write(folder.at("f"), "line \(line)\n", append: true) }
        #expect(await log.wait(for: .create, folder.at("f")))
        for line in 0..<10 { Disk.write(folder.at("f"), "line \(line)\n", append: true) }
        Disk.chmod(folder.at("f"), 0o600)
        #expect(await log.wait(for: .modify, folder.at("f")))
        Disk.write(folder.at("brief"), "x")
        Disk.remove(folder.at("brief"))
        Disk.write(folder.at("sentinel"))
        #expect(await log.wait(for: .create, folder.at("sentinel")))
        #expect(log.lines(relativeTo: folder.path) == ["create f", "modify f", "create sentinel"])
    }

    @Test("debounce: a move then a write is one move; delete then create is a modify")
    func debounceMoves() async throws {
        let folder = try TempFolder()
        Disk.write(folder.at("a"), "x")
        Disk.write(folder.at("b"), "x")
        let (watcher, log) = try watch([WatchSpec(path: folder.path, debounce: 0.2)])
        defer { watcher.stop() }
        Disk.rename(folder.at("a"), folder.at("c"))
        Disk.write(folder.at("c"), "more", append: true)
        Disk.remove(folder.at("b"))
        Disk.write(folder.at("b"), "new")
        Disk.write(folder.at("sentinel"))
        #expect(await log.wait(for: .create, folder.at("sentinel")))
        #expect(log.lines(relativeTo: folder.path) == ["move c <- a", "modify b", "create sentinel"])
    }

    @Test("the combining table", arguments: [
        ([FileEvent.Kind.create, .modify], "create x"),
        ([.modify, .modify], "modify x"),
        ([.create, .delete], ""),
        ([.delete, .create], "modify x"),
        ([.attrib, .modify], "modify x"),
        ([.modify, .attrib], "modify x"),
        ([.attrib, .attrib], "attrib x"),
        ([.modify, .delete], "delete x"),
        ([.create, .attrib, .modify], "create x"),
        ([.create, .delete, .create], "create x"),
        ([.delete, .create, .delete], "delete x"),
    ])
    func combiningTable(sequence: [FileEvent.Kind], expected: String) {
        var coalescer = EventCoalescer(window: 1, specIndex: 0)
        for (offset, kind) in sequence.enumerated() {
            coalescer.add(kind, path: "/x", isDirectory: false, now: Double(offset) * 0.1)
        }
        #expect(coalescer.takeDue(now: 0.5).isEmpty, "nothing before the window ends")
        let lines = coalescer.takeDue(now: 10).map { "\($0.kind.rawValue) \($0.path.dropFirst())" }
        #expect(lines.joined(separator: ", ") == expected)
    }

    @Test("the combining table: moves")
    func combiningMoves() {
        func run(_ steps: (inout EventCoalescer) -> Void) -> [String] {
            var coalescer = EventCoalescer(window: 1, specIndex: 0)
            steps(&coalescer)
            return coalescer.takeAll().map { event in
                "\(event.kind.rawValue) \(event.path)" + (event.oldPath.map { " <- \($0)" } ?? "")
            }
        }
        // move x→y then modify y → move
        #expect(run {
            $0.add(.move, path: "y", isDirectory: false, oldPath: "x", now: 0)
            $0.add(.modify, path: "y", isDirectory: false, now: 0.1)
        } == ["move y <- x"])
        // create x, move x→y → create y
        #expect(run {
            $0.add(.create, path: "x", isDirectory: false, now: 0)
            $0.add(.move, path: "y", isDirectory: false, oldPath: "x", now: 0.1)
        } == ["create y"])
        // modify x, move x→y → move (the move carries the change)
        #expect(run {
            $0.add(.modify, path: "x", isDirectory: false, now: 0)
            $0.add(.move, path: "y", isDirectory: false, oldPath: "x", now: 0.1)
        } == ["move y <- x"])
        // move x→y, y→z → move z from x; and back again → modify
        #expect(run {
            $0.add(.move, path: "y", isDirectory: false, oldPath: "x", now: 0)
            $0.add(.move, path: "z", isDirectory: false, oldPath: "y", now: 0.1)
        } == ["move z <- x"])
        #expect(run {
            $0.add(.move, path: "y", isDirectory: false, oldPath: "x", now: 0)
            $0.add(.move, path: "x", isDirectory: false, oldPath: "y", now: 0.1)
        } == ["modify x"])
        // move x→y then delete y → delete x
        #expect(run {
            $0.add(.move, path: "y", isDirectory: false, oldPath: "x", now: 0)
            $0.add(.delete, path: "y", isDirectory: false, now: 0.1)
        } == ["delete x"])
        // delete y, move x→y → modify y (from x) and delete x
        #expect(run {
            $0.add(.delete, path: "y", isDirectory: false, now: 0)
            $0.add(.move, path: "y", isDirectory: false, oldPath: "x", now: 0.1)
        } == ["modify y <- x", "delete x"])
        // a rename over a file: delete of the old name and modify of the new one
        #expect(run {
            $0.add(.create, path: "x.tmp", isDirectory: false, now: 0)
            $0.add(.modify, path: "x.tmp", isDirectory: false, now: 0.05)
            $0.add(.delete, path: "x.tmp", isDirectory: false, now: 0.1)
            $0.add(.modify, path: "x", isDirectory: false, oldPath: "x.tmp", now: 0.1)
        } == ["modify x <- x.tmp"])
    }

    @Test("a window restarts with each change, up to a limit")
    func windowRestarts() {
        var coalescer = EventCoalescer(window: 1, specIndex: 0)
        coalescer.add(.modify, path: "/x", isDirectory: false, now: 0)
        coalescer.add(.modify, path: "/x", isDirectory: false, now: 0.9)
        #expect(coalescer.takeDue(now: 1.5).isEmpty)
        #expect(abs((coalescer.nextDeadline ?? 0) - 1.9) < 1e-9)
        for step in 1...30 { coalescer.add(.modify, path: "/x", isDirectory: false, now: 0.9 + Double(step) * 0.5) }
        #expect(coalescer.nextDeadline == EventCoalescer.maximumWindows)
    }

    @Test("several specs: each event names its spec")
    func severalSpecs() async throws {
        let folder = try TempFolder()
        let (watcher, log) = try watch([WatchSpec(path: folder.path, glob: "*.a"),
                                        WatchSpec(path: folder.path, glob: "*.b"),
                                        WatchSpec(path: folder.at("one.a"))])
        defer { watcher.stop() }
        Disk.write(folder.at("one.a"))
        Disk.write(folder.at("two.b"))
        #expect(await log.wait { $0.count >= 3 })
        let seen = Set(log.all.map { "\($0.specIndex) \(relative($0.path, folder.path))" })
        #expect(seen == ["0 one.a", "1 two.b", "2 one.a"])
    }

    @Test("a queue overflow loses nothing silently: every file is reported or rescanned")
    func overflow() async throws {
        let folder = try TempFolder()
        let gate = Atomic<Int>(0) // 0: not blocked yet, 1: handler blocked, 2: released
        let log = EventLog()
        let watcher = try FileWatcher([WatchSpec(path: folder.path)]) { event in
            log.append(event)
            if gate.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged {
                for _ in 0..<3000 where gate.load(ordering: .acquiring) != 2 { usleep(10_000) }
            }
        }
        defer { watcher.stop() }
        Disk.write(folder.at("first"))
        #expect(await log.wait { _ in gate.load(ordering: .acquiring) == 1 })
        let count = 20_000
        let names = (0..<count).map { String(format: "f%05d", $0) }
        for name in names { Disk.write(folder.at(name), "x") }
        gate.store(2, ordering: .releasing)
        let expected = Set(names.map(folder.at))
        func covered(_ events: [FileEvent]) -> Bool {
            var seen = Set(events.lazy.filter { $0.kind == .create }.map(\.path))
            if let overflow = events.firstIndex(where: { $0.kind == .overflow }) {
                seen.formUnion(events[overflow...].lazy.filter { $0.kind == .rescan }.map(\.path))
            }
            return expected.isSubset(of: seen)
        }
        #expect(await log.wait(limit: 60) { events in events.count >= count && covered(events) })
        let events = log.all
        if let overflow = events.firstIndex(where: { $0.kind == .overflow }) {
            #expect(events[overflow].path == folder.path)
            #expect(events[overflow...].contains { $0.kind == .rescan && $0.path == folder.path })
        }
    }

    @Test("stop() ends the thread and closes the descriptors")
    func stopEndsThread() async throws {
        let folder = try TempFolder()
        let before = Disk.openDescriptors()
        let (watcher, log) = try watch([WatchSpec(path: folder.path, recursive: true)])
        let targets = watcher.descriptors.compactMap {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")
        }
        #expect(targets.count == 3)
        #expect(targets.first == "anon_inode:inotify")
        #expect(await log.wait(limit: 5) { _ in Disk.threadNames().contains("fms-watch") })
        watcher.stop()
        #expect(!Disk.threadNames().contains("fms-watch"))
        let after = Disk.openDescriptors()
        #expect(after.filter { $0 == "anon_inode:inotify" }.count == before.filter { $0 == "anon_inode:inotify" }.count)
        for pipe in targets.dropFirst() { #expect(!after.contains(pipe), "\(pipe) still open") }
        Disk.write(folder.at("after-stop"))
        try await Task.sleep(for: .milliseconds(100))
        #expect(log.all.isEmpty)
        watcher.stop()
    }

    /// Reads what the kernel queued for `engine`, handles it, and returns the events it produced.
    private func drain(_ engine: WatchEngine) throws -> [String] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let (events, _) = try engine.inotify.readEvents(into: buffer)
            if events.isEmpty { break }
            engine.handle(events, now: 0)
        }
        engine.tick(now: .infinity, queueEmpty: true)
        defer { engine.outbox.removeAll() }
        return engine.outbox.map { "\($0.kind.rawValue) \(WatchPath.name($0.path))" }
    }

    @Test("a missing path: the watch follows it down, and only what is needed is watched")
    func anchorFollowsPath() throws {
        let folder = try TempFolder()
        let engine = try WatchEngine(specs: [WatchSpec(path: folder.at("a/b/c.log"))], reportError: { _ in })
        #expect(engine.modes == [.missing(anchor: folder.path)])
        #expect(engine.watchedPaths == [folder.path])
        Disk.mkdir(folder.at("a"))
        #expect(try drain(engine) == [])
        #expect(engine.watchedPaths == [folder.at("a")])
        Disk.mkdir(folder.at("a/b"))
        Disk.write(folder.at("a/b/c.log"))
        #expect(try drain(engine) == ["create c.log"])
        #expect(engine.modes == [.file])
        #expect(engine.watchedPaths == [folder.at("a/b")])
        Disk.remove(folder.at("a/b/c.log"))
        #expect(rmdir(folder.at("a/b")) == 0)
        #expect(try drain(engine) == ["delete c.log"])
        #expect(engine.modes == [.missing(anchor: folder.at("a"))])
        #expect(engine.watchedPaths == [folder.at("a")])
    }

    @Test("after an overflow: overflow, then a rescan of what exists, then no duplicates")
    func rescanAfterOverflow() throws {
        let folder = try TempFolder()
        Disk.mkdir(folder.at("gone"))
        let engine = try WatchEngine(specs: [WatchSpec(path: folder.path, recursive: true)], reportError: { _ in })
        #expect(engine.watchedPaths == [folder.path, folder.at("gone")])
        Disk.mkdir(folder.at("sub"))
        Disk.write(folder.at("sub/x"))
        Disk.write(folder.at("y"))
        #expect(rmdir(folder.at("gone")) == 0)
        engine.handle([Inotify.Event(watch: -1, mask: .queueOverflow, cookie: 0, name: "")], now: 0)
        let rescan = engine.outbox.map { "\($0.kind.rawValue) \(relative($0.path, folder.path))" }
        engine.outbox.removeAll()
        #expect(rescan.first == "overflow \(folder.path)")
        #expect(rescan.count == 5)
        #expect(Set(rescan.dropFirst()) == ["rescan \(folder.path)", "rescan sub", "rescan sub/x", "rescan y"])
        #expect(engine.watchedPaths == [folder.path, folder.at("sub")])
        // The events queued before the rescan describe what it already reported.
        #expect(try drain(engine) == ["delete gone"])
    }

    @Test("an idle watcher sleeps: its thread does not wake up")
    func idle() async throws {
        let folder = try TempFolder()
        let (watcher, log) = try watch([WatchSpec(path: folder.path, recursive: true, debounce: 0.05)])
        defer { watcher.stop() }
        Disk.write(folder.at("a"))
        #expect(await log.wait(for: .create, folder.at("a")))
        // After the debounced event the thread is back in poll with no timeout.
        try await Task.sleep(for: .milliseconds(100))
        let before = try #require(Disk.watcherThreadSwitches())
        try await Task.sleep(for: .milliseconds(500))
        let after = try #require(Disk.watcherThreadSwitches())
        #expect(after == before, "the idle watcher thread woke up \(after - before) times")
    }

    @Test("no descriptor leaks over many watchers")
    func noLeaks() throws {
        let folder = try TempFolder()
        Disk.mkdir(folder.at("sub"))
        let inotifyBefore = Disk.openDescriptors().filter { $0 == "anon_inode:inotify" }.count
        var pipes: [String] = []
        for _ in 0..<20 {
            let watcher = try FileWatcher([WatchSpec(path: folder.path, recursive: true),
                                           WatchSpec(path: folder.at("missing/x"))]) { _ in }
            pipes += watcher.descriptors.dropFirst().compactMap {
                try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")
            }
            watcher.stop()
        }
        let after = Disk.openDescriptors()
        #expect(after.filter { $0 == "anon_inode:inotify" }.count == inotifyBefore)
        #expect(pipes.count == 40)
        #expect(!pipes.contains { after.contains($0) })
    }

    @Test("the handler may stop the watcher")
    func stopFromHandler() async throws {
        let folder = try TempFolder()
        let holder = Mutex<FileWatcher?>(nil)
        let log = EventLog()
        let watcher = try FileWatcher([WatchSpec(path: folder.path)]) { event in
            log.append(event)
            holder.withLock { $0 }?.stop()
        }
        holder.withLock { $0 = watcher }
        Disk.write(folder.at("a"))
        Disk.write(folder.at("b"))
        #expect(await log.wait(for: .create, folder.at("a")))
        #expect(await log.wait { _ in !Disk.threadNames().contains("fms-watch") })
        #expect(log.all.count == 1)
        watcher.stop()
        holder.withLock { $0 = nil }
    }

    @Test("errors name the path and the limit")
    func errors() throws {
        #expect(FileWatchError(call: "inotify_add_watch", path: "/var/log", errno: ENOSPC).description
            == "cannot watch /var/log: the inotify watch limit (fs.inotify.max_user_watches) is reached")
        #expect(FileWatchError(call: "inotify_add_watch", path: "/x", errno: ENOENT) == .noSuchPath(path: "/x"))
        #expect(FileWatchError(call: "inotify_add_watch", path: "/x", errno: EACCES).description
            == "cannot watch /x: permission denied")
        #expect(FileWatchError(call: "inotify_init1", path: nil, errno: EMFILE) == .instanceLimitReached)
        #expect(FileWatchError(call: "inotify_add_watch", path: "/x", errno: ENOTDIR).description
            == "cannot watch /x: inotify_add_watch failed: Not a directory")
        let inotify = try Inotify()
        #expect(throws: FileWatchError.noSuchPath(path: "/nonexistent/fms")) {
            try inotify.addWatch("/nonexistent/fms", mask: .create)
        }
        #expect(throws: FileWatchError.system(call: "inotify_rm_watch", path: nil, errno: EINVAL)) {
            try inotify.removeWatch(12345)
        }
    }

    @Test("inotify records are parsed from raw bytes, stopping at a truncated one")
    func parsing() {
        func record(_ wd: Int32, _ mask: UInt32, _ cookie: UInt32, _ name: String, padTo: Int = 0) -> [UInt8] {
            var nameBytes = Array(name.utf8)
            if !name.isEmpty { nameBytes.append(0) }
            while nameBytes.count < padTo { nameBytes.append(0) }
            var bytes: [UInt8] = []
            for value in [UInt32(bitPattern: wd), mask, cookie, UInt32(nameBytes.count)] {
                withUnsafeBytes(of: value) { bytes += $0 }
            }
            return bytes + nameBytes
        }
        let create = Inotify.Mask.create.rawValue | Inotify.Mask.isDirectory.rawValue
        var bytes = [UInt8(0)] // misaligned on purpose
        bytes += record(3, create, 0, "sub", padTo: 16)
        bytes += record(-1, Inotify.Mask.queueOverflow.rawValue, 0, "")
        bytes += record(4, Inotify.Mask.movedFrom.rawValue, 77, "é.log")
        let whole = bytes.count - 1
        bytes += record(5, Inotify.Mask.modify.rawValue, 0, "truncated", padTo: 16).prefix(20)
        let (events, consumed) = bytes.withUnsafeBytes { Inotify.parse(UnsafeRawBufferPointer(rebasing: $0.dropFirst())) }
        #expect(consumed == whole)
        #expect(events == [
            Inotify.Event(watch: 3, mask: [.create, .isDirectory], cookie: 0, name: "sub"),
            Inotify.Event(watch: -1, mask: .queueOverflow, cookie: 0, name: ""),
            Inotify.Event(watch: 4, mask: .movedFrom, cookie: 77, name: "é.log"),
        ])
        #expect(events[0].description == "wd 3 CREATE|ISDIR 'sub'")
        #expect([UInt8]().withUnsafeBytes { Inotify.parse($0).events.isEmpty })
    }

    @Test("watch paths are made absolute and normalized")
    func normalization() {
        #expect(WatchSpec(path: "/var//log/./app/").path == "/var/log/app")
        #expect(WatchSpec(path: "/").path == "/")
        #expect(WatchSpec(path: "rel/x").path == FileManager.default.currentDirectoryPath + "/rel/x")
        #expect(WatchPath.isInside("/a/b", "/a") && !WatchPath.isInside("/ab", "/a") && !WatchPath.isInside("/a", "/a"))
        #expect(WatchPath.isInside("/a", "/") && !WatchPath.isInside("/", "/"))
        #expect(WatchPath.rebase("/a/b/c", from: "/a/b", to: "/z") == "/z/c")
        #expect(WatchPath.parent("/a") == "/" && WatchPath.parent("/a/b") == "/a")
    }
}
