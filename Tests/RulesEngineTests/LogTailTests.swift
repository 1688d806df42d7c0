import Foundation
import Glibc
import Testing
@testable import RulesEngine
@testable import FMSSimulator

/// A fresh folder per test, removed afterwards.
private final class TailFolder {
    let path: String

    init() {
        var template = Array((NSTemporaryDirectory() + "/logtail-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

private func append(_ path: String, _ text: String) {
    let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
    precondition(fd >= 0, "open \(path) failed")
    let bytes = Array(text.utf8)
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    precondition(written == bytes.count)
    close(fd)
}

private func create(_ path: String, _ text: String = "") {
    let fd = open(path, O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC, 0o644)
    precondition(fd >= 0)
    close(fd)
    if !text.isEmpty { append(path, text) }
}

private func move(_ from: String, _ to: String) { precondition(rename(from, to) == 0) }

private func size(_ path: String) -> UInt64 {
    var info = stat()
    return stat(path, &info) == 0 ? UInt64(info.st_size) : 0
}

private func roundTrip(_ state: LogTailState) throws -> LogTailState {
    try JSONDecoder().decode(LogTailState.self, from: JSONEncoder().encode(state))
}

@Suite("tail: following a log file")
struct LogTailTests {
    @Test("first sight starts at the end: only new lines")
    func firstSight() {
        let folder = TailFolder()
        let log = folder.file("app.log")
        create(log, "old 1\nold 2\n")
        let tail = LogTail(path: log, state: nil)
        let first = tail.poll()
        #expect(first.lines.isEmpty)
        #expect(first.events == [.opened])
        #expect(first.state.current?.offset == size(log))
        append(log, "new 1\nnew 2\n")
        #expect(tail.poll().lines == ["new 1", "new 2"])
        #expect(tail.poll().lines.isEmpty)
    }

    @Test("first sight of a file whose last line is unfinished delivers that line once completed")
    func firstSightUnfinished() {
        let folder = TailFolder()
        let log = folder.file("app.log")
        create(log, "old\nhalf")
        let tail = LogTail(path: log, state: nil)
        #expect(tail.poll().lines.isEmpty)
        append(log, " done\nnext\n")
        #expect(tail.poll().lines == ["half done", "next"])
    }

    @Test("appended lines; an unfinished line is held until its newline; CRLF is trimmed")
    func appended() {
        let folder = TailFolder()
        let log = folder.file("app.log")
        create(log)
        let tail = LogTail(path: log, state: nil)
        #expect(tail.poll().lines.isEmpty)
        append(log, "a\nb")
        let batch = tail.poll()
        #expect(batch.lines == ["a"])
        #expect(batch.state.current?.offset == 2, "the offset stops before the unfinished line")
        #expect(tail.poll().lines.isEmpty)
        append(log, "c")
        #expect(tail.poll().lines.isEmpty)
        append(log, "\nwindows\r\n\n")
        #expect(tail.poll().lines == ["bc", "windows", ""])
        #expect(tail.state.current?.offset == size(log))
    }

    @Test("rotation by rename: lines written to the old file after the rename are still read")
    func renameRotation() {
        let folder = TailFolder()
        let log = folder.file("app.log")
        let old = folder.file("app.log.1")
        create(log, "seen\n")
        let tail = LogTail(path: log, state: nil)
        _ = tail.poll()
        append(log, "1\n")
        move(log, old)
        append(old, "2\n")
        var batch = tail.poll()
        #expect(batch.lines == ["1", "2"])
        #expect(batch.events == [.rotated])
        #expect(batch.state.current == nil)
        #expect(batch.state.rotated.count == 1)
        #expect(batch.problems.isEmpty, "a missing path between the rotation steps is not an error")

        append(old, "3\n") // the writer has not reopened yet
        #expect(tail.poll().lines == ["3"])

        create(log, "5\n") // the writer reopens: new file, from its beginning
        append(old, "4 and a half") // written before it moved on, unfinished
        batch = tail.poll()
        #expect(batch.lines == ["4 and a half", "5"])
        #expect(batch.events == [.opened, .finished])
        #expect(batch.state.rotated.isEmpty)

        append(old, "too late\n")
        append(log, "6\n")
        #expect(tail.poll().lines == ["6"])
    }

    @Test("rotation by rename with the new file created at once: the old one is kept until the new one has data")
    func renameThenCreate() {
        let folder = TailFolder()
        let log = folder.file("app.log")
        let old = folder.file("app.log.1")
        create(log)
        let tail = LogTail(path: log, state: nil)
        append(log, "a\n")
        move(log, old)
        create(log)
        append(old, "b\n")
        var batch = tail.poll()
        #expect(batch.lines == ["a", "b"])
        #expect(batch.events == [.opened, .rotated, .opened]) // first sight (at init), then the new file
        append(old, "c\n")
        append(log, "d\n")
        batch = tail.poll()
        #expect(batch.lines == ["c", "d"])
        #expect(batch.events == [.finished])
    }

    @Test("a deleted file is finished and a recreated one read from its beginning")
    func deleted() {
        let folder = TailFolder()
        let log = folder.file("app.log")
        create(log)
        let tail = LogTail(path: log, state: nil)
        append(log, "x\n")
        unlink(log)
        let batch = tail.poll()
        #expect(batch.lines == ["x"])
        #expect(batch.events == [.opened, .rotated, .finished]) // opened: first sight, at init
        create(log, "y\n")
        #expect(tail.poll().lines == ["y"])
    }

    @Test("truncation restarts at the beginning")
    func truncation() {
        let folder = TailFolder()
        let log = folder.file("app.log")
        create(log, "a\nb\n")
        let tail = LogTail(path: log, state: nil)
        append(log, "c\n")
        #expect(tail.poll().lines == ["c"])
        append(log, "held")
        #expect(tail.poll().lines.isEmpty)
        #expect(truncate(log, 0) == 0)
        append(log, "d\n")
        let batch = tail.poll()
        #expect(batch.lines == ["d"])
        #expect(batch.events == [.truncated])
        #expect(batch.state.current?.offset == 2)
    }

    @Test("a missing file (and folder) is no error; once created it is read from its beginning")
    func missing() {
        let folder = TailFolder()
        let log = folder.file("later/app.log")
        let tail = LogTail(path: log, state: nil)
        var batch = tail.poll()
        #expect(batch.lines.isEmpty)
        #expect(batch.problems.isEmpty)
        #expect(batch.state == LogTailState())
        mkdir(folder.file("later"), 0o755)
        #expect(tail.poll().problems.isEmpty)
        create(log, "hello\nworld\n")
        batch = tail.poll()
        #expect(batch.lines == ["hello", "world"])
        #expect(batch.events == [.opened])
    }

    @Test("the offset survives a restart: nothing read twice, nothing lost")
    func resume() throws {
        let folder = TailFolder()
        let log = folder.file("app.log")
        create(log, "before\n")
        var saved: LogTailState
        do {
            let tail = LogTail(path: log, state: nil)
            append(log, "a\nb\npart")
            let batch = tail.poll()
            #expect(batch.lines == ["a", "b"])
            saved = try roundTrip(batch.state)
        }
        append(log, "ial\nc\n")
        do {
            let tail = LogTail(path: log, state: saved)
            let batch = tail.poll()
            #expect(batch.lines == ["partial", "c"])
            #expect(batch.events.isEmpty)
            saved = try roundTrip(batch.state)
        }
        // Nothing new: nothing delivered.
        #expect(LogTail(path: log, state: saved).poll().lines.isEmpty)
    }

    @Test("a rotation while stopped: the renamed file is found in the folder and finished, the new one read whole")
    func resumeAcrossRotation() throws {
        let folder = TailFolder()
        let log = folder.file("app.log")
        create(log)
        var saved = LogTail(path: log, state: nil).poll().state
        append(log, "x\n")
        move(log, folder.file("app.log.1"))
        append(folder.file("app.log.1"), "y\n")
        create(log, "z\n")
        let tail = LogTail(path: log, state: try roundTrip(saved))
        let batch = tail.poll()
        #expect(batch.lines == ["x", "y", "z"])
        #expect(batch.events == [.opened, .rotated, .finished])
        saved = batch.state
        #expect(saved.rotated.isEmpty)
        #expect(saved.current?.offset == 2)
    }

    @Test("a restart while a rotated file is still being finished picks it up again")
    func resumeWhileFinishing() throws {
        let folder = TailFolder()
        let log = folder.file("app.log")
        let old = folder.file("app.log.1")
        create(log)
        let first = LogTail(path: log, state: nil)
        append(log, "1\n")
        move(log, old)
        #expect(first.poll().lines == ["1"])
        let saved = try roundTrip(first.state)
        #expect(saved.rotated.count == 1)
        append(old, "2\n")
        let second = LogTail(path: log, state: saved)
        #expect(second.poll().lines == ["2"])
        create(log, "3\n")
        #expect(second.poll().lines == ["3"])
    }

    @Test("a file that appeared while stopped (missing at the last poll) is read from its beginning")
    func resumeMissing() {
        let folder = TailFolder()
        let log = folder.file("app.log")
        let saved = LogTail(path: log, state: nil).poll().state
        create(log, "first\n")
        #expect(LogTail(path: log, state: saved).poll().lines == ["first"])
    }

    @Test("a file truncated while stopped is read from its beginning")
    func resumeTruncated() {
        let folder = TailFolder()
        let log = folder.file("app.log")
        create(log, String(repeating: "filler line\n", count: 10))
        let saved = LogTail(path: log, state: nil).poll().state
        #expect(truncate(log, 0) == 0)
        append(log, "fresh\n")
        let batch = LogTail(path: log, state: saved).poll()
        #expect(batch.lines == ["fresh"])
        #expect(batch.events == [.truncated])
    }

    @Test("an over-long line is split into capped pieces with a marker")
    func longLine() {
        let folder = TailFolder()
        let log = folder.file("app.log")
        create(log)
        let tail = LogTail(path: log, state: nil, maxLineBytes: 16)
        append(log, String(repeating: "a", count: 40) + "\nshort\n")
        let marker = LogTail.continuationMarker
        #expect(tail.poll().lines == [String(repeating: "a", count: 16) + marker, String(repeating: "a", count: 16) + marker,
                                      String(repeating: "a", count: 8), "short"])
        // Unfinished and already over the cap: full pieces go out, the rest waits.
        append(log, String(repeating: "b", count: 20))
        #expect(tail.poll().lines == [String(repeating: "b", count: 16) + marker])
        append(log, "bb\n")
        #expect(tail.poll().lines == ["bbbbbb"])
        // Cut on a UTF-8 boundary: 2-byte characters never split.
        append(log, String(repeating: "é", count: 9) + "x\n")
        #expect(tail.poll().lines == [String(repeating: "é", count: 8) + marker, "éx"])
        append(log, "ab" + String(repeating: "€", count: 6) + "\n") // 3-byte characters
        #expect(tail.poll().lines == ["ab" + String(repeating: "€", count: 4) + marker, "€€"])
    }

    @Test("the default cap is 64 KiB")
    func defaultCap() {
        let folder = TailFolder()
        let log = folder.file("app.log")
        create(log)
        let tail = LogTail(path: log, state: nil)
        append(log, String(repeating: "x", count: 150_000) + "\n")
        let lines = tail.poll().lines
        #expect(lines.map(\.utf8.count) == [65_536 + LogTail.continuationMarker.utf8.count,
                                            65_536 + LogTail.continuationMarker.utf8.count, 150_000 - 131_072])
    }

    @Test("match keeps lines containing a plain substring; Lua magic characters are literal")
    func match() {
        let folder = TailFolder()
        let log = folder.file("app.log")
        create(log)
        let errors = LogTail(path: log, state: nil, match: "ERROR")
        let literal = LogTail(path: log, state: nil, match: "a.b%d")
        append(log, "INFO ok\nERROR boom\nx ERROR y\nerror lower\naxb%d\na.b%d here\nERRO\n")
        let batch = errors.poll()
        #expect(batch.lines == ["ERROR boom", "x ERROR y"])
        #expect(batch.state.current?.offset == size(log), "filtered lines are consumed too")
        #expect(literal.poll().lines == ["a.b%d here"])
    }

    @Test("a poll reads at most its byte budget and says there is more")
    func budget() {
        let folder = TailFolder()
        let log = folder.file("app.log")
        create(log)
        let tail = LogTail(path: log, state: nil, maxLineBytes: 16, maxBytesPerPoll: 100)
        let expected = (0..<200).map { "line \($0)" }
        append(log, expected.map { $0 + "\n" }.joined())
        var lines: [String] = []
        var polls = 0
        var batch = tail.poll()
        lines += batch.lines
        while batch.more {
            polls += 1
            batch = tail.poll()
            lines += batch.lines
        }
        #expect(polls > 10)
        #expect(lines == expected)
    }

    @Test("polled at random moments through writes, rotations and restarts, every line arrives once, in order",
          arguments: Array(1...12) as [UInt64])
    func randomized(seed: UInt64) throws {
        let folder = TailFolder()
        let log = folder.file("app.log")
        create(log)
        var random = SplitMix64(seed: seed)
        // Odd seeds read at most 100 bytes a poll, so rotated files are finished over several polls.
        let budget = seed % 2 == 1 ? 100 : 8 << 20
        var tail = LogTail(path: log, state: nil, maxLineBytes: 64, maxBytesPerPoll: budget)
        var received: [String] = []
        var written: [String] = []
        var oldFile: String? // renamed, still written to until the writer "reopens"
        var rotations = 0
        var polledSinceChange = true

        func poll() {
            polledSinceChange = true
            var batch = tail.poll()
            received += batch.lines
            while batch.more {
                batch = tail.poll()
                received += batch.lines
            }
            #expect(batch.problems.isEmpty)
        }

        for step in 0..<600 {
            let line = "line \(step) " + String(repeating: "=", count: Int.random(in: 0...20, using: &random))
            written.append(line)
            let target = oldFile ?? log
            // Write the line in one or two pieces.
            let bytes = line + "\n"
            let cut = Int.random(in: 0...bytes.count, using: &random)
            append(target, String(bytes.prefix(cut)))
            if Bool.random(using: &random) { poll() }
            append(target, String(bytes.dropFirst(cut)))
            // Between two renames or creations there is at least one poll, as inotify reports each
            // (a file created and renamed away unseen between two polls cannot be followed).
            let change = Int.random(in: 0..<20, using: &random)
            if change < 2, !polledSinceChange { poll() }
            switch change {
            case 0 where oldFile == nil:
                polledSinceChange = false
                rotations += 1
                let renamed = folder.file("app.log.\(rotations)")
                move(log, renamed)
                oldFile = renamed
                if Bool.random(using: &random) { create(log) }
            case 1 where oldFile != nil:
                polledSinceChange = false
                oldFile = nil // the writer reopens the path
                if access(log, F_OK) != 0 { create(log) }
            case 2:
                let saved = try roundTrip(tail.state)
                tail = LogTail(path: log, state: saved, maxLineBytes: 64, maxBytesPerPoll: budget)
                polledSinceChange = true // a new tail looks at the path when it starts
            case 3..<10:
                poll()
            default:
                break
            }
        }
        if oldFile != nil, access(log, F_OK) != 0 { create(log) }
        append(log, "last\n")
        written.append("last")
        poll()
        poll()
        #expect(rotations > 5)
        #expect(received == written)
    }
}
