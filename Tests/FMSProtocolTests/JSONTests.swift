import Foundation
import Testing
@testable import FMSProtocol

@Suite("JSON parser: values and round trips")
struct JSONParserTests {
    @Test("scalars parse to the right cases")
    func scalars() throws {
        #expect(try json("null") == .null)
        #expect(try json("true") == .bool(true))
        #expect(try json("false") == .bool(false))
        #expect(try json("0") == .integer(0))
        #expect(try json("-0") == .integer(0))
        #expect(try json("42") == .integer(42))
        #expect(try json("-17") == .integer(-17))
        #expect(try json("1.5") == .double(1.5))
        #expect(try json("-0.25") == .double(-0.25))
        #expect(try json("1e3") == .double(1000))
        #expect(try json("2.5E-3") == .double(0.0025))
        #expect(try json("-1e+2") == .double(-100))
        #expect(try json("\"\"") == .string(""))
        #expect(try json("  \n\t\r 7 \n") == .integer(7))
    }

    @Test("millisecond timestamps and the Int64 extremes stay exact integers",
          arguments: [Int64(1_490_588_340_964), 1_732_579_200_123, 9_007_199_254_740_993, Int64.max, Int64.min, -1_490_588_340_964])
    func exactIntegers(_ number: Int64) throws {
        let value = try json("{\"requestTime\":\(number)}")
        #expect(value["requestTime"] == .integer(number))
        #expect(JSONWriter.string(of: value) == "{\"requestTime\":\(number)}")
    }

    @Test("an integer beyond Int64 becomes a double")
    func hugeInteger() throws {
        #expect(try json("9223372036854775808") == .double(9.223372036854775808e18))
    }

    @Test("doubles round trip through the writer", arguments: [0.1, -0.5, 3.14159, 1e-7, 1e20, -2.5e300, 123456.789])
    func doubles(_ number: Double) throws {
        let text = JSONWriter.string(of: .double(number))
        #expect(try json(text) == .double(number), "written as \(text)")
    }

    @Test("integral doubles are written without a fraction; non-finite ones as null")
    func integralDoubles() {
        #expect(JSONWriter.string(of: .double(3.0)) == "3")
        #expect(JSONWriter.string(of: .double(-10000)) == "-10000")
        #expect(JSONWriter.string(of: .double(.nan)) == "null")
        #expect(JSONWriter.string(of: .double(.infinity)) == "null")
    }

    @Test("nested document round trips and keeps member order")
    func nestedRoundTrip() throws {
        let text = #"{"z":1,"a":[1,-2,3.5,true,false,null,"x",{"deep":[[],{}]}],"m":{"b":{"c":{"d":"e"}}},"e":[]}"#
        let value = try json(text)
        #expect(value.objectMembers?.map(\.key) == ["z", "a", "m", "e"])
        #expect(value["a"]?.arrayElements?.count == 8)
        #expect(value["m"]?["b"]?["c"]?["d"] == .string("e"))
        #expect(JSONWriter.string(of: value) == text)
        #expect(try json(JSONWriter.string(of: value)) == value)
    }

    @Test("whitespace between tokens is ignored")
    func whitespace() throws {
        let spaced = try json(" { \"a\" :\n[ 1 ,\t2 ] ,\r\n \"b\" : { } } ")
        #expect(spaced == .object([JSONMember("a", .array([.integer(1), .integer(2)])), JSONMember("b", .object([]))]))
    }

    @Test("unicode: Chinese in UTF-8, \\u escapes and a surrogate pair")
    func unicode() throws {
        #expect(try json(#""闪推 测试""#) == .string("闪推 测试"))
        #expect(try json(#""\u95ea\u63A8""#) == .string("闪推"))
        #expect(try json(#""\uD83D\uDE00""#) == .string("😀"))
        #expect(try json(#""a\ud83d\ude00b""#) == .string("a😀b"))
        #expect(try json(#""\u00e9\u0041""#) == .string("éA"))
        // The writer emits the emoji as raw UTF-8 and the parser reads it back.
        let written = JSONWriter.bytes(of: .string("😀"))
        #expect(written == [0x22, 0xF0, 0x9F, 0x98, 0x80, 0x22])
        #expect(try JSONParser.parse(written) == .string("😀"))
    }

    @Test("unpaired or invalid surrogates are refused",
          arguments: [#""\uD83D""#, #""\uD83Dx""#, #""\uDE00""#, #""\uD83D\u0041""#, #""\uD83D\uD83D""#])
    func badSurrogates(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { try json(text) }
    }

    @Test("escape sequences decode")
    func escapes() throws {
        #expect(try json(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{08}\u{0C}\n\r\t"))
        #expect(try json(#""say \"hi\"""#) == .string("say \"hi\""))
        #expect(try json(#""\u0000""#) == .string("\u{0}"))
    }

    @Test("bad escapes are refused with their offset")
    func badEscapes() throws {
        let bad = #expect(throws: JSONSyntaxError.self) { try json(#""ab\x""#) }
        #expect(bad?.offset == 5)  // just past the escape character
        let hex = #expect(throws: JSONSyntaxError.self) { try json(#""\u12G4""#) }
        #expect(hex?.offset == 5)  // the 'G'
        #expect(throws: JSONSyntaxError.self) { try json(#""\u12""#) }
    }

    @Test("raw control characters inside a string are refused")
    func rawControl() {
        let error = #expect(throws: JSONSyntaxError.self) { try json("\"a\nb\"") }
        #expect(error?.offset == 2)
        #expect(throws: JSONSyntaxError.self) { try json("\"a\\n\tb\"") }
    }

    @Test("invalid UTF-8 in a string is refused")
    func invalidUTF8() {
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse([0x22, 0x5C, 0x6E, 0xFF, 0x22]) }
    }

    @Test("strings with every escapable character round trip through writer and parser",
          arguments: ["plain", "quote \" inside", "back\\slash", "tab\tnew\nline\rret", "\u{0}\u{1}\u{1F}\u{7F}",
                      "中文 / 斜杠", "emoji 😀👍🏽", "{'name':'x'}", "\u{08}\u{0C}", ""])
    func stringRoundTrip(_ text: String) throws {
        let written = JSONWriter.string(of: .string(text))
        #expect(try json(written) == .string(text))
        // No raw control character survives in the output.
        #expect(!written.utf8.contains { $0 < 0x20 })
    }
}

@Suite("JSON parser: strict errors and offsets")
struct JSONStrictErrorTests {
    struct BadCase: Sendable, CustomTestStringConvertible {
        let text: String
        let offset: Int?
        var testDescription: String { text.count > 40 ? String(text.prefix(40)) + "…" : text }
    }

    static let cases: [BadCase] = [
        BadCase(text: "[1,2,]", offset: 5),                 // trailing comma in an array
        BadCase(text: #"{"a":1,}"#, offset: 7),             // trailing comma in an object
        BadCase(text: #"{'a':1}"#, offset: 1),              // single-quoted key
        BadCase(text: #"{"a":'x'}"#, offset: 5),            // single-quoted value
        BadCase(text: "'x'", offset: 0),
        BadCase(text: #"{a:1}"#, offset: 1),                // bare key
        BadCase(text: #"x{"a":1}"#, offset: 0),             // leading garbage
        BadCase(text: "\u{FEFF}{}", offset: 0),             // a byte order mark is garbage too
        BadCase(text: #"{"a":1}x"#, offset: 7),             // trailing garbage
        BadCase(text: #"{"a":1} {"b":2}"#, offset: 8),      // two documents
        BadCase(text: "[1] ,", offset: 4),
        BadCase(text: #""abc"#, offset: 4),                 // unterminated string
        BadCase(text: #"{"abc"#, offset: 5),
        BadCase(text: #"{"a":"b"#, offset: 7),
        BadCase(text: "", offset: 0),                       // empty input
        BadCase(text: "   ", offset: 3),
        BadCase(text: "[", offset: 1),
        BadCase(text: "{", offset: 1),
        BadCase(text: #"{"a" 1}"#, offset: 5),              // missing colon
        BadCase(text: #"{"a":1 "b":2}"#, offset: 7),        // missing comma
        BadCase(text: "[1 2]", offset: 3),
        BadCase(text: "tru", offset: 0),
        BadCase(text: "nul", offset: 0),
        BadCase(text: "True", offset: 0),
        BadCase(text: "-", offset: 1),
        BadCase(text: "1.", offset: 2),
        BadCase(text: ".5", offset: 0),
        BadCase(text: "+1", offset: 0),
        BadCase(text: "1e", offset: 2),
        BadCase(text: "[,1]", offset: 1),
        BadCase(text: "NaN", offset: 0),
    ]

    @Test("strict mode refuses malformed text at the right byte", arguments: cases)
    func refused(_ bad: BadCase) {
        let error = #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(bad.text, options: .strict) }
        if let offset = bad.offset {
            #expect(error?.offset == offset)
        }
        #expect(error.map { !$0.reason.isEmpty } == true)
    }

    @Test("strict mode refuses numbers with leading zeros", arguments: [("01", 1), ("-01", 2), ("[00]", 2), ("007", 1)])
    func leadingZeros(_ text: String, _ offset: Int) {
        let error = #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(text, options: .strict) }
        #expect(error?.offset == offset)
    }

    @Test("a single zero, negative zero and zero fractions are fine")
    func zeros() throws {
        #expect(try JSONParser.parse("0") == .integer(0))
        #expect(try JSONParser.parse("[0,-0,0.5,0e1]") == .array([.integer(0), .integer(0), .double(0.5), .double(0)]))
    }

    @Test("the error description names the offset, reason and an excerpt")
    func description() {
        let error = #expect(throws: JSONSyntaxError.self) {
            try JSONParser.parse(#"{"templateId":"1","number":30,}"#, options: .strict)
        }
        let text = error?.description ?? ""
        #expect(text.hasPrefix("invalid JSON at byte 30 ("))
        #expect(text.contains("number"))
        #expect((error?.excerpt.utf8.count ?? 99) <= 40)
    }

    @Test("nesting of 128 levels parses; 129 is refused at the 129th bracket")
    func depth() throws {
        let ok = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
        var value = try JSONParser.parse(ok)
        var levels = 0
        while case .array(let elements) = value {
            levels += 1
            guard let first = elements.first else { break }
            value = first
        }
        #expect(levels == 128)

        let deep = String(repeating: "[", count: 129) + String(repeating: "]", count: 129)
        let error = #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(deep) }
        #expect(error?.offset == 128)

        let objects = String(repeating: #"{"a":"#, count: 129) + "1" + String(repeating: "}", count: 129)
        let objectError = #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(objects) }
        #expect(objectError?.offset == 128 * 5)
    }

    @Test("hostile depth (100 000 brackets) is refused without crashing")
    func hostileDepth() {
        let bomb = String(repeating: "[", count: 100_000)
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(bomb, options: .relaxed) }
    }

    @Test("tolerant mode still refuses what is not a trailing comma")
    func tolerantLimits() {
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse("[,]", options: .tolerant) }
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse("{,}", options: .tolerant) }
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse("[1,,]", options: .tolerant) }
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(#"{'a':1}"#, options: .tolerant) }
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(#"{a:1}"#, options: .tolerant) }
    }
}

@Suite("JSON parser: tolerant and relaxed modes")
struct JSONLenientModeTests {
    @Test("tolerant mode accepts the vendor document's balance answer with its trailing comma")
    func vendorBalance() throws {
        let text = """
            {
                "balance": "10000",
            }
        """
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(text, options: .strict) }
        let value = try JSONParser.parse(text, options: .tolerant)
        #expect(value == .object([JSONMember("balance", .string("10000"))]))
    }

    @Test("tolerant mode accepts trailing commas in arrays and nested objects")
    func trailingCommas() throws {
        #expect(try JSONParser.parse("[1,2,]", options: .tolerant) == .array([.integer(1), .integer(2)]))
        #expect(try JSONParser.parse(#"{"a":[{"b":1,},],}"#, options: .tolerant)
                == .object([JSONMember("a", .array([.object([JSONMember("b", .integer(1))])]))]))
        #expect(try JSONParser.parse("[1 , ]", options: .tolerant) == .array([.integer(1)]))
    }

    @Test("relaxed mode parses the vendor demo's pseudo-JSON")
    func relaxed() throws {
        let value = try JSONParser.parse("{'name':'x', age: 10}", options: .relaxed)
        #expect(value == .object([JSONMember("name", .string("x")), JSONMember("age", .integer(10))]))
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse("{'name':'x', age: 10}", options: .strict) }
    }

    @Test("relaxed mode: the document's {name:小明, age:10} keys, escaped quotes and mixed quoting")
    func relaxedVariants() throws {
        #expect(try JSONParser.parse(#"{name:'小明', 'age':"10",}"#, options: .relaxed)
                == .object([JSONMember("name", .string("小明")), JSONMember("age", .string("10"))]))
        #expect(try JSONParser.parse(#"{'it\'s':'a \"b\"'}"#, options: .relaxed)
                == .object([JSONMember("it's", .string("a \"b\""))]))
        #expect(try JSONParser.parse(#"{"a":'don"t'}"#, options: .relaxed)
                == .object([JSONMember("a", .string("don\"t"))]))
    }

    @Test("relaxed mode still refuses unquoted values")
    func unquotedValues() {
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse("{name: 小明}", options: .relaxed) }
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse("{name: x}", options: .relaxed) }
    }
}

@Suite("JSONValue lookup and lenient accessors")
struct JSONValueAccessTests {
    @Test("subscript tolerates stray spaces in keys; an exact match wins")
    func spacedKeys() throws {
        let value = try json(#"{"receiveTime ":"2018-03-15 12:00:00"," templateId ":"7","state":"x","state ":"y"}"#)
        #expect(value["receiveTime"] == .string("2018-03-15 12:00:00"))
        #expect(value["templateId"] == .string("7"))
        #expect(value["state"] == .string("x"))
        #expect(value["missing"] == nil)
    }

    @Test("the full-width space U+3000 is trimmed from keys too")
    func fullWidthSpace() throws {
        #expect(try json("{\"mobile\u{3000}\":\"1\"}")["mobile"] == .string("1"))
    }

    @Test("subscript returns nil for null members and for non-objects")
    func nulls() throws {
        let value = try json(#"{"customFmsId":null,"desc ":null,"n":0}"#)
        #expect(value["customFmsId"] == nil)
        #expect(value["desc"] == nil)
        #expect(value["n"] == .integer(0))
        #expect(JSONValue.array([.integer(1)])["0"] == nil)
        #expect(JSONValue.string("x")["x"] == nil)
    }

    @Test("objectMembers and arrayElements only answer for their kind")
    func kinds() {
        #expect(JSONValue.object([]).objectMembers == [])
        #expect(JSONValue.array([]).objectMembers == nil)
        #expect(JSONValue.array([.null]).arrayElements == [.null])
        #expect(JSONValue.object([]).arrayElements == nil)
        #expect([JSONValue.null, .bool(true), .integer(1), .double(1.5), .string(""), .array([]), .object([])].map(\.kindName)
                == ["null", "boolean", "number", "number", "string", "array", "object"])
    }

    static let stringCases: [(JSONValue, String?)] = [
        (.string("  hello \t"), "hello"),
        (.string(" DELIVRD"), "DELIVRD"),
        (.string("\u{3000}全角\u{3000}"), "全角"),
        (.string("   "), ""),
        (.integer(10000), "10000"),
        (.integer(-5), "-5"),
        (.double(2.0), "2"),
        (.double(2.5), "2.5"),
        (.double(1_490_588_340_964), "1490588340964"),
        (.bool(true), "true"),
        (.bool(false), "false"),
        (.null, nil),
        (.array([.string("x")]), nil),
        (.object([]), nil),
    ]

    @Test("lenientString renders numbers and booleans, trims strings, refuses containers", arguments: stringCases)
    func lenientString(_ value: JSONValue, _ expected: String?) {
        #expect(value.lenientString == expected)
    }

    static let integerCases: [(JSONValue, Int64?)] = [
        (.integer(42), 42),
        (.string("42"), 42),
        (.string(" 10000 "), 10000),
        (.string("-7"), -7),
        (.string("4.0"), 4),
        (.string("1490588340964"), 1_490_588_340_964),
        (.double(7.0), 7),
        (.double(7.5), nil),
        (.string("4.5"), nil),
        (.string("abc"), nil),
        (.string(""), nil),
        (.string("12abc"), nil),
        (.bool(true), nil),
        (.null, nil),
        (.array([.integer(1)]), nil),
        (.object([JSONMember("balance", .integer(1))]), nil),
    ]

    @Test("lenientInteger reads numbers and digit strings only", arguments: integerCases)
    func lenientInteger(_ value: JSONValue, _ expected: Int64?) {
        #expect(value.lenientInteger == expected)
    }

    @Test("trimmingSpaces trims spaces, tabs, line breaks and U+3000 only at the ends")
    func trimming() {
        #expect(" \t\n\r a b \u{3000}".trimmingSpaces() == "a b")
        #expect("\n\nx\r\r".trimmingSpaces() == "x")
        #expect("ab".trimmingSpaces() == "ab")
        #expect("".trimmingSpaces() == "")
        #expect("\u{3000}".trimmingSpaces() == "")
        #expect("\u{00A0}x".trimmingSpaces() == "\u{00A0}x")
    }

    @Test("a CRLF line break at either end is trimmed like any other line break")
    func trimmingCRLF() {
        #expect("DELIVRD\r\n".trimmingSpaces() == "DELIVRD")
        #expect("\r\n 10000".trimmingSpaces() == "10000")
        #expect(ResultCode("SUCCESS\r\n") == .success)
        #expect(ReportState("DELIVRD\r\n") == .delivered)
        #expect(ProtocolText.isValidMobile("13800138000\r\n"))
        #expect(JSONValue.string("10000\r\n").lenientInteger == 10000)
    }
}

@Suite("JSON writer")
struct JSONWriterTests {
    @Test("output is byte-exact for a known object")
    func knownObject() {
        let value = JSONValue.object([
            JSONMember("templateInfo", .string("您的姓名是{name}, 年龄是{age}")),
            JSONMember("url", .string("https://www.emay.cn/a/b")),
            JSONMember("quote", .string("say \"hi\"\\")),
            JSONMember("ctl", .string("a\nb\tc\rd\u{1}e\u{1F}f\u{08}")),
            JSONMember("n", .integer(-1_490_588_340_964)),
            JSONMember("d", .double(0.5)),
            JSONMember("ok", .bool(true)),
            JSONMember("none", .null),
            JSONMember("list", .array([.integer(1), .string("二"), .array([]), .object([])])),
        ])
        let expected = #"{"templateInfo":"您的姓名是{name}, 年龄是{age}","url":"https://www.emay.cn/a/b","quote":"say \"hi\"\\","ctl":"a\nb\tc\rd\u0001e\u001ff\u0008","n":-1490588340964,"d":0.5,"ok":true,"none":null,"list":[1,"二",[],{}]}"#
        #expect(JSONWriter.string(of: value) == expected)
        #expect(JSONWriter.bytes(of: value) == Array(expected.utf8))
    }

    @Test("Chinese and '/' are not escaped")
    func noEscaping() {
        let bytes = JSONWriter.bytes(of: .string("小明/小红"))
        #expect(bytes == Array("\"小明/小红\"".utf8))
        #expect(!String(decoding: bytes, as: UTF8.self).contains("\\u"))
        #expect(!String(decoding: bytes, as: UTF8.self).contains("\\/"))
    }

    @Test("keys are escaped like values")
    func keysEscaped() {
        #expect(JSONWriter.string(of: .object([JSONMember("a\"b\n", .integer(1))])) == #"{"a\"b\n":1}"#)
    }

    @Test("write(into:) appends to existing bytes and writeString quotes")
    func appendAPI() {
        var output = Array("prefix:".utf8)
        JSONWriter.write(.array([.null]), into: &output)
        #expect(output == Array("prefix:[null]".utf8))
        var quoted: [UInt8] = []
        JSONWriter.writeString("闪\"", into: &quoted)
        #expect(quoted == Array(#""闪\"""#.utf8))
    }

    @Test("the writer reproduces the openssl fixture's plaintext from its parse")
    func fixtureRoundTrip() throws {
        let bytes = try Fixture.bytes("batch.json")
        #expect(JSONWriter.bytes(of: try JSONParser.parse(bytes)) == bytes)
    }
}
