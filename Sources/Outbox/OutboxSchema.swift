/// The outbox database's schema, as numbered migrations (`PRAGMA user_version`).
///
/// One `messages` table holds every message with its `state` (pending, sent, dead): moving a
/// message between states is one UPDATE, so it can never be in two lists or none.
enum OutboxSchema {
    /// Each migration, in order; `user_version` counts those applied.
    static let migrations: [String] = [
        """
        CREATE TABLE messages(
            id INTEGER PRIMARY KEY,
            custom_id TEXT NOT NULL UNIQUE,
            template TEXT NOT NULL,
            mobile TEXT NOT NULL,
            vars TEXT NOT NULL,
            rule TEXT,
            key TEXT,
            state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            next_attempt_at REAL NOT NULL,
            sent_at REAL,
            fms_id TEXT,
            last_error TEXT,
            last_code TEXT,
            solo INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX messages_due ON messages(next_attempt_at) WHERE state = 'pending';
        CREATE INDEX messages_state ON messages(state, id);
        CREATE INDEX messages_fms_id ON messages(fms_id);
        CREATE TABLE reports(
            id INTEGER PRIMARY KEY,
            fms_id TEXT NOT NULL,
            custom_id TEXT,
            mobile TEXT NOT NULL,
            state TEXT NOT NULL,
            description TEXT NOT NULL,
            receive_time TEXT NOT NULL,
            submit_time TEXT NOT NULL,
            fetched_at REAL NOT NULL,
            message_id INTEGER,
            rule TEXT,
            key TEXT,
            dispatched_at REAL
        );
        CREATE INDEX reports_undispatched ON reports(id) WHERE dispatched_at IS NULL;
        CREATE INDEX reports_fetched ON reports(fetched_at);
        CREATE TABLE rule_state(
            rule TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (rule, key)
        );
        """,
        // 2: sends held back by a rate limit or quiet hours keep their earliest time apart from
        // the retry schedule (a drain must not send them early); dead letters remember whether
        // `fms.on_failure` handlers saw them (those from before this version count as seen).
        """
        ALTER TABLE messages ADD COLUMN not_before REAL;
        ALTER TABLE messages ADD COLUMN failure_dispatched INTEGER NOT NULL DEFAULT 1;
        CREATE INDEX messages_failure_undispatched ON messages(id) WHERE state = 'dead' AND failure_dispatched = 0;
        """,
    ]

    /// The version this build writes.
    static var currentVersion: Int64 { Int64(migrations.count) }
}
