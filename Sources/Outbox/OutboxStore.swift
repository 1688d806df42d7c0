import Foundation
import FMSProtocol

/// How hard each accepted message is pushed to disk before `enqueue` returns.
public enum Durability: String, Sendable, CaseIterable {
    /// In the kernel before returning: survives a killed process, not a power loss (default).
    case normal
    /// `fdatasync` before returning, and SQLite `synchronous=FULL`: survives a power loss.
    case full
}

/// The outbox's database (SQLite, WAL) and the state directory's lock.
///
/// Not thread-safe: owned by the `Outbox` actor.
final class OutboxStore {
    let directory: String
    let databasePath: String
    private let lock: StateLock
    private let database: SQLiteDatabase

    private let insertMessage: SQLiteStatement
    private let insertReport: SQLiteStatement

    /// Opens the store in `directory`, creating it; refuses a second process; checks integrity;
    /// migrates the schema.
    init(directory: String, durability: Durability, lockWait: Double = 0) throws(OutboxError) {
        try StateDirectory.prepare(directory)
        self.directory = directory
        databasePath = directory + "/outbox.db"
        lock = try StateLock(directory: directory, wait: lockWait)
        do {
            if !FileManager.default.fileExists(atPath: databasePath) {
                // Create the file ourselves so it is 0600 from the first byte; SQLite gives its
                // -wal and -shm files the same mode.
                let descriptor = open(databasePath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                guard descriptor >= 0 else {
                    throw OutboxError(.storage, "cannot create \(databasePath): \(String(cString: strerror(errno)))")
                }
                close(descriptor)
            }
            database = try SQLiteDatabase(path: databasePath, create: false)
            let check = try database.text("PRAGMA quick_check") ?? "?"
            guard check == "ok" else {
                throw OutboxError(.corrupt, "\(databasePath) is damaged (\(check)); move it aside and restore a backup, or start afresh")
            }
            try database.execute("PRAGMA journal_mode=WAL")
            try database.execute(durability == .full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL")
            try database.execute("PRAGMA foreign_keys=ON")
            try OutboxStore.migrate(database)
            insertMessage = try database.prepare("""
                INSERT OR IGNORE INTO messages(custom_id, template, mobile, vars, rule, key, state, created_at, next_attempt_at,
                                               not_before)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, MAX(?7, COALESCE(?8, ?7)), ?8)
                """)
            insertReport = try database.prepare("""
                INSERT INTO reports(fms_id, custom_id, mobile, state, description, receive_time, submit_time, fetched_at,
                                    message_id, rule, key)
                SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, m.id, m.rule, m.key
                FROM (SELECT 1) LEFT JOIN messages m ON m.custom_id = ?2 OR (?2 IS NULL AND m.fms_id = ?1)
                LIMIT 1
                """)
        } catch let error as SQLiteError {
            throw OutboxError(error)
        } catch let error as OutboxError {
            throw error
        } catch {
            throw OutboxError(.storage, "\(databasePath): \(error)")
        }
    }

    private static func migrate(_ database: SQLiteDatabase) throws(OutboxError) {
        do {
            let version = try database.integer("PRAGMA user_version") ?? 0
            guard version <= OutboxSchema.currentVersion else {
                throw OutboxError(.tooNew, "\(database.path) has schema version \(version); this fms knows up to "
                                  + "\(OutboxSchema.currentVersion): upgrade fms")
            }
            for index in Int(version)..<OutboxSchema.migrations.count {
                try database.transaction { () throws(SQLiteError) in
                    try database.execute(OutboxSchema.migrations[index])
                    try database.execute("PRAGMA user_version = \(index + 1)")
                }
            }
        } catch let error as SQLiteError {
            throw OutboxError(error)
        } catch let error as OutboxError {
            throw error
        } catch {
            throw OutboxError(.storage, "\(error)")
        }
    }

    // MARK: Messages

    /// Inserts new messages as pending in one transaction; a customFmsId already present is
    /// skipped, and returned.
    @discardableResult
    func insert(_ messages: [NewMessage], at now: Double) throws(OutboxError) -> [String] {
        var skipped: [String] = []
        do {
            try database.transaction { () throws(SQLiteError) in
                for message in messages {
                    let vars = JSONWriter.string(of: IntakeLog.variablesJSON(message.variables))
                    try insertMessage.run([.text(message.customId), .text(message.template), .text(message.mobile), .text(vars),
                                           .optional(message.rule), .optional(message.key), .real(now),
                                           message.notBefore.map { .real($0) } ?? .null])
                    if database.changes == 0 { skipped.append(message.customId) }
                }
            }
        } catch {
            throw OutboxError(error)
        }
        return skipped
    }

    // MARK: Queries

    private static let columns = """
        id, custom_id, template, mobile, vars, rule, key, state, attempts, created_at, next_attempt_at, sent_at, fms_id,
        last_error, last_code, not_before
        """

    private static func row(_ statement: SQLiteStatement) -> StoredMessage {
        var variables: [String: String] = [:]
        if let text = statement.text(4), let json = try? JSONParser.parse(text) {
            for member in json.objectMembers ?? [] { variables[member.key] = member.value.lenientString ?? "" }
        }
        let message = NewMessage(customId: statement.text(1) ?? "", template: statement.text(2) ?? "",
                                 mobile: statement.text(3) ?? "", variables: variables, rule: statement.text(5),
                                 key: statement.text(6), notBefore: statement.isNull(15) ? nil : statement.double(15))
        return StoredMessage(id: statement.int64(0), message: message,
                             state: MessageState(rawValue: statement.text(7) ?? "") ?? .pending,
                             attempts: Int(statement.int64(8)), createdAt: statement.double(9), nextAttemptAt: statement.double(10),
                             sentAt: statement.isNull(11) ? nil : statement.double(11), fmsId: statement.text(12),
                             lastError: statement.text(13), lastCode: statement.text(14))
    }

    /// Pending messages due by `now`, oldest first, skipping `excluding`; solo ones flagged.
    func due(now: Double, limit: Int, excluding: Set<Int64>) throws(OutboxError) -> [(StoredMessage, solo: Bool)] {
        do {
            let statement = try database.prepare("""
                SELECT \(OutboxStore.columns), solo FROM messages
                WHERE state = 'pending' AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2
                """)
            let rows = try statement.rows([.real(now), .integer(Int64(limit + excluding.count))]) { statement in
                (OutboxStore.row(statement), statement.int64(16) != 0)
            }
            return Array(rows.filter { !excluding.contains($0.0.id) }.prefix(limit))
        } catch {
            throw OutboxError(error)
        }
    }

    /// The earliest `next_attempt_at` of a pending message, if any.
    ///
    /// With `after`, only later times count: messages due by then are in flight, and the
    /// sender is woken when their requests finish.
    func nextDue(after: Double? = nil) throws(OutboxError) -> Double? {
        do {
            let statement = try database.prepare("""
                SELECT MIN(next_attempt_at) FROM messages INDEXED BY messages_due
                WHERE state = 'pending' AND next_attempt_at > ?1
                """)
            try statement.bind([.real(after ?? -Double.greatestFiniteMagnitude)])
            guard try statement.step(), !statement.isNull(0) else { return nil }
            return statement.double(0)
        } catch {
            throw OutboxError(error)
        }
    }

    /// Which of `ids` are in `state` (one scan of that state's rows).
    func customIds(in state: MessageState, among ids: Set<String>) throws(OutboxError) -> Set<String> {
        guard !ids.isEmpty else { return [] }
        do {
            let statement = try database.prepare("SELECT custom_id FROM messages WHERE state = ?1")
            var found: Set<String> = []
            for id in try statement.rows([.text(state.rawValue)], { $0.text(0) ?? "" }) where ids.contains(id) { found.insert(id) }
            return found
        } catch {
            throw OutboxError(error)
        }
    }

    /// Whether a message is pending that is not held back past `now` (by a rate limit or quiet hours).
    func hasPending(heldBackAfter now: Double) throws(OutboxError) -> Bool {
        do {
            let statement = try database.prepare("""
                SELECT EXISTS(SELECT 1 FROM messages WHERE state = 'pending' AND (not_before IS NULL OR not_before <= ?1))
                """)
            return try statement.rows([.real(now)]) { $0.int64(0) }.first == 1
        } catch {
            throw OutboxError(error)
        }
    }

    /// Makes every pending message due at `now` (a drain tries everything at once), except
    /// those held back until later by a rate limit or quiet hours.
    func makePendingDue(now: Double) throws(OutboxError) {
        try update { () throws(SQLiteError) in
            let statement = try database.prepare("""
                UPDATE messages SET next_attempt_at = MAX(?1, COALESCE(not_before, ?1))
                WHERE state = 'pending' AND next_attempt_at > ?1
                """)
            try statement.run([.real(now)])
        }
    }

    /// Whether a pending message is due by `now`.
    func hasDue(now: Double) throws(OutboxError) -> Bool {
        do {
            let statement = try database.prepare("""
                SELECT EXISTS(SELECT 1 FROM messages INDEXED BY messages_due WHERE state = 'pending' AND next_attempt_at <= ?1)
                """)
            return try statement.rows([.real(now)]) { $0.int64(0) }.first == 1
        } catch {
            throw OutboxError(error)
        }
    }

    /// Dead letters `fms.on_failure` handlers have not seen yet, oldest first.
    func undispatchedFailures(limit: Int) throws(OutboxError) -> [StoredMessage] {
        do {
            let statement = try database.prepare("""
                SELECT \(OutboxStore.columns) FROM messages WHERE state = 'dead' AND failure_dispatched = 0 ORDER BY id LIMIT ?1
                """)
            return try statement.rows([.integer(Int64(limit))], OutboxStore.row)
        } catch {
            throw OutboxError(error)
        }
    }

    /// Records that `fms.on_failure` handlers saw these dead letters.
    func markFailuresDispatched(_ ids: [Int64]) throws(OutboxError) {
        try update { () throws(SQLiteError) in
            let statement = try database.prepare("UPDATE messages SET failure_dispatched = 1 WHERE id = ?1")
            for id in ids { try statement.run([.integer(id)]) }
        }
    }

    /// Records accepted messages with their fmsIds.
    func markSent(_ sent: [(id: Int64, fmsId: String)], at now: Double) throws(OutboxError) {
        try update { () throws(SQLiteError) in
            let statement = try database.prepare("""
                UPDATE messages SET state = 'sent', fms_id = ?2, sent_at = ?3, attempts = attempts + 1,
                last_error = NULL, last_code = NULL WHERE id = ?1
                """)
            for item in sent { try statement.run([.integer(item.id), .text(item.fmsId), .real(now)]) }
        }
    }

    /// Schedules another attempt.
    func markRetry(_ ids: [Int64], next: [Int64: Double], error: String, code: String?) throws(OutboxError) {
        try update { () throws(SQLiteError) in
            let statement = try database.prepare("""
                UPDATE messages SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3, last_code = ?4 WHERE id = ?1
                """)
            for id in ids { try statement.run([.integer(id), .real(next[id] ?? 0), .text(error), .optional(code)]) }
        }
    }

    /// Moves messages to the dead letters with their last error.
    func markDead(_ ids: [Int64], error: String, code: String?) throws(OutboxError) {
        try update { () throws(SQLiteError) in
            let statement = try database.prepare("""
                UPDATE messages SET state = 'dead', attempts = attempts + 1, last_error = ?2, last_code = ?3,
                failure_dispatched = 0 WHERE id = ?1
                """)
            for id in ids { try statement.run([.integer(id), .text(error), .optional(code)]) }
        }
    }

    /// Marks messages to be sent one per request (to find the bad one in a refused batch).
    func markSolo(_ ids: [Int64]) throws(OutboxError) {
        try update { () throws(SQLiteError) in
            let statement = try database.prepare("UPDATE messages SET solo = 1 WHERE id = ?1")
            for id in ids { try statement.run([.integer(id)]) }
        }
    }

    private func update(_ body: () throws(SQLiteError) -> Void) throws(OutboxError) {
        do {
            try database.transaction(body)
        } catch {
            throw OutboxError(error)
        }
    }

    /// Messages in `state` (all when nil), newest first.
    func list(state: MessageState?, limit: Int) throws(OutboxError) -> [StoredMessage] {
        do {
            if let state {
                let statement = try database.prepare("SELECT \(OutboxStore.columns) FROM messages WHERE state = ?1 ORDER BY id DESC LIMIT ?2")
                return try statement.rows([.text(state.rawValue), .integer(Int64(limit))], OutboxStore.row)
            }
            let statement = try database.prepare("SELECT \(OutboxStore.columns) FROM messages ORDER BY id DESC LIMIT ?1")
            return try statement.rows([.integer(Int64(limit))], OutboxStore.row)
        } catch {
            throw OutboxError(error)
        }
    }

    /// One message by row id or customFmsId.
    func find(_ reference: String) throws(OutboxError) -> StoredMessage? {
        do {
            let statement = try database.prepare("SELECT \(OutboxStore.columns) FROM messages WHERE custom_id = ?1 OR id = ?2")
            return try statement.rows([.text(reference), .integer(Int64(reference) ?? -1)], OutboxStore.row).first
        } catch {
            throw OutboxError(error)
        }
    }

    /// Puts dead (or pending) messages back to pending, due now, with a fresh attempt count.
    func retry(_ ids: [Int64], now: Double) throws(OutboxError) -> Int {
        var changed = 0
        try update { () throws(SQLiteError) in
            let statement = try database.prepare("""
                UPDATE messages SET state = 'pending', attempts = 0, next_attempt_at = ?2, created_at = ?2, solo = 0
                WHERE id = ?1 AND state != 'sent'
                """)
            for id in ids {
                try statement.run([.integer(id), .real(now)])
                changed += database.changes
            }
        }
        return changed
    }

    /// Deletes every dead letter; returns how many.
    func purgeDead() throws(OutboxError) -> Int {
        var removed = 0
        try update { () throws(SQLiteError) in
            try database.execute("DELETE FROM messages WHERE state = 'dead'")
            removed = database.changes
        }
        return removed
    }

    /// Deletes sent messages and reports older than `cutoff`.
    func prune(before cutoff: Double) throws(OutboxError) -> Int {
        var removed = 0
        try update { () throws(SQLiteError) in
            let messages = try database.prepare("DELETE FROM messages WHERE state = 'sent' AND sent_at < ?1")
            try messages.run([.real(cutoff)])
            removed += database.changes
            let reports = try database.prepare("DELETE FROM reports WHERE fetched_at < ?1 AND dispatched_at IS NOT NULL")
            try reports.run([.real(cutoff)])
            removed += database.changes
        }
        return removed
    }

    /// Counts for `fms outbox stats`.
    func counts(now: Double) throws(OutboxError) -> OutboxCounts {
        do {
            let byState = try database.prepare("SELECT state, COUNT(*) FROM messages GROUP BY state")
            var counts: [String: Int] = [:]
            for (state, count) in try byState.rows([], { ($0.text(0) ?? "", Int($0.int64(1))) }) { counts[state] = count }
            let reports = Int(try database.integer("SELECT COUNT(*) FROM reports") ?? 0)
            let undispatched = Int(try database.integer("SELECT COUNT(*) FROM reports WHERE dispatched_at IS NULL") ?? 0)
            let oldest = try database.prepare("SELECT MIN(created_at) FROM messages WHERE state = 'pending'")
            var age: Double?
            if try oldest.step(), !oldest.isNull(0) { age = now - oldest.double(0) }
            let heldStatement = try database.prepare("SELECT COUNT(*) FROM messages WHERE state = 'pending' AND not_before > ?1")
            let held = Int(try heldStatement.rows([.real(now)]) { $0.int64(0) }.first ?? 0)
            return OutboxCounts(pending: counts["pending"] ?? 0, sent: counts["sent"] ?? 0,
                                dead: counts["dead"] ?? 0, reports: reports, undispatchedReports: undispatched,
                                oldestPendingAge: age, held: held)
        } catch {
            throw OutboxError(error)
        }
    }

    // MARK: Report journal

    /// Stores fetched reports in one transaction, joined to their messages; returns them with journal ids.
    func journal(_ reports: [DeliveryReport], at now: Double) throws(OutboxError) -> [JournaledReport] {
        var stored: [JournaledReport] = []
        try update { () throws(SQLiteError) in
            let lookup = try database.prepare("SELECT message_id, rule, key FROM reports WHERE id = ?1")
            for report in reports {
                try insertReport.run([.text(report.fmsId), .optional(report.customFmsId), .text(report.mobile),
                                      .text(report.state.name), .text(report.desc), .text(report.receiveTime),
                                      .text(report.submitTime), .real(now)])
                let id = sqlite3LastInsertRowID(database)
                let joined = try lookup.rows([.integer(id)]) { ($0.isNull(0) ? nil : $0.int64(0), $0.text(1), $0.text(2)) }.first
                stored.append(JournaledReport(id: id, report: report, messageId: joined?.0 ?? nil,
                                              rule: joined?.1 ?? nil, key: joined?.2 ?? nil))
            }
        }
        return stored
    }

    /// Reports stored but not yet dispatched, oldest first.
    func undispatched(limit: Int) throws(OutboxError) -> [JournaledReport] {
        do {
            let statement = try database.prepare("""
                SELECT id, fms_id, custom_id, mobile, state, description, receive_time, submit_time, message_id, rule, key
                FROM reports WHERE dispatched_at IS NULL ORDER BY id LIMIT ?1
                """)
            return try statement.rows([.integer(Int64(limit))]) { row in
                JournaledReport(id: row.int64(0),
                                report: DeliveryReport(mobile: row.text(3) ?? "", fmsId: row.text(1) ?? "", customFmsId: row.text(2),
                                                       state: ReportState(row.text(4) ?? ""), desc: row.text(5) ?? "",
                                                       receiveTime: row.text(6) ?? "", submitTime: row.text(7) ?? ""),
                                messageId: row.isNull(8) ? nil : row.int64(8), rule: row.text(9), key: row.text(10))
            }
        } catch {
            throw OutboxError(error)
        }
    }

    /// Marks reports as handled.
    func markDispatched(_ ids: [Int64], at now: Double) throws(OutboxError) {
        try update { () throws(SQLiteError) in
            let statement = try database.prepare("UPDATE reports SET dispatched_at = ?2 WHERE id = ?1")
            for id in ids { try statement.run([.integer(id), .real(now)]) }
        }
    }

    // MARK: Rule state

    /// A persisted value of a rule (cooldown ends, threshold edges).
    func ruleState(rule: String, key: String) throws(OutboxError) -> String? {
        do {
            let statement = try database.prepare("SELECT value FROM rule_state WHERE rule = ?1 AND key = ?2")
            return try statement.rows([.text(rule), .text(key)]) { $0.text(0) }.first ?? nil
        } catch {
            throw OutboxError(error)
        }
    }

    /// Every persisted value of a rule, by key.
    func ruleStates(rule: String) throws(OutboxError) -> [String: String] {
        do {
            let statement = try database.prepare("SELECT key, value FROM rule_state WHERE rule = ?1")
            var values: [String: String] = [:]
            for (key, value) in try statement.rows([.text(rule)], { ($0.text(0), $0.text(1)) }) {
                if let key, let value { values[key] = value }
            }
            return values
        } catch {
            throw OutboxError(error)
        }
    }

    /// Forgets the persisted values of a rule that are numbers below `limit` (expired deadlines).
    func deleteRuleStates(rule: String, numericValueBelow limit: Double) throws(OutboxError) {
        try update { () throws(SQLiteError) in
            let statement = try database.prepare("DELETE FROM rule_state WHERE rule = ?1 AND CAST(value AS REAL) < ?2")
            try statement.run([.text(rule), .real(limit)])
        }
    }

    /// Sets a persisted value of a rule.
    func setRuleState(rule: String, key: String, value: String, at now: Double) throws(OutboxError) {
        try update { () throws(SQLiteError) in
            let statement = try database.prepare("""
                INSERT INTO rule_state(rule, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                ON CONFLICT(rule, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                """)
            try statement.run([.text(rule), .text(key), .text(value), .real(now)])
        }
    }
}

/// A report as stored in the journal, with the message (and rule, key) it belongs to.
public struct JournaledReport: Sendable, Equatable {
    /// Journal row id.
    public var id: Int64
    /// The report.
    public var report: DeliveryReport
    /// The outbox message it reports on, when known.
    public var messageId: Int64?
    /// The rule that sent the message.
    public var rule: String?
    /// The key the message was sent under.
    public var key: String?
}
