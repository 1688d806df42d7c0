import Dispatch
import Foundation
import Synchronization
import Testing
import FMSProtocol
@testable import FMSSimulator

/// The simulator on real loopback sockets (port 0), driven by a raw-socket HTTP client.
@Suite("Simulator server")
struct SimulatorServerTests {
    /// A started server over a manual-clock gateway; `stop()` it at the end.
    struct Running {
        let harness: SimHarness
        let server: SimulatorServer
        var port: Int { server.port }

        init(harness: SimHarness = SimHarness(), maxBodyBytes: Int? = nil) throws {
            self.harness = harness
            var http = HTTPServer.Configuration()
            if let maxBodyBytes { http.maxBodyBytes = maxBodyBytes }
            server = SimulatorServer(gateway: harness.gateway, http: http)
            try server.start()
        }

        /// The HTTP request of an endpoint call: headers and (sealed or plain) body.
        func endpointRequest(_ endpoint: Endpoint, mode: InterfaceMode = .secure, _ payload: [JSONMember],
                             gzip: Bool = false) -> (headers: [(String, String)], body: [UInt8]) {
            let json = harness.request(payload, mode: mode)
            let headers = SimHarness.headers(mode: mode, appId: SimFixture.appId, gzip: gzip).map { ($0.key, $0.value) }
            return (headers, harness.encode(json, mode: mode, gzip: gzip))
        }

        /// Calls an endpoint over HTTP.
        func call(_ endpoint: Endpoint, mode: InterfaceMode = .secure, _ payload: [JSONMember],
                  gzip: Bool = false) throws -> SimHTTPResponse? {
            let request = endpointRequest(endpoint, mode: mode, payload, gzip: gzip)
            return try SimHTTP.send(port: port, path: endpoint.path(mode), headers: request.headers, body: request.body)
        }

        /// Opens a SUCCESS body.
        func open(_ response: SimHTTPResponse, mode: InterfaceMode = .secure, gzip: Bool = false) -> JSONValue? {
            switch mode {
            case .secure: try? SecureEnvelope.openJSON(response.body, key: SimFixture.key, gzip: gzip)
            case .normal: try? JSONParser.parse(response.body)
            }
        }

        /// A control route answer as JSON.
        func control(_ method: String, _ path: String, _ body: JSONValue? = nil) throws -> (status: Int, json: JSONValue?) {
            let bytes = body.map(JSONWriter.bytes(of:)) ?? []
            let response = try #require(try SimHTTP.send(port: port, method: method, path: path, body: bytes))
            return (response.status, try? JSONParser.parse(response.body))
        }

        func ledgerCount() throws -> Int? {
            try control("GET", "/__sim/ledger").json?.arrayElements?.count
        }
    }

    // MARK: Routing

    @Test("POST to every endpoint answers 200 with a result header, and a body only on SUCCESS",
          arguments: InterfaceMode.allCases, Endpoint.allCases)
    func postEveryEndpoint(mode: InterfaceMode, endpoint: Endpoint) throws {
        let running = try Running()
        defer { running.server.stop() }
        let templateId = running.harness.template()

        let garbage = try #require(try SimHTTP.send(port: running.port, path: endpoint.path(mode),
                                                    headers: [(ProtocolHeader.appId, SimFixture.appId)],
                                                    body: Array("{ not json".utf8)))
        #expect(garbage.status == 200)
        #expect(garbage.header(ProtocolHeader.result) == "ERROR_PARAMS")
        #expect(garbage.body.isEmpty)
        #expect(garbage.header("Content-Length") == "0")

        for gzip in mode == .secure ? [false, true] : [false] {
            let response = try #require(try running.call(endpoint, mode: mode,
                                                          SimHarness.validPayload(endpoint, templateId: templateId),
                                                          gzip: gzip))
            #expect(response.status == 200)
            #expect(response.header(ProtocolHeader.result) == "SUCCESS")
            #expect(!response.body.isEmpty)
            #expect(running.open(response, mode: mode, gzip: gzip) != nil, "gzip \(gzip)")
            let type = response.header("Content-Type") ?? ""
            #expect(type.hasPrefix(mode == .secure ? "application/octet-stream" : "application/json"))
        }
    }

    @Test("a refused request is 200 with the code in `result` and no body")
    func refusedOverHTTP() throws {
        let running = try Running()
        defer { running.server.stop() }
        let templateId = running.harness.template()
        let response = try #require(try running.call(.sendSingle, SingleSendRequest(mobile: "123",
                                                                                     templateId: templateId).payload))
        #expect(response.status == 200)
        #expect(response.header("result") == "ERROR_MOBILE_ERROR")
        #expect(response.body.isEmpty)
        let noAppId = try #require(try SimHTTP.send(port: running.port, path: "/fms/secure/getBalance", body: [1]))
        #expect(noAppId.header("result") == "ERROR_APPID")
    }

    @Test("header names are case-insensitive: APPID and GZIP: ON work")
    func headerCase() throws {
        let running = try Running()
        defer { running.server.stop() }
        let body = running.harness.encode(running.harness.request([], mode: .secure), mode: .secure, gzip: true)
        let response = try #require(try SimHTTP.send(port: running.port, path: Endpoint.getBalance.path(.secure),
                                                     headers: [("APPID", SimFixture.appId), ("GZIP", "ON")], body: body))
        #expect(response.header("result") == "SUCCESS")
        #expect(running.open(response, gzip: true)?["balance"] == .string("1000000"))
    }

    @Test("a query string after the endpoint path is ignored")
    func queryString() throws {
        let running = try Running()
        defer { running.server.stop() }
        let request = running.endpointRequest(.getBalance, [])
        let response = try #require(try SimHTTP.send(port: running.port, path: "/fms/secure/getBalance?x=1",
                                                     headers: request.headers, body: request.body))
        #expect(response.header("result") == "SUCCESS")
    }

    @Test("a method other than POST on an endpoint is 405", arguments: InterfaceMode.allCases, ["GET", "PUT", "DELETE"])
    func wrongMethod(mode: InterfaceMode, method: String) throws {
        let running = try Running()
        defer { running.server.stop() }
        for endpoint in Endpoint.allCases {
            let response = try #require(try SimHTTP.send(port: running.port, method: method, path: endpoint.path(mode)))
            #expect(response.status == 405, "\(endpoint)")
            #expect(response.header("Allow") == "POST")
            #expect(response.header("result") == nil)
        }
        #expect(try running.ledgerCount() == 0)
        #expect(running.harness.gateway.statistics()["requests"] == .integer(0))
    }

    @Test("an unknown path is 404", arguments: ["/", "/fms", "/fms/secure", "/fms/secure/nope", "/fms/plain/getBalance",
                                              "/fms/secure/getBalance/more", "/api/fms/secure/getBalance",
                                              "/__sim/nope", "/__sim/"])
    func unknownPath(path: String) throws {
        let running = try Running()
        defer { running.server.stop() }
        let response = try #require(try SimHTTP.send(port: running.port, path: path, body: Array("{}".utf8)))
        #expect(response.status == 404)
        #expect(response.header("result") == nil)
    }

    @Test("control routes answer only their own method", arguments: [("POST", "/__sim/ledger"), ("POST", "/__sim/stats"),
                                                                 ("GET", "/__sim/faults"), ("GET", "/__sim/balance")])
    func controlWrongMethod(route: (method: String, path: String)) throws {
        let running = try Running()
        defer { running.server.stop() }
        #expect(try running.control(route.method, route.path).status == 404)
    }

    @Test("control routes are loopback-only")
    func controlLoopbackOnly() {
        let gateway = SimHarness().gateway
        let remote = HTTPRequest(method: "GET", target: "/__sim/ledger", peerAddress: "192.0.2.10")
        guard case .respond(let response) = SimulatorServer.route(remote, gateway: gateway) else {
            Issue.record("expected a response")
            return
        }
        #expect(response.status == 404)
        let local = HTTPRequest(method: "GET", target: "/__sim/ledger", peerAddress: "127.0.0.1")
        guard case .respond(let ok) = SimulatorServer.route(local, gateway: gateway) else {
            Issue.record("expected a response")
            return
        }
        #expect(ok.status == 200)
    }

    // MARK: Framing

    @Test("a chunked upload is read as empty: result ERROR_PARAMS, nothing accepted", arguments: InterfaceMode.allCases)
    func chunkedUpload(mode: InterfaceMode) throws {
        let running = try Running()
        defer { running.server.stop() }
        let templateId = running.harness.template()
        let request = running.endpointRequest(.sendSingle, mode: mode, SingleSendRequest(
            mobile: SimFixture.mobile(1), templateId: templateId).payload)
        var chunked = Array(String(request.body.count, radix: 16).utf8) + [13, 10] + request.body + [13, 10]
        chunked += Array("0\r\n\r\n".utf8)
        let bytes = SimHTTP.requestBytes(method: "POST", path: Endpoint.sendSingle.path(mode),
                                         headers: request.headers + [("Transfer-Encoding", "chunked")], body: chunked,
                                         contentLength: false)
        let response = try #require(try SimHTTP.parse(SimHTTP.exchange(port: running.port, bytes)))
        #expect(response.status == 200)
        #expect(response.header("result") == "ERROR_PARAMS")
        #expect(response.body.isEmpty)
        #expect(try running.ledgerCount() == 0)
        // The same body with Content-Length is accepted.
        let plain = try #require(try SimHTTP.send(port: running.port, path: Endpoint.sendSingle.path(mode),
                                                  headers: request.headers, body: request.body))
        #expect(plain.header("result") == "SUCCESS")
        #expect(try running.ledgerCount() == 1)
    }

    @Test("a Content-Length above maxBodyBytes is 413")
    func bodyTooLarge() throws {
        let running = try Running(maxBodyBytes: 1024)
        defer { running.server.stop() }
        // Only the head is sent: the server must refuse on the declared length alone.
        let head = Array("POST /fms/secure/getBalance HTTP/1.1\r\nHost: x\r\nappId: \(SimFixture.appId)\r\nContent-Length: 1025\r\n\r\n".utf8)
        let response = try #require(try SimHTTP.parse(SimHTTP.exchange(port: running.port, head)))
        #expect(response.status == 413)
        #expect(response.header("result") == nil)
        // At the limit the body is read and handed to the gateway.
        let atLimit = try #require(try SimHTTP.send(port: running.port, path: "/fms/secure/getBalance",
                                                    headers: [(ProtocolHeader.appId, SimFixture.appId)],
                                                    body: [UInt8](repeating: 0x41, count: 1024)))
        #expect(atLimit.status == 200)
        #expect(atLimit.header("result") == "ERROR_PARAMS")
        #expect(running.harness.gateway.statistics()["requests"] == .integer(1))
    }

    // MARK: Control routes

    @Test("GET /__sim/ledger and /__sim/stats answer JSON")
    func ledgerAndStats() throws {
        let running = try Running(harness: SimHarness(balance: 10))
        defer { running.server.stop() }
        let templateId = running.harness.template()
        #expect(try running.control("GET", "/__sim/ledger").json == .array([]))
        let sent = try #require(try running.call(.sendBatch, BatchSendRequest(templateId: templateId, entries: [
            BatchEntry(mobile: SimFixture.mobile(1), customFmsId: "one", content: ["code": "1"]),
            BatchEntry(mobile: SimFixture.mobile(2)),
        ]).payload))
        let ids = try SentMessage.list(json: try #require(running.open(sent))).map(\.fmsId)

        let ledger = try running.control("GET", "/__sim/ledger")
        #expect(ledger.status == 200)
        let entries = try #require(ledger.json?.arrayElements)
        #expect(entries.compactMap { $0["fmsId"]?.lenientString } == ids)
        #expect(entries.first?["customFmsId"] == .string("one"))
        #expect(entries.first?["content"] == .object([JSONMember("code", .string("1"))]))
        #expect(entries.first?["appId"] == .string(SimFixture.appId))
        #expect(entries.first?["templateId"] == .string(templateId))
        #expect(entries.first?["state"] == .string("DELIVRD"))
        #expect(entries == running.harness.gateway.ledger().map(\.json))

        let stats = try running.control("GET", "/__sim/stats")
        #expect(stats.status == 200)
        let json = try #require(stats.json)
        #expect(json["accepted"] == .integer(2))
        #expect(json["requests"] == .integer(2))
        let mine = json["accounts"]?.arrayElements?.first { $0["appId"] == .string(SimFixture.appId) }
        #expect(mine?["balance"] == .integer(8))
        #expect(mine?["pendingReports"] == .integer(2))
    }

    @Test("POST /__sim/faults with http503Share 1: the next request is 503 and nothing is accepted")
    func injected503() throws {
        let running = try Running()
        defer { running.server.stop() }
        let templateId = running.harness.template()
        let payload = SingleSendRequest(mobile: SimFixture.mobile(1), templateId: templateId).payload
        #expect(try running.call(.sendSingle, payload)?.header("result") == "SUCCESS")

        let set = try running.control("POST", "/__sim/faults", .object([JSONMember("http503Share", .integer(1))]))
        #expect(set.status == 200)
        #expect(set.json?["http503Share"]?.lenientInteger == 1)
        let refused = try #require(try running.call(.sendSingle, payload))
        #expect(refused.status == 503)
        #expect(refused.header("result") == nil)
        #expect(try running.ledgerCount() == 1, "a 503 is answered before processing")
        #expect(running.harness.gateway.balance(of: SimFixture.appId) == 999_999)

        _ = try running.control("POST", "/__sim/faults", .object([JSONMember("http503Share", .double(0))]))
        #expect(try running.call(.sendSingle, payload)?.header("result") == "SUCCESS")
        #expect(try running.ledgerCount() == 2)
    }

    @Test("dropShare 1 closes without an answer, but the message was accepted (in the ledger)")
    func droppedAnswer() throws {
        let running = try Running()
        defer { running.server.stop() }
        let templateId = running.harness.template()
        let set = try running.control("POST", "/__sim/faults", .object([JSONMember("dropShare", .integer(1))]))
        #expect(set.json?["dropShare"]?.lenientInteger == 1)
        let response = try running.call(.sendSingle, SingleSendRequest(mobile: SimFixture.mobile(3), templateId: templateId,
                                                                        customFmsId: "lost").payload)
        #expect(response == nil, "no byte of an answer")
        let ledger = running.harness.gateway.ledger()
        #expect(ledger.count == 1)
        #expect(ledger.first?.customFmsId == "lost")
        #expect(try running.control("GET", "/__sim/ledger").json?.arrayElements?.count == 1, "control routes are not dropped")
    }

    @Test("latency is applied before answering")
    func latency() throws {
        let running = try Running()
        defer { running.server.stop() }
        let set = try running.control("POST", "/__sim/faults", .object([JSONMember("latency", .double(0.3))]))
        #expect(set.json?["latency"] == .double(0.3))
        #expect(running.harness.gateway.faults.latency == 0.3)
        let started = DispatchTime.now()
        let response = try #require(try running.call(.getBalance, []))
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        #expect(response.header("result") == "SUCCESS")
        #expect(elapsed >= 0.3)
    }

    @Test("POST /__sim/faults clamps shares and sets failureShare")
    func faultsClamped() throws {
        let running = try Running()
        defer { running.server.stop() }
        let set = try running.control("POST", "/__sim/faults", .object([
            JSONMember("latency", .integer(-3)), JSONMember("http503Share", .double(7)),
            JSONMember("dropShare", .double(-1)), JSONMember("failureShare", .integer(1)),
        ]))
        #expect(set.status == 200)
        #expect(running.harness.gateway.faults == FaultConfiguration(latency: 0, http503Share: 1, dropShare: 0))
        #expect(try running.control("POST", "/__sim/faults", .array([])).status == 400)
        // failureShare 1 applies to new messages.
        _ = try running.control("POST", "/__sim/faults", .object([JSONMember("http503Share", .integer(0))]))
        let templateId = running.harness.template()
        _ = try running.call(.sendSingle, SingleSendRequest(mobile: SimFixture.mobile(1), templateId: templateId).payload)
        #expect(running.harness.gateway.ledger().first.map { $0.state != .delivered } == true)
    }

    @Test("POST /__sim/balance sets an account's balance")
    func setBalance() throws {
        let running = try Running(harness: SimHarness(balance: 3))
        defer { running.server.stop() }
        let set = try running.control("POST", "/__sim/balance", .object([JSONMember("appId", .string(SimFixture.appId)),
                                                                          JSONMember("balance", .integer(77))]))
        #expect(set.status == 200)
        #expect(set.json?["balance"] == .integer(77))
        #expect(running.harness.gateway.balance(of: SimFixture.appId) == 77)
        let response = try #require(try running.call(.getBalance, []))
        #expect(running.open(response)?["balance"] == .string("77"))
        // As a string of digits, too.
        _ = try running.control("POST", "/__sim/balance", .object([JSONMember("appId", .string(SimFixture.appId)),
                                                                   JSONMember("balance", .string("0"))]))
        #expect(running.harness.gateway.balance(of: SimFixture.appId) == 0)

        let unknown = try running.control("POST", "/__sim/balance", .object([
            JSONMember("appId", .string(SimFixture.unknownAppId)), JSONMember("balance", .integer(1))]))
        #expect(unknown.status == 400)
        #expect(running.harness.gateway.balance(of: SimFixture.unknownAppId) == nil)
        #expect(try running.control("POST", "/__sim/balance", .object([JSONMember("appId", .string(SimFixture.appId))]))
            .status == 400)
        #expect(running.harness.gateway.balance(of: SimFixture.appId) == 0)
    }

    // MARK: Load and shutdown

    @Test("20 concurrent clients x 20 sends: all succeed, fmsIds unique, 400 in the ledger")
    func concurrentClients() throws {
        let running = try Running(harness: SimHarness(balance: 1000))
        defer { running.server.stop() }
        let templateId = running.harness.template()
        let outcomes = Mutex<[String]>([])
        let failures = Mutex<[String]>([])
        let group = DispatchGroup()
        for client in 0..<20 {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                for index in 0..<20 {
                    let mode: InterfaceMode = (client + index).isMultiple(of: 2) ? .secure : .normal
                    let gzip = mode == .secure && index.isMultiple(of: 3)
                    do {
                        let payload = SingleSendRequest(mobile: SimFixture.mobile(client * 100 + index), templateId: templateId,
                                                        customFmsId: "\(client)-\(index)").payload
                        guard let response = try running.call(.sendSingle, mode: mode, payload, gzip: gzip),
                              response.header("result") == "SUCCESS",
                              let fmsId = running.open(response, mode: mode, gzip: gzip)?["fmsId"]?.lenientString else {
                            failures.withLock { $0.append("\(client)-\(index): no success") }
                            continue
                        }
                        outcomes.withLock { $0.append(fmsId) }
                    } catch {
                        failures.withLock { $0.append("\(client)-\(index): \(error)") }
                    }
                }
            }
            thread.start()
        }
        // Generous: it only bounds a hang; a healthy run takes well under a second.
        #expect(group.wait(timeout: .now() + 120) == .success)
        let ids = outcomes.withLock { $0 }
        #expect(failures.withLock { $0 } == [])
        #expect(ids.count == 400)
        #expect(Set(ids).count == 400)
        let ledger = running.harness.gateway.ledger()
        #expect(ledger.count == 400)
        #expect(Set(ledger.map(\.fmsId)) == Set(ids))
        #expect(Set(ledger.compactMap(\.customFmsId)).count == 400)
        #expect(try running.ledgerCount() == 400)
        #expect(running.harness.gateway.balance(of: SimFixture.appId) == 600)
    }

    @Test("stop() returns, is idempotent, and the port stops answering")
    func stop() throws {
        let running = try Running()
        let port = running.port
        #expect(port > 0)
        #expect(running.server.baseURL == "http://127.0.0.1:\(port)")
        #expect(try running.call(.getBalance, [])?.header("result") == "SUCCESS")
        // An idle keep-alive connection must not hold stop() up.
        let idle = try SimHTTP.connect(port: port)
        defer { close(idle) }
        running.server.stop()
        running.server.stop()
        #expect(throws: SimSocketError.self) { try SimHTTP.send(port: port, path: "/fms/secure/getBalance") }
    }

    @Test("a stopped server cannot be started again")
    func restartRefused() throws {
        let running = try Running()
        running.server.stop()
        #expect(throws: (any Error).self) { try running.server.start() }
    }
}
