import Foundation
import Testing
import FMSProtocol
import FMSSimulator
@testable import FMSClient

/// The https:// transport: URLSession in a plugin that `fms` loads only when it needs it. Run here
/// over plain http against the simulator (the plugin does not care about the scheme).
@Suite("URLSessionTransport through the plugin", .serialized)
struct URLSessionPluginTests {
    @Test("the plugin loads and carries a whole exchange: balance, send, headers, body")
    func exchange() async throws {
        let clock = ManualClock()
        let gateway = Fixture.gateway(clock: clock)
        let server = SimulatorServer(gateway: gateway)
        try server.start()
        defer { server.stop() }
        var configuration = FMSClientConfiguration(baseURL: URL(string: server.baseURL)!, appId: Fixture.appId,
                                                   secretKey: Fixture.key)
        configuration.clock = { clock.milliseconds }
        let client = try FMSClient(configuration: configuration, transport: URLSessionTransport(maxConnections: 2))
        #expect(try await client.balance() == 1000)
        let template = try await client.reportTemplate("插件 {n}").templateId
        clock.advance(10)
        let sent = try await client.sendSingle(mobile: "13800138000", templateId: template, variables: ["n": "1"], customFmsId: "p-1")
        #expect(sent.customFmsId == "p-1")
        #expect(gateway.ledger().map(\.customFmsId) == ["p-1"])
    }

    @Test("a refused connection and a deadline come back as transport errors naming the URL")
    func failures() async throws {
        let transport = URLSessionTransport()
        let refused = URL(string: "http://127.0.0.1:\(try Self.closedPort())/eucp/x")!
        do {
            _ = try await transport.post(TransportRequest(url: refused, headers: [], body: [], timeout: 5))
            Issue.record("a closed port answered")
        } catch {
            #expect(error.message.contains(refused.absoluteString), "\(error)")
        }
    }

    static func closedPort() throws -> Int {
        let server = SimulatorServer(gateway: Fixture.gateway(clock: ManualClock()))
        try server.start()
        let port = server.port
        server.stop()
        return port
    }
}
