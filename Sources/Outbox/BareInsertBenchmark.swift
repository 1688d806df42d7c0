import Foundation
import FMSProtocol

/// The limit for the outbox's benchmarks (`fms-bench outbox`): how fast SQLite itself stores
/// rows of the outbox's shape. Exists for benchmarks only; `fms` never calls it.
///
/// It lives here because this module is the only Swift that may touch SQLite. It creates a
/// fresh database at `path` with the outbox's own schema (the `messages` table and its
/// indexes), WAL mode, `synchronous=NORMAL` (or FULL), and inserts the given messages with the
/// outbox's own INSERT statement, prepared once. Everything the outbox adds on top (the intake
/// log, JSON encoding of the variables, the actor, batching) is left out: the variables are
/// encoded before the clock starts.
public enum BareInsertBenchmark {
    /// How the rows are committed.
    public enum Commit: String, Sendable {
        /// All rows in one transaction: the fastest SQLite can store them.
        case oneTransaction
        /// One transaction (BEGIN IMMEDIATE … COMMIT) per row: what a per-message commit costs.
        case eachRow
    }

    /// Inserts `messages` into a fresh database at `path` (removed first, with its -wal/-shm);
    /// returns the wall-clock seconds of the inserts and commits (opening and creating the
    /// schema are not timed). With `synchronousFull`, `PRAGMA synchronous=FULL` (an fsync of
    /// the WAL per commit) instead of NORMAL.
    public static func run(path: String, messages: [NewMessage], commit: Commit = .oneTransaction,
                           synchronousFull: Bool = false) throws -> Double {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
        defer { for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) } }
        let database = try SQLiteDatabase(path: path, create: true)
        try database.execute("PRAGMA journal_mode=WAL")
        try database.execute(synchronousFull ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL")
        try database.transaction { () throws(SQLiteError) in
            for migration in OutboxSchema.migrations { try database.execute(migration) }
        }
        let insert = try database.prepare("""
            INSERT OR IGNORE INTO messages(custom_id, template, mobile, vars, rule, key, state, created_at, next_attempt_at)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7)
            """)
        // The bound values, made before timing: the loop below is SQLite's work only.
        let now = Date().timeIntervalSince1970
        let rows: [[SQLiteValue]] = messages.map { message in
            [.text(message.customId), .text(message.template), .text(message.mobile),
             .text(JSONWriter.string(of: IntakeLog.variablesJSON(message.variables))),
             .optional(message.rule), .optional(message.key), .real(now)]
        }
        var clock = timespec()
        clock_gettime(CLOCK_MONOTONIC, &clock)
        let start = Double(clock.tv_sec) + Double(clock.tv_nsec) * 1e-9
        switch commit {
        case .oneTransaction:
            try database.transaction { () throws(SQLiteError) in
                for row in rows { try insert.run(row) }
            }
        case .eachRow:
            for row in rows {
                try database.transaction { () throws(SQLiteError) in try insert.run(row) }
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &clock)
        let seconds = Double(clock.tv_sec) + Double(clock.tv_nsec) * 1e-9 - start
        guard try database.integer("SELECT COUNT(*) FROM messages") == Int64(messages.count) else {
            throw OutboxError(.storage, "the bare insert loop stored fewer rows than it was given")
        }
        return seconds
    }
}
