import Foundation
import Testing

/// `fms batch` from CSV and JSON-lines files and stdin, against `fms sim`.
@Suite("fms batch")
struct BatchCommandTests {
    static let template = "{name} 您好，您的包裹已到 {place}"

    /// Quotes a CSV field.
    static func quoted(_ field: String) -> String { "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    /// 650 rows with quoted fields holding commas, quotes and Chinese text: three requests (300, 300, 50).
    @Test func csvFileOf650RowsGoesOutInThreeRequestsInOrder() async throws {
        try await withSimulator { sim in
            let id = try sim.registerTemplate(Self.template)
            let rows = (0..<650).map { index in
                (mobile: String(format: "138%08d", index * 7), id: "row-\(index)",
                 name: "张三, 第\(index)号", place: "北京市 \"海淀\", 中关村\(index)")
            }
            let csv = "mobile,id,name,place\n"
                + rows.map { [$0.mobile, $0.id, Self.quoted($0.name), Self.quoted($0.place)].joined(separator: ",") }
                    .joined(separator: "\n") + "\n"
            let path = try sim.directory.write("messages.csv", csv)
            let requestsBefore = try await sim.requestCount()

            let result = try sim.fms(["batch", "--template", id, path])
            #expect(result.status == 0, "\(result)")
            #expect(result.stderr.isEmpty)
            #expect(result.lines.count == 650)
            for (line, row) in zip(result.lines, rows) {
                let parts = fields(line)
                #expect(parts.count == 3 && parts[0] == row.mobile && parts[2] == row.id, "line in input order: \(line)")
            }
            #expect(Set(result.lines.map { fields($0)[1] }).count == 650, "650 distinct fmsIds")

            #expect(try await sim.requestCount() - requestsBefore == 3, "650 messages take three requests")
            let ledger = try await sim.ledger()
            #expect(ledger.count == 650)
            let byId = Dictionary(ledger.map { ($0.customFmsId ?? "", $0) }, uniquingKeysWith: { first, _ in first })
            for row in rows {
                let entry = byId[row.id]
                #expect(entry?.mobile == row.mobile)
                #expect(entry?.content == ["name": row.name, "place": row.place], "\(row.id)")
                #expect(entry?.templateId == id)
            }
            #expect(try sim.fms(["balance"]).lines == ["9350"])
        }
    }

    @Test func csvFromStandardInput() async throws {
        try await withSimulator { sim in
            let id = try sim.registerTemplate(Self.template)
            // Columns in any order, no id column, CRLF line ends, a BOM, a blank line and a quoted line break.
            let csv = "\u{FEFF}place,mobile,name\r\n\"上海, 浦东\",13800138000,王五\r\n\r\n\"line\r\nbreak\",13800138001,赵六\r\n"
            let result = try sim.fms(["batch", "--template", id, "-"], stdin: Data(csv.utf8))
            #expect(result.status == 0, "\(result)")
            #expect(result.lines.map { fields($0)[0] } == ["13800138000", "13800138001"])
            #expect(result.lines.allSatisfy { fields($0)[2] == "-" })
            let ledger = try await sim.ledger()
            #expect(ledger.first { $0.mobile == "13800138000" }?.content == ["name": "王五", "place": "上海, 浦东"])
            #expect(ledger.first { $0.mobile == "13800138001" }?.content == ["name": "赵六", "place": "line\r\nbreak"])
        }
    }

    @Test(arguments: ["\n", "\r\n"])
    func jsonLines(_ lineEnd: String) async throws {
        try await withSimulator { sim in
            let id = try sim.registerTemplate(Self.template)
            let lines = [
                #"{"mobile": "13800138000", "id": "j-1", "vars": {"name": "张三", "place": "深圳, 南山"}}"#,
                "",
                #"{"mobile": " 13800138001 ", "vars": {"name": 42, "place": "x"}}"#,
                #"{"vars": {"name": "n", "place": "p"}, "id": "j-3", "mobile": "13800138002"}"#,
            ]
            let path = try sim.directory.write("messages.jsonl", lines.joined(separator: lineEnd) + lineEnd)
            let result = try sim.fms(["batch", "--template", id, path, "--json"])
            #expect(result.status == 0, "\(result)")
            let list = try #require(try parseJSON(result.stdout) as? [[String: Any]])
            #expect(list.map { $0["mobile"] as? String } == ["13800138000", "13800138001", "13800138002"])
            #expect(list.map { $0["customFmsId"] as? String } == ["j-1", nil, "j-3"])
            #expect(list.allSatisfy { ($0["fmsId"] as? String)?.isEmpty == false })
            let ledger = try await sim.ledger()
            #expect(ledger.first { $0.customFmsId == "j-1" }?.content == ["name": "张三", "place": "深圳, 南山"])
            #expect(ledger.first { $0.mobile == "13800138001" }?.content["name"] == "42")

            // The same from standard input.
            let fromStdin = try sim.fms(["batch", "--template", id, "-"], stdin: Data(lines.joined(separator: lineEnd).utf8))
            #expect(fromStdin.status == 0, "\(fromStdin)")
            #expect(fromStdin.lines.count == 3)
        }
    }

    /// A batch file with a mistake: what it holds, the exit status and what stderr names.
    struct BadFile: Sendable, CustomTestStringConvertible {
        var name: String
        var contents: String?
        var status: Int32 = 65
        var mentions: [String]
        var testDescription: String { name }
    }

    static let badFiles: [BadFile] = [
        BadFile(name: "bad mobile on line 4",
                contents: "mobile,name,place\n13800138000,a,b\n13800138001,a,b\n12345,a,b\n13800138003,a,b\n",
                mentions: ["messages.csv:4:", "12345"]),
        BadFile(name: "too many fields", contents: "mobile,name,place\n13800138000,a,b\n13800138001,a,b,c\n",
                mentions: ["messages.csv:3:", "4 fields", "3"]),
        BadFile(name: "too few fields", contents: "mobile,name,place\n13800138000,\"a,b\"\n",
                mentions: ["messages.csv:2:", "2 fields"]),
        BadFile(name: "no mobile column", contents: "phone,name,place\n13800138000,a,b\n",
                mentions: ["messages.csv:1:", "'mobile'"]),
        BadFile(name: "column twice", contents: "mobile,name,name\n13800138000,a,b\n",
                mentions: ["messages.csv:1:", "'name'"]),
        BadFile(name: "unclosed quote", contents: "mobile,name,place\n13800138000,a,b\n13800138001,\"a,b\n",
                mentions: ["messages.csv:3:", "quote"]),
        BadFile(name: "id too long", contents: "mobile,id,name,place\n13800138000,\(String(repeating: "i", count: 33)),a,b\n",
                mentions: ["messages.csv:2:", "32"]),
        BadFile(name: "unknown JSON field",
                contents: #"{"mobile": "13800138000", "vars": {"name": "a", "place": "b"}}"# + "\n"
                    + #"{"mobile": "13800138001", "variables": {"name": "a"}}"# + "\n",
                mentions: ["messages.csv:2:", "'variables'"]),
        BadFile(name: "JSON without mobile", contents: #"{"id": "x"}"# + "\n", mentions: ["messages.csv:1:", "'mobile'"]),
        BadFile(name: "broken JSON on line 3",
                contents: #"{"mobile": "13800138000"}"# + "\n\n" + #"{"mobile": "13800138001""# + "\n",
                mentions: ["messages.csv:3:"]),
        BadFile(name: "JSON vars not an object", contents: #"{"mobile": "13800138000", "vars": ["a"]}"# + "\n",
                mentions: ["messages.csv:1:", "vars"]),
        BadFile(name: "empty file", contents: "", mentions: ["messages.csv", "no messages"]),
        BadFile(name: "header only", contents: "mobile,name,place\n", mentions: ["messages.csv", "no messages"]),
        BadFile(name: "bad mobile on line 500 of 650",
                contents: "mobile,name,place\n" + (2...651).map { $0 == 500 ? "1380013,a,b" : "138\(String(format: "%08d", $0)),a,b" }
                    .joined(separator: "\n") + "\n",
                mentions: ["messages.csv:500:", "1380013"]),
        BadFile(name: "nonexistent file", contents: nil, status: 66, mentions: ["messages.csv", "no such file"]),
    ]

    @Test("a bad batch file names file:line and sends nothing", arguments: badFiles)
    func badFile(_ item: BadFile) async throws {
        try await withSimulator { sim in
            let id = try sim.registerTemplate(Self.template)
            let path = sim.directory.path("messages.csv")
            if let contents = item.contents { try sim.directory.write("messages.csv", contents) }
            let requestsBefore = try await sim.requestCount()
            let result = try sim.fms(["batch", "--template", id, path])
            #expect(result.status == item.status, "\(result)")
            #expect(result.stdout.isEmpty)
            for text in item.mentions {
                #expect(result.stderr.contains(text), "stderr names \(text): \(result.stderr)")
            }
            #expect(try await sim.requestCount() == requestsBefore, "no request was made")
            #expect(try await sim.ledger().isEmpty, "nothing was sent")

            if let contents = item.contents {
                let viaStdin = try sim.fms(["batch", "--template", id, "-"], stdin: Data(contents.utf8))
                #expect(viaStdin.status == item.status, "\(viaStdin)")
                let mentions = item.mentions.map { $0.replacingOccurrences(of: "messages.csv", with: "<stdin>") }
                for text in mentions {
                    #expect(viaStdin.stderr.contains(text), "stderr names \(text): \(viaStdin.stderr)")
                }
                #expect(try await sim.ledger().isEmpty, "nothing was sent")
            }
        }
    }

    @Test func unknownTemplateSendsNothing() async throws {
        try await withSimulator { sim in
            let result = try sim.fms(["batch", "--template", "99999999999999999999", "-"],
                                     stdin: Data("mobile\n13800138000\n13800138001\n".utf8))
            #expect(result.status == 65, "\(result)")
            #expect(result.stderr.contains("ERROR_TEMPLATE_ID_ERROR"))
            #expect(result.stdout.isEmpty)
            #expect(try await sim.ledger().isEmpty)
        }
    }

    @Test func notUTF8IsADataError() async throws {
        try await withSimulator { sim in
            let id = try sim.registerTemplate(Self.template)
            let result = try sim.fms(["batch", "--template", id, "-"], stdin: Data([0x6D, 0x6F, 0x62, 0xFF, 0xFE, 0x0A]))
            #expect(result.status == 65, "\(result)")
            #expect(result.stderr.contains("UTF-8"))
            #expect(try await sim.ledger().isEmpty)
        }
    }
}
