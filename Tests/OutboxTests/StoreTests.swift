import Foundation
import Testing
@testable import Outbox
@testable import FMSSimulator
import FMSProtocol

/// The state directory and its database: files and modes, WAL, schema, the lock, and every
/// way opening can fail (locked, too new, corrupt, unusable directory) — with a clear error,
/// never a crash.
@Suite("Outbox store: files, lock, schema, damage")
struct StoreTests {
    @Test("creates the directory 0700 and its files 0600, in WAL mode at the current schema")
    func createsPrivateFilesInWALMode() async throws {
        try await withScratch { base in
            let directory = base + "/state/nested"
            let outbox = try Outbox(configuration: testConfiguration(directory), client: nil)
            try outbox.enqueue(makeMessages(3, templates: ["t"], prefix: "files"))
            #expect(try await outbox.counts().pending == 3)

            #expect(permissions(directory) == 0o700)
            for file in ["outbox.db", "lock", "intake.log"] {
                #expect(permissions(directory + "/" + file) == 0o600, "\(file)")
            }
            for file in ["outbox.db-wal", "outbox.db-shm"] where fileSize(directory + "/" + file) != nil {
                #expect(permissions(directory + "/" + file) == 0o600, "\(file)")
            }
            // The lock file names its holder.
            let holder = String(decoding: readBytes(directory + "/lock"), as: UTF8.self)
            #expect(holder.trimmingCharacters(in: .whitespacesAndNewlines) == String(getpid()))

            // The file header says WAL (read/write versions 2), and SQLite agrees.
            let header = readBytes(directory + "/outbox.db")
            #expect(header.count >= 100)
            #expect(Array(header.prefix(16)) == Array("SQLite format 3\0".utf8))
            #expect(header.count >= 20 && header[18] == 2 && header[19] == 2)
            let database = try SQLiteDatabase(path: directory + "/outbox.db", create: false)
            #expect(try database.text("PRAGMA journal_mode") == "wal")
            #expect(try database.integer("PRAGMA user_version") == Int64(OutboxSchema.migrations.count))
            #expect(OutboxSchema.currentVersion == Int64(OutboxSchema.migrations.count))
            let tables = try database.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .rows { $0.text(0) ?? "" }
            #expect(tables == ["messages", "reports", "rule_state"])
            _ = outbox
        }
    }

    @Test("reopening keeps the schema version and the data (migrations run once)")
    func reopenKeepsSchema() async throws {
        try await withScratch { base in
            let configuration = testConfiguration(base + "/state")
            var outbox: Outbox? = try Outbox(configuration: configuration, client: nil)
            try outbox?.enqueue(makeMessages(5, templates: ["t"], prefix: "schema"))
            #expect(try await outbox?.counts().pending == 5)
            outbox = nil
            let again = try await reopen(configuration)
            #expect(try await again.counts().pending == 5)
            let database = try SQLiteDatabase(path: base + "/state/outbox.db", create: false)
            #expect(try database.integer("PRAGMA user_version") == OutboxSchema.currentVersion)
        }
    }

    @Test("a second outbox on the same directory fails .locked, naming the holder's pid")
    func secondOpenIsLocked() async throws {
        try await withScratch { base in
            let configuration = testConfiguration(base + "/state")
            var first: Outbox? = try Outbox(configuration: configuration, client: nil)
            let error = openFailure(configuration)
            #expect(error?.kind == .locked)
            #expect(error?.message.contains("pid \(getpid())") == true, "\(error?.message ?? "no error")")
            #expect(error?.message.contains(configuration.directory) == true)
            // The refused opener must not have disturbed the holder's pid in the lock file.
            let holder = String(decoding: readBytes(configuration.directory + "/lock"), as: UTF8.self)
            #expect(holder.trimmingCharacters(in: .whitespacesAndNewlines) == String(getpid()))
            #expect(try await first?.counts().pending == 0)

            // Once the holder is gone, the directory opens again.
            first = nil
            let second = try await reopen(configuration)
            #expect(try await second.counts().pending == 0)
        }
    }

    @Test("a database from a newer schema fails .tooNew and is left untouched")
    func newerSchemaIsRefused() async throws {
        try await withScratch { base in
            let configuration = testConfiguration(base + "/state")
            var outbox: Outbox? = try Outbox(configuration: configuration, client: nil)
            _ = try await outbox?.counts()
            outbox = nil
            #expect(await waitUntilUnlocked(configuration.directory))
            let future = OutboxSchema.currentVersion + 7
            do {
                let database = try SQLiteDatabase(path: configuration.directory + "/outbox.db", create: false)
                try database.execute("PRAGMA user_version = \(future)")
            }

            let error = openFailure(configuration)
            #expect(error?.kind == .tooNew)
            #expect(error?.message.contains("\(future)") == true, "\(error?.message ?? "no error")")
            #expect(error?.message.contains(configuration.directory + "/outbox.db") == true)
            let database = try SQLiteDatabase(path: configuration.directory + "/outbox.db", create: false)
            #expect(try database.integer("PRAGMA user_version") == future)
        }
    }

    enum Damage: String, CaseIterable, Sendable {
        /// outbox.db is a text file.
        case notSQLite
        /// Three pages in the middle of a real database overwritten with random bytes.
        case garbageInMiddle
    }

    @Test("a damaged outbox.db fails .corrupt with a message naming the file", arguments: Damage.allCases)
    func damagedDatabase(damage: Damage) async throws {
        try await withScratch { base in
            let configuration = testConfiguration(base + "/state")
            let path = configuration.directory + "/outbox.db"
            switch damage {
            case .notSQLite:
                try FileManager.default.createDirectory(atPath: configuration.directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
                try writeBytes(Array(String(repeating: "these are not the pages you are looking for\n", count: 200).utf8),
                               to: path)
            case .garbageInMiddle:
                var outbox: Outbox? = try Outbox(configuration: configuration, client: nil)
                try outbox?.enqueue(makeMessages(3000, templates: ["t1", "t2"], prefix: "damage"))
                #expect(try await outbox?.counts().pending == 3000)
                outbox = nil
                #expect(await waitUntilUnlocked(configuration.directory))
                // The last connection's close checkpoints the WAL into outbox.db and deletes it.
                #expect(await eventually { fileSize(path + "-wal") == nil })
                let size = try #require(fileSize(path))
                #expect(size >= 64 * 4096)
                var random = SeededRandom(seed: 0xBAD)
                let garbage = (0..<(3 * 4096)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                let start = (size / 2) / 4096 * 4096
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                try handle.seek(toOffset: UInt64(start))
                try handle.write(contentsOf: garbage)
                try handle.close()
            }

            let error = openFailure(configuration)
            #expect(error?.kind == .corrupt, "\(String(describing: error))")
            #expect(error?.message.contains(path) == true, "\(error?.message ?? "no error")")
            // The failed open released the lock: a repaired directory opens.
            try FileManager.default.removeItem(atPath: path)
            #expect(openFailure(configuration) == nil)
        }
    }

    enum Unusable: String, CaseIterable, Sendable {
        /// The state directory's parent is a regular file.
        case parentIsFile
        /// The state directory is a regular file.
        case pathIsFile
        /// The state directory cannot be written (chmod 0500; as root, a path under /proc/version).
        case readOnly
    }

    @Test("an unusable state directory fails .storage naming the path", arguments: Unusable.allCases)
    func unusableDirectory(problem: Unusable) async throws {
        try await withScratch { base in
            let directory: String
            switch problem {
            case .parentIsFile:
                try writeBytes(Array("x".utf8), to: base + "/plain")
                directory = base + "/plain/state"
            case .pathIsFile:
                try writeBytes(Array("x".utf8), to: base + "/state")
                directory = base + "/state"
            case .readOnly:
                if runningAsRoot {
                    // Root ignores permission bits; a path below a procfs file cannot be created.
                    directory = "/proc/version/fms-state"
                } else {
                    directory = base + "/state"
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
                    #expect(chmod(directory, 0o500) == 0)
                }
            }
            let error = openFailure(testConfiguration(directory))
            #expect(error?.kind == .storage, "\(String(describing: error))")
            #expect(error?.message.contains(directory) == true, "\(error?.message ?? "no error")")
        }
    }

    @Test("an outbox.db that cannot be opened as a database fails .storage or .corrupt, not a crash")
    func databaseIsADirectory() async throws {
        try await withScratch { base in
            let directory = base + "/state"
            try FileManager.default.createDirectory(atPath: directory + "/outbox.db", withIntermediateDirectories: true)
            let error = openFailure(testConfiguration(directory))
            #expect(error != nil)
            #expect(error?.kind == .storage || error?.kind == .corrupt)
            #expect(error?.message.contains(directory + "/outbox.db") == true, "\(error?.message ?? "no error")")
        }
    }
}
