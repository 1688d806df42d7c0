import Foundation
import FMSProtocol

/// The simulated gateway on a real HTTP/1.1 server: what `fms sim` runs.
///
/// Routes `POST /fms/{secure,normal}/<endpoint>` to the `Gateway` (with fault injection),
/// and serves the loopback-only control routes:
/// - `GET /__sim/ledger`: every accepted message, a JSON array;
/// - `GET /__sim/stats`: counters, balances, pending reports;
/// - `POST /__sim/faults`: `{"latency": s, "http503Share": x, "dropShare": x, "failureShare": x}`;
/// - `POST /__sim/balance`: `{"appId": "…", "balance": n}`.
public final class SimulatorServer: Sendable {
    /// The gateway behind the server.
    public let gateway: Gateway
    private let server: HTTPServer
    private let host: String

    /// Creates a server for `gateway`; call `start()` to listen.
    public init(gateway: Gateway, http: HTTPServer.Configuration = HTTPServer.Configuration()) {
        self.gateway = gateway
        host = http.host
        server = HTTPServer(configuration: http) { request in
            SimulatorServer.route(request, gateway: gateway)
        }
    }

    /// Binds and starts serving.
    public func start() throws {
        try server.start()
    }

    /// Stops serving and closes every connection.
    public func stop() {
        server.stop()
    }

    /// The port the server listens on (after `start`).
    public var port: Int { server.port }

    /// `http://HOST:PORT`, the base URL clients use.
    public var baseURL: String { "http://\(host):\(server.port)" }

    /// Answers one HTTP request.
    static func route(_ request: HTTPRequest, gateway: Gateway) -> HTTPDisposition {
        var target = request.target
        // HTTP/1.1 servers must accept the absolute form (`POST http://host:port/path`), as proxies send it.
        if let schemeEnd = target.range(of: "://"), target.lowercased().hasPrefix("http") {
            let afterScheme = target[schemeEnd.upperBound...]
            target = afterScheme.firstIndex(of: "/").map { String(afterScheme[$0...]) } ?? "/"
        }
        let path = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target
        if path.hasPrefix("/__sim/") {
            return .respond(control(path: path, request: request, gateway: gateway))
        }
        guard let (mode, endpoint) = Endpoint.parse(path: path) else {
            return .respond(plain(404, "no such endpoint: \(path)\n"))
        }
        guard request.method == "POST" else {
            return .respond(HTTPResponse(status: 405, headers: [(name: "Allow", value: "POST")], body: []))
        }
        let fault = gateway.drawFault()
        if fault.latency > 0 { Thread.sleep(forTimeInterval: fault.latency) }
        if fault.answer503 { return .respond(plain(503, "service unavailable (injected)\n")) }
        let answer = gateway.handle(mode: mode, endpoint: endpoint, header: { request.headers[$0] }, body: request.body,
                                    clientIP: request.peerAddress)
        if fault.dropAnswer { return .closeWithoutResponse }
        var headers = [(name: ProtocolHeader.result, value: answer.result.name)]
        if !answer.body.isEmpty {
            let type = mode == .secure ? "application/octet-stream" : "application/json; charset=utf-8"
            headers.append((name: "Content-Type", value: type))
        }
        return .respond(HTTPResponse(status: 200, headers: headers, body: answer.body))
    }

    private static func control(path: String, request: HTTPRequest, gateway: Gateway) -> HTTPResponse {
        guard isLoopback(request.peerAddress) else { return plain(404, "not found\n") }
        switch (request.method, path) {
        case ("GET", "/__sim/ledger"):
            return json(.array(gateway.ledger().map(\.json)))
        case ("GET", "/__sim/stats"):
            return json(gateway.statistics())
        case ("POST", "/__sim/faults"):
            guard let body = try? JSONParser.parse(request.body), case .object = body else {
                return plain(400, "expected a JSON object\n")
            }
            var faults = gateway.faults
            func share(_ key: String) -> Double? {
                switch body[key] {
                case .double(let value)?: return value
                case .integer(let value)?: return Double(value)
                default: return nil
                }
            }
            if let latency = share("latency") { faults.latency = max(0, latency) }
            if let value = share("http503Share") { faults.http503Share = min(1, max(0, value)) }
            if let value = share("dropShare") { faults.dropShare = min(1, max(0, value)) }
            gateway.setFaults(faults, failureShare: share("failureShare").map { min(1, max(0, $0)) })
            return json(.object([JSONMember("latency", .double(faults.latency)),
                                 JSONMember("http503Share", .double(faults.http503Share)),
                                 JSONMember("dropShare", .double(faults.dropShare))]))
        case ("POST", "/__sim/balance"):
            guard let body = try? JSONParser.parse(request.body), let appId = body["appId"]?.lenientString,
                  let amount = body["balance"]?.lenientInteger, gateway.balance(of: appId) != nil else {
                return plain(400, "expected {\"appId\": known account, \"balance\": integer}\n")
            }
            gateway.setBalance(amount, for: appId)
            return json(.object([JSONMember("appId", .string(appId)), JSONMember("balance", .integer(amount))]))
        default:
            return plain(404, "no such control route: \(request.method) \(path)\n")
        }
    }

    private static func isLoopback(_ address: String) -> Bool {
        address.hasPrefix("127.") || address == "::1"
    }

    private static func plain(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: [(name: "Content-Type", value: "text/plain; charset=utf-8")],
                     body: Array(text.utf8))
    }

    private static func json(_ value: JSONValue) -> HTTPResponse {
        HTTPResponse(status: 200, headers: [(name: "Content-Type", value: "application/json")],
                     body: JSONWriter.bytes(of: value))
    }
}
