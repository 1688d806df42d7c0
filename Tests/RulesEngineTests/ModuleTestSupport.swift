import Foundation
import Synchronization
import FMSClient
import FMSProtocol
import FMSSimulator
import LuaKit
@testable import RulesEngine

/// Hands client requests straight to an in-memory gateway (no sockets).
struct InMemoryTransport: HTTPTransport {
    let gateway: Gateway

    func post(_ request: TransportRequest) async throws(TransportError) -> TransportResponse {
        guard let (mode, endpoint) = Endpoint.parse(path: request.url.path) else {
            return TransportResponse(status: 404, headers: [], body: [])
        }
        let answer = gateway.handle(mode: mode, endpoint: endpoint, header: { name in
            request.headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }, body: request.body, clientIP: "127.0.0.1")
        return TransportResponse(status: 200, headers: [(ProtocolHeader.result, answer.result.name)], body: answer.body)
    }
}

/// A clock the test moves.
final class TestClock: Sendable {
    private let now = Mutex<Double>(1_764_000_000)
    var seconds: Double { now.withLock { $0 } }
    func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
}

/// A gateway, a client over it, and a helper that runs Lua against them.
final class LogLines: Sendable {
    private let lines = Mutex<[LuaLogLine]>([])
    func append(_ line: LuaLogLine) { lines.withLock { $0.append(line) } }
    func withLock<T>(_ body: ([LuaLogLine]) -> T) -> T { lines.withLock { body($0) } }
}

struct LuaHarness {
    let clock = TestClock()
    let gateway: Gateway
    let client: FMSClient
    let logs = LogLines()

    init(failing: [String: ReportState] = [:]) throws {
        let key = try SecretKey("0123456789abcdef")
        let clock = self.clock
        gateway = Gateway(configuration: GatewayConfiguration(
            accounts: [SimulatorAccount(appId: "APP", secretKey: key, balance: 100)],
            reviewDelay: 0, reportDelay: 0, failingMobiles: failing, rateLimits: [:]), clock: { clock.seconds })
        var configuration = FMSClientConfiguration(baseURL: URL(string: "http://gateway.test")!, appId: "APP", secretKey: key)
        configuration.clock = { Int64(clock.seconds * 1000) }
        client = try FMSClient(configuration: configuration, transport: InMemoryTransport(gateway: gateway))
    }

    /// Registers a template directly on the gateway and returns its id.
    func template(_ text: String = "告警 {host} {pct}") async throws -> String {
        try await client.reportTemplate(text).templateId
    }

    /// Runs `source` as `fms run` would, returning the outcome and the context.
    func run(_ source: String, mode: FMSModuleMode = .run, chunkName: String = "@rule.lua",
             arguments: [String] = [], limits: LuaLimits = LuaLimits()) async -> (ScriptRunner.Outcome, FMSModuleContext) {
        let logs = self.logs
        let backend: any GatewayBackend = mode == .run ? client : ValidatingBackend()
        let context = FMSModuleContext(mode: mode, backend: backend, clock: { [clock] in clock.seconds },
                                       log: { line in logs.append(line) })
        let outcome = await ScriptRunner.run(source: source, chunkName: chunkName, scriptName: "rule.lua",
                                             arguments: arguments, context: context, limits: limits)
        return (outcome, context)
    }

    /// The error message of a run that must fail.
    func failure(_ source: String, mode: FMSModuleMode = .run) async -> String {
        let (outcome, _) = await run(source, mode: mode)
        switch outcome.result {
        case .success: return "(no error)"
        case .failure(let error): return error.message
        }
    }
}
