import Foundation
import Testing
@testable import FMSProtocol

@Suite("ResultCode")
struct ResultCodeTests {
    /// Every code of PROTOCOL-NOTES.md ("complete list seen in vendor code" plus "declared but not emitted"),
    /// written out independently of `ResultCode.allKnown`.
    static let known: [(String, ResultCode)] = [
        ("SUCCESS", .success),
        ("ERROR_APPID", .appId),
        ("ERROR_PARAMS", .params),
        ("ERROR_CLIENT_IP", .clientIP),
        ("ERROR_OVER_SPEED", .overSpeed),
        ("ERROR_MOBILE_EMPTY", .mobileEmpty),
        ("ERROR_MOBILE_NUMBER", .mobileNumber),
        ("ERROR_MOBILE_ERROR", .mobileError),
        ("ERROR_TEMPLATE_ID_ERROR", .templateIdError),
        ("ERROR_TEMPLATE_ID_EMPTY", .templateIdEmpty),
        ("ERROR_TEMPLATE_EMPTY", .templateEmpty),
        ("ERROR_TEMPLATE_ABOVE_LENGTH", .templateAboveLength),
        ("ERROR_TEMPLATE_VAR_MORE", .templateVarMore),
        ("ERROR_TEMPLATE_VAR_REPEAT", .templateVarRepeat),
        ("ERROR_CUSTOM_IMSID", .customFmsIdTooLong),
        ("ERROR_REQUESTTIME", .requestTime),
        ("ERROR_REQUESTVALIDPERIOD", .requestValidPeriod),
        ("ERROR_REQUESTTIME_TIMEOUT", .requestTimeTimeout),
        ("ERROR_CONTENT_EMPTY", .contentEmpty),
        ("ERROR_LONG_CONTENT", .longContent),
        ("ERROR_TEMPLATE_VAR_ERROR", .templateVarError),
        ("ERROR_TEMPLATE_VAR_ABOVE_LENGTH", .templateVarAboveLength),
        ("ERROR_APPID_NO_SUPPORT_CHANNEL", .appIdNoSupportChannel),
        ("ERROR_TIMESTAMP", .timestamp),
        ("ERROR_SIGN", .sign),
    ]

    @Test("init(name) gives the case and name gives the text back", arguments: known)
    func roundTrip(_ name: String, _ code: ResultCode) {
        #expect(ResultCode(name) == code)
        #expect(code.name == name)
        #expect(ResultCode(code.name) == code)
    }

    @Test("each known code has English and Chinese descriptions and a full description", arguments: known)
    func descriptions(_ name: String, _ code: ResultCode) {
        #expect(!code.englishDescription.isEmpty)
        #expect(!code.chineseDescription.isEmpty)
        #expect(code.chineseDescription.unicodeScalars.contains { (0x4E00...0x9FFF).contains($0.value) },
                "the Chinese description should contain Chinese characters")
        #expect(code.englishDescription != ResultCode.unknown("X").englishDescription)
        #expect(code.description == "\(name) (\(code.englishDescription); \(code.chineseDescription))")
    }

    @Test("isRetryable is true exactly for ERROR_OVER_SPEED and ERROR_REQUESTTIME_TIMEOUT", arguments: known)
    func retryable(_ name: String, _ code: ResultCode) {
        #expect(code.isRetryable == (name == "ERROR_OVER_SPEED" || name == "ERROR_REQUESTTIME_TIMEOUT"))
    }

    @Test("allKnown is exactly the documented list, without duplicates")
    func allKnownComplete() {
        #expect(ResultCode.allKnown.count == Self.known.count)
        #expect(Set(ResultCode.allKnown) == Set(Self.known.map(\.1)))
        #expect(Set(ResultCode.allKnown.map(\.name)).count == ResultCode.allKnown.count)
    }

    @Test("whitespace around a header value is trimmed", arguments: [" SUCCESS", "SUCCESS ", "\tSUCCESS\n", "SUCCESS\r", "\u{3000}SUCCESS"])
    func trimmed(_ text: String) {
        #expect(ResultCode(text) == .success)
    }

    @Test("unknown text is kept verbatim (trimmed) and is not retryable",
          arguments: ["ERROR_NEW_THING", "error_appid", "SUCCESS!", "ERROR_BALANCE", ""])
    func unknown(_ text: String) {
        let code = ResultCode(text)
        #expect(code == .unknown(text))
        #expect(code.name == text)
        #expect(!code.isRetryable)
        #expect(code.description.hasPrefix(text))
        #expect(!code.chineseDescription.isEmpty)
    }

    @Test("the brief's example: ERROR_NEW_THING, with and without spaces")
    func newThing() {
        #expect(ResultCode("ERROR_NEW_THING").name == "ERROR_NEW_THING")
        #expect(ResultCode("  ERROR_NEW_THING ").name == "ERROR_NEW_THING")
        #expect(ResultCode("  ERROR_NEW_THING ") == ResultCode("ERROR_NEW_THING"))
    }
}

@Suite("ReportState")
struct ReportStateTests {
    static let known: [(String, ReportState, String)] = [
        ("DELIVRD", .delivered, "成功"),
        ("TIMEOUT", .timeout, "超时"),
        ("FAIL_BALANCE", .failBalance, "余额不足"),
        ("FAIL_MOBILE", .failMobile, "手机号错误"),
        ("FAIL_MOBILE_SUPPORT", .failMobileSupport, "手机不支持闪推"),
        ("FAIL_MOBILE_REPEAT", .failMobileRepeat, "手机号重复"),
        ("FAIL_BLACK_DICT", .failBlackDict, "黑名单"),
        ("FAIL_RESPONSE", .failResponse, "响应失败"),
        ("FAIL_UNKNOW", .failUnknown, "未知错误"),
    ]

    @Test("init(name) round trips and each state has its Chinese description", arguments: known)
    func roundTrip(_ name: String, _ state: ReportState, _ chinese: String) {
        #expect(ReportState(name) == state)
        #expect(state.name == name)
        #expect(state.description == name)
        #expect(state.chineseDescription == chinese)
        #expect(state.isDelivered == (name == "DELIVRD"))
    }

    @Test("allKnown is exactly the documented list")
    func allKnownComplete() {
        #expect(ReportState.allKnown.count == Self.known.count)
        #expect(Set(ReportState.allKnown) == Set(Self.known.map(\.1)))
    }

    @Test("stray spaces are trimmed, as in the document's \" DELIVRD\"", arguments: [" DELIVRD", "DELIVRD ", "\tDELIVRD\n"])
    func trimmed(_ text: String) {
        #expect(ReportState(text) == .delivered)
        #expect(ReportState(text).isDelivered)
    }

    @Test("FAIL_UNKNOW is the vendor's spelling; FAIL_UNKNOWN is not a known state")
    func spelling() {
        #expect(ReportState("FAIL_UNKNOW") == .failUnknown)
        #expect(ReportState.failUnknown.name == "FAIL_UNKNOW")
        #expect(ReportState("FAIL_UNKNOWN") == .unknown("FAIL_UNKNOWN"))
    }

    @Test("unknown states are kept verbatim (trimmed) and are not delivered",
          arguments: ["UNDELIV", "delivrd", "DELIVERED", " EXPIRED "])
    func unknown(_ text: String) {
        let state = ReportState(text)
        #expect(state == .unknown(text.trimmingSpaces()))
        #expect(state.name == text.trimmingSpaces())
        #expect(!state.isDelivered)
        #expect(!state.chineseDescription.isEmpty)
    }
}

@Suite("Endpoint")
struct EndpointTests {
    static let paths: [(String, InterfaceMode, Endpoint)] = [
        ("/fms/secure/templateReport", .secure, .templateReport),
        ("/fms/secure/querytemplate", .secure, .queryTemplate),
        ("/fms/secure/sendSingleFMS", .secure, .sendSingle),
        ("/fms/secure/sendBatchFMS", .secure, .sendBatch),
        ("/fms/secure/getFMSReport", .secure, .getReports),
        ("/fms/secure/getBalance", .secure, .getBalance),
        ("/fms/normal/templateReport", .normal, .templateReport),
        ("/fms/normal/querytemplate", .normal, .queryTemplate),
        ("/fms/normal/sendSingleFMS", .normal, .sendSingle),
        ("/fms/normal/sendBatchFMS", .normal, .sendBatch),
        ("/fms/normal/getFMSReport", .normal, .getReports),
        ("/fms/normal/getBalance", .normal, .getBalance),
    ]

    @Test("parse and path agree for all 12 paths", arguments: paths)
    func parse(_ path: String, _ mode: InterfaceMode, _ endpoint: Endpoint) throws {
        let parsed = try #require(Endpoint.parse(path: path))
        #expect(parsed.0 == mode)
        #expect(parsed.1 == endpoint)
        #expect(endpoint.path(mode) == path)
        // A query string is ignored.
        let withQuery = try #require(Endpoint.parse(path: path + "?appId=x&gzip=on"))
        #expect(withQuery.0 == mode && withQuery.1 == endpoint)
    }

    @Test("there are exactly six endpoints and two modes")
    func counts() {
        #expect(Endpoint.allCases.count == 6)
        #expect(InterfaceMode.allCases.count == 2)
        #expect(Set(Self.paths.map { $0.2.path($0.1) }).count == 12)
        #expect(Endpoint.queryTemplate.description == "querytemplate")
        #expect(InterfaceMode.secure.description == "secure")
    }

    @Test("bad paths are refused", arguments: [
        "", "/", "/fms", "/fms/secure", "/fms/secure/", "/fms/secure/unknown", "/fms/plain/getBalance",
        "/fms/secure/getBalance/extra", "/FMS/secure/getBalance", "/fms/Secure/getBalance",
        "/fms/secure/queryTemplate", "/fms/secure/getbalance", "/api/secure/getBalance",
        "/fms/secure/sendSingle", "?/fms/secure/getBalance", "/fms/secure/get Balance",
    ])
    func bad(_ path: String) {
        #expect(Endpoint.parse(path: path) == nil)
    }

    @Test("protocol header names")
    func headers() {
        #expect(ProtocolHeader.appId == "appId")
        #expect(ProtocolHeader.gzip == "gzip")
        #expect(ProtocolHeader.encode == "encode")
        #expect(ProtocolHeader.result == "result")
    }
}

@Suite("ProtocolText")
struct ProtocolTextTests {
    static let mobiles: [(String, Bool)] = [
        ("13800138000", true),
        ("19912345678", true),
        ("10000000000", true),              // ^1\d{10}$ says nothing about the second digit
        (" 13800138000 ", true),            // spaces around: valid after trimming
        ("\t13800138000\n", true),
        ("1380013800", false),              // 10 digits
        ("138001380000", false),            // 12 digits
        ("23800138000", false),             // starts with 2
        ("03800138000", false),
        ("1380013800a", false),             // a letter
        ("abcdefghijk", false),
        ("138 0013 800", false),            // inner spaces
        ("１３８００１３８０００", false),      // full-width digits
        ("1３８００１３８０００", false),
        ("+8613800138000", false),
        ("8613800138000", false),
        ("138-0013-8000", false),
        ("", false),
        ("   ", false),
        ("١٣٨٠٠١٣٨٠٠٠", false),             // Arabic-Indic digits
    ]

    @Test("isValidMobile", arguments: mobiles)
    func mobile(_ text: String, _ valid: Bool) {
        #expect(ProtocolText.isValidMobile(text) == valid)
    }

    @Test("vendorLength counts UTF-16 code units")
    func vendorLength() {
        #expect(ProtocolText.vendorLength(String(repeating: "闪", count: 70)) == 70)
        #expect(ProtocolText.vendorLength(String(repeating: "闪", count: 71)) == 71)
        #expect(ProtocolText.vendorLength("😀") == 2)
        #expect(ProtocolText.vendorLength("👍🏽") == 4)
        #expect(ProtocolText.vendorLength("a😀b") == 4)
        #expect(ProtocolText.vendorLength("") == 0)
        #expect(ProtocolText.vendorLength("abc") == 3)
        #expect(ProtocolText.vendorLength("\u{E9}") == 1)
        #expect(ProtocolText.vendorLength("e\u{301}") == 2)
        #expect(ProtocolText.vendorLength("𠀀") == 2)            // CJK extension B is outside the BMP
        #expect(ProtocolText.vendorLength("您的姓名是{name}, 年龄是{age}") == 21)
    }

    @Test("the limits match the notes")
    func limits() {
        #expect(ProtocolText.maximumTemplateLength == 70)
        #expect(ProtocolText.maximumTemplateVariables == 3)
        #expect(ProtocolText.maximumCustomFmsIdLength == 32)
        #expect(ProtocolText.maximumBatchSize == 300)
        #expect(ProtocolText.maximumReportsPerCall == 500)
    }

    static let templates: [(String, [String])] = [
        ("您的姓名是{name}, 年龄是{age}", ["name", "age"]),
        ("验证码${code}，请勿告诉他人", ["code"]),
        ("{a}${b}{c}", ["a", "b", "c"]),
        ("${name}和{name}", ["name", "name"]),            // duplicates kept so the caller can detect them
        ("{x}{x}{x}{x}", ["x", "x", "x", "x"]),
        ("{ name }", ["name"]),
        ("没有变量", []),
        ("", []),
        ("{}", []),
        ("${}", []),
        ("{name", []),                                     // unbalanced: no closing brace
        ("name}", []),
        ("}{", []),
        ("{a}{b", ["a"]),
        ("{a{b}", ["b"]),
        ("{{name}}", ["name"]),
        ("$name", []),
        ("{姓名}", ["姓名"]),
    ]

    @Test("templateVariables", arguments: templates)
    func variables(_ template: String, _ expected: [String]) {
        #expect(ProtocolText.templateVariables(template) == expected)
    }
}
