import Foundation
import Glibc

/// Where a `LogTail` stands: which files it reads and how far. The caller stores it (it is
/// Codable) after handling each poll's lines and hands it back to a new `LogTail` after a restart,
/// so no line is read twice and none is lost.
public struct LogTailState: Codable, Sendable, Equatable {
    /// A file, by identity (device and inode, which survive a rename), and the byte offset just
    /// after the last line delivered from it.
    public struct Position: Codable, Sendable, Equatable {
        public var device: UInt64
        public var inode: UInt64
        public var offset: UInt64

        public init(device: UInt64, inode: UInt64, offset: UInt64) {
            self.device = device
            self.inode = inode
            self.offset = offset
        }
    }

    /// The file at the path; nil when the path was missing at the last poll (a file that appears
    /// there later is read from its beginning).
    public var current: Position?
    /// Files renamed away from the path (rotated) whose last lines are still being read, oldest first.
    public var rotated: [Position]

    public init(current: Position? = nil, rotated: [Position] = []) {
        self.current = current
        self.rotated = rotated
    }
}

/// Follows a log file as `tail -F` does, for `fms.tail{ path =, match =, handler = }`: each `poll()`
/// returns the complete lines added since the last one. The caller polls whenever inotify reports a
/// change to the file or its folder (or on a timer); a poll at any moment is correct.
///
/// * First sight (no saved state): reading starts at the end of the file — at the start of its
///   last line if that line is still being written (no "\n" yet), so that line is delivered once
///   complete. Nothing older is delivered. A path that is missing at first sight is read from the
///   beginning of the file once it appears, as is any file that replaces it later.
/// * Lines end with "\n" (a "\r" before it is dropped). A last line without its "\n" is held (not
///   delivered, offset not advanced) until completed.
/// * Rotation by rename (the path now names another inode, or nothing): the old file stays open and
///   is read to its end, including lines written to it after the rename; it is closed once the new
///   file at the path has data (the writer has moved on) or the old file has been deleted, and an
///   unfinished last line in it is then delivered as it stands. The new file is read from its
///   beginning. A missing path (between the rename and the creation) is not an error.
/// * Rotation by truncation (`copytruncate`): a file shorter than the offset is read again from 0.
///   (A truncation followed by writes past the old offset before the next poll cannot be seen.)
/// * A line longer than `maxLineBytes` (64 KiB by default) is delivered in pieces of at most that
///   many bytes (cut on a UTF-8 boundary); every piece but the last ends with `continuationMarker`.
/// * `match` keeps only lines containing it as a plain substring of bytes. It is not a Lua pattern:
///   magic characters (`. % * [ ^ $` …) stand for themselves. With long lines it applies to each piece.
/// * After a restart with saved state: the same file continues at its offset; if the path now names
///   another file, that file is read from its beginning and the saved file is looked for among the
///   folder's entries by device and inode (e.g. `app.log.1`) to finish its last lines.
///
/// Limits: a file that is created at the path and renamed away again between two polls is never
/// seen (inotify on the folder reports both steps, so the caller polls in between); the renamed file
/// is finished by the rule above, so a writer that keeps writing to it after the new file has data
/// loses those lines, as with `tail -F`.
///
/// Bytes are decoded as UTF-8 (invalid sequences become U+FFFD). Events noticed by `init` are
/// reported by the first poll. Not thread-safe: use from one task.
public final class LogTail {
    /// What a poll noticed, besides lines.
    public enum Event: Sendable, Equatable {
        /// Started reading a file at the path (from its beginning, or from the end at first sight).
        case opened
        /// The file at the path was renamed away, replaced or removed; its remaining lines are still read.
        case rotated
        /// Finished with a rotated file and closed it.
        case finished
        /// The file became shorter than the offset; reading restarted at its beginning.
        case truncated
    }

    /// The result of a poll.
    public struct Batch: Sendable, Equatable {
        /// New lines, in order (after the match filter).
        public var lines: [String]
        /// The state to store once the lines are handled.
        public var state: LogTailState
        /// Rotations, truncations and the like noticed by this poll.
        public var events: [Event]
        /// Errors other than a missing file (permission denied, not a regular file, I/O errors).
        public var problems: [String]
        /// True when the per-poll byte budget ran out: poll again without waiting for a change.
        public var more: Bool
    }

    /// Ends every piece of a split over-long line but the last.
    public static let continuationMarker = " [line continues]"

    /// The path followed.
    public let path: String
    /// The substring lines must contain (nil: all lines).
    public let match: String?
    /// The longest line delivered whole, in bytes.
    public let maxLineBytes: Int
    /// How many bytes one poll reads at most before returning with `more`.
    public let maxBytesPerPoll: Int

    private struct OpenFile {
        var fd: Int32
        var device: UInt64
        var inode: UInt64
        var offset: UInt64
        var position: LogTailState.Position { .init(device: device, inode: inode, offset: offset) }
        func isFile(device: UInt64, inode: UInt64) -> Bool { self.device == device && self.inode == inode }
    }

    private var current: OpenFile?
    private var rotated: [OpenFile] = []
    private var pendingEvents: [Event] = []
    private var pendingProblems: [String] = []
    private let matchBytes: [UInt8]?

    /// A tail of `path`, resuming from `state` (nil: the first time this path is followed).
    /// Opens the file (when present) at once, so lines written between now and the first poll count.
    public init(path: String, state: LogTailState?, match: String? = nil,
                maxLineBytes: Int = 64 * 1024, maxBytesPerPoll: Int = 8 * 1024 * 1024) {
        self.path = path
        self.match = match.flatMap { $0.isEmpty ? nil : $0 }
        self.matchBytes = self.match.map { Array($0.utf8) }
        self.maxLineBytes = max(16, maxLineBytes)
        self.maxBytesPerPoll = max(self.maxLineBytes + 1, maxBytesPerPoll)
        let atPath = openPath()
        guard let state else {
            if var file = atPath {
                file.offset = startOfLastLine(file)
                current = file
                pendingEvents.append(.opened)
            }
            return
        }
        var unclaimed = atPath
        var saved = state.rotated
        if let position = state.current { saved.append(position) }
        for position in saved {
            if let file = unclaimed, file.isFile(device: position.device, inode: position.inode) {
                // Still (or again) at the path.
                current = OpenFile(fd: file.fd, device: file.device, inode: file.inode, offset: position.offset)
                unclaimed = nil
            } else if let fd = findInFolder(device: position.device, inode: position.inode) {
                rotated.append(OpenFile(fd: fd, device: position.device, inode: position.inode, offset: position.offset))
            }
        }
        if let file = unclaimed {
            // A file that appeared, or replaced the saved one, while we were away: all of it is new.
            current = file
            pendingEvents.append(.opened)
            if state.current != nil { pendingEvents.append(.rotated) }
        }
    }

    deinit {
        if let current { Glibc.close(current.fd) }
        for file in rotated { Glibc.close(file.fd) }
    }

    /// The state to store (the same as the last poll's `Batch.state`).
    public var state: LogTailState {
        LogTailState(current: current?.position, rotated: rotated.map(\.position))
    }

    /// Reads what is new: lines from rotated files first (oldest first), then from the file at the path.
    public func poll() -> Batch {
        var lines: [String] = []
        var events = pendingEvents
        var problems = pendingProblems
        pendingEvents = []
        pendingProblems = []
        var budget = maxBytesPerPoll

        // What is at the path now?
        var atPath: (device: UInt64, inode: UInt64)?
        var pathMissing = false
        var info = stat()
        if stat(path, &info) == 0 {
            if (info.st_mode & S_IFMT) == S_IFREG {
                atPath = (UInt64(info.st_dev), UInt64(info.st_ino))
            } else {
                problems.append("\(path) is not a regular file")
            }
        } else if errno == ENOENT || errno == ENOTDIR {
            pathMissing = true
        } else {
            problems.append("\(path): \(String(cString: strerror(errno)))")
        }

        // The file we were reading is no longer the one at the path: it was rotated away.
        if let file = current, pathMissing || (atPath.map { !file.isFile(device: $0.device, inode: $0.inode) } ?? false) {
            rotated.append(file)
            current = nil
            events.append(.rotated)
        }
        if current == nil, let atPath {
            if let index = rotated.firstIndex(where: { $0.isFile(device: atPath.device, inode: atPath.inode) }) {
                current = rotated.remove(at: index) // renamed back
            } else if let file = openPath() {
                current = file
                events.append(.opened)
            }
            problems += pendingProblems
            pendingProblems = []
        }

        // Sizes before reading anything: a rotated file is finished once its successor had data
        // before we read the rotated file to its end (the writer had moved on by then).
        let currentSize = current.map { fileSize($0.fd) } ?? 0
        let rotatedSizes = rotated.map { fileSize($0.fd) }
        var index = 0
        var more = false
        while index < rotated.count {
            let successorHadData = (index + 1 < rotated.count ? rotatedSizes[index + 1] : currentSize) > 0
            var status = stat()
            let deleted = fstat(rotated[index].fd, &status) == 0 && status.st_nlink == 0
            let finishing = successorHadData || deleted
            switch read(&rotated[index], finishing: finishing, into: &lines, budget: &budget, problems: &problems) {
            case .budgetSpent:
                more = true
            case .end where !finishing:
                index += 1
                continue
            case .end, .failed:
                Glibc.close(rotated[index].fd)
                rotated.remove(at: index)
                events.append(.finished)
                continue
            }
            break
        }

        if !more, var file = current {
            if UInt64(max(0, fileSize(file.fd))) < file.offset {
                file.offset = 0
                events.append(.truncated)
            }
            more = read(&file, finishing: false, into: &lines, budget: &budget, problems: &problems) == .budgetSpent
            current = file
        }
        return Batch(lines: lines, state: state, events: events, problems: problems, more: more)
    }

    // MARK: Reading

    private enum ReadOutcome { case end, budgetSpent, failed }

    /// Reads `file` from its offset to its end (or until the budget runs out), delivering complete
    /// lines and advancing the offset past them. `finishing` also delivers an unfinished last line.
    private func read(_ file: inout OpenFile, finishing: Bool, into lines: inout [String], budget: inout Int,
                      problems: inout [String]) -> ReadOutcome {
        let chunk = 64 * 1024
        var buffer: [UInt8] = []
        var scratch = [UInt8](repeating: 0, count: chunk)
        var reachedEnd = false
        while budget > 0 {
            let want = min(chunk, budget)
            let position = off_t(file.offset) + off_t(buffer.count)
            let count = scratch.withUnsafeMutableBytes { pread(file.fd, $0.baseAddress, want, position) }
            if count < 0 {
                if errno == EINTR { continue }
                problems.append("\(path): \(String(cString: strerror(errno)))")
                return .failed
            }
            if count == 0 {
                reachedEnd = true
                break
            }
            budget -= count
            buffer.append(contentsOf: scratch[0..<count])
            let consumed = split(buffer, into: &lines)
            if consumed > 0 {
                buffer.removeFirst(consumed)
                file.offset += UInt64(consumed)
            }
        }
        guard reachedEnd else { return .budgetSpent }
        if finishing, !buffer.isEmpty {
            deliver(buffer[...], continued: false, into: &lines)
            file.offset += UInt64(buffer.count)
        }
        return .end
    }

    /// Delivers the complete lines, and the full-size pieces of an over-long unfinished line, at the
    /// start of `buffer`; returns how many bytes they took.
    private func split(_ buffer: [UInt8], into lines: inout [String]) -> Int {
        var start = 0
        while true {
            let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n"))
            let end = newline ?? buffer.count
            while end - start > maxLineBytes {
                var cut = start + maxLineBytes
                var backed = 0
                while backed < 3, cut - 1 > start, buffer[cut] & 0xC0 == 0x80 { // a UTF-8 continuation byte
                    cut -= 1
                    backed += 1
                }
                if buffer[cut] & 0xC0 == 0x80 { cut = start + maxLineBytes } // not UTF-8 anyway
                deliver(buffer[start..<cut], continued: true, into: &lines)
                start = cut
            }
            guard let newline else { return start }
            var lineEnd = newline
            if lineEnd > start, buffer[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            deliver(buffer[start..<lineEnd], continued: false, into: &lines)
            start = newline + 1
        }
    }

    private func deliver(_ bytes: ArraySlice<UInt8>, continued: Bool, into lines: inout [String]) {
        if let matchBytes, !Self.contains(bytes, matchBytes) { return }
        let text = String(decoding: bytes, as: UTF8.self)
        lines.append(continued ? text + Self.continuationMarker : text)
    }

    /// Whether `needle` occurs in `haystack` (bytes; no pattern syntax).
    private static func contains(_ haystack: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        guard let first = needle.first else { return true }
        guard haystack.count >= needle.count else { return false }
        var index = haystack.startIndex
        let last = haystack.endIndex - needle.count
        while index <= last {
            guard let found = haystack[index...last].firstIndex(of: first) else { return false }
            if haystack[found..<(found + needle.count)].elementsEqual(needle) { return true }
            index = found + 1
        }
        return false
    }

    // MARK: Files

    /// Opens the regular file at the path, offset 0; nil if missing (a problem is noted for other failures).
    private func openPath() -> OpenFile? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else {
            if errno != ENOENT && errno != ENOTDIR { pendingProblems.append("\(path): \(String(cString: strerror(errno)))") }
            return nil
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            Glibc.close(fd)
            pendingProblems.append("\(path) is not a regular file")
            return nil
        }
        return OpenFile(fd: fd, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), offset: 0)
    }

    /// The offset where reading starts at first sight: the end of the file, or the start of its
    /// last line when that line has no "\n" yet (and is not over-long).
    private func startOfLastLine(_ file: OpenFile) -> UInt64 {
        let size = fileSize(file.fd)
        guard size > 0 else { return 0 }
        let length = Int(min(size, Int64(maxLineBytes + 1)))
        var tail = [UInt8](repeating: 0, count: length)
        let count = tail.withUnsafeMutableBytes { pread(file.fd, $0.baseAddress, length, off_t(size) - off_t(length)) }
        guard count == length else { return UInt64(size) }
        if let newline = tail.lastIndex(of: UInt8(ascii: "\n")) {
            return UInt64(size) - UInt64(length - newline - 1)
        }
        return size <= Int64(maxLineBytes) ? 0 : UInt64(size)
    }

    /// Looks in the path's folder for a regular file with this device and inode (a rotated copy,
    /// such as `app.log.1`) and opens it.
    private func findInFolder(device: UInt64, inode: UInt64) -> Int32? {
        let folder = (path as NSString).deletingLastPathComponent
        guard let directory = opendir(folder.isEmpty ? "." : folder) else { return nil }
        defer { closedir(directory) }
        var scanned = 0
        while scanned < 10_000, let entry = readdir(directory) {
            scanned += 1
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard name != ".", name != "..", UInt64(entry.pointee.d_ino) == inode else { continue }
            let candidate = folder.isEmpty ? name : folder + "/" + name
            let fd = open(candidate, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
            guard fd >= 0 else { continue }
            var info = stat()
            if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG,
               UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode {
                return fd
            }
            Glibc.close(fd)
        }
        return nil
    }

    private func fileSize(_ fd: Int32) -> Int64 {
        var info = stat()
        return fstat(fd, &info) == 0 ? Int64(info.st_size) : 0
    }
}
