import Foundation
import Testing
@testable import Outbox
@testable import FMSSimulator
import FMSProtocol

/// The intake log: what `enqueue` accepted survives a crash before it reaches the database,
/// a torn last record is skipped, and replays never duplicate a customFmsId.
@Suite("Outbox intake: crash safety and replay")
struct IntakeTests {
    /// Offsets of the records in an intake log (length, checksum, payload).
    static func recordOffsets(_ bytes: [UInt8]) -> [(offset: Int, length: Int)] {
        var records: [(Int, Int)] = []
        var offset = 0
        while offset + 8 <= bytes.count {
            let length = (0..<4).reduce(0) { $0 | Int(bytes[offset + $1]) << ($1 * 8) }
            guard length > 0, offset + 8 + length <= bytes.count else { break }
            records.append((offset, 8 + length))
            offset += 8 + length
        }
        return records
    }

    @Test("messages enqueued but never absorbed survive a crash, each once, content intact",
          arguments: Durability.allCases)
    func crashBeforeAbsorption(durability: Durability) async throws {
        try await withScratch { base in
            let configuration = testConfiguration(base + "/state") { $0.durability = durability }
            let messages = makeMessages(250, templates: ["t1", "t2"], prefix: "crash") + [
                NewMessage(customId: "crash-unicode", template: "t1", mobile: mobile(9999),
                           variables: ["name": "张三 \"quoted\" \\ ✓", "empty": ""], rule: nil, key: nil),
            ]
            var outbox: Outbox? = try Outbox(configuration: configuration, client: nil)
            // Single and batched enqueues; the sender never starts and nothing absorbs.
            for message in messages.prefix(100) { try outbox?.enqueue(message) }
            try outbox?.enqueue(Array(messages.dropFirst(100)))
            #expect((fileSize(configuration.directory + "/intake.log") ?? 0) > 0)
            // Crash: drop it without stop(); the intake log stays behind.
            outbox = nil

            let reopened = try await reopen(configuration)
            let counts = try await reopened.counts()
            #expect(counts.pending == messages.count)
            #expect(counts.sent == 0 && counts.dead == 0)
            let stored = try await reopened.list(state: .pending, limit: 10_000)
            #expect(stored.count == messages.count)
            #expect(Set(stored.map(\.message.customId)).count == messages.count, "no duplicates")
            let byId = Dictionary(uniqueKeysWithValues: stored.map { ($0.message.customId, $0.message) })
            for message in messages { #expect(byId[message.customId] == message, "\(message.customId)") }
            // The replayed log was emptied.
            #expect(fileSize(configuration.directory + "/intake.log") == 0)
            #expect(fileSize(configuration.directory + "/intake.absorbing.log") == nil)

            // A second crash and restart changes nothing.
            _ = consume reopened
            let third = try await reopen(configuration)
            #expect(try await third.counts().pending == messages.count)
        }
    }

    @Test("a crash after a partial absorption keeps both the absorbed and the unabsorbed messages")
    func crashAfterPartialAbsorption() async throws {
        try await withScratch { base in
            let configuration = testConfiguration(base + "/state")
            var outbox: Outbox? = try Outbox(configuration: configuration, client: nil)
            try outbox?.enqueue(makeMessages(100, templates: ["t"], prefix: "part"))
            #expect(try await outbox?.counts().pending == 100)  // absorbed into the database
            try outbox?.enqueue(makeMessages(50, templates: ["t"], prefix: "part", firstIndex: 100))
            outbox = nil

            let reopened = try await reopen(configuration)
            let stored = try await reopened.list(state: nil, limit: 1000)
            #expect(stored.count == 150)
            #expect(Set(stored.map(\.message.customId)) == Set((0..<150).map { "part-\($0)" }))
        }
    }

    enum Tear: String, CaseIterable, Sendable {
        /// Random bytes appended after the last record.
        case garbageAppended
        /// The last record cut in half.
        case lastRecordCutInHalf
        /// Only part of a record header written.
        case partialHeader
        /// A full header whose checksum does not match its payload.
        case badChecksum
    }

    @Test("a torn last record is ignored and the earlier records kept", arguments: Tear.allCases)
    func tornLastRecord(tear: Tear) async throws {
        try await withScratch { base in
            let configuration = testConfiguration(base + "/state")
            let log = configuration.directory + "/intake.log"
            var outbox: Outbox? = try Outbox(configuration: configuration, client: nil)
            try outbox?.enqueue(makeMessages(10, templates: ["t"], prefix: "torn"))
            outbox = nil
            #expect(await waitUntilUnlocked(configuration.directory))

            var bytes = readBytes(log)
            let records = Self.recordOffsets(bytes)
            #expect(records.count == 10)
            var expected = 10
            var random = SeededRandom(seed: 0x7EA2)
            switch tear {
            case .garbageAppended:
                bytes += (0..<37).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            case .lastRecordCutInHalf:
                let last = try #require(records.last)
                bytes = Array(bytes.prefix(last.offset + last.length / 2))
                expected = 9
            case .partialHeader:
                bytes += [0x20, 0x00, 0x00]
            case .badChecksum:
                let payload = Array("{\"c\":\"torn-x\",\"t\":\"t\",\"m\":\"13800000001\",\"v\":{}}".utf8)
                bytes += [UInt8(payload.count), 0, 0, 0, 1, 2, 3, 4] + payload
            }
            try writeBytes(bytes, to: log)

            let reopened = try await reopen(configuration)
            let stored = try await reopened.list(state: nil, limit: 100)
            #expect(stored.count == expected)
            #expect(Set(stored.map(\.message.customId)) == Set((0..<expected).map { "torn-\($0)" }))
            // The torn bytes are gone: later records are readable after the next crash.
            try reopened.enqueue(makeMessages(1, templates: ["t"], prefix: "after"))
            _ = consume reopened
            let third = try await reopen(configuration)
            let after = try await third.list(state: nil, limit: 100)
            #expect(after.count == expected + 1)
            #expect(after.contains { $0.message.customId == "after-0" })
        }
    }

    enum Leftover: String, CaseIterable, Sendable {
        case intakeLog = "intake.log"
        case absorbingLog = "intake.absorbing.log"
        case both
    }

    @Test("replaying a log whose messages are already in the database adds nothing", arguments: Leftover.allCases)
    func replayIsIdempotent(leftover: Leftover) async throws {
        try await withScratch { base in
            let configuration = testConfiguration(base + "/state")
            let directory = configuration.directory
            var outbox: Outbox? = try Outbox(configuration: configuration, client: nil)
            try outbox?.enqueue(makeMessages(20, templates: ["t"], prefix: "twice"))
            let snapshot = readBytes(directory + "/intake.log")
            #expect(try await outbox?.counts().pending == 20)  // absorbed; the log rotated away
            #expect(fileSize(directory + "/intake.absorbing.log") == nil)
            outbox = nil
            #expect(await waitUntilUnlocked(directory))

            // As if a crash hit between the database commit and deleting the log.
            switch leftover {
            case .intakeLog, .absorbingLog:
                try writeBytes(snapshot, to: directory + "/" + leftover.rawValue)
            case .both:
                try writeBytes(snapshot, to: directory + "/intake.log")
                try writeBytes(snapshot, to: directory + "/intake.absorbing.log")
            }
            let reopened = try await reopen(configuration)
            let stored = try await reopened.list(state: nil, limit: 100)
            #expect(stored.count == 20)
            #expect(Set(stored.map(\.message.customId)).count == 20)
            #expect(fileSize(directory + "/intake.absorbing.log") == nil)
        }
    }

    @Test("a customFmsId enqueued twice is stored once")
    func duplicateCustomIdStoredOnce() async throws {
        try await withScratch { base in
            let outbox = try Outbox(configuration: testConfiguration(base + "/state"), client: nil)
            let message = makeMessages(1, templates: ["t"], prefix: "dup")[0]
            try outbox.enqueue(message)
            _ = try await outbox.counts()
            try outbox.enqueue(message)
            try outbox.enqueue([message, message])
            let counts = try await outbox.counts()
            #expect(counts.pending == 1)
            #expect(try await outbox.find("dup-0")?.message == message)
        }
    }

    @Test("records whose database commit failed stay on disk until a later commit succeeds")
    func failedCommitKeepsRecordsOnDisk() throws {
        struct DiskFull: Error {}
        let directory = FileManager.default.temporaryDirectory.path + "/outbox-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let queue = IntakeQueue(log: try IntakeLog(directory: directory, syncEachWrite: false))
        let first = makeMessages(3, templates: ["t"], prefix: "a")
        let second = makeMessages(2, templates: ["t"], prefix: "b")
        let failing: ([NewMessage]) throws(OutboxError) -> Void = { _ throws(OutboxError) in
            throw OutboxError(.storage, "disk full (simulated)")
        }
        try queue.accept(first)
        #expect(throws: OutboxError.self) { try queue.absorb(failing) }
        try queue.accept(second)
        #expect(throws: OutboxError.self) { try queue.absorb(failing) }
        #expect(queue.backlog == 5)

        // A crash now: everything accepted must still be on disk.
        let onDisk = try IntakeLog(directory: directory, syncEachWrite: false).pendingRecords()
        #expect(Set(onDisk.map(\.customId)) == Set((first + second).map(\.customId)))

        // The next commit gets everything, in order, and the logs are then empty.
        var committed: [NewMessage] = []
        try queue.absorb { messages throws(OutboxError) in committed = messages }
        #expect(committed == first + second)
        #expect(try IntakeLog(directory: directory, syncEachWrite: false).pendingRecords().isEmpty)
        #expect(queue.backlog == 0)
    }

    @Test("find and retry prefer an exact customFmsId over a row id that looks the same")
    func findPrefersCustomId() async throws {
        try await withScratch { base in
            let outbox = try Outbox(configuration: testConfiguration(base + "/state"), client: nil)
            // Row 1 is "first"; row 2 has the customFmsId "1".
            try outbox.enqueue(NewMessage(customId: "first", template: "t", mobile: mobile(1), variables: [:]))
            try outbox.enqueue(NewMessage(customId: "1", template: "t", mobile: mobile(2), variables: [:]))
            let first = try #require(try await outbox.find("first"))
            let numeric = try #require(try await outbox.find("1"))
            #expect(first.id == 1)
            #expect(numeric.message.customId == "1")
            #expect(try await outbox.find("2")?.message.customId == "1", "a plain row id still works")
            #expect(try await outbox.find("3") == nil)
        }
    }

    @Test("generated customFmsIds are unique and at most 32 characters")
    func generatedIds() {
        let ids = (0..<20_000).map { _ in Outbox.generateId() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.count <= ProtocolText.maximumCustomFmsIdLength && $0.hasPrefix("fp") })
        #expect(Outbox.generateId(prefix: "rule").hasPrefix("rule"))
    }
}
