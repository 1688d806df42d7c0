import Foundation
import Testing
@testable import Outbox
import FMSProtocol

/// Messages with a `notBefore` (rate limit, quiet hours): kept across a crash, sent only once due.
@Suite("Outbox: deferred messages")
struct DeferredSendTests {
    @Test("a deferred message survives a crash with its time and is sent only once due")
    func deferredAcrossCrash() async throws {
        try await withScratch { base in
            let harness = try await Harness.make()
            let configuration = testConfiguration(base + "/state")
            let later = Date().timeIntervalSince1970 + 1.5
            let now = NewMessage(customId: "now-1", template: harness.templates[0], mobile: mobile(1), variables: ["code": "1"])
            var deferred = NewMessage(customId: "later-1", template: harness.templates[0], mobile: mobile(2), variables: ["code": "2"])
            deferred.notBefore = later
            var outbox: Outbox? = try Outbox(configuration: configuration, client: nil)
            try outbox?.enqueue([now, deferred])
            outbox = nil  // a crash before absorption: both are only in the intake log
            let reopened = try await reopen(configuration, client: harness.client)
            let stored = try #require(try await reopened.find("later-1"))
            #expect(abs(stored.nextAttemptAt - later) < 0.001, "notBefore came back from the intake log")
            await reopened.start()
            #expect(await eventually(limit: 10) { harness.ledgerCounts()["now-1"] == 1 })
            #expect(harness.ledgerCounts()["later-1"] == nil, "not before its time")
            #expect(await eventually(limit: 10) { harness.ledgerCounts()["later-1"] == 1 })
            #expect(Date().timeIntervalSince1970 >= later)
            await reopened.stop()
        }
    }

    @Test("a drain sends what is pending at once, except messages held back until later")
    func drainRespectsNotBefore() async throws {
        try await withScratch { base in
            let harness = try await Harness.make()
            let configuration = testConfiguration(base + "/state")
            var held = NewMessage(customId: "held-1", template: harness.templates[0], mobile: mobile(3), variables: ["code": "3"])
            held.notBefore = Date().timeIntervalSince1970 + 3600
            let ready = NewMessage(customId: "ready-1", template: harness.templates[0], mobile: mobile(4), variables: ["code": "4"])
            let outbox = try Outbox(configuration: configuration, client: harness.client)
            try outbox.enqueue([held, ready])
            let counts = try await outbox.drain(timeout: 30)
            #expect(harness.ledgerCounts()["ready-1"] == 1)
            #expect(harness.ledgerCounts()["held-1"] == nil, "held back until its time, even by a drain")
            #expect(counts.pending == 1 && counts.held == 1, "the drain ended without waiting for it: \(counts)")
            let stored = try #require(try await outbox.find("held-1"))
            #expect(abs(stored.nextAttemptAt - (held.notBefore ?? 0)) < 0.001)
            await outbox.stop()
        }
    }
}
