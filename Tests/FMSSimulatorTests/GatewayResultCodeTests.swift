import Foundation
import Testing
import FMSProtocol
import FMSSimulator

/// Every `result` code the simulated gateway emits, from requests built by hand (no client-side
/// validation in the way), and the order in which the vendor's checks apply.
@Suite("Gateway result codes")
struct GatewayResultCodeTests {
    static let nowMs: Int64 = Int64(SimClock.start) * 1000

    // MARK: Valid requests (the control group)

    @Test("a valid request to every endpoint succeeds on both interfaces, with and without gzip",
          arguments: InterfaceMode.allCases, Endpoint.allCases)
    func validRequestSucceeds(mode: InterfaceMode, endpoint: Endpoint) throws {
        for gzip in mode == .secure ? [false, true] : [false] {
            let harness = SimHarness()
            let templateId = harness.template()
            try #require(!templateId.isEmpty)
            let reply = harness.call(endpoint, mode: mode, SimHarness.validPayload(endpoint, templateId: templateId),
                                     gzip: gzip)
            #expect(reply.result == .success, "gzip \(gzip)")
            #expect(!reply.body.isEmpty)
            #expect(reply.json != nil, "the body opens with gzip \(gzip)")
        }
    }

    // MARK: ERROR_APPID

    enum AppIdProblem: String, CaseIterable, Sendable {
        case missing, empty, blank, unknown, disabled

        var appId: String? {
            switch self {
            case .missing: nil
            case .empty: ""
            case .blank: "   "
            case .unknown: SimFixture.unknownAppId
            case .disabled: SimFixture.disabledAppId
            }
        }
    }

    @Test("a missing, unknown or disabled appId is ERROR_APPID on every endpoint",
          arguments: InterfaceMode.allCases, AppIdProblem.allCases)
    func appIdRefused(mode: InterfaceMode, problem: AppIdProblem) {
        let harness = SimHarness()
        let templateId = harness.template()
        let ledgerBefore = harness.gateway.ledger().count
        for endpoint in Endpoint.allCases {
            let json = harness.request(SimHarness.validPayload(endpoint, templateId: templateId), mode: mode,
                                       appId: problem.appId)
            let reply = harness.call(endpoint, mode: mode, json: json, appId: problem.appId)
            #expect(reply.result == .appId, "\(endpoint)")
            #expect(reply.body.isEmpty, "no body on failure (\(endpoint))")
        }
        #expect(harness.gateway.ledger().count == ledgerBefore)
        #expect(harness.gateway.balance(of: SimFixture.disabledAppId) == 1_000_000)
    }

    @Test("the normal interface reads appId from the JSON, not from a header")
    func normalIgnoresAppIdHeader() {
        let harness = SimHarness()
        let json = harness.request([], mode: .normal, appId: nil)
        let reply = harness.call(.getBalance, mode: .normal, json: json, appId: nil,
                                 extraHeaders: [ProtocolHeader.appId: SimFixture.appId])
        #expect(reply.result == .appId)
    }

    @Test("appId given as a JSON number on the normal interface is read as text")
    func normalNumericAppId() throws {
        let configuration = GatewayConfiguration(accounts: [SimulatorAccount(appId: "12345", secretKey: SimFixture.key,
                                                                             balance: 9)], rateLimits: [:])
        let harness = SimHarness(configuration: configuration)
        let json = JSONValue.object([JSONMember("appId", .integer(12345))] + (harness.request([], mode: .secure)
            .objectMembers ?? []))
        let reply = harness.call(.getBalance, mode: .normal, json: json, appId: nil)
        #expect(reply.result == .success)
        #expect(reply.json?["balance"]?.lenientInteger == 9)
    }

    // MARK: ERROR_OVER_SPEED

    @Test("vendor default rate limits: one more request than allowed in the same second is ERROR_OVER_SPEED",
          arguments: InterfaceMode.allCases, [(Endpoint.templateReport, 1), (.getReports, 10), (.getBalance, 10)])
    func overSpeed(mode: InterfaceMode, limit: (endpoint: Endpoint, perSecond: Int)) {
        // The default configuration carries the vendor's limits.
        let harness = SimHarness(configuration: GatewayConfiguration(accounts: SimFixture.accounts(balance: 100)))
        harness.clock.advance(0.25)
        #expect(harness.gateway.configuration.rateLimits == GatewayConfiguration.vendorRateLimits)
        for index in 1...limit.perSecond {
            let payload = limit.endpoint == .templateReport
                ? [JSONMember("templateInfo", .string("模板\(index){a}"))]
                : SimHarness.validPayload(limit.endpoint, templateId: "")
            let reply = harness.call(limit.endpoint, mode: mode, payload)
            #expect(reply.result == .success, "request \(index) of \(limit.perSecond)")
        }
        let payload = limit.endpoint == .templateReport
            ? [JSONMember("templateInfo", .string("又一个模板{a}"))]
            : SimHarness.validPayload(limit.endpoint, templateId: "")
        let refused = harness.call(limit.endpoint, mode: mode, payload)
        #expect(refused.result == .overSpeed)
        #expect(refused.body.isEmpty)
        // Per account: another account is not limited by the first one's traffic.
        let other = harness.call(limit.endpoint, mode: mode, payload, appId: SimFixture.otherAppId)
        #expect(other.result == .success)
        // Still the same second (0.25 + 0.7): still refused.
        harness.clock.advance(0.7)
        #expect(harness.call(limit.endpoint, mode: mode, payload).result == .overSpeed)
        // The next second opens a new window.
        harness.clock.advance(0.1)
        #expect(harness.call(limit.endpoint, mode: mode, payload).result == .success)
    }

    @Test("vendor defaults: sends and template queries are not rate limited")
    func sendsUnlimited() {
        let harness = SimHarness(configuration: GatewayConfiguration(accounts: SimFixture.accounts(balance: 1000)))
        let templateId = harness.template()
        for index in 0..<60 {
            #expect(harness.sendSingle(templateId: templateId, mobile: SimFixture.mobile(index)).result == .success)
            #expect(harness.call(.queryTemplate, [JSONMember("templateId", .string(templateId))]).result == .success)
        }
        #expect(harness.sendBatch(templateId: templateId, entries: [BatchEntry(mobile: SimFixture.mobile(1))]).result
            == .success)
        #expect(harness.gateway.ledger().count == 61)
    }

    @Test("custom rate limits apply to the endpoints listed")
    func customRateLimit() {
        let harness = SimHarness(rateLimits: [.sendSingle: 3])
        let templateId = harness.template()
        let results = (0..<5).map { harness.sendSingle(templateId: templateId, mobile: SimFixture.mobile($0)).result }
        #expect(results == [.success, .success, .success, .overSpeed, .overSpeed])
        #expect(harness.gateway.ledger().count == 3)
    }

    // MARK: ERROR_CLIENT_IP

    @Test("a client IP outside the account's allowlist is ERROR_CLIENT_IP on every endpoint",
          arguments: InterfaceMode.allCases, Endpoint.allCases)
    func clientIP(mode: InterfaceMode, endpoint: Endpoint) {
        let harness = SimHarness()
        let templateId = harness.template(appId: SimFixture.restrictedAppId)
        let payload = SimHarness.validPayload(endpoint, templateId: templateId)
        let refused = harness.call(endpoint, mode: mode, payload, appId: SimFixture.restrictedAppId, clientIP: "10.0.0.8")
        #expect(refused.result == .clientIP)
        #expect(refused.body.isEmpty)
        let allowed = harness.call(endpoint, mode: mode, payload, appId: SimFixture.restrictedAppId,
                                   clientIP: SimFixture.allowedIP)
        #expect(allowed.result == .success)
        // Accounts without an allowlist accept any address.
        let open = harness.template(appId: SimFixture.appId)
        let anywhere = harness.call(endpoint, mode: mode, SimHarness.validPayload(endpoint, templateId: open),
                                    clientIP: "203.0.113.9")
        #expect(anywhere.result == .success)
    }

    // MARK: ERROR_PARAMS

    enum SecureBodyProblem: String, CaseIterable, Sendable {
        case garbage, emptyBody, wrongKey, gzipHeaderOnPlainBody, gzipBodyWithoutHeader, truncatedByteTail,
             truncatedBlock, jsonArray, jsonString, notJSON, charsetGBK, gzipHeaderOnGarbage
    }

    @Test("a body that does not decrypt, inflate or parse to a JSON object is ERROR_PARAMS (secure)",
          arguments: SecureBodyProblem.allCases, Endpoint.allCases)
    func secureParams(problem: SecureBodyProblem, endpoint: Endpoint) throws {
        let harness = SimHarness()
        let templateId = harness.template()
        let json = harness.request(SimHarness.validPayload(endpoint, templateId: templateId), mode: .secure)
        let key = SimFixture.key
        var headers: [String: String] = [ProtocolHeader.appId: SimFixture.appId]
        let body: [UInt8]
        switch problem {
        case .garbage:
            body = (0..<37).map { UInt8(truncatingIfNeeded: $0 &* 73 &+ 11) }
        case .emptyBody:
            body = []
        case .wrongKey:
            body = try SecureEnvelope.seal(json, key: SimFixture.wrongKey, gzip: false)
        case .gzipHeaderOnPlainBody:
            headers[ProtocolHeader.gzip] = "on"
            body = try SecureEnvelope.seal(json, key: key, gzip: false)
        case .gzipBodyWithoutHeader:
            body = try SecureEnvelope.seal(json, key: key, gzip: true)
        case .truncatedByteTail:
            body = Array(try SecureEnvelope.seal(json, key: key, gzip: false).dropLast(3))
        case .truncatedBlock:
            let sealed = try SecureEnvelope.seal(json, key: key, gzip: false)
            try #require(sealed.count >= 32)
            body = Array(sealed.dropLast(16))
        case .jsonArray:
            body = try SecureEnvelope.seal(.array([json]), key: key, gzip: false)
        case .jsonString:
            body = try SecureEnvelope.seal(.string("hello"), key: key, gzip: false)
        case .notJSON:
            body = try SecureEnvelope.seal(Array("requestTime=1&requestValidPeriod=60".utf8), key: key, gzip: false)
        case .charsetGBK:
            headers[ProtocolHeader.encode] = "GBK"
            body = try SecureEnvelope.seal(json, key: key, gzip: false)
        case .gzipHeaderOnGarbage:
            headers[ProtocolHeader.gzip] = "on"
            body = try AESECB.encrypt(Array("not gzip at all".utf8), key: key)
        }
        let balance = harness.gateway.balance(of: SimFixture.appId)
        let answer = harness.raw(endpoint, mode: .secure, headers: headers, body: body)
        #expect(answer.result == .params)
        #expect(answer.body.isEmpty)
        #expect(harness.gateway.ledger().isEmpty)
        #expect(harness.gateway.balance(of: SimFixture.appId) == balance)
    }

    @Test("charset names the gateway accepts", arguments: ["UTF-8", "utf-8", "utf8", " UTF-8 ", ""])
    func utf8Charsets(charset: String) {
        let harness = SimHarness()
        for mode in InterfaceMode.allCases {
            let reply = harness.call(.getBalance, mode: mode, json: harness.request([], mode: mode),
                                     extraHeaders: [ProtocolHeader.encode: charset])
            #expect(reply.result == .success, "\(mode)")
        }
    }

    enum NormalBodyProblem: String, CaseIterable, Sendable {
        case garbage, emptyBody, truncatedJSON, jsonArray, jsonNumber, gzippedJSON, encryptedJSON, charsetGBK
    }

    @Test("a body that is not a JSON object is ERROR_PARAMS (normal)",
          arguments: NormalBodyProblem.allCases, Endpoint.allCases)
    func normalParams(problem: NormalBodyProblem, endpoint: Endpoint) throws {
        let harness = SimHarness()
        let templateId = harness.template()
        let json = harness.request(SimHarness.validPayload(endpoint, templateId: templateId), mode: .normal)
        let plain = JSONWriter.bytes(of: json)
        var headers: [String: String] = [:]
        let body: [UInt8]
        switch problem {
        case .garbage: body = Array("appId=\(SimFixture.appId)&requestTime=1".utf8)
        case .emptyBody: body = []
        case .truncatedJSON: body = Array(plain.dropLast())
        case .jsonArray: body = JSONWriter.bytes(of: .array([json]))
        case .jsonNumber: body = Array("42".utf8)
        case .gzippedJSON: body = try Gzip.compress(plain)
        case .encryptedJSON: body = try SecureEnvelope.seal(plain, key: SimFixture.key, gzip: false)
        case .charsetGBK:
            headers[ProtocolHeader.encode] = "GBK"
            body = plain
        }
        let answer = harness.raw(endpoint, mode: .normal, headers: headers, body: body)
        #expect(answer.result == .params)
        #expect(answer.body.isEmpty)
        #expect(harness.gateway.ledger().isEmpty)
    }

    /// Members whose JSON kind the endpoint cannot use.
    static let wrongKinds: [(endpoint: Endpoint, member: JSONMember)] = [
        (.templateReport, JSONMember("templateInfo", .object([]))),
        (.templateReport, JSONMember("templateInfo", .array([.string("a")]))),
        (.queryTemplate, JSONMember("templateId", .array([]))),
        (.sendSingle, JSONMember("mobile", .array([.string("13800000001")]))),
        (.sendSingle, JSONMember("content", .integer(5))),
        (.sendSingle, JSONMember("content", .string("not json"))),
        (.sendSingle, JSONMember("customFmsId", .object([]))),
        (.sendBatch, JSONMember("fmses", .string("13800000001"))),
        (.sendBatch, JSONMember("fmses", .array([.string("13800000001")]))),
        (.getReports, JSONMember("number", .string("many"))),
        (.getReports, JSONMember("number", .double(1.5))),
    ]

    @Test("a field of the wrong JSON kind is ERROR_PARAMS", arguments: InterfaceMode.allCases, wrongKinds)
    func wrongKind(mode: InterfaceMode, field: (endpoint: Endpoint, member: JSONMember)) {
        let harness = SimHarness()
        let templateId = harness.template()
        var payload = SimHarness.validPayload(field.endpoint, templateId: templateId)
        payload.removeAll { $0.key == field.member.key }
        payload.append(field.member)
        let reply = harness.call(field.endpoint, mode: mode, payload)
        #expect(reply.result == .params)
        #expect(reply.body.isEmpty)
        #expect(harness.gateway.ledger().isEmpty)
    }

    // MARK: Request time

    struct TimeCase: Sendable, CustomTestStringConvertible {
        var label: String
        var requestTime: SimTime
        var period: Int64?
        var expected: ResultCode
        var testDescription: String { label }
    }

    static let timeCases: [TimeCase] = [
        TimeCase(label: "requestTime missing", requestTime: .missing, period: 60, expected: .requestTime),
        TimeCase(label: "requestTime 0", requestTime: .value(0), period: 60, expected: .requestTime),
        TimeCase(label: "both missing: requestTime first", requestTime: .missing, period: nil, expected: .requestTime),
        TimeCase(label: "requestTime 0, period 0: requestTime first", requestTime: .value(0), period: 0,
                 expected: .requestTime),
        TimeCase(label: "period missing", requestTime: .now, period: nil, expected: .requestValidPeriod),
        TimeCase(label: "period 0", requestTime: .now, period: 0, expected: .requestValidPeriod),
        TimeCase(label: "now", requestTime: .now, period: 60, expected: .success),
        TimeCase(label: "exactly at the boundary", requestTime: .value(nowMs - 60_000), period: 60, expected: .success),
        TimeCase(label: "1 ms past the boundary", requestTime: .value(nowMs - 60_001), period: 60,
                 expected: .requestTimeTimeout),
        TimeCase(label: "period 1, boundary", requestTime: .value(nowMs - 1000), period: 1, expected: .success),
        TimeCase(label: "period 1, 1 ms late", requestTime: .value(nowMs - 1001), period: 1, expected: .requestTimeTimeout),
        TimeCase(label: "an hour old", requestTime: .value(nowMs - 3_600_000), period: 60, expected: .requestTimeTimeout),
        TimeCase(label: "seconds instead of milliseconds", requestTime: .value(nowMs / 1000), period: 60,
                 expected: .requestTimeTimeout),
        TimeCase(label: "in the future", requestTime: .value(nowMs + 600_000), period: 60, expected: .success),
    ]

    @Test("requestTime and requestValidPeriod checks", arguments: InterfaceMode.allCases, timeCases)
    func timing(mode: InterfaceMode, timeCase: TimeCase) {
        for endpoint in Endpoint.allCases {
            let harness = SimHarness()
            let templateId = harness.template()
            let json = harness.request(SimHarness.validPayload(endpoint, templateId: templateId), mode: mode,
                                       requestTime: timeCase.requestTime, period: timeCase.period)
            let reply = harness.call(endpoint, mode: mode, json: json)
            #expect(reply.result == timeCase.expected, "\(endpoint)")
            #expect(reply.body.isEmpty == (timeCase.expected != .success), "\(endpoint)")
        }
    }

    @Test("the timing fields may arrive as strings of digits")
    func timingAsStrings() {
        let harness = SimHarness()
        let json = JSONValue.object([JSONMember("requestTime", .string(String(Self.nowMs))),
                                     JSONMember("requestValidPeriod", .string("30"))])
        #expect(harness.call(.getBalance, json: json).result == .success)
    }

    @Test("a request goes stale as the gateway's clock moves on")
    func staleAfterClockMoves() {
        let harness = SimHarness()
        let json = harness.request([], mode: .secure, period: 10)
        harness.clock.advance(10)
        #expect(harness.call(.getBalance, json: json).result == .success)
        harness.clock.advance(0.001)
        #expect(harness.call(.getBalance, json: json).result == .requestTimeTimeout)
    }

    // MARK: Templates

    struct TemplateCase: Sendable, CustomTestStringConvertible {
        var label: String
        var text: String?
        var expected: ResultCode
        var testDescription: String { label }
    }

    static let templateCases: [TemplateCase] = [
        TemplateCase(label: "templateInfo missing", text: nil, expected: .templateEmpty),
        TemplateCase(label: "empty", text: "", expected: .templateEmpty),
        TemplateCase(label: "spaces", text: "   ", expected: .templateEmpty),
        TemplateCase(label: "full-width space", text: "\u{3000}", expected: .templateEmpty),
        TemplateCase(label: "70 Chinese characters", text: SimFixture.chinese(70), expected: .success),
        TemplateCase(label: "71 Chinese characters", text: SimFixture.chinese(71), expected: .templateAboveLength),
        TemplateCase(label: "70 ASCII characters", text: String(repeating: "a", count: 70), expected: .success),
        TemplateCase(label: "71 ASCII characters", text: String(repeating: "a", count: 71), expected: .templateAboveLength),
        TemplateCase(label: "35 emoji = 70 UTF-16 units", text: String(repeating: "😀", count: 35), expected: .success),
        TemplateCase(label: "36 emoji = 72 UTF-16 units", text: String(repeating: "😀", count: 36),
                     expected: .templateAboveLength),
        TemplateCase(label: "66 Chinese + {ab} = 70", text: SimFixture.chinese(66) + "{ab}", expected: .success),
        TemplateCase(label: "3 variables", text: "{a}{b}{c}", expected: .success),
        TemplateCase(label: "3 vendor variables", text: "${a}${b}${c}", expected: .success),
        TemplateCase(label: "4 variables", text: "{a}{b}{c}{d}", expected: .templateVarMore),
        TemplateCase(label: "4 vendor variables", text: "${a}和${b}和${c}和${d}", expected: .templateVarMore),
        TemplateCase(label: "repeated variable", text: "{a}和{a}", expected: .templateVarRepeat),
        TemplateCase(label: "repeated vendor variable", text: "${name}你好${name}", expected: .templateVarRepeat),
        TemplateCase(label: "repeated across styles", text: "{name}与${name}", expected: .templateVarRepeat),
        TemplateCase(label: "repeated after trimming", text: "{a}与{ a }", expected: .templateVarRepeat),
        TemplateCase(label: "length before variable count", text: SimFixture.chinese(60) + "{a}{b}{c}{d}",
                     expected: .templateAboveLength),
        TemplateCase(label: "variable count before repeats", text: "{a}{a}{b}{c}", expected: .templateVarMore),
    ]

    @Test("templateReport checks", arguments: InterfaceMode.allCases, templateCases)
    func templateReport(mode: InterfaceMode, templateCase: TemplateCase) {
        let harness = SimHarness()
        let payload = templateCase.text.map { [JSONMember("templateInfo", .string($0))] } ?? []
        let reply = harness.call(.templateReport, mode: mode, payload)
        #expect(reply.result == templateCase.expected)
        if templateCase.expected == .success {
            #expect(reply.json?["templateId"]?.lenientString?.isEmpty == false)
        } else {
            #expect(reply.body.isEmpty)
        }
    }

    /// How the template id is given: left out, empty or blank.
    static let emptyIds: [String?] = [nil, "", "  "]

    @Test("an empty templateId is ERROR_TEMPLATE_ID_EMPTY (query and both sends)",
          arguments: [Endpoint.queryTemplate, .sendSingle, .sendBatch], emptyIds)
    func templateIdEmpty(endpoint: Endpoint, templateId: String?) {
        for mode in InterfaceMode.allCases {
            let harness = SimHarness()
            _ = harness.template()
            var payload = SimHarness.validPayload(endpoint, templateId: "")
            payload.removeAll { $0.key == "templateId" }
            if let templateId { payload.append(JSONMember("templateId", .string(templateId))) }
            let reply = harness.call(endpoint, mode: mode, payload)
            #expect(reply.result == .templateIdEmpty, "\(mode)")
            #expect(reply.body.isEmpty)
            #expect(harness.gateway.ledger().isEmpty)
        }
    }

    @Test("sending with an unknown templateId, or another account's, is ERROR_TEMPLATE_ID_ERROR",
          arguments: [Endpoint.sendSingle, .sendBatch], GatewayDialect.allCases)
    func templateIdErrorOnSend(endpoint: Endpoint, dialect: GatewayDialect) {
        for mode in InterfaceMode.allCases {
            let harness = SimHarness(dialect: dialect)
            let foreign = harness.template(appId: SimFixture.otherAppId)
            for templateId in ["9999999", foreign] {
                let reply = harness.call(endpoint, mode: mode, SimHarness.validPayload(endpoint, templateId: templateId))
                #expect(reply.result == .templateIdError, "\(mode) \(templateId)")
                #expect(reply.body.isEmpty)
            }
            #expect(harness.gateway.ledger().isEmpty)
        }
    }

    @Test("querying an unknown templateId: ERROR_TEMPLATE_ID_ERROR (vendor) or SUCCESS with -1 (document)",
          arguments: InterfaceMode.allCases)
    func queryUnknownTemplate(mode: InterfaceMode) throws {
        let vendor = SimHarness(dialect: .vendorServer)
        let refused = vendor.call(.queryTemplate, mode: mode, [JSONMember("templateId", .string("123"))])
        #expect(refused.result == .templateIdError)
        #expect(refused.body.isEmpty)

        let document = SimHarness(dialect: .document)
        let reply = document.call(.queryTemplate, mode: mode, [JSONMember("templateId", .string(" 123 "))])
        #expect(reply.result == .success)
        let json = try #require(reply.json)
        #expect(json["templateId"] == .string("123"))
        #expect(json["status"] == .object([JSONMember("cmcc", .integer(-1)), JSONMember("cucc", .integer(-1)),
                                           JSONMember("ctcc", .integer(-1))]))
    }

    // MARK: Mobiles

    struct MobileCase: Sendable, CustomTestStringConvertible {
        var label: String
        var mobile: JSONValue?
        var expected: ResultCode
        var testDescription: String { label }
    }

    static let singleMobiles: [MobileCase] = [
        MobileCase(label: "missing", mobile: nil, expected: .mobileEmpty),
        MobileCase(label: "empty", mobile: .string(""), expected: .mobileEmpty),
        MobileCase(label: "blank", mobile: .string("   "), expected: .mobileEmpty),
        MobileCase(label: "null", mobile: .null, expected: .mobileEmpty),
        MobileCase(label: "10 digits", mobile: .string("1380013800"), expected: .mobileError),
        MobileCase(label: "12 digits", mobile: .string("138001380001"), expected: .mobileError),
        MobileCase(label: "starts with 2", mobile: .string("23800138000"), expected: .mobileError),
        MobileCase(label: "letter", mobile: .string("1380013800a"), expected: .mobileError),
        MobileCase(label: "country code", mobile: .string("+8613800138000"), expected: .mobileError),
        MobileCase(label: "two numbers", mobile: .string("13800138000,13800138001"), expected: .mobileError),
        MobileCase(label: "full-width digits", mobile: .string("１３８００１３８０００"), expected: .mobileError),
        MobileCase(label: "valid", mobile: .string("13800138000"), expected: .success),
        MobileCase(label: "valid with spaces", mobile: .string(" 13800138000 "), expected: .success),
        MobileCase(label: "valid as a JSON number", mobile: .integer(13_800_138_000), expected: .success),
    ]

    @Test("sendSingleFMS mobile checks", arguments: InterfaceMode.allCases, singleMobiles)
    func singleMobile(mode: InterfaceMode, mobileCase: MobileCase) {
        let harness = SimHarness(balance: 10)
        let templateId = harness.template()
        var payload = [JSONMember("templateId", .string(templateId)), JSONMember("content", .object([]))]
        if let mobile = mobileCase.mobile { payload.append(JSONMember("mobile", mobile)) }
        let reply = harness.call(.sendSingle, mode: mode, payload)
        #expect(reply.result == mobileCase.expected)
        let accepted = mobileCase.expected == .success
        #expect(reply.body.isEmpty == !accepted)
        #expect(harness.gateway.ledger().count == (accepted ? 1 : 0))
        #expect(harness.gateway.balance(of: SimFixture.appId) == (accepted ? 9 : 10))
    }

    struct BatchCase: Sendable, CustomTestStringConvertible {
        var label: String
        /// nil leaves `fmses` out.
        var mobiles: [String]?
        var expected: ResultCode
        var testDescription: String { label }
    }

    static let batchCases: [BatchCase] = [
        BatchCase(label: "fmses missing", mobiles: nil, expected: .mobileEmpty),
        BatchCase(label: "fmses empty", mobiles: [], expected: .mobileEmpty),
        BatchCase(label: "one invalid", mobiles: ["123"], expected: .mobileError),
        BatchCase(label: "all invalid", mobiles: ["", "abc", "1380013800", "23800138000"], expected: .mobileError),
        BatchCase(label: "one valid among invalid", mobiles: ["", "abc", "13800138000"], expected: .success),
        BatchCase(label: "300 valid", mobiles: (0..<300).map(SimFixture.mobile), expected: .success),
        BatchCase(label: "301 valid", mobiles: (0..<301).map(SimFixture.mobile), expected: .mobileNumber),
        BatchCase(label: "301, one invalid", mobiles: ["x"] + (0..<300).map(SimFixture.mobile), expected: .mobileNumber),
    ]

    @Test("sendBatchFMS mobile checks", arguments: InterfaceMode.allCases, batchCases)
    func batchMobiles(mode: InterfaceMode, batchCase: BatchCase) throws {
        let harness = SimHarness(balance: 1000)
        let templateId = harness.template()
        var payload = [JSONMember("templateId", .string(templateId))]
        if let mobiles = batchCase.mobiles {
            payload.append(JSONMember("fmses", .array(mobiles.map { BatchEntry(mobile: $0).json })))
        }
        let reply = harness.call(.sendBatch, mode: mode, payload)
        #expect(reply.result == batchCase.expected)
        if batchCase.expected == .success {
            let list = try #require(reply.json?.arrayElements)
            #expect(list.count == batchCase.mobiles?.count)
            #expect(harness.gateway.ledger().count == batchCase.mobiles?.count)
        } else {
            #expect(reply.body.isEmpty)
            #expect(harness.gateway.ledger().isEmpty)
            #expect(harness.gateway.balance(of: SimFixture.appId) == 1000)
        }
    }

    // MARK: customFmsId

    static let customIds: [(custom: String, expected: ResultCode)] = [
        ("", .success),
        (String(repeating: "c", count: 32), .success),
        (String(repeating: "c", count: 33), .customFmsIdTooLong),
        (SimFixture.chinese(32), .success),
        (SimFixture.chinese(33), .customFmsIdTooLong),
        (String(repeating: "😀", count: 16), .success),
        (String(repeating: "😀", count: 17), .customFmsIdTooLong),
    ]

    @Test("customFmsId longer than 32 UTF-16 units is ERROR_CUSTOM_IMSID", arguments: InterfaceMode.allCases, customIds)
    func customFmsId(mode: InterfaceMode, customCase: (custom: String, expected: ResultCode)) throws {
        let harness = SimHarness(balance: 100)
        let templateId = harness.template()
        let single = harness.call(.sendSingle, mode: mode, SingleSendRequest(
            mobile: SimFixture.mobile(1), templateId: templateId, customFmsId: customCase.custom).payload)
        #expect(single.result == customCase.expected, "single")
        // In a batch, one entry too long rejects the whole batch.
        let batch = harness.call(.sendBatch, mode: mode, BatchSendRequest(templateId: templateId, entries: [
            BatchEntry(mobile: SimFixture.mobile(2), customFmsId: "ok"),
            BatchEntry(mobile: SimFixture.mobile(3), customFmsId: customCase.custom),
        ]).payload)
        #expect(batch.result == customCase.expected, "batch")
        let accepted = customCase.expected == .success
        #expect(harness.gateway.ledger().count == (accepted ? 3 : 0))
        #expect(harness.gateway.balance(of: SimFixture.appId) == (accepted ? 97 : 100))
        #expect(single.body.isEmpty == !accepted)
        #expect(batch.body.isEmpty == !accepted)
    }

    // MARK: Order of the checks

    @Test("unknown appId with a garbage body: ERROR_APPID on secure, ERROR_PARAMS on normal (parsed first)")
    func appIdVersusParams() {
        let harness = SimHarness()
        let garbage = Array("{{{ not json".utf8)
        #expect(harness.raw(.getBalance, mode: .secure, headers: [ProtocolHeader.appId: SimFixture.unknownAppId],
                            body: garbage).result == .appId)
        #expect(harness.raw(.getBalance, mode: .secure, headers: [:], body: garbage).result == .appId)
        #expect(harness.raw(.getBalance, mode: .normal, headers: [:], body: garbage).result == .params)
        // A normal body that parses but names an unknown account: ERROR_APPID.
        let json = harness.request([], mode: .normal, appId: SimFixture.unknownAppId, requestTime: .value(0))
        #expect(harness.call(.getBalance, mode: .normal, json: json, appId: SimFixture.unknownAppId).result == .appId)
    }

    @Test("appId comes before rate limit, IP, decryption and time", arguments: InterfaceMode.allCases)
    func appIdFirst(mode: InterfaceMode) {
        let harness = SimHarness(rateLimits: [.getBalance: 1])
        let json = harness.request([], mode: mode, appId: SimFixture.disabledAppId, requestTime: .value(0))
        for _ in 0..<3 {
            #expect(harness.call(.getBalance, mode: mode, json: json, appId: SimFixture.disabledAppId,
                                 clientIP: "192.0.2.1").result == .appId)
        }
    }

    @Test("rate limit comes before the IP check", arguments: InterfaceMode.allCases)
    func rateLimitBeforeIP(mode: InterfaceMode) {
        let harness = SimHarness(rateLimits: GatewayConfiguration.vendorRateLimits)
        let payload = [JSONMember("templateInfo", .string("模板{a}"))]
        let first = harness.call(.templateReport, mode: mode, payload, appId: SimFixture.restrictedAppId,
                                 clientIP: "192.0.2.1")
        let second = harness.call(.templateReport, mode: mode, payload, appId: SimFixture.restrictedAppId,
                                  clientIP: "192.0.2.1")
        #expect(first.result == .clientIP)
        #expect(second.result == .overSpeed)
    }

    @Test("rate limit comes before decryption: refused garbage still counts")
    func rateLimitBeforeDecrypt() {
        let harness = SimHarness(rateLimits: GatewayConfiguration.vendorRateLimits)
        let headers = [ProtocolHeader.appId: SimFixture.appId]
        let garbage = [UInt8](repeating: 7, count: 32)
        #expect(harness.raw(.templateReport, mode: .secure, headers: headers, body: garbage).result == .params)
        #expect(harness.raw(.templateReport, mode: .secure, headers: headers, body: garbage).result == .overSpeed)
        // The window is spent: a valid request in the same second is refused too.
        #expect(harness.call(.templateReport, [JSONMember("templateInfo", .string("模板"))]).result == .overSpeed)
    }

    @Test("the IP check comes before decryption (secure)")
    func ipBeforeDecrypt() {
        let harness = SimHarness()
        let answer = harness.raw(.sendSingle, mode: .secure, headers: [ProtocolHeader.appId: SimFixture.restrictedAppId],
                                 body: Array("garbage".utf8), clientIP: "192.0.2.1")
        #expect(answer.result == .clientIP)
        let charset = harness.raw(.sendSingle, mode: .secure, headers: [ProtocolHeader.appId: SimFixture.restrictedAppId,
                                                                         ProtocolHeader.encode: "GBK"],
                                  body: [], clientIP: "192.0.2.1")
        #expect(charset.result == .clientIP)
    }

    @Test("decryption and parsing come before the time checks", arguments: InterfaceMode.allCases)
    func paramsBeforeTime(mode: InterfaceMode) throws {
        let harness = SimHarness()
        let stale = harness.request([], mode: mode, requestTime: .value(0), period: 0)
        let body: [UInt8] = switch mode {
        case .secure: try SecureEnvelope.seal(stale, key: SimFixture.wrongKey, gzip: false)
        case .normal: Array(JSONWriter.bytes(of: stale).dropLast())
        }
        let headers = SimHarness.headers(mode: mode, appId: SimFixture.appId, gzip: false)
        #expect(harness.raw(.getBalance, mode: mode, headers: headers, body: body).result == .params)
    }

    @Test("the time checks come before the endpoint checks", arguments: InterfaceMode.allCases, Endpoint.allCases)
    func timeBeforeEndpoint(mode: InterfaceMode, endpoint: Endpoint) {
        let harness = SimHarness()
        // An endpoint payload that is wrong in every way the endpoint checks.
        let bad: [JSONMember] = [
            JSONMember("templateInfo", .string("")), JSONMember("templateId", .string("")),
            JSONMember("mobile", .string("x")), JSONMember("fmses", .array([])),
            JSONMember("customFmsId", .string(String(repeating: "c", count: 40))),
        ]
        let missing = harness.request(bad, mode: mode, requestTime: .missing)
        #expect(harness.call(endpoint, mode: mode, json: missing).result == .requestTime)
        let noPeriod = harness.request(bad, mode: mode, period: 0)
        #expect(harness.call(endpoint, mode: mode, json: noPeriod).result == .requestValidPeriod)
        let expired = harness.request(bad, mode: mode, requestTime: .value(Self.nowMs - 120_000))
        #expect(harness.call(endpoint, mode: mode, json: expired).result == .requestTimeTimeout)
    }

    @Test("send checks: template id, then mobiles, then customFmsId", arguments: InterfaceMode.allCases)
    func sendCheckOrder(mode: InterfaceMode) {
        let harness = SimHarness()
        let templateId = harness.template()
        let long = String(repeating: "c", count: 33)
        func single(_ templateId: String, _ mobile: String) -> ResultCode {
            harness.call(.sendSingle, mode: mode, [JSONMember("templateId", .string(templateId)),
                                                   JSONMember("mobile", .string(mobile)),
                                                   JSONMember("customFmsId", .string(long))]).result
        }
        #expect(single("", "") == .templateIdEmpty)
        #expect(single("424242", "") == .templateIdError)
        #expect(single(templateId, "") == .mobileEmpty)
        #expect(single(templateId, "12") == .mobileError)
        #expect(single(templateId, SimFixture.mobile(1)) == .customFmsIdTooLong)

        func batch(_ templateId: String, _ mobiles: [String]) -> ResultCode {
            harness.call(.sendBatch, mode: mode, BatchSendRequest(
                templateId: templateId, entries: mobiles.map { BatchEntry(mobile: $0, customFmsId: long) }).payload).result
        }
        #expect(batch("", []) == .templateIdEmpty)
        #expect(batch("424242", []) == .templateIdError)
        #expect(batch(templateId, []) == .mobileEmpty)
        #expect(batch(templateId, ["12"]) == .mobileError)
        #expect(batch(templateId, (0..<301).map(SimFixture.mobile)) == .mobileNumber)
        #expect(batch(templateId, [SimFixture.mobile(1)]) == .customFmsIdTooLong)
        #expect(harness.gateway.ledger().isEmpty)
    }

    // MARK: Every code

    /// The codes PROTOCOL-NOTES lists as emitted.
    static let emittedCodes: [ResultCode] = [
        .success, .appId, .params, .clientIP, .overSpeed, .mobileEmpty, .mobileNumber, .mobileError,
        .templateIdError, .templateIdEmpty, .templateEmpty, .templateAboveLength, .templateVarMore,
        .templateVarRepeat, .customFmsIdTooLong, .requestTime, .requestValidPeriod, .requestTimeTimeout,
    ]

    @Test("each code the notes list as emitted is emitted by some request", arguments: emittedCodes)
    func everyCode(code: ResultCode) {
        let harness = SimHarness(dialect: .vendorServer, rateLimits: GatewayConfiguration.vendorRateLimits)
        let templateId = harness.template()
        harness.clock.advance(1)
        func send(_ mobile: String, custom: String? = nil, id: String? = nil) -> ResultCode {
            harness.call(.sendSingle, SingleSendRequest(mobile: mobile, templateId: id ?? templateId,
                                                        customFmsId: custom).payload).result
        }
        func report(_ text: String) -> ResultCode {
            harness.call(.templateReport, [JSONMember("templateInfo", .string(text))]).result
        }
        func timed(_ time: SimTime, _ period: Int64?) -> ResultCode {
            harness.call(.getBalance, json: harness.request([], mode: .secure, requestTime: time, period: period)).result
        }
        let result: ResultCode = switch code {
        case .success: send(SimFixture.mobile(1))
        case .appId: harness.call(.getBalance, [], appId: SimFixture.unknownAppId).result
        case .params: harness.raw(.getBalance, mode: .secure, headers: [ProtocolHeader.appId: SimFixture.appId],
                                  body: [1, 2, 3]).result
        case .clientIP: harness.call(.getBalance, [], appId: SimFixture.restrictedAppId, clientIP: "192.0.2.1").result
        case .overSpeed: [report("a"), report("b")].last ?? .success
        case .mobileEmpty: send("")
        case .mobileNumber: harness.sendBatch(templateId: templateId,
                                              entries: (0..<301).map { BatchEntry(mobile: SimFixture.mobile($0)) }).result
        case .mobileError: send("1")
        case .templateIdError: harness.call(.queryTemplate, [JSONMember("templateId", .string("1"))]).result
        case .templateIdEmpty: send(SimFixture.mobile(1), id: "")
        case .templateEmpty: report("")
        case .templateAboveLength: report(SimFixture.chinese(71))
        case .templateVarMore: report("{a}{b}{c}{d}")
        case .templateVarRepeat: report("{a}{a}")
        case .customFmsIdTooLong: send(SimFixture.mobile(1), custom: String(repeating: "x", count: 33))
        case .requestTime: timed(.value(0), 60)
        case .requestValidPeriod: timed(.now, 0)
        case .requestTimeTimeout: timed(.value(1), 60)
        default: .unknown("no scenario")
        }
        #expect(result == code)
    }
}
