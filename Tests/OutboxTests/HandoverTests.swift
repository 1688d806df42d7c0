import Foundation
import Testing
@testable import Outbox

/// Messages handed over by a process without the lock: whole files only, taken once, never lost.
@Suite("Outbox: hand-over from other processes")
struct HandoverTests {
    @Test("handed-over files are taken in by the next opener and by absorbHandedOver, once each", arguments: Durability.allCases)
    func handover(durability: Durability) async throws {
        try await withScratch { base in
            let configuration = testConfiguration(base + "/state") { $0.durability = durability }
            let first = makeMessages(3, templates: ["t1"], prefix: "early")
            // Nobody holds the folder yet: the file waits for whoever opens the outbox.
            let path = try IntakeHandover.hand(first, directory: configuration.directory, durability: durability)
            #expect(FileManager.default.fileExists(atPath: path))
            // A hander that died half-way leaves only a hidden temporary file: ignored.
            try writeBytes([1, 2, 3], to: IntakeHandover.folder(configuration.directory) + "/.tmp-dead")
            let outbox = try Outbox(configuration: configuration, client: nil)
            #expect(try await outbox.counts().pending == 3)
            #expect(!FileManager.default.fileExists(atPath: path))
            let later = makeMessages(2, templates: ["t1"], prefix: "later")
            _ = try IntakeHandover.hand(later, directory: configuration.directory, durability: durability)
            // The same file content again (a crash after the commit, before the unlink): kept once.
            _ = try IntakeHandover.hand(later, directory: configuration.directory, durability: durability)
            #expect(try await outbox.absorbHandedOver() == Outbox.HandoverResult(queued: 2, duplicates: later.map(\.customId)))
            #expect(try await outbox.absorbHandedOver() == Outbox.HandoverResult())
            let stored = try await outbox.list(state: .pending, limit: 100).map(\.message)
            #expect(Set(stored.map(\.customId)) == Set((first + later).map(\.customId)))
            #expect(stored.first { $0.customId == later[0].customId } == later[0])
            #expect(permissions(IntakeHandover.folder(configuration.directory)) == 0o700)
        }
    }
}
