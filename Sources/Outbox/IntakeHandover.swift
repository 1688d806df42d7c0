import Foundation

/// Messages handed to the outbox by a process that does not hold the state directory's lock
/// (`fms send --queue` while `fms watch` runs).
///
/// The hander writes its messages as one file in `STATE/intake.d/` — under a hidden temporary
/// name, made durable as the durability level asks, then renamed into place — so the lock holder
/// only ever sees whole files. The holder moves them into the database and deletes them (see
/// ``Outbox/absorbHandedOver()``); any process that opens the outbox later does the same, so a
/// message handed over is never lost, whoever holds the lock then.
public enum IntakeHandover {
    /// The drop folder of the state directory `directory`.
    public static func folder(_ directory: String) -> String { directory + "/intake.d" }

    /// Writes `messages` into the drop folder of `directory`; returns the file's path.
    public static func hand(_ messages: [NewMessage], directory: String, durability: Durability) throws(OutboxError) -> String {
        let folder = folder(directory)
        try StateDirectory.prepare(folder)
        let name = "\(UInt64(Date().timeIntervalSince1970 * 1e9))-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let temporary = folder + "/.tmp-" + name
        let final = folder + "/" + name + ".log"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw OutboxError(.storage, "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        var bytes: [UInt8] = []
        for message in messages { bytes += IntakeLog.record(message) }
        do throws(OutboxError) {
            try IntakeLog.writeAll(bytes, to: descriptor, path: temporary)
            if durability == .full, fdatasync(descriptor) != 0 {
                throw OutboxError(.storage, "cannot sync \(temporary): \(String(cString: strerror(errno)))")
            }
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        close(descriptor)
        guard rename(temporary, final) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw OutboxError(.storage, "cannot move \(temporary) into place: \(reason)")
        }
        // Renamed into place already: the message is queued; a failed folder sync must not say otherwise.
        if durability == .full { try? IntakeLog.syncFolder(folder) }
        return final
    }

    /// The files waiting in the drop folder (oldest first) with their messages; hidden
    /// temporary files are not ready yet and are left alone.
    static func waiting(directory: String) -> [(path: String, messages: [NewMessage])] {
        let folder = folder(directory)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        return names.filter { $0.hasSuffix(".log") && !$0.hasPrefix(".") }.sorted().compactMap { name in
            let path = folder + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else { return nil }
            return (path, IntakeLog.decode([UInt8](data)))
        }
    }
}
