import Foundation
import Testing
@testable import Outbox
import FMSClient
import FMSProtocol
@testable import FMSSimulator

/// What cannot be sent: dead-lettered with the vendor code, once, without hiding the good
/// messages of the same batch; retried by hand; purged.
@Suite("Outbox dead letters")
struct DeadLetterTests {
    @Test("an unknown template is dead at once: ERROR_TEMPLATE_ID_ERROR, attempts 1, no retry")
    func unknownTemplate() async throws {
        try await withScratch { base in
            let harness = try await Harness.make()
            let outbox = try Outbox(configuration: testConfiguration(base + "/state"), client: harness.client)
            let failures = FailureLog()
            await outbox.onFailure { failures.record($0) }
            let bad = makeMessages(5, templates: [Harness.unknownTemplate], prefix: "notpl")
            let good = makeMessages(5, templates: [harness.templates[0]], prefix: "fine", firstIndex: 5)
            try outbox.enqueue(bad + good)
            let states = try await outbox.wait(for: (bad + good).map(\.customId), timeout: 60)
            for message in bad { #expect(states[message.customId] == .dead) }
            for message in good { #expect(states[message.customId] == .sent) }
            // Give the sender the chance to (wrongly) retry before looking at the requests.
            let left = try await outbox.drain(timeout: 60)
            try? await Task.sleep(nanoseconds: 100_000_000)
            await outbox.stop()
            #expect(left.dead == 5 && left.sent == 5 && left.pending == 0)

            let badRequests = harness.transport.sends.filter { $0.templateId == Harness.unknownTemplate }
            #expect(badRequests.count == 1)
            #expect(badRequests.first?.result == ResultCode.templateIdError.name)
            for message in bad {
                let stored = try #require(try await outbox.find(message.customId))
                #expect(stored.state == .dead)
                #expect(stored.attempts == 1)
                #expect(stored.lastCode == "ERROR_TEMPLATE_ID_ERROR")
                #expect(stored.lastError?.contains("ERROR_TEMPLATE_ID_ERROR") == true)
                #expect(stored.fmsId == nil && stored.sentAt == nil)
            }
            #expect(try await outbox.list(state: .dead).map(\.message.customId).sorted() == bad.map(\.customId).sorted())

            // Observers saw each dead message once, as stored.
            let seen = failures.all
            #expect(seen.map(\.message.customId).sorted() == bad.map(\.customId).sorted())
            for message in seen { #expect(try await outbox.find(message.message.customId) == message) }

            // purgeDead removes the dead letters and nothing else.
            #expect(try await outbox.purgeDead() == 5)
            let after = try await outbox.counts()
            #expect(after.dead == 0 && after.sent == 5)
            #expect(try await outbox.find(bad[0].customId) == nil)
            #expect(try await outbox.find(good[0].customId)?.state == .sent)
            #expect(try await outbox.purgeDead() == 0)
        }
    }

    enum Refusal: String, CaseIterable, Sendable {
        /// The gateway refuses any batch holding a marked mobile with ERROR_MOBILE_ERROR (the vendor's server).
        case vendorRefusesMobile
        /// The client refuses a malformed mobile before anything is sent.
        case clientRejectsMobile
    }

    @Test("a batch refused for one entry is re-sent one per request; only the bad entries die",
          arguments: Refusal.allCases)
    func entryLevelRefusal(refusal: Refusal) async throws {
        try await withScratch { base in
            let harness = try await Harness.make()
            let outbox = try Outbox(configuration: testConfiguration(base + "/state"), client: harness.client)
            let failures = FailureLog()
            await outbox.onFailure { failures.record($0) }
            var messages = makeMessages(50, templates: [harness.templates[0]], prefix: "entry")
            let badIndexes = [3, 17, 41]
            for index in badIndexes {
                switch refusal {
                case .vendorRefusesMobile: messages[index].mobile = "1390000\(1000 + index)"
                case .clientRejectsMobile: messages[index].mobile = "1390\(index)"
                }
            }
            let badIds = Set(badIndexes.map { messages[$0].customId })
            let goodIds = Set(messages.map(\.customId)).subtracting(badIds)
            if refusal == .vendorRefusesMobile {
                harness.transport.setRefusedMobiles(Set(badIndexes.map { messages[$0].mobile }))
            }
            try outbox.enqueue(messages)
            let states = try await outbox.wait(for: messages.map(\.customId), timeout: 60)
            #expect(Set(states.filter { $0.value == .dead }.keys) == badIds)
            #expect(Set(states.filter { $0.value == .sent }.keys) == goodIds)

            let sends = harness.transport.sends
            switch refusal {
            case .vendorRefusesMobile:
                // One refused batch of 50, then 50 requests of one message each.
                #expect(sends.count == 51)
                #expect(sends.first?.customIds.count == 50)
                #expect(sends.first?.outcome == .refused(ResultCode.mobileError.name))
                #expect(sends.dropFirst().allSatisfy { $0.customIds.count == 1 })
            case .clientRejectsMobile:
                // The batch never left the client; the good messages went one per request.
                #expect(sends.count == goodIds.count)
                #expect(sends.allSatisfy { $0.customIds.count == 1 })
            }
            let ledger = harness.ledgerCounts()
            #expect(Set(ledger.keys) == goodIds)
            #expect(ledger.values.allSatisfy { $0 == 1 })

            for id in badIds {
                let stored = try #require(try await outbox.find(id))
                #expect(stored.state == .dead)
                #expect(stored.attempts == 1)
                switch refusal {
                case .vendorRefusesMobile: #expect(stored.lastCode == ResultCode.mobileError.name)
                case .clientRejectsMobile:
                    #expect(stored.lastCode == nil)
                    #expect(stored.lastError?.contains("mobile") == true)
                }
            }
            #expect(Set(failures.all.map(\.message.customId)) == badIds)
            #expect(failures.all.count == badIds.count)

            // Once the cause is gone, retry() puts them back and they are sent.
            if refusal == .vendorRefusesMobile {
                harness.transport.setRefusedMobiles([])
                #expect(try await outbox.retry(Array(badIds)) == badIds.count)
                let again = try await outbox.wait(for: Array(badIds), timeout: 60)
                #expect(again.values.allSatisfy { $0 == .sent })
                #expect(Set(harness.ledgerCounts().keys) == goodIds.union(badIds))
                #expect(harness.ledgerCounts().values.allSatisfy { $0 == 1 })
                #expect(failures.all.count == badIds.count, "no new failures")
                let counts = try await outbox.counts()
                #expect(counts.sent == 50 && counts.dead == 0 && counts.pending == 0)
            }
            await outbox.stop()
        }
    }

    @Test("a message still failing after maxAge is dead with \"gave up\"; retry sends it once the gateway is back")
    func givesUpAfterMaxAge() async throws {
        try await withScratch { base in
            let harness = try await Harness.make()
            let clock = TestClock()
            let configuration = testConfiguration(base + "/state")
            let outbox = try Outbox(configuration: configuration, client: harness.client, clock: clock.function)
            let failures = FailureLog()
            await outbox.onFailure { failures.record($0) }
            harness.transport.setDown(true)
            let messages = makeMessages(3, templates: harness.templates, prefix: "old")
            let ids = messages.map(\.customId)
            try outbox.enqueue(messages)
            await outbox.start()

            // Retried (not dead) while younger than maxAge.
            let retried = try await eventually {
                for id in ids {
                    let attempts = try await outbox.find(id)?.attempts ?? 0
                    if attempts < 2 { return false }
                }
                return true
            }
            #expect(retried)
            for id in ids {
                let stored = try #require(try await outbox.find(id))
                #expect(stored.state == .pending)
                #expect(stored.lastError?.contains("503") == true)
            }
            #expect(failures.all.isEmpty)

            // A day later the next failure gives up.
            clock.advance(configuration.maxAge + 60)
            let age = try #require(try await outbox.counts().oldestPendingAge)
            #expect(age >= configuration.maxAge + 60)
            let states = try await outbox.wait(for: ids, timeout: 60)
            #expect(states.values.allSatisfy { $0 == .dead })
            for id in ids {
                let stored = try #require(try await outbox.find(id))
                #expect(stored.lastError?.contains("gave up") == true, "\(stored.lastError ?? "nil")")
                #expect(stored.lastCode == nil)
            }
            #expect(failures.all.map(\.message.customId).sorted() == ids.sorted())
            #expect(harness.gateway.ledger().isEmpty)

            // An unknown reference is refused; known ones go back and are sent once the gateway is up.
            do throws(OutboxError) {
                _ = try await outbox.retry(["no-such-message"])
                Issue.record("retry of an unknown message should fail")
            } catch {
                #expect(error.kind == .notFound)
            }
            harness.transport.setDown(false)
            let rowId = try #require(try await outbox.find(ids[0])?.id)
            #expect(try await outbox.retry([String(rowId), ids[1], ids[2]]) == 3)
            let again = try await outbox.wait(for: ids, timeout: 60)
            await outbox.stop()
            #expect(again.values.allSatisfy { $0 == .sent })
            #expect(harness.ledgerCounts() == Dictionary(uniqueKeysWithValues: ids.map { ($0, 1) }))
            for id in ids { #expect(try await outbox.find(id)?.attempts == 1) }
            #expect(failures.all.count == 3, "observers see each dead message once")
            #expect(try await outbox.retry(ids) == 0, "sent messages are not retried")
        }
    }
}
