import Dispatch
import Foundation
import Synchronization
import Testing
import FMSProtocol
import FMSSimulator

/// What the simulated gateway does with accepted requests: balances, delivery reports,
/// template review, ids, the ledger, dialects and gzip.
@Suite("Gateway behaviour")
struct GatewayBehaviourTests {
    static let failureStates: Set<String> = ["FAIL_UNKNOW", "TIMEOUT", "FAIL_MOBILE_SUPPORT", "FAIL_BLACK_DICT"]

    private func fmsIds(_ reply: SimReply) -> [String] {
        if let list = reply.json?.arrayElements { return list.compactMap { $0["fmsId"]?.lenientString } }
        return reply.json?["fmsId"]?.lenientString.map { [$0] } ?? []
    }

    private func stateByFmsId(_ reports: [JSONValue]) -> [String: String] {
        Dictionary(reports.compactMap { report in
            guard let id = report["fmsId"]?.lenientString, let state = report.simState else { return nil }
            return (id, state)
        }, uniquingKeysWith: { first, _ in first })
    }

    // MARK: Batches and balance

    @Test("a partly valid batch is accepted; the invalid entry gets an fmsId and later FAIL_MOBILE",
          arguments: InterfaceMode.allCases)
    func partlyValidBatch(mode: InterfaceMode) throws {
        let harness = SimHarness(balance: 100, reportDelay: 2)
        let templateId = harness.template()
        let entries = [
            BatchEntry(mobile: SimFixture.mobile(1), customFmsId: "a", content: ["code": "1"]),
            BatchEntry(mobile: "12345", customFmsId: "b", content: ["code": "2"]),
            BatchEntry(mobile: " 13800000003 ", customFmsId: "c", content: ["code": "3"]),
        ]
        let reply = harness.sendBatch(templateId: templateId, entries: entries, mode: mode)
        #expect(reply.result == .success)
        let list = try #require(reply.json?.arrayElements)
        try #require(list.count == 3)
        // In request order, echoing mobile and customFmsId.
        #expect(list.map { $0["customFmsId"]?.lenientString } == ["a", "b", "c"])
        #expect(list[1]["mobile"]?.lenientString == "12345")
        let ids = fmsIds(reply)
        #expect(ids.count == 3)
        #expect(Set(ids).count == 3)
        #expect(ids.allSatisfy { !$0.isEmpty })
        #expect(harness.gateway.ledger().map(\.fmsId) == ids)
        // All three were accepted (each has an fmsId), so all three cost a unit.
        #expect(harness.gateway.balance(of: SimFixture.appId) == 97)

        harness.clock.advance(2)
        let reports = try #require(harness.reports(mode: mode))
        let states = stateByFmsId(reports)
        #expect(states == [ids[0]: "DELIVRD", ids[1]: "FAIL_MOBILE", ids[2]: "DELIVRD"])
        let failed = try #require(reports.first { $0["fmsId"]?.lenientString == ids[1] })
        #expect(failed["desc"] == .string("手机号错误"))
        #expect(failed["customFmsId"] == .string("b"))
        // The report carries the trimmed mobile.
        #expect(reports.contains { $0["mobile"] == .string("13800000003") })
    }

    @Test("every accepted message costs one unit; at 0 messages are accepted, reported FAIL_BALANCE, not charged",
          arguments: InterfaceMode.allCases)
    func balanceCharging(mode: InterfaceMode) throws {
        let harness = SimHarness(balance: 5, reportDelay: 1)
        let templateId = harness.template()
        func balance() -> Int64? { harness.balanceReply(mode: mode).json?["balance"]?.lenientInteger }
        #expect(balance() == 5)

        #expect(harness.sendSingle(templateId: templateId, mobile: SimFixture.mobile(1), mode: mode).result == .success)
        #expect(balance() == 4)
        #expect(harness.sendBatch(templateId: templateId, entries: [BatchEntry(mobile: SimFixture.mobile(2)),
                                                                    BatchEntry(mobile: SimFixture.mobile(3))],
                                  mode: mode).result == .success)
        #expect(balance() == 2)
        // Rejected requests cost nothing.
        #expect(harness.sendSingle(templateId: templateId, mobile: "1", mode: mode).result == .mobileError)
        #expect(harness.sendSingle(templateId: "nope", mobile: SimFixture.mobile(1), mode: mode).result == .templateIdError)
        #expect(balance() == 2)

        // Four messages with 2 units left: all accepted, the last two fail for balance.
        let batch = harness.sendBatch(templateId: templateId, entries: (4...7).map { BatchEntry(mobile: SimFixture.mobile($0)) },
                                      mode: mode)
        #expect(batch.result == .success)
        #expect(fmsIds(batch).count == 4)
        #expect(balance() == 0)
        // At 0 a message is still accepted (FMS has no ERROR_BALANCE) and costs nothing.
        let broke = harness.sendSingle(templateId: templateId, mobile: SimFixture.mobile(8), mode: mode)
        #expect(broke.result == .success)
        #expect(balance() == 0)
        #expect(harness.gateway.balance(of: SimFixture.appId) == 0)

        let states = harness.gateway.ledger().map(\.state)
        #expect(states == [.delivered, .delivered, .delivered, .delivered, .delivered, .failBalance, .failBalance,
                           .failBalance])
        harness.clock.advance(1)
        let reports = try #require(harness.reports(mode: mode))
        #expect(reports.compactMap(\.simState) == states.map(\.name))
        #expect(reports.last?["desc"] == .string("余额不足"))

        // Topping up makes later messages deliverable again.
        harness.gateway.setBalance(1, for: SimFixture.appId)
        #expect(balance() == 1)
        #expect(harness.sendSingle(templateId: templateId, mobile: SimFixture.mobile(9), mode: mode).result == .success)
        #expect(harness.gateway.ledger().last?.state == .delivered)
        #expect(balance() == 0)
    }

    @Test("balances are per account")
    func balancePerAccount() {
        let harness = SimHarness(balance: 10)
        let templateId = harness.template()
        _ = harness.sendSingle(templateId: templateId, mobile: SimFixture.mobile(1))
        #expect(harness.gateway.balance(of: SimFixture.appId) == 9)
        #expect(harness.gateway.balance(of: SimFixture.otherAppId) == 10)
        #expect(harness.gateway.balance(of: SimFixture.unknownAppId) == nil)
        #expect(harness.balanceReply(appId: SimFixture.otherAppId).json?["balance"] == .string("10"))
    }

    // MARK: Reports

    @Test("reports appear only after reportDelay and are popped exactly once", arguments: InterfaceMode.allCases)
    func reportDelayAndPop(mode: InterfaceMode) throws {
        let harness = SimHarness(reportDelay: 2)
        let templateId = harness.template()
        let sent = harness.sendSingle(templateId: templateId, mobile: SimFixture.mobile(1), mode: mode)
        let fmsId = try #require(fmsIds(sent).first)
        #expect(harness.gateway.pendingReports(of: SimFixture.appId) == 1)

        let early = harness.call(.getReports, mode: mode, [])
        #expect(early.result == .success)
        #expect(early.json == .array([]), "an empty result is []")
        harness.clock.set(SimClock.start + 1.999)
        #expect(harness.reports(mode: mode) == [])
        harness.clock.set(SimClock.start + 2)
        let due = try #require(harness.reports(mode: mode))
        #expect(due.count == 1)
        #expect(due.first?["fmsId"]?.lenientString == fmsId)
        #expect(harness.gateway.pendingReports(of: SimFixture.appId) == 0)
        #expect(harness.reports(mode: mode) == [], "popped: never returned twice")
        harness.clock.advance(100)
        #expect(harness.reports(mode: mode) == [])
    }

    @Test("reports of one account are not visible to another")
    func reportsPerAccount() throws {
        let harness = SimHarness(reportDelay: 0)
        let templateId = harness.template()
        _ = harness.sendSingle(templateId: templateId, mobile: SimFixture.mobile(1))
        #expect(harness.reports(appId: SimFixture.otherAppId) == [])
        #expect(harness.reports()?.count == 1)
    }

    @Test("`number` limits how many reports one call pops, oldest first")
    func reportNumber() throws {
        let harness = SimHarness(reportDelay: 1)
        let templateId = harness.template()
        let sent = harness.sendBatch(templateId: templateId, entries: (0..<7).map { BatchEntry(mobile: SimFixture.mobile($0)) })
        let ids = fmsIds(sent)
        try #require(ids.count == 7)
        harness.clock.advance(1)
        var popped: [String] = []
        for expected in [3, 3, 1, 0] {
            let page = try #require(harness.reports(number: 3))
            #expect(page.count == expected)
            popped += page.compactMap { $0["fmsId"]?.lenientString }
        }
        #expect(popped == ids)
    }

    @Test("thousands of reports, interleaved sends and pops: each report popped once, in order")
    func manyReportsInOrder() throws {
        let harness = SimHarness(balance: 100_000, reportDelay: 1)
        let templateId = harness.template()
        var sent: [String] = []
        var popped: [String] = []
        for round in 0..<20 {
            for chunk in 0..<2 {
                let entries = (0..<300).map { BatchEntry(mobile: SimFixture.mobile(round * 1000 + chunk * 300 + $0)) }
                sent += fmsIds(harness.sendBatch(templateId: templateId, entries: entries))
            }
            harness.clock.advance(0.5)
            // Only what was sent at least reportDelay ago is due.
            let page = try #require(harness.reports(number: 500))
            popped += page.compactMap { $0["fmsId"]?.lenientString }
            harness.clock.advance(0.5)
        }
        #expect(sent.count == 12_000)
        // Bounded, so a gateway that never drains fails instead of hanging.
        for _ in 0..<100 {
            guard let page = harness.reports(number: 500), !page.isEmpty else { break }
            popped += page.compactMap { $0["fmsId"]?.lenientString }
        }
        #expect(popped.count == sent.count)
        #expect(popped == sent)
        #expect(harness.gateway.pendingReports(of: SimFixture.appId) == 0)
    }

    @Test("concurrent sends and pops: every report is popped exactly once")
    func concurrentPops() {
        let harness = SimHarness(balance: 100_000, reportDelay: 0)
        let templateId = harness.template()
        let sent = Mutex<[String]>([])
        let popped = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in 0..<40 {
                if worker.isMultiple(of: 2) {
                    let reply = harness.sendBatch(templateId: templateId, entries: (0..<10).map {
                        BatchEntry(mobile: SimFixture.mobile(worker * 1000 + index * 10 + $0))
                    })
                    sent.withLock { $0 += fmsIds(reply) }
                } else {
                    let ids = (harness.reports(number: 7) ?? []).compactMap { $0["fmsId"]?.lenientString }
                    popped.withLock { $0 += ids }
                }
            }
        }
        for _ in 0..<100 {
            guard let page = harness.reports(), !page.isEmpty else { break }
            popped.withLock { $0 += page.compactMap { $0["fmsId"]?.lenientString } }
        }
        let all = sent.withLock { $0 }
        let got = popped.withLock { $0 }
        #expect(all.count == 1600)
        #expect(got.count == all.count)
        #expect(Set(got) == Set(all))
    }

    @Test("`number` given as a string of digits")
    func reportNumberAsString() throws {
        let harness = SimHarness(reportDelay: 0)
        let templateId = harness.template()
        _ = harness.sendBatch(templateId: templateId, entries: (0..<5).map { BatchEntry(mobile: SimFixture.mobile($0)) })
        let reply = harness.call(.getReports, [JSONMember("number", .string(" 2 "))])
        #expect(reply.json?.arrayElements?.count == 2)
    }

    @Test("`number` out of 1...500, or missing, means 500", arguments: [Int64?.none, 0, -1, 501, 100_000])
    func reportNumberOutOfRange(number: Int64?) throws {
        let harness = SimHarness(reportDelay: 0)
        let templateId = harness.template()
        for chunk in 0..<2 {
            let reply = harness.sendBatch(templateId: templateId,
                                          entries: (0..<300).map { BatchEntry(mobile: SimFixture.mobile(chunk * 300 + $0)) })
            try #require(reply.result == .success)
        }
        #expect(try #require(harness.reports(number: number)).count == 500)
        #expect(try #require(harness.reports(number: number)).count == 100)
        #expect(try #require(harness.reports(number: number)).isEmpty)
    }

    @Test("report fields: mobile, fmsId, customFmsId, state, desc and Beijing-time timestamps")
    func reportFields() throws {
        let harness = SimHarness(reportDelay: 2)
        let templateId = harness.template()
        let withCustom = harness.sendSingle(templateId: templateId, mobile: SimFixture.mobile(1), customFmsId: "order-1")
        let without = harness.sendSingle(templateId: templateId, mobile: SimFixture.mobile(2))
        #expect(withCustom.json?["customFmsId"] == .string("order-1"))
        #expect(without.json?["customFmsId"] == nil)
        harness.clock.advance(2)
        let reports = try #require(harness.reports())
        try #require(reports.count == 2)
        let first = reports[0]
        #expect(first["mobile"] == .string(SimFixture.mobile(1)))
        #expect(first["fmsId"]?.lenientString == fmsIds(withCustom).first)
        #expect(first["customFmsId"] == .string("order-1"))
        #expect(first["state"] == .string("DELIVRD"))
        #expect(first["desc"] == .string("成功"))
        // 2025-11-24 16:00:00 UTC is midnight in Beijing.
        #expect(first["submitTime"] == .string("2025-11-25 00:00:00"))
        #expect(first["receiveTime"] == .string("2025-11-25 00:00:02"))
        let keys = Set(first.objectMembers?.map(\.key) ?? [])
        #expect(keys == ["mobile", "fmsId", "customFmsId", "state", "desc", "receiveTime", "submitTime"])
        // Chinese text travels unescaped (normal interface: the body is the JSON itself).
        _ = harness.sendSingle(templateId: templateId, mobile: SimFixture.mobile(3))
        harness.clock.advance(2)
        let raw = harness.call(.getReports, mode: .normal, []).body
        #expect(raw.firstRange(of: Array("\"成功\"".utf8)) != nil)
        #expect(raw.firstRange(of: Array("\\u".utf8)) == nil)
        // Absent customFmsId comes back as JSON null.
        #expect(reports[1].objectMembers?.first { $0.key == "customFmsId" }?.value == .null)
    }

    // MARK: Templates

    @Test("carrier review: pending (0) until reviewDelay, then approved (1)", arguments: GatewayDialect.allCases)
    func carrierReview(dialect: GatewayDialect) throws {
        let harness = SimHarness(dialect: dialect, reviewDelay: 5)
        let templateId = harness.template()
        func status() -> JSONValue? {
            let reply = harness.call(.queryTemplate, [JSONMember("templateId", .string(templateId))])
            #expect(reply.result == .success)
            #expect(reply.json?["templateId"]?.lenientString == templateId)
            return reply.json?["status"]
        }
        func codes(_ code: Int64) -> JSONValue {
            let value: JSONValue = dialect == .vendorServer ? .string(String(code)) : .integer(code)
            return .object([JSONMember("cmcc", value), JSONMember("cucc", value), JSONMember("ctcc", value)])
        }
        #expect(status() == codes(0))
        harness.clock.set(SimClock.start + 4.999)
        #expect(status() == codes(0))
        harness.clock.set(SimClock.start + 5)
        #expect(status() == codes(1))
        harness.clock.advance(1000)
        #expect(status() == codes(1))
    }

    @Test("the same text gives the same templateId; other texts and other accounts get other ids")
    func templateIds() throws {
        let harness = SimHarness(reviewDelay: 5)
        let text = "您好{name}，验证码${code}"
        let first = harness.call(.templateReport, [JSONMember("templateInfo", .string(text))])
        let id = try #require(first.json?["templateId"]?.lenientString)
        #expect(first.json?["variable"] == .string("name,code"))
        harness.clock.advance(4)
        #expect(harness.template(text) == id)
        #expect(harness.template(text, mode: .normal) == id, "both interfaces share the account's templates")
        let others = [harness.template(text + "。"), harness.template("另一个{name}"),
                      harness.template(text, appId: SimFixture.otherAppId),
                      harness.template(text, appId: SimFixture.restrictedAppId)]
        #expect(others.allSatisfy { !$0.isEmpty })
        #expect(Set(others + [id]).count == 5)
        // Registering the text again does not restart its review.
        harness.clock.set(SimClock.start + 5)
        let status = harness.call(.queryTemplate, [JSONMember("templateId", .string(id))]).json?["status"]
        #expect(status?["cmcc"]?.lenientInteger == 1)
        #expect(harness.gateway.statistics()["accounts"]?.arrayElements?
            .first { $0["appId"] == .string(SimFixture.appId) }?["templates"] == .integer(3))
    }

    @Test("template ids are usable right away, before approval")
    func sendWhilePending() {
        let harness = SimHarness(reviewDelay: 1000)
        let templateId = harness.template()
        #expect(harness.sendSingle(templateId: templateId, mobile: SimFixture.mobile(1)).result == .success)
    }

    // MARK: Ids, failure share, forced states

    @Test("fmsIds are unique across 10,000 messages")
    func uniqueFmsIds() throws {
        let harness = SimHarness(balance: 20_000)
        let templateId = harness.template()
        var ids: [String] = []
        var sent = 0
        while sent < 10_000 {
            let count = min(300, 10_000 - sent)
            let entries = (sent..<(sent + count)).map { BatchEntry(mobile: SimFixture.mobile($0)) }
            let reply = harness.sendBatch(templateId: templateId, entries: entries)
            try #require(reply.result == .success)
            ids += fmsIds(reply)
            sent += count
        }
        #expect(ids.count == 10_000)
        #expect(Set(ids).count == 10_000)
        #expect(!ids.contains(templateId))
        #expect(harness.gateway.ledger().map(\.fmsId) == ids)
        #expect(harness.gateway.balance(of: SimFixture.appId) == 10_000)
    }

    @Test("concurrent requests get unique fmsIds and all land in the ledger")
    func concurrentHandle() {
        let harness = SimHarness(balance: 10_000)
        let templateId = harness.template()
        let ids = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in 0..<50 {
                let reply = harness.sendSingle(templateId: templateId, mobile: SimFixture.mobile(worker * 100 + index))
                let found = reply.json?["fmsId"]?.lenientString
                ids.withLock { $0.append(found ?? "") }
            }
        }
        let all = ids.withLock { $0 }
        #expect(all.count == 400)
        #expect(!all.contains(""))
        #expect(Set(all).count == 400)
        #expect(harness.gateway.ledger().count == 400)
        #expect(harness.gateway.balance(of: SimFixture.appId) == 9_600)
    }

    @Test("failureShare 1 gives only failure states, 0 only DELIVRD", arguments: [0.0, 1.0])
    func failureShare(share: Double) throws {
        let harness = SimHarness(failureShare: share, reportDelay: 0)
        let templateId = harness.template()
        let reply = harness.sendBatch(templateId: templateId, entries: (0..<200).map { BatchEntry(mobile: SimFixture.mobile($0)) })
        try #require(reply.result == .success)
        let states = try #require(harness.reports()).compactMap(\.simState)
        #expect(states.count == 200)
        if share == 0 {
            #expect(states.allSatisfy { $0 == "DELIVRD" })
        } else {
            #expect(Set(states).isSubset(of: Self.failureStates))
            #expect(Set(states).count > 1, "failures are drawn from several states")
        }
        #expect(harness.gateway.ledger().map(\.state.name) == states)
    }

    @Test("failureShare 0.5 mixes delivered and failed messages; setFaults changes it at run time")
    func failureShareMixed() throws {
        let harness = SimHarness(failureShare: 0.5, reportDelay: 0)
        let templateId = harness.template()
        _ = harness.sendBatch(templateId: templateId, entries: (0..<200).map { BatchEntry(mobile: SimFixture.mobile($0)) })
        let states = try #require(harness.reports()).compactMap(\.simState)
        let delivered = states.filter { $0 == "DELIVRD" }.count
        #expect(delivered > 50 && delivered < 150)

        harness.gateway.setFaults(.none, failureShare: 1)
        _ = harness.sendBatch(templateId: templateId, entries: (0..<50).map { BatchEntry(mobile: SimFixture.mobile($0)) })
        #expect(try #require(harness.reports()).allSatisfy { $0.simState != "DELIVRD" })
        harness.gateway.setFaults(.none, failureShare: 0)
        _ = harness.sendBatch(templateId: templateId, entries: (0..<50).map { BatchEntry(mobile: SimFixture.mobile($0)) })
        #expect(try #require(harness.reports()).allSatisfy { $0.simState == "DELIVRD" })
    }

    @Test("failingMobiles forces a state", arguments: ReportState.allKnown)
    func failingMobiles(state: ReportState) throws {
        let forced = SimFixture.mobile(7)
        let harness = SimHarness(failing: [forced: state], reportDelay: 0)
        let templateId = harness.template()
        let reply = harness.sendBatch(templateId: templateId, entries: [BatchEntry(mobile: SimFixture.mobile(6)),
                                                                        BatchEntry(mobile: forced),
                                                                        BatchEntry(mobile: " \(forced) ")])
        try #require(reply.result == .success)
        let reports = try #require(harness.reports())
        #expect(reports.compactMap(\.simState) == ["DELIVRD", state.name, state.name])
        #expect(reports[1]["desc"] == .string(state.chineseDescription))
        #expect(harness.sendSingle(templateId: templateId, mobile: forced).result == .success)
        #expect(harness.gateway.ledger().last?.state == state)
    }

    // MARK: Ledger and content

    @Test("the ledger lists exactly the accepted messages, with content and customFmsId")
    func ledger() throws {
        let harness = SimHarness(balance: 100)
        let templateId = harness.template()
        let otherTemplate = harness.template(appId: SimFixture.otherAppId)
        let single = harness.sendSingle(templateId: templateId, mobile: SimFixture.mobile(1),
                                        content: .object([JSONMember("code", .string("1234")),
                                                          JSONMember("name", .string("张三"))]),
                                        customFmsId: "c-1")
        _ = harness.sendSingle(templateId: templateId, mobile: "bad")
        _ = harness.sendSingle(templateId: "unknown", mobile: SimFixture.mobile(2))
        let batch = harness.sendBatch(templateId: templateId, entries: [
            BatchEntry(mobile: SimFixture.mobile(3), customFmsId: "c-3", content: ["code": "3"]),
            BatchEntry(mobile: " \(SimFixture.mobile(4)) ", content: [:]),
        ], mode: .normal)
        let other = harness.sendSingle(templateId: otherTemplate, mobile: SimFixture.mobile(5), appId: SimFixture.otherAppId)

        let ledger = harness.gateway.ledger()
        let ids = fmsIds(single) + fmsIds(batch) + fmsIds(other)
        #expect(ledger.map(\.fmsId) == ids)
        try #require(ledger.count == 4)
        #expect(ledger[0].appId == SimFixture.appId)
        #expect(ledger[0].fmsId == ids[0])
        #expect(ledger[0].customFmsId == "c-1")
        #expect(ledger[0].mobile == SimFixture.mobile(1))
        #expect(ledger[0].templateId == templateId)
        #expect(ledger[0].content == ["code": "1234", "name": "张三"])
        #expect(ledger[0].state == .delivered)
        #expect(ledger[1].customFmsId == "c-3")
        #expect(ledger[1].content == ["code": "3"])
        #expect(ledger[2].customFmsId == nil)
        #expect(ledger[2].mobile.trimmingSpaces() == SimFixture.mobile(4))
        #expect(ledger[2].content.isEmpty)
        #expect(ledger[3].appId == SimFixture.otherAppId)
        #expect(ledger[3].templateId == otherTemplate)

        let json = ledger[0].json
        #expect(json["content"] == .object([JSONMember("code", .string("1234")), JSONMember("name", .string("张三"))]))
        #expect(json["state"] == .string("DELIVRD"))
        #expect(ledger[2].json.objectMembers?.first { $0.key == "customFmsId" }?.value == .null)

        let stats = harness.gateway.statistics()
        #expect(stats["accepted"] == .integer(4))
        #expect(stats["requests"]?.lenientInteger == 7)
    }

    @Test("keepsLedger false keeps no ledger but still sends and reports")
    func noLedger() throws {
        let harness = SimHarness(reportDelay: 0, keepsLedger: false)
        let templateId = harness.template()
        #expect(harness.sendSingle(templateId: templateId, mobile: SimFixture.mobile(1)).result == .success)
        #expect(harness.gateway.ledger().isEmpty)
        #expect(harness.reports()?.count == 1)
    }

    struct ContentCase: Sendable, CustomTestStringConvertible {
        var label: String
        var content: JSONValue?
        var expected: TemplateVariables
        var testDescription: String { label }
    }

    static let contentCases: [ContentCase] = [
        ContentCase(label: "object", content: .object([JSONMember("name", .string("x"))]), expected: ["name": "x"]),
        ContentCase(label: "JSON in a string", content: .string(#"{"name":"x","code":"12"}"#),
                    expected: ["name": "x", "code": "12"]),
        ContentCase(label: "vendor demo single quotes", content: .string("{'name':'x'}"), expected: ["name": "x"]),
        ContentCase(label: "empty string", content: .string(""), expected: [:]),
        ContentCase(label: "missing", content: nil, expected: [:]),
        ContentCase(label: "null", content: .null, expected: [:]),
        ContentCase(label: "number value", content: .object([JSONMember("n", .integer(5))]), expected: ["n": "5"]),
        ContentCase(label: "Chinese value", content: .object([JSONMember("名字", .string("张三"))]),
                    expected: ["名字": "张三"]),
    ]

    @Test("content as an object, as JSON in a string, or as the vendor demo's single-quoted text",
          arguments: InterfaceMode.allCases, contentCases)
    func content(mode: InterfaceMode, contentCase: ContentCase) throws {
        let harness = SimHarness()
        let templateId = harness.template()
        var single = [JSONMember("mobile", .string(SimFixture.mobile(1))), JSONMember("templateId", .string(templateId))]
        if let content = contentCase.content { single.append(JSONMember("content", content)) }
        #expect(harness.call(.sendSingle, mode: mode, single).result == .success)
        var entry = [JSONMember("mobile", .string(SimFixture.mobile(2)))]
        if let content = contentCase.content { entry.append(JSONMember("content", content)) }
        let batch = [JSONMember("templateId", .string(templateId)), JSONMember("fmses", .array([.object(entry)]))]
        #expect(harness.call(.sendBatch, mode: mode, batch).result == .success)
        #expect(harness.gateway.ledger().map(\.content) == [contentCase.expected, contentCase.expected])
    }

    @Test("the document's own request quirks: a key with a stray space, a trailing comma")
    func documentQuirks() throws {
        let harness = SimHarness()
        // The document writes "templateInfo " with a trailing space.
        let spaced = harness.call(.templateReport, json: harness.request([JSONMember("templateInfo ", .string("您的姓名是{name}"))],
                                                                        mode: .secure))
        #expect(spaced.result == .success)
        #expect(spaced.json?["variable"] == .string("name"))
        // The document's getFMSReport example ends an object with a comma.
        let text = #"{"appId": "\#(SimFixture.appId)", "number": 300, "requestTime": \#(harness.clock.milliseconds), "requestValidPeriod": 30,}"#
        let answer = harness.raw(.getReports, mode: .normal, headers: [:], body: Array(text.utf8))
        #expect(answer.result == .success)
    }

    // MARK: Dialects and response shapes

    @Test("getBalance: {\"balance\": \"N\"} in the document dialect, a bare \"N\" in the vendor's",
          arguments: InterfaceMode.allCases, GatewayDialect.allCases)
    func balanceShape(mode: InterfaceMode, dialect: GatewayDialect) {
        let harness = SimHarness(balance: 10_000, dialect: dialect)
        let reply = harness.balanceReply(mode: mode)
        #expect(reply.result == .success)
        switch dialect {
        case .document: #expect(reply.json == .object([JSONMember("balance", .string("10000"))]))
        case .vendorServer: #expect(reply.json == .string("10000"))
        }
    }

    @Test("reports: the vendor dialect writes \"receiveTime \" and \" DELIVRD\"", arguments: GatewayDialect.allCases)
    func reportShape(dialect: GatewayDialect) throws {
        let harness = SimHarness(dialect: dialect, reportDelay: 0)
        let templateId = harness.template()
        _ = harness.sendBatch(templateId: templateId, entries: [BatchEntry(mobile: SimFixture.mobile(1)),
                                                                BatchEntry(mobile: "bad")])
        let reports = try #require(harness.reports())
        try #require(reports.count == 2)
        let members = try #require(reports[0].objectMembers)
        let state = members.first { $0.key == "state" }?.value
        let failed = reports[1].objectMembers?.first { $0.key == "state" }?.value
        switch dialect {
        case .document:
            #expect(members.contains { $0.key == "receiveTime" })
            #expect(state == .string("DELIVRD"))
            #expect(failed == .string("FAIL_MOBILE"))
        case .vendorServer:
            #expect(members.contains { $0.key == "receiveTime " })
            #expect(!members.contains { $0.key == "receiveTime" })
            #expect(state == .string(" DELIVRD"))
            #expect(failed == .string(" FAIL_MOBILE"))
            // A tolerant reader still finds it.
            #expect(reports[0]["receiveTime"] == .string("2025-11-25 00:00:00"))
        }
        // Either way the reports decode with the protocol's own reader.
        let decoded = try DeliveryReport.list(json: .array(reports))
        #expect(decoded.map(\.state) == [.delivered, .failMobile])
    }

    @Test("send responses: an object for single, an array in request order for batch")
    func sendShapes() throws {
        let harness = SimHarness()
        let templateId = harness.template()
        let single = try #require(harness.sendSingle(templateId: templateId, mobile: SimFixture.mobile(1),
                                                     customFmsId: "x").json)
        #expect(single.objectMembers?.map(\.key) == ["mobile", "fmsId", "customFmsId"])
        #expect(single["mobile"] == .string(SimFixture.mobile(1)))
        let mobiles = (10..<15).map(SimFixture.mobile)
        let batch = try #require(harness.sendBatch(templateId: templateId,
                                                   entries: mobiles.map { BatchEntry(mobile: $0) }).json)
        let messages = try SentMessage.list(json: batch)
        #expect(messages.map(\.mobile) == mobiles)
        #expect(messages.allSatisfy { $0.customFmsId == nil })
    }

    // MARK: gzip

    @Test("responses are gzipped only when the request said gzip: on",
          arguments: [false, true], Endpoint.allCases)
    func responseGzip(gzip: Bool, endpoint: Endpoint) throws {
        let harness = SimHarness(reportDelay: 0)
        let templateId = harness.template()
        _ = harness.sendSingle(templateId: templateId, mobile: SimFixture.mobile(9))
        let reply = harness.call(endpoint, SimHarness.validPayload(endpoint, templateId: templateId), gzip: gzip)
        try #require(reply.result == .success)
        let plain = try AESECB.decrypt(reply.body, key: SimFixture.key)
        let isGzip = plain.count > 2 && plain[0] == 0x1F && plain[1] == 0x8B
        #expect(isGzip == gzip)
        #expect((try? SecureEnvelope.openJSON(reply.body, key: SimFixture.key, gzip: gzip)) != nil)
        #expect((try? SecureEnvelope.openJSON(reply.body, key: SimFixture.key, gzip: !gzip)) == nil)
    }

    @Test("gzip header values: only \"on\" (any case, trimmed) means gzip", arguments: ["on", "ON", " On ", "off", "true", ""])
    func gzipHeaderValues(value: String) throws {
        let harness = SimHarness()
        let json = harness.request([], mode: .secure)
        let wantsGzip = value.trimmingSpaces().lowercased() == "on"
        let body = try SecureEnvelope.seal(json, key: SimFixture.key, gzip: wantsGzip)
        let answer = harness.raw(.getBalance, mode: .secure,
                                 headers: [ProtocolHeader.appId: SimFixture.appId, ProtocolHeader.gzip: value], body: body)
        #expect(answer.result == .success)
        #expect((try? SecureEnvelope.openJSON(answer.body, key: SimFixture.key, gzip: wantsGzip)) != nil)
    }

    @Test("the normal interface answers plain JSON, whatever the gzip header says")
    func normalIgnoresGzip() {
        let harness = SimHarness()
        let reply = harness.call(.getBalance, mode: .normal, json: harness.request([], mode: .normal),
                                 extraHeaders: [ProtocolHeader.gzip: "on"])
        #expect(reply.result == .success)
        #expect((try? JSONParser.parse(reply.body)) == .object([JSONMember("balance", .string("1000000"))]))
    }

    // MARK: Faults and counters

    @Test("drawFault follows the fault shares; 503 wins over drop")
    func drawFault() {
        let harness = SimHarness()
        #expect(harness.gateway.faults == .none)
        for _ in 0..<20 {
            let fault = harness.gateway.drawFault()
            #expect(!fault.answer503 && !fault.dropAnswer && fault.latency == 0)
        }
        func draw() -> [String] {
            let fault = harness.gateway.drawFault()
            return ["\(fault.latency)", "\(fault.answer503)", "\(fault.dropAnswer)"]
        }
        harness.gateway.setFaults(FaultConfiguration(latency: 0.5, http503Share: 1))
        #expect(draw() == ["0.5", "true", "false"])
        harness.gateway.setFaults(FaultConfiguration(dropShare: 1))
        #expect(draw() == ["0.0", "false", "true"])
        harness.gateway.setFaults(FaultConfiguration(http503Share: 1, dropShare: 1))
        #expect(draw() == ["0.0", "true", "false"])
        #expect(harness.gateway.faults == FaultConfiguration(http503Share: 1, dropShare: 1))
    }

    @Test("statistics count requests, accepted messages, balances, pending reports and templates")
    func statistics() throws {
        let harness = SimHarness(balance: 50, reportDelay: 10)
        let templateId = harness.template()
        _ = harness.sendBatch(templateId: templateId, entries: (0..<3).map { BatchEntry(mobile: SimFixture.mobile($0)) })
        _ = harness.call(.getBalance, [], appId: SimFixture.unknownAppId)
        let stats = harness.gateway.statistics()
        #expect(stats["requests"] == .integer(3))
        #expect(stats["accepted"] == .integer(3))
        let accounts = try #require(stats["accounts"]?.arrayElements)
        #expect(accounts.compactMap { $0["appId"]?.lenientString } == SimFixture.accounts(balance: 0).map(\.appId).sorted())
        let mine = try #require(accounts.first { $0["appId"] == .string(SimFixture.appId) })
        #expect(mine["balance"] == .integer(47))
        #expect(mine["pendingReports"] == .integer(3))
        #expect(mine["templates"] == .integer(1))
    }
}
