import CSQLite

/// A failed SQLite call: the operation, SQLite's result code and message, and the file.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    /// What we were doing ("open", "prepare", "step"…).
    public var operation: String
    /// SQLite's (extended) result code.
    public var code: Int32
    /// SQLite's message.
    public var message: String
    /// The database file.
    public var path: String

    /// Whether the file is damaged (SQLITE_CORRUPT or SQLITE_NOTADB).
    public var isCorruption: Bool {
        let primary = code & 0xFF
        return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB
    }

    /// Whether the disk or the file system refused (full, read-only, I/O error, cannot open).
    public var isStorageFailure: Bool {
        let primary = code & 0xFF
        return [SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_PERM].contains(primary)
    }

    /// "outbox.db: step failed: database or disk is full (SQLITE_FULL)".
    public var description: String {
        let name = String(cString: sqlite3_errstr(code))
        var text = "\(path): \(operation) failed: \(message)"
        if message != name { text += " (\(name))" }
        if isCorruption { text += "; the database is damaged: move it aside and restore a backup, or start afresh" }
        return text
    }
}
