import Foundation
import FMSProtocol

/// The append-only file that makes `fms.send` durable in one `write(2)`.
///
/// A commit of SQLite's WAL costs ~75 µs here (measured: 13,000 commits/s), too slow for a
/// send per commit. So an accepted message is first appended to `intake.log` as one record
/// (length, checksum, JSON) with a single write — safe against `kill -9` because the data is
/// in the kernel once `write` returns; with `durability = full` it is also `fdatasync`ed — and
/// is moved into the database in batches (`absorb`). On start, any records left in the log
/// are replayed (`INSERT OR IGNORE` on the customFmsId, so a record absorbed just before a
/// crash is not duplicated) and the log is emptied.
final class IntakeLog {
    private let path: String
    private let absorbingPath: String
    private var descriptor: Int32
    private let syncEachWrite: Bool

    /// Opens (creating) the log in `directory`.
    init(directory: String, syncEachWrite: Bool) throws(OutboxError) {
        path = directory + "/intake.log"
        absorbingPath = directory + "/intake.absorbing.log"
        self.syncEachWrite = syncEachWrite
        descriptor = try IntakeLog.open(path)
        try syncDirectoryIfNeeded()
    }

    deinit {
        close(descriptor)
    }

    private static func open(_ path: String, truncate: Bool = false) throws(OutboxError) -> Int32 {
        let descriptor = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0o600)
        guard descriptor >= 0 else {
            throw OutboxError(.storage, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        return descriptor
    }

    /// Appends one message; returns once the bytes are in the kernel (and on disk with sync).
    func append(_ message: NewMessage) throws(OutboxError) {
        try IntakeLog.writeAll(IntakeLog.record(message), to: descriptor, path: path)
        if syncEachWrite, fdatasync(descriptor) != 0 {
            throw OutboxError(.storage, "cannot sync \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// One record: length, checksum, JSON.
    static func record(_ message: NewMessage) -> [UInt8] {
        let payload = JSONWriter.bytes(of: IntakeLog.json(message))
        var record = [UInt8]()
        record.reserveCapacity(payload.count + 8)
        IntakeLog.appendUInt32(UInt32(payload.count), to: &record)
        IntakeLog.appendUInt32(IntakeLog.checksum(payload), to: &record)
        record.append(contentsOf: payload)
        return record
    }

    /// Writes all of `bytes` (appending). If only part could be written (disk full), the part
    /// is cut off again: a torn record in the middle would hide every later record from replay.
    static func writeAll(_ bytes: [UInt8], to descriptor: Int32, path: String) throws(OutboxError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress.map { $0 + offset }, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                var info = stat()
                if offset > 0, fstat(descriptor, &info) == 0 { _ = ftruncate(descriptor, info.st_size - off_t(offset)) }
                throw OutboxError(.storage, "cannot append to \(path): \(reason)")
            }
            offset += written
        }
    }

    /// Starts an absorb: the current log becomes `intake.absorbing.log` and a new log opens.
    /// Call `finishAbsorb` once its records are committed to the database.
    ///
    /// If the absorbing log is still there (the last commit failed), the current log's records
    /// are appended to it instead: renaming over it would drop records not yet in the database.
    func beginAbsorb() throws(OutboxError) {
        if access(absorbingPath, F_OK) == 0 {
            try appendCurrentLogToAbsorbing()
        } else {
            guard rename(path, absorbingPath) == 0 else {
                throw OutboxError(.storage, "cannot rotate \(path): \(String(cString: strerror(errno)))")
            }
        }
        let fresh = try IntakeLog.open(path, truncate: true)
        close(descriptor)
        descriptor = fresh
        try syncDirectoryIfNeeded()
    }

    /// Copies the current log's records behind those of the absorbing log (a crash before the
    /// current log is truncated leaves them in both, which the idempotent replay absorbs).
    private func appendCurrentLogToAbsorbing() throws(OutboxError) {
        let bytes = FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
        guard !bytes.isEmpty else { return }
        let target = Glibc.open(absorbingPath, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard target >= 0 else {
            throw OutboxError(.storage, "cannot open \(absorbingPath): \(String(cString: strerror(errno)))")
        }
        defer { close(target) }
        try IntakeLog.writeAll(bytes, to: target, path: absorbingPath)
        if syncEachWrite, fdatasync(target) != 0 {
            throw OutboxError(.storage, "cannot sync \(absorbingPath): \(String(cString: strerror(errno)))")
        }
    }

    /// With `syncEachWrite`, makes a new log's directory entry durable too (fdatasync alone
    /// does not persist the name of a freshly created file).
    private func syncDirectoryIfNeeded() throws(OutboxError) {
        guard syncEachWrite else { return }
        try IntakeLog.syncFolder((path as NSString).deletingLastPathComponent)
    }

    /// Makes the names in `folder` durable (fsync of the folder itself); a folder that cannot be
    /// opened is left alone.
    static func syncFolder(_ folder: String) throws(OutboxError) {
        let handle = Glibc.open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard handle >= 0 else { return }
        defer { close(handle) }
        guard fsync(handle) == 0 else {
            throw OutboxError(.storage, "cannot sync \(folder): \(String(cString: strerror(errno)))")
        }
    }

    /// Deletes the absorbed log.
    func finishAbsorb() {
        unlink(absorbingPath)
    }

    /// Every intact record in the absorbing log and the current log (in that order).
    ///
    /// A torn last record (a crash in the middle of a write) is ignored.
    func pendingRecords() throws(OutboxError) -> [NewMessage] {
        var messages: [NewMessage] = []
        for file in [absorbingPath, path] {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            messages.append(contentsOf: IntakeLog.decode([UInt8](data)))
        }
        return messages
    }

    /// Truncates both logs after a replay was committed.
    func clearAfterReplay() throws(OutboxError) {
        unlink(absorbingPath)
        guard ftruncate(descriptor, 0) == 0 else {
            throw OutboxError(.storage, "cannot truncate \(path): \(String(cString: strerror(errno)))")
        }
    }

    // MARK: Encoding

    static func json(_ message: NewMessage) -> JSONValue {
        var members = [JSONMember("c", .string(message.customId)), JSONMember("t", .string(message.template)),
                       JSONMember("m", .string(message.mobile)), JSONMember("v", variablesJSON(message.variables))]
        if let rule = message.rule { members.append(JSONMember("r", .string(rule))) }
        if let key = message.key { members.append(JSONMember("k", .string(key))) }
        if let notBefore = message.notBefore { members.append(JSONMember("n", .double(notBefore))) }
        return .object(members)
    }

    static func variablesJSON(_ variables: [String: String]) -> JSONValue {
        .object(variables.keys.sorted().map { JSONMember($0, .string(variables[$0] ?? "")) })
    }

    static func decode(_ bytes: [UInt8]) -> [NewMessage] {
        var messages: [NewMessage] = []
        var offset = 0
        while offset + 8 <= bytes.count {
            let length = Int(readUInt32(bytes, offset))
            let sum = readUInt32(bytes, offset + 4)
            guard length > 0, offset + 8 + length <= bytes.count else { break }
            let payload = Array(bytes[(offset + 8)..<(offset + 8 + length)])
            guard checksum(payload) == sum, let json = try? JSONParser.parse(payload),
                  let customId = json["c"]?.lenientString, let template = json["t"]?.lenientString,
                  let mobile = json["m"]?.lenientString else { break }
            var variables: [String: String] = [:]
            for member in json["v"]?.objectMembers ?? [] { variables[member.key] = member.value.lenientString ?? "" }
            messages.append(NewMessage(customId: customId, template: template, mobile: mobile, variables: variables,
                                       rule: json["r"]?.lenientString, key: json["k"]?.lenientString,
                                       notBefore: json["n"].flatMap(Self.seconds)))
            offset += 8 + length
        }
        return messages
    }

    private static func seconds(_ value: JSONValue) -> Double? {
        switch value {
        case .double(let number): return number
        case .integer(let number): return Double(number)
        default: return nil
        }
    }

    private static func appendUInt32(_ value: UInt32, to bytes: inout [UInt8]) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    private static func readUInt32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << UInt32($1 * 8) }
    }

    /// FNV-1a, enough to spot a torn or garbled record.
    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var hash: UInt32 = 0x811C_9DC5
        for byte in bytes {
            hash ^= UInt32(byte)
            hash = hash &* 0x0100_0193
        }
        return hash
    }
}
