import Glibc

/// Why watching files failed: the path involved and what the system said.
public enum FileWatchError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `inotify_add_watch` failed with ENOSPC: no more watches for this user.
    case watchLimitReached(path: String)
    /// `inotify_init1` failed with EMFILE: no more inotify instances for this user.
    case instanceLimitReached
    /// The path (or a folder on the way to it) does not exist (ENOENT).
    case noSuchPath(path: String)
    /// The path may not be read (EACCES).
    case permissionDenied(path: String)
    /// Another failure of the named system call, with its errno value.
    case system(call: String, path: String?, errno: Int32)
    /// The watcher's thread could not be started (the errno of `pthread_create`).
    case threadFailed(errno: Int32)

    /// The typed error for `code` from `call` on `path`.
    init(call: String, path: String?, errno code: Int32) {
        switch (code, path) {
        case (ENOSPC, let path?) where call == "inotify_add_watch": self = .watchLimitReached(path: path)
        case (EMFILE, nil) where call == "inotify_init1": self = .instanceLimitReached
        case (ENOENT, let path?): self = .noSuchPath(path: path)
        case (EACCES, let path?): self = .permissionDenied(path: path)
        default: self = .system(call: call, path: path, errno: code)
        }
    }

    /// The path involved, if any.
    public var path: String? {
        switch self {
        case .watchLimitReached(let path), .noSuchPath(let path), .permissionDenied(let path): return path
        case .system(_, let path, _): return path
        case .instanceLimitReached, .threadFailed: return nil
        }
    }

    /// The errno value behind the error.
    public var errno: Int32 {
        switch self {
        case .watchLimitReached: return ENOSPC
        case .instanceLimitReached: return EMFILE
        case .noSuchPath: return ENOENT
        case .permissionDenied: return EACCES
        case .system(_, _, let code), .threadFailed(let code): return code
        }
    }

    public var description: String {
        switch self {
        case .watchLimitReached(let path):
            return "cannot watch \(path): the inotify watch limit (fs.inotify.max_user_watches) is reached"
        case .instanceLimitReached:
            return "cannot watch files: the inotify instance limit (fs.inotify.max_user_instances) is reached"
        case .noSuchPath(let path):
            return "cannot watch \(path): no such file or directory"
        case .permissionDenied(let path):
            return "cannot watch \(path): permission denied"
        case .system(let call, let path?, let code):
            return "cannot watch \(path): \(call) failed: \(SystemErrno(code: code).text)"
        case .system(let call, nil, let code):
            return "cannot watch files: \(call) failed: \(SystemErrno(code: code).text)"
        case .threadFailed(let code):
            return "cannot start the file watcher thread: \(SystemErrno(code: code).text)"
        }
    }
}

/// An inotify instance: a non-blocking, close-on-exec descriptor, its watches, and the events
/// read from it.
///
/// A thin layer over `inotify_init1`, `inotify_add_watch`, `inotify_rm_watch` and `read`; every
/// failure is a ``FileWatchError`` naming the path. The descriptor is closed when the instance
/// is released, which closes all its watches.
final class Inotify: Sendable {
    /// What a watch reports, and how it is added (`IN_*` of `<sys/inotify.h>`).
    struct Mask: OptionSet, Sendable, Hashable, CustomStringConvertible {
        let rawValue: UInt32

        init(rawValue: UInt32) {
            self.rawValue = rawValue
        }

        private init(_ flag: Int32) {
            rawValue = UInt32(bitPattern: flag)
        }

        /// A file was read.
        static let access = Mask(IN_ACCESS)
        /// A file was written.
        static let modify = Mask(IN_MODIFY)
        /// Metadata changed: permissions, timestamps, owner, link count, extended attributes.
        static let attrib = Mask(IN_ATTRIB)
        /// A file opened for writing was closed.
        static let closeWrite = Mask(IN_CLOSE_WRITE)
        /// A file not opened for writing was closed.
        static let closeNoWrite = Mask(IN_CLOSE_NOWRITE)
        /// A file or folder was opened.
        static let open = Mask(IN_OPEN)
        /// An entry was renamed away from the watched folder (paired with `movedTo` by cookie).
        static let movedFrom = Mask(IN_MOVED_FROM)
        /// An entry was renamed into the watched folder.
        static let movedTo = Mask(IN_MOVED_TO)
        /// An entry was created in the watched folder.
        static let create = Mask(IN_CREATE)
        /// An entry was deleted from the watched folder.
        static let delete = Mask(IN_DELETE)
        /// The watched file or folder itself was deleted.
        static let deleteSelf = Mask(IN_DELETE_SELF)
        /// The watched file or folder itself was moved.
        static let moveSelf = Mask(IN_MOVE_SELF)
        /// The file system holding the watched object was unmounted.
        static let unmount = Mask(IN_UNMOUNT)
        /// The event queue overflowed: events were lost (watch descriptor -1).
        static let queueOverflow = Mask(IN_Q_OVERFLOW)
        /// The watch was removed (explicitly, or because its object is gone).
        static let ignored = Mask(IN_IGNORED)
        /// The event's subject is a folder.
        static let isDirectory = Mask(IN_ISDIR)
        /// Add: watch the path only if it is a folder.
        static let onlyDirectory = Mask(IN_ONLYDIR)
        /// Add: do not follow a symbolic link at the path.
        static let dontFollow = Mask(IN_DONT_FOLLOW)
        /// Add: no events for children after they were unlinked.
        static let excludeUnlinked = Mask(IN_EXCL_UNLINK)
        /// Add: add to an existing watch's mask instead of replacing it.
        static let maskAdd = Mask(IN_MASK_ADD)
        /// Add: remove the watch after one event.
        static let oneShot = Mask(rawValue: IN_ONESHOT)

        private static let names: [(Mask, String)] = [
            (.access, "ACCESS"), (.modify, "MODIFY"), (.attrib, "ATTRIB"), (.closeWrite, "CLOSE_WRITE"),
            (.closeNoWrite, "CLOSE_NOWRITE"), (.open, "OPEN"), (.movedFrom, "MOVED_FROM"), (.movedTo, "MOVED_TO"),
            (.create, "CREATE"), (.delete, "DELETE"), (.deleteSelf, "DELETE_SELF"), (.moveSelf, "MOVE_SELF"),
            (.unmount, "UNMOUNT"), (.queueOverflow, "Q_OVERFLOW"), (.ignored, "IGNORED"), (.isDirectory, "ISDIR"),
        ]

        var description: String {
            let parts = Self.names.filter { contains($0.0) }.map(\.1)
            return parts.isEmpty ? "0x" + String(rawValue, radix: 16) : parts.joined(separator: "|")
        }
    }

    /// One `struct inotify_event`.
    struct Event: Sendable, Equatable, CustomStringConvertible {
        /// The watch descriptor it is for; -1 for a queue overflow.
        var watch: Int32
        /// What happened.
        var mask: Mask
        /// Ties a `movedFrom` to its `movedTo`; 0 otherwise.
        var cookie: UInt32
        /// The entry's name inside the watched folder; empty for events on the watched object itself.
        var name: String

        var description: String {
            "wd \(watch) \(mask)" + (cookie != 0 ? " cookie \(cookie)" : "") + (name.isEmpty ? "" : " '\(name)'")
        }
    }

    /// The size of a record before its name: wd, mask, cookie, len.
    static let headerSize = 16
    /// A read buffer this big always holds at least one event (header plus NAME_MAX + 1).
    static let minimumBufferSize = headerSize + Int(NAME_MAX) + 1

    /// The inotify descriptor (for `poll`).
    let fileDescriptor: Int32

    /// Creates an instance with `IN_NONBLOCK | IN_CLOEXEC`.
    ///
    /// The corresponding C function is `inotify_init1`.
    init() throws(FileWatchError) {
        switch valueOrErrno({ system_inotify_init1(system_IN_NONBLOCK_CLOEXEC) }) {
        case .success(let fd): fileDescriptor = fd
        case .failure(let failure): throw FileWatchError(call: "inotify_init1", path: nil, errno: failure.code)
        }
    }

    deinit {
        _ = system_close(fileDescriptor)
    }

    /// Watches `path` for `mask`, replacing the mask if the object is already watched; returns
    /// the watch descriptor (the same one for the same object).
    ///
    /// The corresponding C function is `inotify_add_watch`.
    func addWatch(_ path: String, mask: Mask) throws(FileWatchError) -> Int32 {
        let result = valueOrErrno { system_inotify_add_watch(fileDescriptor, path, mask.rawValue) }
        switch result {
        case .success(let watch): return watch
        case .failure(let failure): throw FileWatchError(call: "inotify_add_watch", path: path, errno: failure.code)
        }
    }

    /// Removes the watch `watch`; an `.ignored` event for it follows. Fails with EINVAL when the
    /// watch is already gone.
    ///
    /// The corresponding C function is `inotify_rm_watch`.
    func removeWatch(_ watch: Int32) throws(FileWatchError) {
        if case .failure(let failure) = nothingOrErrno({ system_inotify_rm_watch(fileDescriptor, watch) }) {
            throw FileWatchError(call: "inotify_rm_watch", path: nil, errno: failure.code)
        }
    }

    /// Reads the queued events into `buffer` (at least ``minimumBufferSize`` bytes) and parses
    /// them, with the number of bytes read; no events and 0 when none are queued.
    ///
    /// The corresponding C function is `read`.
    func readEvents(into buffer: UnsafeMutableRawBufferPointer) throws(FileWatchError) -> (events: [Event], bytes: Int) {
        precondition(buffer.count >= Self.minimumBufferSize, "inotify read buffer too small")
        switch valueOrErrno({ system_read(fileDescriptor, buffer.baseAddress, buffer.count) }) {
        case .success(let count):
            return (Self.parse(UnsafeRawBufferPointer(rebasing: buffer[0..<count])).events, count)
        case .failure(let failure):
            if failure.code == EAGAIN || failure.code == EWOULDBLOCK { return ([], 0) }
            throw FileWatchError(call: "read", path: nil, errno: failure.code)
        }
    }

    /// Parses `inotify_event` records from raw bytes: 32-bit wd, mask, cookie and name length
    /// in host order, then the NUL-padded name. Reads no byte outside `bytes`; stops at a
    /// record that does not fit and reports how many bytes were whole records.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> (events: [Event], consumed: Int) {
        var events: [Event] = []
        var offset = 0
        while bytes.count - offset >= headerSize {
            let watch = bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)
            let mask = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
            let cookie = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
            let length = Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
            guard length <= bytes.count - offset - headerSize else { break }
            let nameBytes = bytes[(offset + headerSize)..<(offset + headerSize + length)]
            let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
            events.append(Event(watch: watch, mask: Mask(rawValue: mask), cookie: cookie, name: name))
            offset += headerSize + length
        }
        return (events, offset)
    }
}
