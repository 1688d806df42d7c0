import Foundation
import Testing
@testable import Outbox
import FMSClient
import FMSProtocol
@testable import FMSSimulator

/// The report journal (popped reports are committed before anyone sees them), pruning, and
/// rule state.
@Suite("Outbox reports, pruning and rule state")
struct ReportTests {
    @Test("fetched reports are journaled before returning, joined to their messages, and survive a restart",
          arguments: [20, 650])
    func journalSurvivesRestart(count: Int) async throws {
        try await withScratch { base in
            let failing: [String: ReportState] = [mobile(1): .failBlackDict, mobile(2): .failMobileSupport]
            let harness = try await Harness.make(failingMobiles: failing)
            let configuration = testConfiguration(base + "/state")
            var outbox: Outbox? = try Outbox(configuration: configuration, client: harness.client)
            let messages = (0..<count).map { index in
                NewMessage(customId: "rep-\(index)", template: harness.templates[index % 2], mobile: mobile(index),
                           variables: ["code": "\(index)", "order": "o\(index)", "carrier": "EMS"],
                           rule: "rule\(index % 3).lua", key: "host-\(index)")
            }
            try outbox?.enqueue(messages)
            #expect(try await outbox?.drain(timeout: 120).sent == count)

            let fetched = try #require(try await outbox?.fetchReports(max: 1000))
            #expect(fetched.count == count)
            #expect(harness.gateway.pendingReports(of: Harness.appId) == 0, "the gateway popped them")
            #expect(Set(fetched.map(\.id)).count == count)
            for journaled in fetched {
                let customId = try #require(journaled.report.customFmsId)
                let message = try #require(try await outbox?.find(customId))
                #expect(journaled.messageId == message.id)
                #expect(journaled.rule == message.message.rule && journaled.rule != nil)
                #expect(journaled.key == message.message.key && journaled.key != nil)
                #expect(journaled.report.fmsId == message.fmsId)
                #expect(journaled.report.mobile == message.message.mobile)
                let expected = failing[message.message.mobile] ?? .delivered
                #expect(journaled.report.state == expected)
            }
            // Crash before handling them: nothing marked dispatched.
            await outbox?.stop()
            outbox = nil

            let reopened = try await reopen(configuration)
            let pending = try await reopened.undispatchedReports(limit: 5000)
            #expect(pending == fetched.sorted { $0.id < $1.id })
            var counts = try await reopened.counts()
            #expect(counts.reports == count && counts.undispatchedReports == count)

            let half = pending.prefix(count / 2).map(\.id)
            try await reopened.markDispatched(half)
            #expect(try await reopened.undispatchedReports(limit: 5000).map(\.id) == pending.dropFirst(count / 2).map(\.id))
            _ = consume reopened

            let third = try await reopen(configuration)
            let rest = try await third.undispatchedReports(limit: 5000)
            #expect(rest.map(\.id) == pending.dropFirst(count / 2).map(\.id))
            try await third.markDispatched(rest.map(\.id))
            #expect(try await third.undispatchedReports().isEmpty)
            counts = try await third.counts()
            #expect(counts.reports == count && counts.undispatchedReports == 0)
        }
    }

    @Test("a report of a message the outbox never sent is journaled without a message")
    func foreignReport() async throws {
        try await withScratch { base in
            let harness = try await Harness.make()
            let outbox = try Outbox(configuration: testConfiguration(base + "/state"), client: harness.client)
            _ = try await harness.client.sendBatch(templateId: harness.templates[0], entries: [
                BatchEntry(mobile: mobile(1), customFmsId: "foreign-1", content: ["code": "1"]),
                BatchEntry(mobile: mobile(2), customFmsId: nil, content: ["code": "2"]),
            ])
            let fetched = try await outbox.fetchReports(max: 10)
            #expect(fetched.count == 2)
            #expect(fetched.allSatisfy { $0.messageId == nil && $0.rule == nil && $0.key == nil })
            #expect(try await outbox.undispatchedReports() == fetched)
        }
    }

    @Test("an outbox without a gateway refuses to fetch reports")
    func fetchWithoutClient() async throws {
        try await withScratch { base in
            let outbox = try Outbox(configuration: testConfiguration(base + "/state"), client: nil)
            await #expect(throws: OutboxError.self) { _ = try await outbox.fetchReports(max: 10) }
        }
    }

    @Test("prune removes old sent messages and old handled reports only")
    func pruneRemovesOnlyOldHandled() async throws {
        try await withScratch { base in
            let harness = try await Harness.make()
            let clock = TestClock()
            let configuration = testConfiguration(base + "/state")
            let outbox = try Outbox(configuration: configuration, client: harness.client, clock: clock.function)

            // Old: 10 sent (6 of their reports handled, 4 not), one dead.
            let old = makeMessages(10, templates: harness.templates, prefix: "old")
            let dead = makeMessages(1, templates: [Harness.unknownTemplate], prefix: "dead", firstIndex: 50)
            try outbox.enqueue(old + dead)
            let oldLeft = try await outbox.drain(timeout: 60)
            #expect(oldLeft.sent == 10 && oldLeft.dead == 1)
            let oldReports = try await outbox.fetchReports(max: 100)
            #expect(oldReports.count == 10)
            try await outbox.markDispatched(oldReports.prefix(6).map(\.id))

            // A month later: 4 sent with every report handled, then one left pending.
            clock.advance((configuration.retentionDays + 1) * 86_400)
            let recent = makeMessages(4, templates: harness.templates, prefix: "new", firstIndex: 100)
            try outbox.enqueue(recent)
            #expect(try await outbox.drain(timeout: 60).sent == 14)
            let newReports = try await outbox.fetchReports(max: 100)
            #expect(newReports.count == 4)
            try await outbox.markDispatched(newReports.map(\.id))
            await outbox.stop()
            try outbox.enqueue(makeMessages(1, templates: harness.templates, prefix: "waiting", firstIndex: 200))

            #expect(try await outbox.prune() == 10 + 6)
            let counts = try await outbox.counts()
            #expect(counts.sent == 4 && counts.dead == 1 && counts.pending == 1)
            #expect(counts.reports == 4 + 4 && counts.undispatchedReports == 4)
            for message in old { #expect(try await outbox.find(message.customId) == nil) }
            for message in recent { #expect(try await outbox.find(message.customId)?.state == .sent) }
            #expect(try await outbox.find(dead[0].customId)?.state == .dead)
            #expect(try await outbox.undispatchedReports().map(\.id) == oldReports.dropFirst(6).map(\.id))
            #expect(try await outbox.prune() == 0)
        }
    }

    static let values = ["1764000000", "", "多字节 ✓ \"引号\"", "line\nbreak; DROP TABLE rule_state;--",
                         String(repeating: "x", count: 10_000)]

    @Test("rule state round-trips and persists across a reopen", arguments: values)
    func ruleStateRoundTrip(value: String) async throws {
        try await withScratch { base in
            let configuration = testConfiguration(base + "/state")
            var outbox: Outbox? = try Outbox(configuration: configuration, client: nil)
            #expect(try await outbox?.ruleState(rule: "disk.lua", key: "web-1") == nil)
            try await outbox?.setRuleState(rule: "disk.lua", key: "web-1", value: "first")
            try await outbox?.setRuleState(rule: "disk.lua", key: "web-1", value: value)
            try await outbox?.setRuleState(rule: "disk.lua", key: "web-2", value: "other key")
            try await outbox?.setRuleState(rule: "cpu.lua", key: "web-1", value: "other rule")
            #expect(try await outbox?.ruleState(rule: "disk.lua", key: "web-1") == value)
            outbox = nil

            let reopened = try await reopen(configuration)
            #expect(try await reopened.ruleState(rule: "disk.lua", key: "web-1") == value)
            #expect(try await reopened.ruleState(rule: "disk.lua", key: "web-2") == "other key")
            #expect(try await reopened.ruleState(rule: "cpu.lua", key: "web-1") == "other rule")
            #expect(try await reopened.ruleState(rule: "cpu.lua", key: "web-2") == nil)
        }
    }
}
