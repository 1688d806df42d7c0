import Foundation

/// Where the outbox keeps its files, and the lock that keeps a second process out.
public enum StateDirectory {
    /// `$FMS_STATE_DIR`, else `/var/lib/fms` for root, else `$XDG_STATE_HOME/fms` or `~/.local/state/fms`.
    public static func resolve(environment: [String: String]) -> String {
        if let explicit = environment["FMS_STATE_DIR"], !explicit.isEmpty { return explicit }
        if let systemd = environment["STATE_DIRECTORY"], !systemd.isEmpty {
            return systemd.split(separator: ":").first.map(String.init) ?? systemd
        }
        if getuid() == 0 { return "/var/lib/fms" }
        if let xdg = environment["XDG_STATE_HOME"], !xdg.isEmpty { return xdg + "/fms" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.local/state/fms"
    }

    /// Creates `path` (mode 0700) and its parents when missing.
    static func prepare(_ path: String) throws(OutboxError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw OutboxError(.storage, "state directory \(path) is a file, not a folder") }
            guard access(path, W_OK | X_OK) == 0 else {
                throw OutboxError(.storage, "state directory \(path) is not writable: \(String(cString: strerror(errno)))")
            }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw OutboxError(.storage, "cannot create the state directory \(path): \(error.localizedDescription)")
        }
    }
}

/// An exclusive lock on the state directory (flock on `STATE/lock`), held while open.
final class StateLock {
    private let descriptor: Int32

    /// Takes the lock, waiting up to `wait` seconds for another process to let go, or explains who holds it.
    init(directory: String, wait: Double = 0) throws(OutboxError) {
        let path = directory + "/lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw OutboxError(.storage, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        let deadline = Date().timeIntervalSince1970 + wait
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0, errno == EWOULDBLOCK || errno == EINTR,
              Date().timeIntervalSince1970 < deadline {
            usleep(50_000)
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(descriptor, &buffer, buffer.count, 0)
            let holder = count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            close(descriptor)
            throw OutboxError(.locked, "another fms process (pid \(holder)) is using the state directory \(directory); "
                              + "stop it or point FMS_STATE_DIR elsewhere")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, pid, pid.count, 0)
        self.descriptor = descriptor
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
