import Foundation
import Synchronization
@testable import FMSClient
import FMSProtocol
import FMSSimulator

/// A clock tests move by hand, in seconds since 1970.
final class ManualClock: Sendable {
    private let now: Mutex<Double>

    init(_ start: Double = 1_764_000_000) { now = Mutex(start) }

    var seconds: Double { now.withLock { $0 } }
    var milliseconds: Int64 { Int64(seconds * 1000) }

    func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
}

/// Hands requests straight to an in-memory `Gateway`: the whole protocol, without sockets.
final class GatewayTransport: HTTPTransport {
    let gateway: Gateway
    let clientIP: String
    /// Counts requests per endpoint, for the batching tests.
    let log = Mutex<[String]>([])

    init(gateway: Gateway, clientIP: String = "127.0.0.1") {
        self.gateway = gateway
        self.clientIP = clientIP
    }

    func post(_ request: TransportRequest) async throws(TransportError) -> TransportResponse {
        guard let (mode, endpoint) = Endpoint.parse(path: request.url.path) else {
            return TransportResponse(status: 404, headers: [], body: [])
        }
        log.withLock { $0.append(endpoint.rawValue) }
        let answer = gateway.handle(mode: mode, endpoint: endpoint, header: { name in
            request.headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }, body: request.body, clientIP: clientIP)
        return TransportResponse(status: 200, headers: [(ProtocolHeader.result, answer.result.name)], body: answer.body)
    }
}

/// A transport that answers with whatever the test says.
struct ScriptedTransport: HTTPTransport {
    let answer: @Sendable (TransportRequest) throws(TransportError) -> TransportResponse

    func post(_ request: TransportRequest) async throws(TransportError) -> TransportResponse {
        try answer(request)
    }
}

enum Fixture {
    static let appId = "EUCP-EMY-TEST-0001"
    static let keyText = "0123456789abcdef"
    static let key: SecretKey = {
        do { return try SecretKey(keyText) } catch { fatalError("fixture key: \(error)") }
    }()
    static let url = URL(string: "http://127.0.0.1:9")!

    static func gateway(clock: ManualClock, balance: Int64 = 1000, dialect: GatewayDialect = .document,
                        rateLimits: [Endpoint: Int] = [:], failing: [String: ReportState] = [:],
                        allowedIPs: Set<String>? = nil) -> Gateway {
        var configuration = GatewayConfiguration(
            accounts: [SimulatorAccount(appId: appId, secretKey: key, balance: balance, allowedIPs: allowedIPs)],
            reviewDelay: 5, reportDelay: 2, failingMobiles: failing, rateLimits: rateLimits, dialect: dialect)
        configuration.seed = 42
        return Gateway(configuration: configuration, clock: { clock.seconds })
    }

    static func client(_ transport: any HTTPTransport, clock: ManualClock, mode: InterfaceMode = .secure,
                       gzip: Bool = true, key: SecretKey? = Fixture.key, appId: String = Fixture.appId) throws -> FMSClient {
        var configuration = FMSClientConfiguration(baseURL: url, appId: appId, secretKey: key, mode: mode, gzip: gzip)
        configuration.clock = { clock.milliseconds }
        return try FMSClient(configuration: configuration, transport: transport)
    }
}
