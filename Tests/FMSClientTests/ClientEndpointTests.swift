import Foundation
import Testing
@testable import FMSClient
import FMSProtocol
import FMSSimulator

/// Every endpoint, in both interfaces, with and without gzip, against the in-memory gateway.
@Suite("Client × gateway: every endpoint in every mode")
struct ClientEndpointTests {
    struct Setting: CustomTestStringConvertible, Sendable {
        var mode: InterfaceMode
        var gzip: Bool
        var testDescription: String { "\(mode)\(mode == .secure ? (gzip ? "+gzip" : "-gzip") : "")" }
    }

    static let settings = [Setting(mode: .secure, gzip: true), Setting(mode: .secure, gzip: false),
                           Setting(mode: .normal, gzip: false)]

    @Test("template report, query, send, batch, reports, balance", arguments: settings)
    func fullCycle(setting: Setting) async throws {
        let clock = ManualClock()
        let gateway = Fixture.gateway(clock: clock, balance: 100, failing: ["13900000002": .failMobile])
        let client = try Fixture.client(GatewayTransport(gateway: gateway), clock: clock, mode: setting.mode, gzip: setting.gzip)

        let template = try await client.reportTemplate("磁盘 {host} 使用率 ${pct}")
        #expect(template.variables == ["host", "pct"])
        #expect(!template.templateId.isEmpty)
        let again = try await client.reportTemplate("磁盘 {host} 使用率 ${pct}")
        #expect(again.templateId == template.templateId, "the same text gets the same id")

        let pending = try await client.queryTemplate(template.templateId)
        #expect(pending.cmcc == .pending && pending.cucc == .pending && pending.ctcc == .pending)
        clock.advance(6)
        let approved = try await client.queryTemplate(template.templateId)
        #expect(approved.cmcc == .approved && approved.ctcc == .approved)

        let single = try await client.sendSingle(mobile: " 13800138000 ", templateId: template.templateId,
                                                 variables: ["host": "db1", "pct": "91"], customFmsId: "disk-db1")
        #expect(single.mobile == "13800138000")
        #expect(single.customFmsId == "disk-db1")
        #expect(!single.fmsId.isEmpty)

        let entries = (0..<5).map { BatchEntry(mobile: "1380013800\($0)", customFmsId: "b\($0)", content: ["host": "h\($0)"]) }
            + [BatchEntry(mobile: "13900000002", customFmsId: "fails", content: [:])]
        let sent = try await client.sendBatch(templateId: template.templateId, entries: entries)
        #expect(sent.map(\.customFmsId) == ["b0", "b1", "b2", "b3", "b4", "fails"])
        #expect(Set(sent.map(\.fmsId)).count == 6, "fmsIds are unique")
        #expect(!sent.contains { $0.fmsId == single.fmsId })

        #expect(try await client.fetchReports().isEmpty, "reports are not due yet")
        clock.advance(2)
        let reports = try await client.fetchReports()
        #expect(reports.count == 7)
        #expect(reports.first { $0.customFmsId == "fails" }?.state == .failMobile)
        #expect(reports.filter { $0.state == .delivered }.count == 6)
        #expect(reports.first { $0.customFmsId == "disk-db1" }?.fmsId == single.fmsId)
        #expect(try await client.fetchReports().isEmpty, "reports are popped exactly once")

        #expect(try await client.balance() == 93)
    }

    @Test("vendor-server dialect: bare balance, string codes, spaced keys, ERROR_TEMPLATE_ID_ERROR on query")
    func vendorDialectIsAccepted() async throws {
        let clock = ManualClock()
        let gateway = Fixture.gateway(clock: clock, balance: 10, dialect: .vendorServer)
        let client = try Fixture.client(GatewayTransport(gateway: gateway), clock: clock)
        #expect(try await client.balance() == 10)
        let unknown = try await client.queryTemplate("no-such-template")
        #expect(unknown == TemplateStatus.unknown("no-such-template"))
        let template = try await client.reportTemplate("hello ${name}")
        clock.advance(10)
        #expect(try await client.queryTemplate(template.templateId).cucc == .approved)
        _ = try await client.sendSingle(mobile: "13800138000", templateId: template.templateId, variables: ["name": "x"])
        clock.advance(3)
        let reports = try await client.fetchReports()
        #expect(reports.count == 1)
        #expect(reports[0].state == .delivered, "' DELIVRD' is trimmed")
        #expect(!reports[0].receiveTime.isEmpty, "'receiveTime ' with a space is read")
    }

    @Test("a balance of 0 still accepts and reports FAIL_BALANCE")
    func zeroBalance() async throws {
        let clock = ManualClock()
        let gateway = Fixture.gateway(clock: clock, balance: 1)
        let client = try Fixture.client(GatewayTransport(gateway: gateway), clock: clock)
        let template = try await client.reportTemplate("x")
        _ = try await client.sendBatch(templateId: template.templateId,
                                       entries: [BatchEntry(mobile: "13800138000"), BatchEntry(mobile: "13800138001")])
        clock.advance(3)
        let states = try await client.fetchReports().map(\.state)
        #expect(states == [.delivered, .failBalance])
        #expect(try await client.balance() == 0)
    }
}
