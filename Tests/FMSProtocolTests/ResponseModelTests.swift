import Foundation
import Testing
@testable import FMSProtocol

/// The response examples of the vendor document (000_f1e77f33e5b42056.txt), copied verbatim,
/// stray spaces in keys and values and trailing commas included.
enum VendorDocument {
    /// 2.1.1 templateReport response: key " templateId " and a trailing comma.
    static let templateReportResponse = """
    {
        " templateId ":"20180392833833892100",
    }
    """

    /// 2.1.2 / 2.2.2 querytemplate response: key "templateId ".
    static let queryTemplateResponse = """
    {
        "templateId ":"20180392833833892100",
        "status":
        {
            "cmcc":1,
            "cucc":0,
            "ctcc":2
        }
    }
    """

    /// 2.1.3 sendSingleFMS response.
    static let singleResponse = """
    {
        "mobile": "159xxxxxxx",
        "fmsId": "20180392833833892100",
        "customFmsId": "2018010709302911"
    }
    """

    /// 2.1.4 sendBatchFMS response (lines carry trailing spaces in the document).
    static let batchResponse = """
    [  
        {  
            "mobile": "159xxxxxxx",  
            "fmsId": "2018010709302911",  
            "customFmsId": "2018010709302911"  
        }, {  
            "mobile": "159xxxxxxx",  
            "fmsId": "2018010709302912",  
            "customFmsId": "2018010709302912"  
        }  
    ]
    """

    /// 2.1.5 getFMSReport response: " DELIVRD", "159xxxxxxxx " and the key "receiveTime ".
    static let reportsResponse = """
    [  
        {  
            "mobile": "159xxxxxxxx ",  
            "fmsId": "20180392833833891100",  
            "customFmsId": "1553885000011111",  
            "state": " DELIVRD",  
            "desc": "成功",  
            "receiveTime ": "2018-03-15 12:00:00",  
            "submitTime": "2018-03-15 12:00:00"  
        }, {  
            "mobile": "159xxxxxxxx ",  
            "fmsId": "20180392833833891101",  
            "customFmsId": "1553885000011112",  
            "state": " DELIVRD",  
            "desc": "成功",  
            "receiveTime ": "2018-03-15 12:00:00",  
            "submitTime": "2018-03-15 12:00:00"  
        }  
    ]
    """

    /// 2.2.5 getFMSReport response of the normal interface (clean keys).
    static let normalReportsResponse = """
    [  
        {  
            "mobile": "159xxxxxxx",  
            "fmsId": "20180392833833891100",  
            "customFmsId": "1553885000011111",  
            "state": "DELIVRD",  
            "desc": "成功",  
            "receiveTime": "2018-03-15 12:00:00",  
            "submitTime": "2018-03-15 12:00:00"  
        }, {  
            "mobile": "135xxxxxxx",  
            "fmsId": "20180392833833891101",  
            "customFmsId": "1553885000011112",  
            "state": "DELIVRD",  
            "desc": "成功",  
            "receiveTime": "2018-03-15 12:00:00",  
            "submitTime": "2018-03-15 12:00:00"  
        }  
    ]
    """

    /// 2.1.6 / 2.2.6 getBalance response: a trailing comma.
    static let balanceResponse = """
        {
            "balance": "10000",
        }
    """
}

@Suite("TemplateReportResponse")
struct TemplateReportResponseTests {
    @Test("the document's answer with key \" templateId \" and a trailing comma")
    func document() throws {
        let value = try JSONParser.parse(VendorDocument.templateReportResponse, options: .tolerant)
        let response = try TemplateReportResponse(json: value)
        #expect(response.templateId == "20180392833833892100")
        #expect(response.variables == [])
    }

    @Test("the vendor server's \"variable\": \"name,age\" is split and trimmed")
    func variables() throws {
        #expect(try TemplateReportResponse(json: try json(#"{"templateId":"T1","variable":"name,age"}"#)).variables == ["name", "age"])
        #expect(try TemplateReportResponse(json: try json(#"{"templateId":"T1","variable":" name , ,age, "}"#)).variables == ["name", "age"])
        #expect(try TemplateReportResponse(json: try json(#"{"templateId":"T1","variable":""}"#)).variables == [])
        #expect(try TemplateReportResponse(json: try json(#"{"templateId":"T1","variable":null}"#)).variables == [])
    }

    @Test("a numeric templateId is read as text")
    func numericId() throws {
        #expect(try TemplateReportResponse(json: try json(#"{"templateId":20180392833833892}"#)).templateId == "20180392833833892")
    }

    @Test("a missing or null templateId is a FieldError naming templateId",
          arguments: [#"{}"#, #"{"templateId":null}"#, #"{"variable":"a"}"#])
    func missing(_ text: String) throws {
        let error = #expect(throws: FieldError.self) { try TemplateReportResponse(json: try json(text)) }
        #expect(error == FieldError(field: "templateId", problem: "missing"))
        #expect(error?.description == "field 'templateId': missing")
    }

    @Test("a templateId of the wrong kind is a FieldError")
    func wrongKind() throws {
        let error = #expect(throws: FieldError.self) { try TemplateReportResponse(json: try json(#"{"templateId":{"id":1}}"#)) }
        #expect(error == FieldError(field: "templateId", problem: "expected a string, got object"))
    }

    @Test("json is byte-exact and reads back")
    func jsonOutput() throws {
        let response = TemplateReportResponse(templateId: "T9", variables: ["name", "age"])
        #expect(JSONWriter.string(of: response.json) == #"{"templateId":"T9","variable":"name,age"}"#)
        #expect(try TemplateReportResponse(json: response.json) == response)
        #expect(JSONWriter.string(of: TemplateReportResponse(templateId: "T", variables: []).json) == #"{"templateId":"T","variable":""}"#)
    }
}

@Suite("TemplateStatus")
struct TemplateStatusTests {
    @Test("the document's answer (key \"templateId \") reads cmcc 1, cucc 0, ctcc 2")
    func document() throws {
        let status = try TemplateStatus(json: try JSONParser.parse(VendorDocument.queryTemplateResponse, options: .tolerant),
                                        requestedId: "other")
        #expect(status == TemplateStatus(templateId: "20180392833833892100", cmcc: .approved, cucc: .pending, ctcc: .rejected))
    }

    @Test("carrier codes as strings, with spaces, and unknown numbers")
    func stringCodes() throws {
        let status = try TemplateStatus(json: try json(#"{"templateId":"7","status":{"cmcc":"1","cucc":" -1 ","ctcc":"3"}}"#),
                                        requestedId: "7")
        #expect(status == TemplateStatus(templateId: "7", cmcc: .approved, cucc: .missing, ctcc: .unsupported))
        let odd = try TemplateStatus(json: try json(#"{"templateId":"7","status":{"cmcc":7,"cucc":"42","ctcc":-9}}"#), requestedId: "7")
        #expect(odd.cmcc == .other(7))
        #expect(odd.cucc == .other(42))
        #expect(odd.ctcc == .other(-9))
    }

    @Test("missing templateId falls back to the requested one; missing carriers are -1")
    func fallbacks() throws {
        let status = try TemplateStatus(json: try json(#"{"status":{"cmcc":1}}"#), requestedId: "REQ")
        #expect(status == TemplateStatus(templateId: "REQ", cmcc: .approved, cucc: .missing, ctcc: .missing))
        #expect(try TemplateStatus(json: try json("{}"), requestedId: "X") == .unknown("X"))
        #expect(try TemplateStatus(json: try json(#"{"status":null}"#), requestedId: "X") == .unknown("X"))
    }

    @Test("a bad status or carrier code is a FieldError naming it")
    func errors() throws {
        let notObject = #expect(throws: FieldError.self) {
            try TemplateStatus(json: try json(#"{"templateId":"1","status":"approved"}"#), requestedId: "1")
        }
        #expect(notObject?.field == "status")
        let badCode = #expect(throws: FieldError.self) {
            try TemplateStatus(json: try json(#"{"templateId":"1","status":{"cmcc":1,"cucc":"yes","ctcc":1}}"#), requestedId: "1")
        }
        #expect(badCode == FieldError(field: "status.cucc", problem: "expected a number, got string"))
    }

    @Test("json with numbers and with strings is byte-exact and reads back", arguments: [false, true])
    func jsonOutput(_ asStrings: Bool) throws {
        let status = TemplateStatus(templateId: "T", cmcc: .approved, cucc: .missing, ctcc: .other(9))
        let expected = asStrings
            ? #"{"templateId":"T","status":{"cmcc":"1","cucc":"-1","ctcc":"9"}}"#
            : #"{"templateId":"T","status":{"cmcc":1,"cucc":-1,"ctcc":9}}"#
        #expect(JSONWriter.string(of: status.json(numbersAsStrings: asStrings)) == expected)
        #expect(try TemplateStatus(json: status.json(numbersAsStrings: asStrings), requestedId: "?") == status)
    }

    static let carrierCases: [(Int64, CarrierReview)] = [
        (-1, .missing), (0, .pending), (1, .approved), (2, .rejected), (3, .unsupported), (4, .other(4)), (-2, .other(-2)),
    ]

    @Test("CarrierReview maps every code both ways", arguments: carrierCases)
    func carrierCodes(_ code: Int64, _ review: CarrierReview) {
        #expect(CarrierReview(code: code) == review)
        #expect(review.code == code)
        #expect(!review.description.isEmpty)
    }
}

@Suite("SentMessage")
struct SentMessageTests {
    @Test("the document's single answer")
    func documentSingle() throws {
        let message = try SentMessage(json: try JSONParser.parse(VendorDocument.singleResponse, options: .tolerant))
        #expect(message == SentMessage(mobile: "159xxxxxxx", fmsId: "20180392833833892100", customFmsId: "2018010709302911"))
    }

    @Test("the document's batch answer, in order")
    func documentBatch() throws {
        let list = try SentMessage.list(json: try JSONParser.parse(VendorDocument.batchResponse, options: .tolerant))
        #expect(list == [
            SentMessage(mobile: "159xxxxxxx", fmsId: "2018010709302911", customFmsId: "2018010709302911"),
            SentMessage(mobile: "159xxxxxxx", fmsId: "2018010709302912", customFmsId: "2018010709302912"),
        ])
    }

    @Test("an empty or null customFmsId reads as nil; values are trimmed; a numeric fmsId is text")
    func leniency() throws {
        #expect(try SentMessage(json: try json(#"{"mobile":" 1 ","fmsId":" F ","customFmsId":""}"#))
                == SentMessage(mobile: "1", fmsId: "F", customFmsId: nil))
        #expect(try SentMessage(json: try json(#"{"mobile":"1","fmsId":123456789012,"customFmsId":null}"#))
                == SentMessage(mobile: "1", fmsId: "123456789012", customFmsId: nil))
        #expect(try SentMessage(json: try json(#"{"fmsId":"F"}"#)) == SentMessage(mobile: "", fmsId: "F", customFmsId: nil))
    }

    @Test("a missing fmsId names the element: [1].fmsId")
    func missingFmsId() throws {
        let text = #"[{"mobile":"1","fmsId":"a"},{"mobile":"2","customFmsId":"c"}]"#
        let error = #expect(throws: FieldError.self) { try SentMessage.list(json: try json(text)) }
        #expect(error == FieldError(field: "[1].fmsId", problem: "missing"))
        #expect(error?.description == "field '[1].fmsId': missing")
    }

    @Test("a null fmsId counts as missing")
    func nullFmsId() throws {
        let error = #expect(throws: FieldError.self) { try SentMessage.list(json: try json(#"[{"mobile":"1","fmsId":null}]"#)) }
        #expect(error?.field == "[0].fmsId")
    }

    @Test("a non-array answer and a non-object element are FieldErrors")
    func shapes() throws {
        let notArray = #expect(throws: FieldError.self) { try SentMessage.list(json: try json(#"{"mobile":"1","fmsId":"a"}"#)) }
        #expect(notArray?.field == "(answer)")
        let notObject = #expect(throws: FieldError.self) { try SentMessage.list(json: try json(#"[{"fmsId":"a"},"b"]"#)) }
        #expect(notObject?.field == "[1].message")
        #expect(try SentMessage.list(json: try json("[]")) == [])
    }

    @Test("json is byte-exact (customFmsId null when absent) and reads back")
    func jsonOutput() throws {
        let with = SentMessage(mobile: "15900000001", fmsId: "F1", customFmsId: "C1")
        let without = SentMessage(mobile: "15900000001", fmsId: "F2", customFmsId: nil)
        #expect(JSONWriter.string(of: with.json) == #"{"mobile":"15900000001","fmsId":"F1","customFmsId":"C1"}"#)
        #expect(JSONWriter.string(of: without.json) == #"{"mobile":"15900000001","fmsId":"F2","customFmsId":null}"#)
        #expect(try SentMessage.list(json: .array([with.json, without.json])) == [with, without])
    }
}

@Suite("DeliveryReport")
struct DeliveryReportTests {
    @Test("the document's secure answer: \" DELIVRD\", \"159xxxxxxxx \" and key \"receiveTime \"")
    func documentSecure() throws {
        let reports = try DeliveryReport.list(json: try JSONParser.parse(VendorDocument.reportsResponse, options: .tolerant))
        #expect(reports == [
            DeliveryReport(mobile: "159xxxxxxxx", fmsId: "20180392833833891100", customFmsId: "1553885000011111",
                           state: .delivered, desc: "成功", receiveTime: "2018-03-15 12:00:00", submitTime: "2018-03-15 12:00:00"),
            DeliveryReport(mobile: "159xxxxxxxx", fmsId: "20180392833833891101", customFmsId: "1553885000011112",
                           state: .delivered, desc: "成功", receiveTime: "2018-03-15 12:00:00", submitTime: "2018-03-15 12:00:00"),
        ])
        #expect(reports.allSatisfy { $0.state.isDelivered })
    }

    @Test("the document's normal answer")
    func documentNormal() throws {
        let reports = try DeliveryReport.list(json: try JSONParser.parse(VendorDocument.normalReportsResponse, options: .tolerant))
        #expect(reports.map(\.mobile) == ["159xxxxxxx", "135xxxxxxx"])
        #expect(reports.map(\.fmsId) == ["20180392833833891100", "20180392833833891101"])
        #expect(reports.allSatisfy { $0.state == .delivered && $0.receiveTime == "2018-03-15 12:00:00" })
    }

    @Test("unknown and misspelt states are kept; null and absent optional fields read as empty")
    func leniency() throws {
        let text = #"[{"mobile":"1","state":"FAIL_NEW_THING","desc":null},{"mobile":"2","state":"FAIL_UNKNOW ","customFmsId":""},{"state":"FAIL_UNKNOWN"}]"#
        let reports = try DeliveryReport.list(json: try json(text))
        #expect(reports[0].state == .unknown("FAIL_NEW_THING"))
        #expect(reports[0].desc == "")
        #expect(reports[0].fmsId == "")
        #expect(reports[0].receiveTime == "")
        #expect(reports[1].state == .failUnknown)
        #expect(reports[1].customFmsId == nil)
        #expect(reports[2].state == .unknown("FAIL_UNKNOWN"))
        #expect(reports[2].mobile == "")
    }

    @Test("a missing state names the element: [1].state")
    func missingState() throws {
        let text = #"[{"mobile":"1","state":"DELIVRD"},{"mobile":"2","fmsId":"x"}]"#
        let error = #expect(throws: FieldError.self) { try DeliveryReport.list(json: try json(text)) }
        #expect(error == FieldError(field: "[1].state", problem: "missing"))
    }

    @Test("wrong shapes are FieldErrors naming the place")
    func shapes() throws {
        let badState = #expect(throws: FieldError.self) { try DeliveryReport.list(json: try json(#"[{"state":{"code":1}}]"#)) }
        #expect(badState?.field == "[0].state")
        let notObject = #expect(throws: FieldError.self) { try DeliveryReport.list(json: try json(#"[{"state":"DELIVRD"},[]]"#)) }
        #expect(notObject?.field == "[1].report")
        let notArray = #expect(throws: FieldError.self) { try DeliveryReport.list(json: try json(#""DELIVRD""#)) }
        #expect(notArray?.field == "(answer)")
        #expect(try DeliveryReport.list(json: try json("[]")) == [])
    }

    @Test("json is byte-exact and reads back")
    func jsonOutput() throws {
        let report = DeliveryReport(mobile: "15900000001", fmsId: "F", customFmsId: nil, state: .failUnknown, desc: "未知错误",
                                    receiveTime: "2018-03-15 12:00:01", submitTime: "2018-03-15 12:00:00")
        #expect(JSONWriter.string(of: report.json)
                == #"{"mobile":"15900000001","fmsId":"F","customFmsId":null,"state":"FAIL_UNKNOW","desc":"未知错误","receiveTime":"2018-03-15 12:00:01","submitTime":"2018-03-15 12:00:00"}"#)
        #expect(try DeliveryReport(json: report.json) == report)
    }
}

@Suite("Balance")
struct BalanceTests {
    static let shapes: [(String, JSONParser.Options, Int64)] = [
        (VendorDocument.balanceResponse, .tolerant, 10000),      // the document
        (#""10000""#, .strict, 10000),                            // the vendor server: a bare string
        (#"" 10000 ""#, .strict, 10000),
        ("10000", .strict, 10000),                                // a bare number
        (#"{"balance":10000}"#, .strict, 10000),
        (#"{"balance":"0"}"#, .strict, 0),
        (#"{"balance":-3}"#, .strict, -3),
        (#"{"balance ":"42"}"#, .strict, 42),
        (#"{"balance":1e4}"#, .strict, 10000),
        (#"{"balance":"9223372036854775807"}"#, .strict, Int64.max),
    ]

    @Test("every shape of the balance answer reads", arguments: shapes)
    func shapesRead(_ text: String, _ options: JSONParser.Options, _ expected: Int64) throws {
        #expect(try Balance(json: try JSONParser.parse(text, options: options)).amount == expected)
    }

    @Test("a missing balance member is FieldError(balance, missing)", arguments: [#"{}"#, #"{"balance":null}"#, #"{"amount":1}"#])
    func missing(_ text: String) throws {
        let error = #expect(throws: FieldError.self) { try Balance(json: try json(text)) }
        #expect(error == FieldError(field: "balance", problem: "missing"))
    }

    @Test("a balance that is no integer is a FieldError naming balance",
          arguments: [#""abc""#, "true", "null", "[]", #"{"balance":"ten"}"#, #"{"balance":1.5}"#, #"{"balance":{"balance":1}}"#])
    func notANumber(_ text: String) throws {
        let error = #expect(throws: FieldError.self) { try Balance(json: try json(text)) }
        #expect(error?.field == "balance")
        #expect(error?.problem.hasPrefix("expected a number") == true)
    }

    @Test("documentJSON and vendorJSON are the two wire shapes and read back")
    func output() throws {
        let balance = Balance(10000)
        #expect(JSONWriter.string(of: balance.documentJSON) == #"{"balance":"10000"}"#)
        #expect(JSONWriter.string(of: balance.vendorJSON) == #""10000""#)
        #expect(try Balance(json: balance.documentJSON) == balance)
        #expect(try Balance(json: balance.vendorJSON) == balance)
    }
}
