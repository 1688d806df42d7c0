import Foundation
import Synchronization
import FMSProtocol
import FMSSimulator

// Helpers of the gateway and simulator-server tests. Names carry a `Sim` prefix so they
// cannot clash with helpers of other test files in this target.

/// A clock tests move by hand, in seconds since 1970.
final class SimClock: Sendable {
    private let now: Mutex<Double>

    /// 2025-11-24 16:00:00 UTC, which is midnight 2025-11-25 in Beijing.
    static let start: Double = 1_764_000_000

    init(_ start: Double = SimClock.start) { now = Mutex(start) }

    var seconds: Double { now.withLock { $0 } }
    var milliseconds: Int64 { Int64((seconds * 1000).rounded()) }

    func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
    func set(_ seconds: Double) { now.withLock { $0 = seconds } }
}

enum SimFixture {
    static let appId = "EUCP-SIM-TEST-0001"
    static let otherAppId = "EUCP-SIM-TEST-0002"
    static let disabledAppId = "EUCP-SIM-DISABLED"
    static let restrictedAppId = "EUCP-SIM-RESTRICTED"
    static let allowedIP = "10.0.0.7"
    static let unknownAppId = "EUCP-NOBODY"

    static let key = makeKey("0123456789abcdef")
    static let otherKey = makeKey("fedcba9876543210fedcba98")
    static let wrongKey = makeKey("ZZZZZZZZZZZZZZZZ")

    static func makeKey(_ text: String) -> SecretKey {
        do { return try SecretKey(text) } catch { fatalError("fixture key: \(error)") }
    }

    static func key(for appId: String?) -> SecretKey {
        appId == otherAppId ? otherKey : key
    }

    static func accounts(balance: Int64) -> [SimulatorAccount] {
        [
            SimulatorAccount(appId: appId, secretKey: key, balance: balance),
            SimulatorAccount(appId: otherAppId, secretKey: otherKey, balance: balance),
            SimulatorAccount(appId: disabledAppId, secretKey: key, balance: balance, enabled: false),
            SimulatorAccount(appId: restrictedAppId, secretKey: key, balance: balance, allowedIPs: [allowedIP]),
        ]
    }

    /// A valid mainland mobile, distinct per index.
    static func mobile(_ index: Int) -> String {
        let digits = String(index)
        return "138" + String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// `count` Chinese characters (one UTF-16 unit each).
    static func chinese(_ count: Int) -> String { String(repeating: "闪", count: count) }
}

/// The `requestTime` of a hand-built request.
enum SimTime: Sendable {
    /// The manual clock's current millisecond.
    case now
    /// Left out of the JSON.
    case missing
    /// This value.
    case value(Int64)
}

/// What the gateway answered, with the body opened.
struct SimReply {
    var result: ResultCode
    /// The raw body (sealed on the secure interface).
    var body: [UInt8]
    /// The opened JSON (nil when the body is empty).
    var json: JSONValue?
}

/// A gateway on a manual clock plus helpers to send it hand-built requests.
struct SimHarness {
    let clock: SimClock
    let gateway: Gateway

    init(balance: Int64 = 1_000_000, dialect: GatewayDialect = .document, rateLimits: [Endpoint: Int] = [:],
         failureShare: Double = 0, failing: [String: ReportState] = [:], reviewDelay: Double = 5,
         reportDelay: Double = 2, keepsLedger: Bool = true) {
        let configuration = GatewayConfiguration(
            accounts: SimFixture.accounts(balance: balance), reviewDelay: reviewDelay, reportDelay: reportDelay,
            failureShare: failureShare, failingMobiles: failing, rateLimits: rateLimits, dialect: dialect,
            seed: 42, keepsLedger: keepsLedger)
        self.init(configuration: configuration)
    }

    init(configuration: GatewayConfiguration, clock: SimClock = SimClock()) {
        self.clock = clock
        gateway = Gateway(configuration: configuration, clock: { clock.seconds })
    }

    /// A valid payload for `endpoint` (sends use `templateId`).
    static func validPayload(_ endpoint: Endpoint, templateId: String) -> [JSONMember] {
        switch endpoint {
        case .templateReport:
            return [JSONMember("templateInfo", .string("您的验证码是{code}"))]
        case .queryTemplate:
            return [JSONMember("templateId", .string(templateId))]
        case .sendSingle:
            return SingleSendRequest(mobile: SimFixture.mobile(1), templateId: templateId, content: ["code": "1234"],
                                     customFmsId: "single-1").payload
        case .sendBatch:
            return BatchSendRequest(templateId: templateId, entries: [
                BatchEntry(mobile: SimFixture.mobile(2), customFmsId: "batch-1", content: ["code": "1"]),
                BatchEntry(mobile: SimFixture.mobile(3), customFmsId: "batch-2", content: ["code": "2"]),
            ]).payload
        case .getReports:
            return [JSONMember("number", .integer(10))]
        case .getBalance:
            return []
        }
    }

    /// The request object: `appId` first on the normal interface, the payload, then the timing
    /// fields (each left out when nil).
    func request(_ payload: [JSONMember], mode: InterfaceMode, appId: String? = SimFixture.appId,
                 requestTime: SimTime = .now, period: Int64? = 60) -> JSONValue {
        let time: Int64? = switch requestTime {
        case .missing: nil
        case .now: clock.milliseconds
        case .value(let value): value
        }
        let jsonAppId = mode == .normal ? appId : nil
        if let time, let period {
            return RequestEnvelope(appId: jsonAppId, requestTime: time, requestValidPeriod: period).wrap(payload)
        }
        var members: [JSONMember] = []
        if let jsonAppId { members.append(JSONMember("appId", .string(jsonAppId))) }
        members += payload
        if let time { members.append(JSONMember("requestTime", .integer(time))) }
        if let period { members.append(JSONMember("requestValidPeriod", .integer(period))) }
        return .object(members)
    }

    /// Encodes `json` as the interface expects: sealed (optionally gzipped) or plain.
    func encode(_ json: JSONValue, mode: InterfaceMode, appId: String? = SimFixture.appId, gzip: Bool = false) -> [UInt8] {
        switch mode {
        case .normal:
            return JSONWriter.bytes(of: json)
        case .secure:
            do {
                return try SecureEnvelope.seal(json, key: SimFixture.key(for: appId), gzip: gzip)
            } catch {
                fatalError("seal: \(error)")
            }
        }
    }

    /// Sends raw bytes with the given headers.
    func raw(_ endpoint: Endpoint, mode: InterfaceMode, headers: [String: String], body: [UInt8],
             clientIP: String = "127.0.0.1") -> GatewayAnswer {
        gateway.handle(mode: mode, endpoint: endpoint, header: { name in
            headers.first { $0.key.lowercased() == name.lowercased() }?.value
        }, body: body, clientIP: clientIP)
    }

    /// The secure interface's headers.
    static func headers(mode: InterfaceMode, appId: String?, gzip: Bool) -> [String: String] {
        var headers: [String: String] = [:]
        if mode == .secure {
            if let appId { headers[ProtocolHeader.appId] = appId }
            if gzip { headers[ProtocolHeader.gzip] = "on" }
        }
        return headers
    }

    /// Sends a request object and opens the answer.
    func call(_ endpoint: Endpoint, mode: InterfaceMode = .secure, json: JSONValue, appId: String? = SimFixture.appId,
              gzip: Bool = false, extraHeaders: [String: String] = [:], clientIP: String = "127.0.0.1") -> SimReply {
        var headers = Self.headers(mode: mode, appId: appId, gzip: gzip)
        headers.merge(extraHeaders) { _, new in new }
        let answer = raw(endpoint, mode: mode, headers: headers, body: encode(json, mode: mode, appId: appId, gzip: gzip),
                         clientIP: clientIP)
        return open(answer, mode: mode, appId: appId, gzip: gzip)
    }

    /// Sends a payload wrapped in a fresh, valid envelope.
    func call(_ endpoint: Endpoint, mode: InterfaceMode = .secure, _ payload: [JSONMember],
              appId: String? = SimFixture.appId, gzip: Bool = false, clientIP: String = "127.0.0.1") -> SimReply {
        call(endpoint, mode: mode, json: request(payload, mode: mode, appId: appId), appId: appId, gzip: gzip,
             clientIP: clientIP)
    }

    /// Opens an answer's body (empty body: no JSON).
    func open(_ answer: GatewayAnswer, mode: InterfaceMode, appId: String?, gzip: Bool) -> SimReply {
        guard !answer.body.isEmpty else { return SimReply(result: answer.result, body: [], json: nil) }
        let json: JSONValue?
        switch mode {
        case .secure: json = try? SecureEnvelope.openJSON(answer.body, key: SimFixture.key(for: appId), gzip: gzip)
        case .normal: json = try? JSONParser.parse(answer.body)
        }
        return SimReply(result: answer.result, body: answer.body, json: json)
    }

    // MARK: Shortcuts

    /// Registers a template and returns its id (fails the caller's expectations with "" otherwise).
    func template(_ text: String = "您的验证码是{code}，{name}请勿泄露", appId: String = SimFixture.appId,
                  mode: InterfaceMode = .secure) -> String {
        // The restricted account only answers its allowed address.
        let clientIP = appId == SimFixture.restrictedAppId ? SimFixture.allowedIP : "127.0.0.1"
        let reply = call(.templateReport, mode: mode, [JSONMember("templateInfo", .string(text))], appId: appId,
                         clientIP: clientIP)
        return reply.json?["templateId"]?.lenientString ?? ""
    }

    func sendSingle(templateId: String, mobile: String, content: JSONValue = .object([]), customFmsId: String? = nil,
                    mode: InterfaceMode = .secure, appId: String = SimFixture.appId) -> SimReply {
        var payload = [JSONMember("mobile", .string(mobile)), JSONMember("templateId", .string(templateId)),
                       JSONMember("content", content)]
        if let customFmsId { payload.append(JSONMember("customFmsId", .string(customFmsId))) }
        return call(.sendSingle, mode: mode, payload, appId: appId)
    }

    func sendBatch(templateId: String, entries: [BatchEntry], mode: InterfaceMode = .secure,
                   appId: String = SimFixture.appId) -> SimReply {
        call(.sendBatch, mode: mode, BatchSendRequest(templateId: templateId, entries: entries).payload, appId: appId)
    }

    func reports(number: Int64? = nil, mode: InterfaceMode = .secure, appId: String = SimFixture.appId) -> [JSONValue]? {
        let payload = number.map { [JSONMember("number", .integer($0))] } ?? []
        let reply = call(.getReports, mode: mode, payload, appId: appId)
        return reply.json?.arrayElements
    }

    func balanceReply(mode: InterfaceMode = .secure, appId: String = SimFixture.appId) -> SimReply {
        call(.getBalance, mode: mode, [], appId: appId)
    }
}

extension JSONValue {
    /// The `state` of a report, trimmed.
    var simState: String? { self["state"]?.lenientString }
}
