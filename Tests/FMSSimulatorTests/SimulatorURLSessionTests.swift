import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import FMSProtocol
import FMSSimulator

/// The simulator as an ordinary HTTP client library sees it.
@Suite("Simulator server via URLSession")
struct SimulatorURLSessionTests {
    private static func post(_ url: URL, headers: [String: String], body: Data) async throws -> (HTTPURLResponse, Data) {
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = body
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        let (data, response) = try await session.data(for: request)
        return (try #require(response as? HTTPURLResponse), data)
    }

    @Test("a 300-message gzipped batch and a refused request through URLSession", arguments: [false, true])
    func urlSession(gzip: Bool) async throws {
        let harness = SimHarness(balance: 1000)
        let server = SimulatorServer(gateway: harness.gateway)
        try server.start()
        defer { server.stop() }
        let templateId = harness.template()
        let base = try #require(URL(string: server.baseURL))

        let entries = (0..<300).map { BatchEntry(mobile: SimFixture.mobile($0), customFmsId: "u-\($0)",
                                                 content: ["code": String($0)]) }
        let json = harness.request(BatchSendRequest(templateId: templateId, entries: entries).payload, mode: .secure)
        var headers = [ProtocolHeader.appId: SimFixture.appId]
        if gzip { headers[ProtocolHeader.gzip] = "on" }
        let body = Data(harness.encode(json, mode: .secure, gzip: gzip))
        let (response, data) = try await Self.post(base.appendingPathComponent(Endpoint.sendBatch.path(.secure)),
                                                   headers: headers, body: body)
        #expect(response.statusCode == 200)
        #expect(response.value(forHTTPHeaderField: "result") == "SUCCESS")
        let opened = try SecureEnvelope.openJSON(Array(data), key: SimFixture.key, gzip: gzip)
        let messages = try SentMessage.list(json: opened)
        #expect(messages.count == 300)
        #expect(messages.map(\.customFmsId) == entries.map(\.customFmsId))
        #expect(harness.gateway.ledger().count == 300)

        let (refused, empty) = try await Self.post(base.appendingPathComponent(Endpoint.getBalance.path(.normal)),
                                                   headers: ["Content-Type": "application/json"],
                                                   body: Data("{\"appId\":\"nobody\"}".utf8))
        #expect(refused.statusCode == 200)
        #expect(refused.value(forHTTPHeaderField: "result") == "ERROR_APPID")
        #expect(empty.isEmpty)
    }
}
