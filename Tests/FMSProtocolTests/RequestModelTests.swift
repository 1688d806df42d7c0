import Foundation
import Testing
@testable import FMSProtocol

/// One request payload and the exact JSON text its members must produce.
struct PayloadCase: Sendable, CustomTestStringConvertible {
    let name: String
    let payload: [JSONMember]
    /// The payload members as compact JSON, without the surrounding braces.
    let members: String
    var testDescription: String { name }

    static let all: [PayloadCase] = [
        PayloadCase(name: "templateReport",
                    payload: TemplateReportRequest(templateInfo: "您的姓名是{name}, 年龄是{age}").payload,
                    members: #""templateInfo":"您的姓名是{name}, 年龄是{age}""#),
        PayloadCase(name: "templateReport ${var} with a quote",
                    payload: TemplateReportRequest(templateInfo: "验证码${code}，\"勿\"告诉他人/").payload,
                    members: #""templateInfo":"验证码${code}，\"勿\"告诉他人/""#),
        PayloadCase(name: "querytemplate",
                    payload: TemplateQueryRequest(templateId: "125688").payload,
                    members: #""templateId":"125688""#),
        PayloadCase(name: "sendSingleFMS with customFmsId",
                    payload: SingleSendRequest(mobile: "15900000001", templateId: "1245556",
                                               content: ["name": "小明", "age": "10"],
                                               customFmsId: "2018010709302911").payload,
                    members: #""mobile":"15900000001","templateId":"1245556","content":{"age":"10","name":"小明"},"customFmsId":"2018010709302911""#),
        PayloadCase(name: "sendSingleFMS without customFmsId or variables",
                    payload: SingleSendRequest(mobile: "13700000002", templateId: "7").payload,
                    members: #""mobile":"13700000002","templateId":"7","content":{}"#),
        PayloadCase(name: "sendSingleFMS content keys sorted",
                    payload: SingleSendRequest(mobile: "1", templateId: "2",
                                               content: ["zeta": "z", "Alpha": "A", "code": "9527", "名字": "x"]).payload,
                    members: #""mobile":"1","templateId":"2","content":{"Alpha":"A","code":"9527","zeta":"z","名字":"x"}"#),
        PayloadCase(name: "sendBatchFMS",
                    payload: BatchSendRequest(templateId: "7883922", entries: [
                        BatchEntry(mobile: "15900000001", customFmsId: "a1", content: ["name": "小明", "age": "10"]),
                        BatchEntry(mobile: "13700000002", content: ["name": "小红"]),
                        BatchEntry(mobile: "13500000003"),
                    ]).payload,
                    members: #""templateId":"7883922","fmses":[{"mobile":"15900000001","customFmsId":"a1","content":{"age":"10","name":"小明"}},{"mobile":"13700000002","content":{"name":"小红"}},{"mobile":"13500000003","content":{}}]"#),
        PayloadCase(name: "sendBatchFMS empty",
                    payload: BatchSendRequest(templateId: "1", entries: []).payload,
                    members: #""templateId":"1","fmses":[]"#),
        PayloadCase(name: "getFMSReport",
                    payload: ReportsRequest(number: 300).payload,
                    members: #""number":300"#),
        PayloadCase(name: "getFMSReport default",
                    payload: ReportsRequest().payload,
                    members: #""number":500"#),
        PayloadCase(name: "getBalance (no payload)", payload: [], members: ""),
    ]
}

@Suite("Request payloads and RequestEnvelope")
struct RequestPayloadTests {
    static let timing = #""requestTime":1490588340964,"requestValidPeriod":30"#

    @Test("secure interface: payload then timing, no appId", arguments: PayloadCase.all)
    func withoutAppId(_ item: PayloadCase) {
        let envelope = RequestEnvelope(requestTime: 1_490_588_340_964, requestValidPeriod: 30)
        let expected = "{" + (item.members.isEmpty ? "" : item.members + ",") + Self.timing + "}"
        #expect(JSONWriter.string(of: envelope.wrap(item.payload)) == expected)
    }

    @Test("normal interface: appId first, then payload, then timing", arguments: PayloadCase.all)
    func withAppId(_ item: PayloadCase) throws {
        let envelope = RequestEnvelope(appId: "EUCP-EMY-TEST-XXXX", requestTime: 1_490_588_340_964, requestValidPeriod: 30)
        let expected = #"{"appId":"EUCP-EMY-TEST-XXXX","# + (item.members.isEmpty ? "" : item.members + ",") + Self.timing + "}"
        let wrapped = envelope.wrap(item.payload)
        #expect(JSONWriter.string(of: wrapped) == expected)
        #expect(wrapped.objectMembers?.first?.key == "appId")
        // The written request is valid strict JSON.
        #expect(try JSONParser.parse(JSONWriter.bytes(of: wrapped)) == wrapped)
    }

    @Test("the batch request written by the package is the openssl fixture's plaintext byte for byte")
    func batchMatchesFixture() throws {
        let request = BatchSendRequest(templateId: "7883922", entries: [
            BatchEntry(mobile: "15900000001", customFmsId: "2018010709302911", content: ["name": "小明", "age": "10"]),
            BatchEntry(mobile: "13700000002", customFmsId: "2018010709302912", content: ["age": "12", "name": "小红"]),
            BatchEntry(mobile: "13500000003", content: ["name": "张三丰 \"老\" a/b", "age": "99"]),
        ])
        let envelope = RequestEnvelope(requestTime: 1_490_588_340_964, requestValidPeriod: 30)
        let bytes = JSONWriter.bytes(of: envelope.wrap(request.payload))
        #expect(bytes == (try Fixture.bytes("batch.json")))
        // And sealing it gives exactly openssl's AES-128 vector.
        #expect(try SecureEnvelope.seal(bytes, key: try Fixture.key(Fixture.key128Text), gzip: false)
                == (try Fixture.bytes("batch.json.aes128")))
    }

    @Test("an appId with characters to escape is escaped; Int64 timing is written exactly")
    func envelopeEdges() {
        let envelope = RequestEnvelope(appId: "A\"B", requestTime: Int64.max, requestValidPeriod: 86_400)
        #expect(JSONWriter.string(of: envelope.wrap([]))
                == #"{"appId":"A\"B","requestTime":9223372036854775807,"requestValidPeriod":86400}"#)
    }
}

@Suite("Request models read on the gateway side")
struct RequestReadingTests {
    static let envelope = RequestEnvelope(appId: "EUCP-EMY-TEST-XXXX", requestTime: 1_490_588_340_964, requestValidPeriod: 30)

    @Test("every request survives payload -> JSON text -> init(json:)")
    func roundTrips() throws {
        let single = SingleSendRequest(mobile: "15900000001", templateId: "1245556", content: ["name": "小明", "age": "10"],
                                       customFmsId: "x1")
        let parsedSingle = try JSONParser.parse(JSONWriter.bytes(of: Self.envelope.wrap(single.payload)))
        #expect(try SingleSendRequest(json: parsedSingle) == single)

        let batch = BatchSendRequest(templateId: "7", entries: [BatchEntry(mobile: "1", customFmsId: "c", content: ["a": "b"]),
                                                                 BatchEntry(mobile: "2")])
        let parsedBatch = try JSONParser.parse(JSONWriter.bytes(of: Self.envelope.wrap(batch.payload)))
        #expect(try BatchSendRequest(json: parsedBatch) == batch)

        let template = TemplateReportRequest(templateInfo: "您好{name}")
        #expect(try TemplateReportRequest(json: Self.envelope.wrap(template.payload)) == template)
        let query = TemplateQueryRequest(templateId: "125688")
        #expect(try TemplateQueryRequest(json: Self.envelope.wrap(query.payload)) == query)
        #expect(try ReportsRequest(json: Self.envelope.wrap(ReportsRequest(number: 42).payload)) == ReportsRequest(number: 42))
    }

    @Test("the document's templateReport request (key \"templateInfo \" with a stray space)")
    func documentTemplateReport() throws {
        let text = """
        {
            "templateInfo ":"您的姓名是{name}, 年龄是{age}",
            "requestTime":1490588340964,
            "requestValidPeriod":30
        }
        """
        #expect(try TemplateReportRequest(json: try json(text)).templateInfo == "您的姓名是{name}, 年龄是{age}")
        #expect(try TemplateReportRequest(json: try json("{}")).templateInfo == "")
    }

    @Test("the document's querytemplate request (key \"templateId \")")
    func documentQuery() throws {
        let text = """
        {
          "appId": "EUCP-EMY-TEST-XXXX",
          "templateId ": "125688",
                "requestTime":1490588340964,
                "requestValidPeriod":30
            }
        """
        #expect(try TemplateQueryRequest(json: try json(text)).templateId == "125688")
        #expect(try TemplateQueryRequest(json: try json(#"{"templateId":125688}"#)).templateId == "125688")
    }

    @Test("the document's secure sendSingleFMS request")
    func documentSingle() throws {
        let text = """
        {
            "mobile": "159xxxxxxx",
            "templateId": "1245556",
            "content": {
                "name": "小明",
                "age": "10"
            },
            "customFmsId": "2018010709302911",
            "requestTime": 1490588340964,
            "requestValidPeriod": 30
        }
        """
        let request = try SingleSendRequest(json: try json(text))
        #expect(request == SingleSendRequest(mobile: "159xxxxxxx", templateId: "1245556",
                                             content: ["name": "小明", "age": "10"], customFmsId: "2018010709302911"))
    }

    @Test("the document's normal sendBatchFMS request")
    func documentBatch() throws {
        let text = """
        {
            "appId": "EUCP-EMY-TEST-XXXX",
            "requestTime": 1490588340964,
            "requestValidPeriod": 30,
            "templateId": "7883922",
            "fmses": [
                {
                    "mobile": "159xxxxxxxx",
                    "customFmsId": "2018010709302911",
                    "content": {
                        "name": "小明",
                        "age": "10"
                    }
                }, {
                    "mobile": "137xxxxxxxx",
                    "customFmsId": "2018010709302912",
                    "content": {
                        "name": "小红",
                        "age": "10"
                    }
                }
            ]
        }
        """
        let request = try BatchSendRequest(json: try json(text))
        #expect(request.templateId == "7883922")
        #expect(request.entries == [
            BatchEntry(mobile: "159xxxxxxxx", customFmsId: "2018010709302911", content: ["name": "小明", "age": "10"]),
            BatchEntry(mobile: "137xxxxxxxx", customFmsId: "2018010709302912", content: ["name": "小红", "age": "10"]),
        ])
    }

    @Test("the document's secure batch example (customFmsId \" 2018010709302911\", a stray ';') is refused as JSON but its values trim")
    func documentSecureBatch() throws {
        let asPrinted = #"{"requestTime":1490588340964,"requestValidPeriod":30,"templateId":"7883922"; "fmses":[]}"#
        let error = #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(asPrinted, options: .relaxed) }
        #expect(error?.offset == 75)
        let fixed = #"{"templateId":"7883922","fmses":[{"mobile":"159xxxxxxxx","customFmsId":" 2018010709302911","content":{"name":"小明","age":"10"}}]}"#
        #expect(try BatchSendRequest(json: try json(fixed)).entries.first?.customFmsId == "2018010709302911")
    }

    struct ContentCase: Sendable, CustomTestStringConvertible {
        let label: String
        let request: String
        let expected: TemplateVariables
        var testDescription: String { label }
    }

    static let contentCases: [ContentCase] = [
        ContentCase(label: "object", request: #"{"mobile":"1","templateId":"2","content":{"name":"x","age":"10"}}"#,
                    expected: ["name": "x", "age": "10"]),
        ContentCase(label: "JSON in a string", request: #"{"mobile":"1","templateId":"2","content":"{\"name\":\"x\",\"age\":\"10\"}"}"#,
                    expected: ["name": "x", "age": "10"]),
        ContentCase(label: "vendor demo single quotes", request: #"{"mobile":"1","templateId":"2","content":"{'name':'x'}"}"#,
                    expected: ["name": "x"]),
        ContentCase(label: "document's bare keys", request: #"{"mobile":"1","templateId":"2","content":"{name:'小明', age:10}"}"#,
                    expected: ["name": "小明", "age": "10"]),
        ContentCase(label: "absent", request: #"{"mobile":"1","templateId":"2"}"#, expected: [:]),
        ContentCase(label: "null", request: #"{"mobile":"1","templateId":"2","content":null}"#, expected: [:]),
        ContentCase(label: "empty string", request: #"{"mobile":"1","templateId":"2","content":"  "}"#, expected: [:]),
        ContentCase(label: "empty object", request: #"{"mobile":"1","templateId":"2","content":{}}"#, expected: [:]),
        ContentCase(label: "non-string values rendered", request: #"{"mobile":"1","templateId":"2","content":{"n":10,"b":true,"d":1.5,"z":null," k ":" v "}}"#,
                    expected: ["n": "10", "b": "true", "d": "1.5", "z": "", "k": "v"]),
    ]

    @Test("SingleSendRequest(json:) reads content in every shape", arguments: contentCases)
    func singleContent(_ item: ContentCase) throws {
        let request = try SingleSendRequest(json: try json(item.request))
        #expect(request.content == item.expected)
        #expect(request.mobile == "1")
        #expect(request.templateId == "2")
        #expect(request.customFmsId == nil)
    }

    @Test("BatchSendRequest(json:) reads each entry's content in every shape", arguments: contentCases)
    func batchContent(_ item: ContentCase) throws {
        let entry = try json(item.request)
        let request = try BatchSendRequest(json: .object([JSONMember("templateId", .string("t")),
                                                          JSONMember("fmses", .array([entry, entry]))]))
        #expect(request.entries.count == 2)
        #expect(request.entries.allSatisfy { $0.content == item.expected && $0.mobile == "1" })
    }

    @Test("missing mobile and templateId read as empty on the gateway side (the gateway answers the code)")
    func missingIds() throws {
        let request = try SingleSendRequest(json: try json(#"{"requestTime":1}"#))
        #expect(request == SingleSendRequest(mobile: "", templateId: ""))
        #expect(try SingleSendRequest(json: try json(#"{"mobile":" 15900000001 ","templateId":12}"#))
                == SingleSendRequest(mobile: "15900000001", templateId: "12"))
    }

    @Test("a content that is no object is a FieldError naming the field",
          arguments: [(#"{"content":"not json"}"#, "content"), (#"{"content":"[1,2]"}"#, "content"),
                      (#"{"content":[1]}"#, "content"), (#"{"content":5}"#, "content"),
                      (#"{"content":"{'a':}"}"#, "content")])
    func badContent(_ text: String, field: String) throws {
        let error = #expect(throws: FieldError.self) { try SingleSendRequest(json: try json(text)) }
        #expect(error?.field == field)
    }

    @Test("batch errors name the entry: fmses[1], fmses[0].content, fmses")
    func batchErrors() throws {
        let notObject = #expect(throws: FieldError.self) {
            try BatchSendRequest(json: try json(#"{"templateId":"1","fmses":[{"mobile":"1"},"13700000002"]}"#))
        }
        #expect(notObject?.field == "fmses[1]")
        #expect(notObject?.problem == "expected an object, got string")

        let badContent = #expect(throws: FieldError.self) {
            try BatchSendRequest(json: try json(#"{"templateId":"1","fmses":[{"mobile":"1","content":"oops"}]}"#))
        }
        #expect(badContent?.field == "fmses[0].content")

        let notArray = #expect(throws: FieldError.self) {
            try BatchSendRequest(json: try json(#"{"templateId":"1","fmses":{"mobile":"1"}}"#))
        }
        #expect(notArray?.field == "fmses")
        #expect(notArray?.description == "field 'fmses': expected an array, got object")

    }

    @Test("a bad mobile or customFmsId inside an entry is named with its path")
    func batchEntryFieldPath() throws {
        let badMobile = #expect(throws: FieldError.self) {
            try BatchSendRequest(json: try json(#"{"templateId":"1","fmses":[{"mobile":"1"},{"mobile":["1"]}]}"#))
        }
        let badCustom = #expect(throws: FieldError.self) {
            try BatchSendRequest(json: try json(#"{"templateId":"1","fmses":[{"mobile":"1","customFmsId":{}}]}"#))
        }
        // What the code does today (so this test notices any change):
        #expect(badMobile?.problem == "expected a string, got array")
        #expect(badCustom?.problem == "expected a string, got object")
        #expect(badMobile?.field == "fmses[1].mobile")
        #expect(badCustom?.field == "fmses[0].customFmsId")
    }

    @Test("a batch without fmses reads as empty (the gateway answers ERROR_MOBILE_EMPTY)")
    func batchWithoutEntries() throws {
        #expect(try BatchSendRequest(json: try json(#"{"templateId":"1"}"#)).entries.isEmpty)
        #expect(try BatchSendRequest(json: try json(#"{"templateId":"1","fmses":null}"#)).entries.isEmpty)
        #expect(try BatchSendRequest(json: try json(#"{"templateId":"1","fmses":[]}"#)).entries.isEmpty)
    }

    static let numberCases: [(String, Int64)] = [
        (#"{"number":0}"#, 500),
        (#"{"number":-1}"#, 500),
        (#"{"number":501}"#, 500),
        (#"{"number":1000000}"#, 500),
        (#"{"number":9223372036854775807}"#, 500),
        (#"{"number":1}"#, 1),
        (#"{"number":300}"#, 300),
        (#"{"number":500}"#, 500),
        (#"{"number":499}"#, 499),
        (#"{"number":"300"}"#, 300),
        (#"{"number":" 7 "}"#, 7),
        (#"{"number":"0"}"#, 500),
        (#"{"number":300.0}"#, 300),
        (#"{"number":null}"#, 500),
        (#"{}"#, 500),
        (#"{"number ":20}"#, 20),
    ]

    @Test("ReportsRequest(json:) clamps out-of-range number to 500", arguments: numberCases)
    func reportsNumber(_ text: String, _ expected: Int64) throws {
        #expect(try ReportsRequest(json: try json(text)).number == expected)
    }

    @Test("the document's getFMSReport request reads number 300")
    func documentReports() throws {
        let text = """
        {
          "appId": "EUCP-EMY-TEST-XXXX",
          "number":300,
            "requestTime":1490588340964,
            "requestValidPeriod":30
        }
        """
        #expect(try ReportsRequest(json: try json(text)).number == 300)
    }

    @Test("a non-integer number is a FieldError naming it", arguments: [#"{"number":"abc"}"#, #"{"number":1.5}"#, #"{"number":true}"#, #"{"number":[300]}"#])
    func reportsBadNumber(_ text: String) throws {
        let error = #expect(throws: FieldError.self) { try ReportsRequest(json: try json(text)) }
        #expect(error?.field == "number")
    }

    @Test("BatchEntry.json puts mobile, customFmsId, content in order and omits a nil customFmsId")
    func batchEntryJSON() {
        #expect(JSONWriter.string(of: BatchEntry(mobile: "1", customFmsId: "c", content: ["b": "2", "a": "1"]).json)
                == #"{"mobile":"1","customFmsId":"c","content":{"a":"1","b":"2"}}"#)
        #expect(JSONWriter.string(of: BatchEntry(mobile: "1").json) == #"{"mobile":"1","content":{}}"#)
    }
}
