import Glibc

// Every C call under the file watcher lives in this file, one thin function per call, in the
// manner of swift-system's `Syscalls.swift`: the functions return what C returns, and
// `valueOrErrno` turns a failure into the errno value, retrying EINTR. Nothing else in
// `Files/` calls C directly.

/// An errno value from a failed system call.
struct SystemErrno: Error, Equatable, CustomStringConvertible {
    /// The errno value.
    var code: Int32

    /// The C library's explanation, e.g. "No such file or directory".
    var text: String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }

    var description: String { text }

    static let interrupted = SystemErrno(code: EINTR)
    static let wouldBlock = SystemErrno(code: EAGAIN)
}

/// The value of `body`, or the errno it left when it returned -1; EINTR is retried when
/// `retryOnInterrupt` is set.
@inline(__always)
func valueOrErrno<I: FixedWidthInteger>(retryOnInterrupt: Bool = true, _ body: () -> I) -> Result<I, SystemErrno> {
    while true {
        let result = body()
        if result != -1 { return .success(result) }
        let code = errno
        if code == EINTR && retryOnInterrupt { continue }
        return .failure(SystemErrno(code: code))
    }
}

/// Nothing, or the errno `body` left when it returned -1; EINTR is retried when `retryOnInterrupt` is set.
@inline(__always)
func nothingOrErrno<I: FixedWidthInteger>(retryOnInterrupt: Bool = true, _ body: () -> I) -> Result<Void, SystemErrno> {
    valueOrErrno(retryOnInterrupt: retryOnInterrupt, body).map { _ in () }
}

// MARK: - inotify

/// Creates an inotify instance.
///
/// The corresponding C function is `inotify_init1`.
func system_inotify_init1(_ flags: Int32) -> Int32 {
    inotify_init1(flags)
}

/// Adds or replaces the watch of `path` on the inotify instance `fd`; returns the watch descriptor.
///
/// The corresponding C function is `inotify_add_watch`.
func system_inotify_add_watch(_ fd: Int32, _ path: UnsafePointer<CChar>, _ mask: UInt32) -> Int32 {
    inotify_add_watch(fd, path, mask)
}

/// Removes the watch `wd` from the inotify instance `fd`.
///
/// The corresponding C function is `inotify_rm_watch`.
func system_inotify_rm_watch(_ fd: Int32, _ wd: Int32) -> Int32 {
    inotify_rm_watch(fd, wd)
}

/// The flags of a non-blocking, close-on-exec inotify instance.
let system_IN_NONBLOCK_CLOEXEC = Int32(IN_NONBLOCK) | Int32(IN_CLOEXEC)

// MARK: - Descriptors

/// Reads up to `count` bytes from `fd`.
///
/// The corresponding C function is `read`.
func system_read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}

/// Writes up to `count` bytes to `fd`.
///
/// The corresponding C function is `write`.
func system_write(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(fd, buffer, count)
}

/// Closes `fd`.
///
/// The corresponding C function is `close`.
func system_close(_ fd: Int32) -> Int32 {
    close(fd)
}

/// Creates a non-blocking, close-on-exec pipe; `fds` receives the read and the write end.
///
/// The corresponding C functions are `pipe` and `fcntl` (`pipe2` is a GNU extension the Glibc
/// module does not export, so the flags are set just after creation).
func system_pipe_nonblocking(_ fds: UnsafeMutablePointer<Int32>) -> Int32 {
    guard pipe(fds) == 0 else { return -1 }
    for end in [fds[0], fds[1]] {
        let flags = fcntl(end, F_GETFL)
        guard fcntl(end, F_SETFD, FD_CLOEXEC) == 0, flags >= 0, fcntl(end, F_SETFL, flags | O_NONBLOCK) == 0 else {
            let code = errno
            close(fds[0])
            close(fds[1])
            errno = code
            return -1
        }
    }
    return 0
}

/// What `poll` said about one descriptor.
struct system_PollState: Equatable {
    /// There is data to read (or, for a pipe, the other end is closed).
    var readable = false
    /// The descriptor is in error, hung up or invalid.
    var failed = false
}

/// Waits until one of `fds` is readable, at most `timeout` milliseconds (-1: no limit), and
/// says what each one is. An interrupted wait returns early with nothing ready (the caller
/// recomputes its timeout and waits again).
///
/// The corresponding C function is `poll`.
func system_pollReadable(_ fds: [Int32], timeout: Int32) -> Result<[system_PollState], SystemErrno> {
    var entries = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    let result = entries.withUnsafeMutableBufferPointer { buffer in
        valueOrErrno(retryOnInterrupt: false) { poll(buffer.baseAddress, nfds_t(buffer.count), timeout) }
    }
    switch result {
    case .success:
        return .success(entries.map { entry in
            system_PollState(readable: entry.revents & Int16(POLLIN) != 0,
                             failed: entry.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0)
        })
    case .failure(let failure) where failure.code == EINTR:
        return .success(fds.map { _ in system_PollState() })
    case .failure(let failure):
        return .failure(failure)
    }
}

// MARK: - File system

/// What a path names, following symbolic links (`stat`) or not (`lstat`).
enum system_FileType: Equatable {
    case directory
    case other
}

/// The type of the file at `path`.
///
/// The corresponding C functions are `stat` and `lstat`.
func system_fileType(_ path: String, followLinks: Bool) -> Result<system_FileType, SystemErrno> {
    var info = stat()
    let result = valueOrErrno { followLinks ? stat(path, &info) : lstat(path, &info) }
    return result.map { _ in (info.st_mode & S_IFMT) == S_IFDIR ? .directory : .other }
}

/// The entries of the folder `path` (without "." and ".."), each with whether it is a folder
/// itself (a symbolic link to a folder is not).
///
/// The corresponding C functions are `opendir`, `readdir` and `closedir`.
func system_listDirectory(_ path: String) -> Result<[(name: String, isDirectory: Bool)], SystemErrno> {
    var opened: OpaquePointer?
    while true {
        opened = opendir(path)
        if opened != nil { break }
        let code = errno
        if code == EINTR { continue }
        return .failure(SystemErrno(code: code))
    }
    guard let directory = opened else { return .failure(SystemErrno(code: EINVAL)) }
    defer { closedir(directory) }
    var entries: [(name: String, isDirectory: Bool)] = []
    while true {
        errno = 0
        guard let entry = readdir(directory) else {
            let code = errno
            if code != 0 { return .failure(SystemErrno(code: code)) }
            break
        }
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name == "." || name == ".." || name.isEmpty { continue }
        let type = Int(entry.pointee.d_type)
        let isDirectory: Bool
        if type == DT_DIR {
            isDirectory = true
        } else if type == DT_UNKNOWN {
            let child = path == "/" ? "/" + name : path + "/" + name
            isDirectory = (try? system_fileType(child, followLinks: false).get()) == .directory
        } else {
            isDirectory = false
        }
        entries.append((name, isDirectory))
    }
    return .success(entries)
}

/// Whether `name` matches the shell pattern `pattern`.
///
/// The corresponding C function is `fnmatch`.
func system_fnmatch(_ pattern: String, _ name: String) -> Bool {
    fnmatch(pattern, name, 0) == 0
}

/// The current working folder, or nil.
///
/// The corresponding C function is `getcwd`.
func system_getcwd() -> String? {
    guard let pointer = getcwd(nil, 0) else { return nil }
    defer { free(pointer) }
    return String(cString: pointer)
}

/// Seconds on the monotonic clock.
///
/// The corresponding C function is `clock_gettime`.
func system_monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1_000_000_000
}

// MARK: - Threads

/// A POSIX thread.
typealias system_Thread = pthread_t

/// The closure handed to a new thread, kept alive across the C boundary.
private final class ThreadBody: Sendable {
    let run: @Sendable () -> Void

    init(_ run: @escaping @Sendable () -> Void) {
        self.run = run
    }
}

/// Starts a joinable thread named `name` (15 ASCII characters at most) running `body`; returns the
/// thread, or the errno of `pthread_create` (the body then never runs).
///
/// The corresponding C functions are `pthread_create` and `pthread_setname_np`.
func system_startThread(name: String, _ body: @escaping @Sendable () -> Void) -> Result<system_Thread, SystemErrno> {
    let work = Unmanaged.passRetained(ThreadBody {
        system_nameCurrentThread(name)
        body()
    })
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { argument in
        guard let argument else { return nil }
        Unmanaged<ThreadBody>.fromOpaque(argument).takeRetainedValue().run()
        return nil
    }, work.toOpaque())
    guard result == 0 else {
        work.release()
        return .failure(SystemErrno(code: result))
    }
    return .success(thread)
}

/// Names the calling thread (as `ps` and /proc/self/task/*/comm show it) by writing
/// /proc/thread-self/comm; does nothing where that cannot be written.
///
/// The corresponding C functions are `open`, `write` and `close` (`pthread_setname_np` is a
/// GNU extension the Glibc module does not export).
func system_nameCurrentThread(_ name: String) {
    let fd = valueOrErrno { open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC) }
    guard case .success(let descriptor) = fd else { return }
    var bytes = Array(name.utf8.prefix(15))
    _ = valueOrErrno { write(descriptor, &bytes, bytes.count) }
    close(descriptor)
}

/// Waits for `thread` to end.
///
/// The corresponding C function is `pthread_join`.
func system_joinThread(_ thread: system_Thread) {
    _ = pthread_join(thread, nil)
}

/// Lets `thread` release its resources when it ends, without a join.
///
/// The corresponding C function is `pthread_detach`.
func system_detachThread(_ thread: system_Thread) {
    _ = pthread_detach(thread)
}

/// Whether the calling thread is `thread`.
///
/// The corresponding C functions are `pthread_self` and `pthread_equal`.
func system_isCurrentThread(_ thread: system_Thread) -> Bool {
    pthread_equal(thread, pthread_self()) != 0
}
