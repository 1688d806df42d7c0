import Foundation
import Testing
@testable import FMSClient
import FMSProtocol
import FMSSimulator

/// Validation before sending, typed errors, retryability and batch splitting.
@Suite("Client errors and batching")
struct ClientErrorTests {
    let clock = ManualClock()

    /// A transport that fails the test if anything is sent.
    static let mustNotSend = ScriptedTransport { request throws(TransportError) in
        Issue.record("nothing should be sent, but \(request.url.path) was")
        return TransportResponse(status: 500, headers: [], body: [])
    }

    @Test("arguments are refused before any byte is sent", arguments: [
        ("12345", "T1", nil as String?, "mobile"),
        ("", "T1", nil, "mobile"),
        ("1380013800a", "T1", nil, "mobile"),
        ("13800138000", "  ", nil, "templateId"),
        ("13800138000", "T1", String(repeating: "x", count: 33), "customFmsId"),
    ])
    func singleValidation(mobile: String, template: String, custom: String?, field: String) async throws {
        let client = try Fixture.client(Self.mustNotSend, clock: clock)
        await #expect {
            _ = try await client.sendSingle(mobile: mobile, templateId: template, customFmsId: custom)
        } throws: { error in
            guard case .invalidArgument(let badField, _, _) = error as? FMSClientError else { return false }
            return badField == field && !(error as? FMSClientError)!.isRetryable
        }
    }

    @Test("a 32-character customFmsId (Chinese counts one each) is fine; 33 is not")
    func customIdLength() async throws {
        let clock = ManualClock()
        let gateway = Fixture.gateway(clock: clock)
        let client = try Fixture.client(GatewayTransport(gateway: gateway), clock: clock)
        let template = try await client.reportTemplate("t")
        let ok = try await client.sendSingle(mobile: "13800138000", templateId: template.templateId,
                                             customFmsId: String(repeating: "告", count: 32))
        #expect(ok.customFmsId?.count == 32)
        await #expect(throws: FMSClientError.self) {
            _ = try await client.sendSingle(mobile: "13800138000", templateId: template.templateId,
                                            customFmsId: String(repeating: "告", count: 33))
        }
    }

    @Test("template text limits are checked locally", arguments: [
        ("", "empty"), (String(repeating: "字", count: 71), "71 characters"),
        ("{a}{b}{c}{d}", "4 variables"), ("{a} and ${a}", "appears twice"),
    ])
    func templateValidation(text: String, reason: String) async throws {
        let client = try Fixture.client(Self.mustNotSend, clock: clock)
        do {
            _ = try await client.reportTemplate(text)
            Issue.record("expected a refusal")
        } catch {
            guard case .invalidArgument(_, _, let why) = error else { Issue.record("wrong error \(error)"); return }
            #expect(why.contains(reason))
        }
    }

    @Test("a batch entry's error names its position")
    func batchValidationNamesPosition() async throws {
        let client = try Fixture.client(Self.mustNotSend, clock: clock)
        let entries = [BatchEntry(mobile: "13800138000"), BatchEntry(mobile: "13800138001"), BatchEntry(mobile: "999")]
        do {
            _ = try await client.sendBatch(templateId: "T", entries: entries)
            Issue.record("expected a refusal")
        } catch {
            guard case .invalidArgument(let field, let value, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(field == "messages[3].mobile")
            #expect(value == "999")
        }
        await #expect(throws: FMSClientError.self) { _ = try await client.sendBatch(templateId: "T", entries: []) }
    }

    @Test("batches of any size go out in requests of ≤ 300 and come back in order", arguments: [1, 299, 300, 301, 901])
    func batchSplitting(count: Int) async throws {
        let clock = ManualClock()
        let gateway = Fixture.gateway(clock: clock, balance: 10_000)
        let transport = GatewayTransport(gateway: gateway)
        let client = try Fixture.client(transport, clock: clock)
        let template = try await client.reportTemplate("n={n}")
        let entries = (0..<count).map { BatchEntry(mobile: String(13_800_000_000 + $0), customFmsId: "m\($0)", content: ["n": "\($0)"]) }
        let sent = try await client.sendBatch(templateId: template.templateId, entries: entries)
        #expect(sent.map(\.customFmsId) == entries.map(\.customFmsId))
        #expect(sent.map(\.mobile) == entries.map(\.mobile))
        let batchRequests = transport.log.withLock { $0.filter { $0 == Endpoint.sendBatch.rawValue }.count }
        #expect(batchRequests == (count + 299) / 300)
        #expect(gateway.ledger().count == count)
        #expect(Set(gateway.ledger().map { $0.content["n"] ?? "" }).count == count)
    }

    @Test("a failed chunk is reported with what was accepted")
    func partialBatch() async throws {
        let clock = ManualClock()
        let gateway = Fixture.gateway(clock: clock, balance: 10_000)
        let inner = GatewayTransport(gateway: gateway)
        let template = try await Fixture.client(inner, clock: clock).reportTemplate("x")
        // The second chunk (entries 300..<600) hits a 503.
        let flaky = ScriptedTransport { request throws(TransportError) in
            if let json = try? JSONParser.parse(SecureEnvelope.open(request.body, key: Fixture.key, gzip: true)),
               json["fmses"]?.arrayElements?.first?["customFmsId"]?.lenientString == "m300" {
                return TransportResponse(status: 503, headers: [], body: [])
            }
            let answer = gateway.handle(mode: .secure, endpoint: .sendBatch, header: { name in
                request.headers.first { $0.name.lowercased() == name.lowercased() }?.value
            }, body: request.body, clientIP: "127.0.0.1")
            return TransportResponse(status: 200, headers: [("result", answer.result.name)], body: answer.body)
        }
        let client = try Fixture.client(flaky, clock: clock)
        let entries = (0..<700).map { BatchEntry(mobile: String(13_800_000_000 + $0), customFmsId: "m\($0)") }
        do {
            _ = try await client.sendBatch(templateId: template.templateId, entries: entries)
            Issue.record("expected batchIncomplete")
        } catch {
            guard case .batchIncomplete(let failure) = error else { Issue.record("wrong error \(error)"); return }
            #expect(failure.acceptedCount == 400)
            #expect(failure.failures.map(\.range) == [300..<600])
            #expect(failure.results[299]?.customFmsId == "m299")
            #expect(failure.results[300] == nil)
            #expect(failure.results[600]?.customFmsId == "m600")
            #expect(error.isRetryable, "a 503 can be retried")
            #expect(gateway.ledger().count == 400)
        }
    }

    @Test("gateway codes come back typed, with retryability", arguments: [
        ("wrong-app", false, ResultCode.appId, false),
        (Fixture.appId, true, ResultCode.clientIP, false),
    ])
    func gatewayCodes(appId: String, restrictIP: Bool, expected: ResultCode, retryable: Bool) async throws {
        let clock = ManualClock()
        let gateway = Fixture.gateway(clock: clock, allowedIPs: restrictIP ? ["10.0.0.1"] : nil)
        let client = try Fixture.client(GatewayTransport(gateway: gateway), clock: clock, appId: appId)
        do {
            _ = try await client.balance()
            Issue.record("expected \(expected)")
        } catch {
            #expect(error.resultCode == expected)
            #expect(error.isRetryable == retryable)
            #expect(error.description.contains(expected.name))
        }
    }

    @Test("the rate limit answers ERROR_OVER_SPEED, which is retryable")
    func overSpeed() async throws {
        let clock = ManualClock()
        let gateway = Fixture.gateway(clock: clock, rateLimits: GatewayConfiguration.vendorRateLimits)
        let client = try Fixture.client(GatewayTransport(gateway: gateway), clock: clock)
        _ = try await client.reportTemplate("a")
        do {
            _ = try await client.reportTemplate("b")
            Issue.record("expected ERROR_OVER_SPEED")
        } catch {
            #expect(error.resultCode == .overSpeed)
            #expect(error.isRetryable)
        }
        clock.advance(1)
        _ = try await client.reportTemplate("b")
    }

    @Test("a client clock far behind gets ERROR_REQUESTTIME_TIMEOUT")
    func expiredRequest() async throws {
        let clock = ManualClock()
        let gateway = Fixture.gateway(clock: clock)
        var configuration = FMSClientConfiguration(baseURL: Fixture.url, appId: Fixture.appId, secretKey: Fixture.key)
        configuration.clock = { clock.milliseconds - 61_000 }
        let client = try FMSClient(configuration: configuration, transport: GatewayTransport(gateway: gateway))
        await #expect { _ = try await client.balance() } throws: { ($0 as? FMSClientError)?.resultCode == .requestTimeTimeout }
    }

    @Test("a wrong secret key: the gateway cannot decrypt (ERROR_PARAMS), not retryable")
    func wrongKey() async throws {
        let clock = ManualClock()
        let gateway = Fixture.gateway(clock: clock)
        let client = try Fixture.client(GatewayTransport(gateway: gateway), clock: clock, key: try SecretKey("fedcba9876543210"))
        do {
            _ = try await client.balance()
            Issue.record("expected ERROR_PARAMS")
        } catch {
            #expect(error.resultCode == .params)
            #expect(!error.isRetryable)
        }
    }

    @Test("an answer we cannot decrypt says to check the key")
    func undecryptableAnswer() async throws {
        let garbage = ScriptedTransport { _ throws(TransportError) in
            TransportResponse(status: 200, headers: [("Result", "SUCCESS")], body: Array(repeating: 7, count: 32))
        }
        let client = try Fixture.client(garbage, clock: clock)
        do {
            _ = try await client.balance()
            Issue.record("expected undecryptable")
        } catch {
            guard case .undecryptable = error else { Issue.record("wrong error \(error)"); return }
            #expect(error.description.contains("check the secret key"))
            #expect(!error.description.contains(Fixture.keyText))
        }
    }

    @Test("malformed JSON carries an excerpt")
    func malformedJSON() async throws {
        let garbage = ScriptedTransport { _ throws(TransportError) in
            TransportResponse(status: 200, headers: [("result", "SUCCESS")], body: Array("<html>oops</html>".utf8))
        }
        let client = try Fixture.client(garbage, clock: clock, mode: .normal)
        do {
            _ = try await client.balance()
            Issue.record("expected malformedResponse")
        } catch {
            guard case .malformedResponse(_, _, let excerpt) = error else { Issue.record("wrong error \(error)"); return }
            #expect(excerpt.contains("<html>oops"))
        }
    }

    @Test("HTTP status, missing result header, unknown codes", arguments: [
        (503, "SUCCESS", true), (404, "SUCCESS", false), (200, "ERROR_SOMETHING_NEW", false),
    ])
    func statusAndCodes(status: Int, result: String, retryable: Bool) async throws {
        let transport = ScriptedTransport { _ throws(TransportError) in
            TransportResponse(status: status, headers: [("result", result)], body: [])
        }
        let client = try Fixture.client(transport, clock: clock)
        do {
            _ = try await client.balance()
            Issue.record("expected a failure")
        } catch {
            #expect(error.isRetryable == retryable)
            if status == 200 {
                #expect(error.resultCode == .unknown("ERROR_SOMETHING_NEW"))
                #expect(error.description.contains("ERROR_SOMETHING_NEW"))
            }
        }
    }

    @Test("a refused connection is a retryable transport error")
    func connectionRefused() async throws {
        // Port 9 (discard) is closed on loopback in the test environment.
        var configuration = FMSClientConfiguration(baseURL: URL(string: "http://127.0.0.1:9")!, appId: Fixture.appId,
                                                   secretKey: Fixture.key, timeout: 5)
        configuration.clock = { Int64(Date().timeIntervalSince1970 * 1000) }
        let client = try FMSClient(configuration: configuration)
        do {
            _ = try await client.balance()
            Issue.record("expected a transport error")
        } catch {
            guard case .transport = error else { Issue.record("wrong error \(error)"); return }
            #expect(error.isRetryable)
        }
    }

    @Test("configuration errors are caught at construction")
    func configuration() throws {
        #expect(throws: FMSClientError.self) {
            _ = try FMSClient(configuration: FMSClientConfiguration(baseURL: Fixture.url, appId: Fixture.appId, secretKey: nil))
        }
        #expect(throws: FMSClientError.self) {
            _ = try FMSClient(configuration: FMSClientConfiguration(baseURL: URL(string: "ftp://x")!, appId: "a", secretKey: Fixture.key))
        }
        #expect(throws: FMSClientError.self) {
            _ = try FMSClient(configuration: FMSClientConfiguration(baseURL: Fixture.url, appId: " ", secretKey: Fixture.key))
        }
        _ = try FMSClient(configuration: FMSClientConfiguration(baseURL: Fixture.url, appId: "a", secretKey: nil, mode: .normal))
    }

    @Test("variable values of other types become wire text")
    func variableValues() {
        let converted = VariableValue.variables(["a": .integer(42), "b": .number(2.0), "c": .number(2.5), "d": .flag(true), "e": .text("x")])
        #expect(converted == ["a": "42", "b": "2", "c": "2.5", "d": "true", "e": "x"])
    }
}
