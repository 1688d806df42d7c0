import Foundation
import Testing
@testable import Outbox
import FMSClient
import FMSProtocol
@testable import FMSSimulator

/// The sender against an in-memory gateway: batching, at-least-once delivery under faults.
@Suite("Outbox sender: batching and retries")
struct SenderTests {
    @Test("1,000 messages of two templates go in batches of at most maxBatch, each sent once",
          arguments: [300, 120])
    func deliversInBatches(maxBatch: Int) async throws {
        try await withScratch { base in
            let harness = try await Harness.make()
            let outbox = try Outbox(configuration: testConfiguration(base + "/state") { $0.maxBatch = maxBatch },
                                    client: harness.client)
            let messages = makeMessages(1000, templates: harness.templates, prefix: "bulk")
            let templateOf = Dictionary(uniqueKeysWithValues: messages.map { ($0.customId, $0.template) })
            try outbox.enqueue(messages)
            await outbox.start()
            let left = try await outbox.drain(timeout: 120)
            await outbox.stop()
            #expect(left.pending == 0)
            #expect(left.sent == 1000 && left.dead == 0)
            #expect(left.oldestPendingAge == nil)

            // Requests: every one a single template, at most maxBatch messages.
            let sends = harness.transport.sends
            #expect(sends.allSatisfy { $0.outcome == .answered && $0.result == ResultCode.success.name })
            #expect(sends.allSatisfy { (1...maxBatch).contains($0.customIds.count) })
            #expect(sends.allSatisfy { send in send.customIds.allSatisfy { templateOf[$0] == send.templateId } })
            #expect(sends.map(\.customIds.count).reduce(0, +) == 1000)
            let perTemplate = (500 + maxBatch - 1) / maxBatch
            #expect(sends.count >= 2 * perTemplate)
            if maxBatch == ProtocolText.maximumBatchSize {
                // Everything was accepted before the sender started: 300 + 200 per template.
                #expect(sends.count == 2 * perTemplate)
            }

            // The gateway has each message exactly once; the outbox recorded its fmsId.
            let ledger = harness.ledgerCounts()
            #expect(ledger.count == 1000)
            #expect(ledger.values.allSatisfy { $0 == 1 })
            #expect(Set(ledger.keys) == Set(messages.map(\.customId)))
            let fmsIds = harness.ledgerFmsIds()
            let sent = try await outbox.list(state: .sent, limit: 5000)
            #expect(sent.count == 1000)
            for message in sent {
                #expect(message.fmsId != nil && fmsIds[message.message.customId] == [message.fmsId ?? ""])
                #expect(message.attempts == 1)
                #expect(message.sentAt != nil && message.lastError == nil && message.lastCode == nil)
            }
            #expect(try await outbox.list(state: .pending).isEmpty)
            #expect(try await outbox.counts() == left)
        }
    }

    @Test("messages enqueued while the sender runs are picked up and sent")
    func enqueueWakesRunningSender() async throws {
        try await withScratch { base in
            let harness = try await Harness.make()
            let outbox = try Outbox(configuration: testConfiguration(base + "/state"), client: harness.client)
            await outbox.start()
            var ids: [String] = []
            for round in 0..<8 {
                let messages = makeMessages(40, templates: harness.templates, prefix: "live", firstIndex: round * 40)
                ids += messages.map(\.customId)
                if round % 2 == 0 {
                    try outbox.enqueue(messages)
                } else {
                    for message in messages { try outbox.enqueue(message) }
                }
                try? await Task.sleep(nanoseconds: 3_000_000)
            }
            let states = try await outbox.wait(for: ids, timeout: 60)
            await outbox.stop()
            #expect(states.count == ids.count)
            #expect(states.values.allSatisfy { $0 == .sent })
            #expect(harness.ledgerCounts().values.allSatisfy { $0 == 1 })
            #expect(harness.ledgerCounts().count == ids.count)
            #expect(harness.transport.sends.allSatisfy { $0.customIds.count <= ProtocolText.maximumBatchSize })
        }
    }

    @Test("concurrent enqueues from many tasks are all sent once", arguments: [Durability.normal, .full])
    func concurrentEnqueue(durability: Durability) async throws {
        try await withScratch { base in
            let harness = try await Harness.make(faults: .init(maxLatency: 0.003))
            let configuration = testConfiguration(base + "/state") { $0.durability = durability }
            let outbox = try Outbox(configuration: configuration, client: harness.client)
            await outbox.start()
            let producers = 8, each = 60
            await withTaskGroup(of: Void.self) { group in
                for producer in 0..<producers {
                    group.addTask {
                        let messages = makeMessages(each, templates: harness.templates, prefix: "p\(producer)")
                        for message in messages { try? outbox.enqueue(message) }
                    }
                }
            }
            let left = try await outbox.drain(timeout: 60)
            await outbox.stop()
            #expect(left.pending == 0 && left.sent == producers * each && left.dead == 0)
            let ledger = harness.ledgerCounts()
            #expect(ledger.count == producers * each)
            #expect(ledger.values.allSatisfy { $0 == 1 })
            expectBoundedConcurrency(harness.transport, limit: configuration.maxInFlight)
        }
    }

    @Test("stop waits for the requests in flight and records them; a stopped sender sends nothing until started")
    func stopFinishesInFlight() async throws {
        try await withScratch { base in
            let harness = try await Harness.make(faults: .init(fixedLatency: 0.2))
            let outbox = try Outbox(configuration: testConfiguration(base + "/state"), client: harness.client)
            let first = makeMessages(10, templates: [harness.templates[0]], prefix: "inflight")
            try outbox.enqueue(first)
            await outbox.start()
            #expect(await eventually { harness.transport.inFlight > 0 })
            await outbox.stop(timeout: 30)
            #expect(harness.transport.inFlight == 0)
            var counts = try await outbox.counts()
            #expect(counts.sent == 10 && counts.pending == 0)

            let second = makeMessages(5, templates: [harness.templates[1]], prefix: "later", firstIndex: 10)
            try outbox.enqueue(second)
            try? await Task.sleep(nanoseconds: 100_000_000)
            counts = try await outbox.counts()
            #expect(counts.pending == 5 && counts.sent == 10)
            #expect(harness.transport.sends.count == 1)

            await outbox.start()
            await outbox.start()  // idempotent
            let left = try await outbox.drain(timeout: 60)
            await outbox.stop()
            #expect(left.pending == 0 && left.sent == 15)
            #expect(harness.ledgerCounts().values.allSatisfy { $0 == 1 })
            #expect(harness.transport.sends.count == 2)
        }
    }

    @Test("under 40 % 503s and lost answers all 2,000 end sent; duplicates come only from lost answers",
          arguments: [UInt64(7), 2024])
    func retriesThroughFaults(seed: UInt64) async throws {
        try await withScratch { base in
            let faults = TestTransport.Faults(http503Share: 0.4, lostShare: 0.15, maxLatency: 0.002)
            let harness = try await Harness.make(faults: faults, seed: seed)
            let outbox = try Outbox(configuration: testConfiguration(base + "/state"), client: harness.client)
            let messages = makeMessages(2000, templates: harness.templates, prefix: "retry")
            try outbox.enqueue(messages)
            let left = try await outbox.drain(timeout: 240)
            await outbox.stop()
            expectBoundedConcurrency(harness.transport, limit: testConfiguration(base).maxInFlight)
            #expect(left.pending == 0)
            #expect(left.sent == 2000)
            #expect(left.dead == 0)

            let sends = harness.transport.sends
            let failed503 = sends.filter { $0.outcome == .http503 }
            let lost = sends.filter { $0.outcome == .lost }
            #expect(!failed503.isEmpty, "the fault injection should have produced 503s")
            #expect(!lost.isEmpty, "the fault injection should have lost answers")
            #expect(sends.allSatisfy { $0.customIds.count <= ProtocolText.maximumBatchSize })

            // Every message reached the gateway; extra copies exist only for answers lost
            // after the gateway accepted them, one per lost acceptance.
            let ledger = harness.ledgerCounts()
            #expect(Set(ledger.keys) == Set(messages.map(\.customId)))
            #expect(ledger.values.allSatisfy { $0 >= 1 })
            let duplicates = ledger.values.reduce(0) { $0 + $1 - 1 }
            let lostAccepted = lost.filter { $0.result == ResultCode.success.name }.map(\.customIds.count).reduce(0, +)
            #expect(duplicates == lostAccepted)
            #expect(duplicates <= lost.count * ProtocolText.maximumBatchSize)
            var copiesFromLost: [String: Int] = [:]
            for send in lost where send.result == ResultCode.success.name {
                for id in send.customIds { copiesFromLost[id, default: 0] += 1 }
            }
            for (id, count) in ledger { #expect(count == 1 + (copiesFromLost[id] ?? 0), "\(id)") }

            // Each attempt is one request carrying the message; the fmsId kept is one the
            // gateway gave it (the last, answered, acceptance).
            var requestsPerMessage: [String: Int] = [:]
            for send in sends { for id in send.customIds { requestsPerMessage[id, default: 0] += 1 } }
            let fmsIds = harness.ledgerFmsIds()
            let sent = try await outbox.list(state: .sent, limit: 5000)
            #expect(sent.count == 2000)
            for message in sent {
                let id = message.message.customId
                #expect(message.attempts == requestsPerMessage[id], "\(id)")
                #expect(fmsIds[id]?.contains(message.fmsId ?? "") == true, "\(id)")
                #expect(message.lastError == nil)
            }
        }
    }

    @Test("batches group by template, solo messages alone, never above maxBatch")
    func batchGrouping() {
        func stored(_ id: Int64, _ template: String) -> StoredMessage {
            StoredMessage(id: id, message: NewMessage(customId: "g\(id)", template: template, mobile: mobile(Int(id)), variables: [:]),
                          state: .pending, attempts: 0, createdAt: 0, nextAttemptAt: 0)
        }
        var due: [(StoredMessage, solo: Bool)] = []
        for id in 0..<25 { due.append((stored(Int64(id), id % 3 == 0 ? "A" : "B"), solo: false)) }
        due.append((stored(100, "A"), solo: true))
        due.append((stored(101, "B"), solo: true))
        let batches = Outbox.batches(due, maxBatch: 4)
        #expect(batches.allSatisfy { (1...4).contains($0.count) })
        #expect(batches.allSatisfy { batch in batch.allSatisfy { $0.message.template == batch[0].message.template } })
        #expect(batches.flatMap { $0 }.map(\.id).sorted() == due.map(\.0.id).sorted())
        let solos = batches.filter { $0.contains { $0.id >= 100 } }
        #expect(solos.count == 2 && solos.allSatisfy { $0.count == 1 })
        // Within a template, the oldest first.
        for batch in batches { #expect(batch.map(\.id) == batch.map(\.id).sorted()) }
    }
}
