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
}
