import Foundation
import Testing

/// Parses one JSON document printed by `fms --json`.
func parseJSON(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Any {
    do {
        return try JSONSerialization.jsonObject(with: Data(text.utf8))
    } catch {
        throw TestFailure("not JSON: \(text)")
    }
}

/// The tab-separated fields of a line.
func fields(_ line: String) -> [String] { line.components(separatedBy: "\t") }

/// template, send, reports and balance against `fms sim`.
@Suite("fms gateway commands against fms sim")
struct GatewayCommandTests {
    static let template = "您好 {name}，验证码 {code}"

    @Test func templateReportPrintsTheId() async throws {
        try await withSimulator { sim in
            let text = try sim.fms(["template", "report", Self.template])
            #expect(text.status == 0, "\(text)")
            #expect(text.lines.count == 1)
            let id = try #require(text.lines.first)
            #expect(!id.isEmpty && id.allSatisfy(\.isNumber), "template id '\(id)'")
            #expect(text.stderr.isEmpty)

            let json = try sim.fms(["template", "report", "--json", Self.template])
            #expect(json.status == 0, "\(json)")
            let object = try #require(try parseJSON(json.stdout) as? [String: Any])
            #expect(object["templateId"] as? String == id, "the same text gets the same id")

            // ${name} is accepted too; a different text gets another id.
            let other = try sim.registerTemplate("Code ${code}")
            #expect(other != id)
        }
    }

    @Test func templateReportRefusesBadTemplates() async throws {
        try await withSimulator { sim in
            let tooLong = String(repeating: "长", count: 71)
            let result = try sim.fms(["template", "report", tooLong])
            #expect(result.status == 65, "\(result)")
            #expect(result.stdout.isEmpty)
            #expect(try sim.fms(["template", "report", String(repeating: "长", count: 70)]).status == 0)
        }
    }

    @Test func templateQueryTextAndJSON() async throws {
        try await withSimulator { sim in
            let id = try sim.registerTemplate(Self.template)
            let text = try sim.fms(["template", "query", id])
            #expect(text.status == 0, "\(text)")
            #expect(text.lines == ["cmcc\tapproved", "cucc\tapproved", "ctcc\tapproved"])

            let json = try sim.fms(["template", "query", id, "--json"])
            #expect(json.status == 0, "\(json)")
            let object = try #require(try parseJSON(json.stdout) as? [String: Any])
            #expect(object["templateId"] as? String == id)
            for carrier in ["cmcc", "cucc", "ctcc"] {
                let review = object[carrier] as? [String: Any]
                #expect(review?["code"] as? Int == 1, "\(carrier): \(json.stdout)")
                #expect(review?["status"] as? String == "approved")
            }

            // An unknown id is 'missing' (-1) at every carrier, not an error.
            let unknown = try sim.fms(["template", "query", "99999999999999999999", "--json"])
            #expect(unknown.status == 0, "\(unknown)")
            let missing = try #require(try parseJSON(unknown.stdout) as? [String: Any])
            for carrier in ["cmcc", "cucc", "ctcc"] {
                #expect((missing[carrier] as? [String: Any])?["code"] as? Int == -1)
            }
            let unknownText = try sim.fms(["template", "query", "99999999999999999999"])
            #expect(unknownText.lines.allSatisfy { $0.hasSuffix("\tmissing") } && unknownText.lines.count == 3, "\(unknownText)")
        }
    }

    /// With a review delay the template is pending first, then approved.
    @Test func templateReviewGoesFromPendingToApproved() async throws {
        let delay = 2.0
        try await withSimulator(reviewDelay: String(delay)) { sim in
            let start = Date()
            let id = try sim.registerTemplate("Pending {name}")
            let first = try sim.fms(["template", "query", id])
            // Only when the query surely came before the review ended can it be required to be pending.
            if Date().timeIntervalSince(start) < delay {
                #expect(first.lines == ["cmcc\tpending", "cucc\tpending", "ctcc\tpending"], "\(first)")
                let json = try sim.fms(["template", "query", "--json", id])
                if Date().timeIntervalSince(start) < delay {
                    let object = try #require(try parseJSON(json.stdout) as? [String: Any])
                    #expect((object["cmcc"] as? [String: Any])?["code"] as? Int == 0, "\(json.stdout)")
                }
            }
            var approved = false
            for _ in 0..<300 where !approved {
                let result = try sim.fms(["template", "query", id])
                #expect(result.status == 0)
                approved = result.lines == ["cmcc\tapproved", "cucc\tapproved", "ctcc\tapproved"]
                if !approved { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(approved, "the template is approved after the review delay")
        }
    }

    @Test func sendPrintsTheIds() async throws {
        try await withSimulator { sim in
            let id = try sim.registerTemplate(Self.template)
            let withId = try sim.fms(["send", "--mobile", "13800138000", "--template", id,
                                      "--var", "name=张三", "--var", "code=1234", "--id", "order-1"])
            #expect(withId.status == 0, "\(withId)")
            #expect(withId.lines.count == 1)
            let parts = fields(withId.lines[0])
            #expect(parts.count == 3)
            #expect(parts[0] == "13800138000")
            #expect(!parts[1].isEmpty && parts[1].allSatisfy(\.isNumber), "fmsId '\(parts[1])'")
            #expect(parts[2] == "order-1")

            let withoutId = try sim.fms(["send", "--mobile", "13800138001", "--template", id, "--var", "name=李四",
                                         "--var", "code=1"])
            #expect(withoutId.status == 0, "\(withoutId)")
            #expect(fields(withoutId.lines[0]).last == "-", "no customFmsId prints '-'")

            let json = try sim.fms(["send", "--json", "--mobile", "13800138002", "--template", id, "--id", "j-1",
                                    "--var=name=王五", "--var", "code=a=b"])
            #expect(json.status == 0, "\(json)")
            let object = try #require(try parseJSON(json.stdout) as? [String: Any])
            #expect(object["mobile"] as? String == "13800138002")
            #expect(object["customFmsId"] as? String == "j-1")
            let fmsId = try #require(object["fmsId"] as? String)

            let ledger = try await sim.ledger()
            #expect(ledger.count == 3)
            #expect(ledger.map(\.fmsId).contains(parts[1]))
            let sent = try #require(ledger.first { $0.fmsId == fmsId })
            #expect(sent.content == ["name": "王五", "code": "a=b"])
            #expect(sent.templateId == id)
            #expect(ledger.first { $0.fmsId == parts[1] }?.content == ["name": "张三", "code": "1234"])
            #expect(ledger.first { $0.fmsId == parts[1] }?.customFmsId == "order-1")
        }
    }

    /// `--json` is a flag only where the parser sees one: here it is the value of --id.
    @Test func jsonAsAnOptionValueIsNotTheFlag() async throws {
        try await withSimulator { sim in
            let id = try sim.registerTemplate("Plain {name}")
            let result = try sim.fms(["send", "--mobile", "13800138000", "--template", id, "--var", "name=x", "--id", "--json"])
            #expect(result.status == 0, "\(result)")
            #expect(fields(result.lines.first ?? "").last == "--json", "text output, customFmsId '--json': \(result.stdout)")
        }
    }

    /// A refused send: its extra arguments, the template to use (nil: a registered one), what stderr names.
    struct RefusedSend: Sendable, CustomTestStringConvertible {
        var arguments: [String]
        var template: String? = nil
        var mentions: [String]
        var testDescription: String { (arguments + [template ?? ""]).joined(separator: " ") }
    }

    @Test("refused sends exit 65 and send nothing", arguments: [
        RefusedSend(arguments: ["--mobile", "12345"], mentions: ["12345", "mobile"]),
        RefusedSend(arguments: ["--mobile", "23800138000"], mentions: ["23800138000"]),
        RefusedSend(arguments: ["--mobile", "1380013800a"], mentions: ["1380013800a"]),
        RefusedSend(arguments: ["--mobile", "13800138000", "--id", String(repeating: "x", count: 33)],
                    mentions: ["customFmsId", "33"]),
        RefusedSend(arguments: ["--mobile", "13800138000"], template: "99999999999999999999",
                    mentions: ["ERROR_TEMPLATE_ID_ERROR"]),
    ])
    func refusedSend(_ item: RefusedSend) async throws {
        try await withSimulator { sim in
            let registered = try sim.registerTemplate(Self.template)
            let result = try sim.fms(["send", "--template", item.template ?? registered, "--var", "name=x", "--var", "code=1"]
                                     + item.arguments)
            #expect(result.status == 65, "\(result)")
            #expect(result.stdout.isEmpty)
            for text in item.mentions {
                #expect(result.stderr.contains(text), "stderr mentions \(text): \(result.stderr)")
            }
            #expect(try await sim.ledger().isEmpty, "nothing was sent")
            #expect(try sim.fms(["balance"]).lines == ["10000"], "nothing was charged")
        }
    }

    @Test func reportsArePrintedOnce() async throws {
        try await withSimulator(["--fail-mobile", "13900000009=FAIL_BLACK_DICT"]) { sim in
            let id = try sim.registerTemplate(Self.template)
            var sent: [String: [String]] = [:]
            for (index, mobile) in ["13800138000", "13800138001", "13900000009"].enumerated() {
                let result = try sim.fms(["send", "--mobile", mobile, "--template", id, "--var", "name=n", "--var", "code=c",
                                          "--id", "r\(index)"])
                #expect(result.status == 0, "\(result)")
                let parts = fields(result.lines[0])
                sent[parts[1]] = parts
            }
            let first = try sim.fms(["reports"])
            #expect(first.status == 0, "\(first)")
            #expect(first.lines.count == 3, "\(first.stdout)")
            for line in first.lines {
                // state, mobile, fmsId, customFmsId, receiveTime, desc
                let parts = fields(line)
                #expect(parts.count == 6, "\(line)")
                guard parts.count == 6, let message = sent[parts[2]] else {
                    Issue.record("report for an unknown message: \(line)")
                    continue
                }
                #expect(parts[1] == message[0])
                #expect(parts[3] == message[2])
                #expect(parts[0] == (parts[1] == "13900000009" ? "FAIL_BLACK_DICT" : "DELIVRD"), "\(line)")
                #expect(parts[4].range(of: #"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"#, options: .regularExpression) != nil)
                #expect(!parts[5].isEmpty)
            }
            #expect(Set(first.lines.map { fields($0)[2] }) == Set(sent.keys))

            let second = try sim.fms(["reports"])
            #expect(second.status == 0)
            #expect(second.stdout.isEmpty, "reports are handed out once")
            let empty = try sim.fms(["reports", "--json"])
            #expect(empty.status == 0)
            #expect((try parseJSON(empty.stdout) as? [Any])?.isEmpty == true, "\(empty.stdout)")
        }
    }

    @Test func reportsMaxAndJSON() async throws {
        try await withSimulator { sim in
            let id = try sim.registerTemplate(Self.template)
            for mobile in ["13800138000", "13800138001", "13800138002"] {
                #expect(try sim.fms(["send", "--mobile", mobile, "--template", id, "--id", "id-" + mobile]).status == 0)
            }
            let one = try sim.fms(["reports", "--max", "1"])
            #expect(one.status == 0, "\(one)")
            #expect(one.lines.count == 1)

            let json = try sim.fms(["reports", "--json", "--max", "5"])
            #expect(json.status == 0, "\(json)")
            let list = try #require(try parseJSON(json.stdout) as? [[String: Any]])
            #expect(list.count == 2)
            for report in list {
                #expect((report["state"] as? String) == "DELIVRD", "\(report)")
                #expect((report["mobile"] as? String).map { "id-" + $0 } == report["customFmsId"] as? String)
                #expect(report["fmsId"] is String)
            }
            let allMobiles = Set(list.compactMap { $0["mobile"] as? String } + [fields(one.lines[0])[1]])
            #expect(allMobiles == ["13800138000", "13800138001", "13800138002"])

            let zero = try sim.fms(["reports", "--max", "0"])
            #expect(zero.status == 64)
            #expect(zero.stderr.contains("--max"))
        }
    }

    @Test func balanceDecreasesByTheNumberSent() async throws {
        try await withSimulator(["--balance", "500"]) { sim in
            let before = try sim.fms(["balance"])
            #expect(before.status == 0, "\(before)")
            #expect(before.lines == ["500"])
            let json = try sim.fms(["balance", "--json"])
            #expect(json.status == 0)
            #expect((try parseJSON(json.stdout) as? [String: Any])?["balance"] as? Int == 500, "\(json.stdout)")

            let id = try sim.registerTemplate(Self.template)
            #expect(try sim.fms(["send", "--mobile", "13800138000", "--template", id]).status == 0)
            #expect(try sim.fms(["send", "--mobile", "13800138001", "--template", id]).status == 0)
            let csv = "mobile,name,code\n" + (0..<7).map { "1390000000\($0),n\($0),c" }.joined(separator: "\n") + "\n"
            let batch = try sim.fms(["batch", "--template", id, "-"], stdin: Data(csv.utf8))
            #expect(batch.status == 0, "\(batch)")
            #expect(batch.lines.count == 7)
            #expect(try sim.fms(["balance"]).lines == ["491"])
            let after = try sim.fms(["balance", "--json"])
            #expect((try parseJSON(after.stdout) as? [String: Any])?["balance"] as? Int == 491)
        }
    }

    /// Every command on the secure interface with and without gzip, and on the normal interface (no key at all).
    @Test("every command works in each interface mode", arguments: [[], ["--no-gzip"], ["--mode", "normal"]])
    func everyCommandInMode(_ mode: [String]) async throws {
        try await withSimulator { sim in
            var env: [String: String] = [:]
            if mode.contains("normal") {
                // No key anywhere: the normal interface needs none.
                env = ["FMS_SECRET_KEY_FILE": ""]
            }
            func run(_ arguments: [String], stdin: Data? = nil) throws -> RunResult {
                let result = try sim.fms(arguments + mode, environment: env, stdin: stdin)
                #expect(result.status == 0, "fms \(arguments.joined(separator: " ")) \(mode.joined(separator: " ")): \(result)")
                return result
            }
            let report = try run(["template", "report", "模板 {name}"])
            let id = try #require(report.lines.first)
            #expect(try run(["template", "report", "--json", "模板 {name}"]).stdout.contains(id))
            #expect(try run(["template", "query", id]).lines.count == 3)
            #expect(try run(["template", "query", id, "--json"]).stdout.contains("\"cmcc\""))
            #expect(try run(["send", "--mobile", "13800138000", "--template", id, "--var", "name=甲"]).lines.count == 1)
            #expect(try run(["send", "--json", "--mobile", "13800138001", "--template", id]).stdout.contains("13800138001"))
            let batch = try run(["batch", "--template", id, "-"], stdin: Data("mobile,name\n13800138002,乙\n13800138003,丙\n".utf8))
            #expect(batch.lines.count == 2)
            let reports = try run(["reports", "--json"])
            #expect((try parseJSON(reports.stdout) as? [Any])?.count == 4)
            #expect(try run(["reports"]).stdout.isEmpty)
            #expect(try run(["balance"]).lines == ["9996"])
            #expect(try run(["balance", "--json"]).stdout == "{\"balance\":9996}\n")
            let ledger = try await sim.ledger()
            #expect(ledger.count == 4)
            #expect(ledger.first { $0.mobile == "13800138000" }?.content == ["name": "甲"])
        }
    }

    @Test func modeNormalNeedsNoKeyEvenWithAKeyMissing() async throws {
        try await withSimulator { sim in
            let env = ["FMS_SECRET_KEY_FILE": sim.directory.path("no-such-key"), "FMS_MODE": "normal"]
            let result = try sim.fms(["balance"], environment: env)
            #expect(result.status == 0, "\(result)")
            #expect(result.lines == ["10000"])
            // The same settings on the secure interface do need the key.
            let secure = try sim.fms(["balance", "--mode", "secure"], environment: env)
            #expect(secure.status == 78)
            #expect(secure.stderr.contains("FMS_SECRET_KEY_FILE"))
        }
    }

    @Test func wrongAppIdIsConfiguration() async throws {
        try await withSimulator { sim in
            for arguments in [["balance"], ["send", "--mobile", "13800138000", "--template", "1"], ["reports"]] {
                for mode in [[], ["--mode", "normal"]] {
                    let result = try sim.fms(arguments + mode + ["--app-id", "OTHER"])
                    #expect(result.status == 78, "\(result)")
                    #expect(result.stderr.contains("ERROR_APPID"), "\(result.stderr)")
                }
            }
            let fromEnvironment = try sim.fms(["balance"], environment: ["FMS_APP_ID": "OTHER"])
            #expect(fromEnvironment.status == 78)
            #expect(fromEnvironment.stderr.contains("ERROR_APPID"))
            #expect(try await sim.ledger().isEmpty)
        }
    }

    @Test func wrongKeyIsConfiguration() async throws {
        try await withSimulator { sim in
            let keyPath = try sim.directory.write("wrong.key", TestSecrets.wrongKey + "\n", private: true)
            for arguments in [["balance"], ["template", "report", "X {a}"], ["send", "--mobile", "13800138000", "--template", "1"]] {
                for gzip in [[], ["--no-gzip"]] {
                    let result = try sim.fms(arguments + gzip, environment: ["FMS_SECRET_KEY_FILE": keyPath])
                    #expect(result.status == 78, "\(result)")
                    #expect(!result.stderr.isEmpty)
                    #expect(result.stdout.isEmpty)
                }
            }
            let viaVariable = try sim.fms(["balance"], environment: ["FMS_SECRET_KEY": TestSecrets.wrongKey])
            #expect(viaVariable.status == 78, "FMS_SECRET_KEY wins over FMS_SECRET_KEY_FILE: \(viaVariable)")
            #expect(try await sim.ledger().isEmpty)
        }
    }

    @Test func clientIPNotAllowedIsPermission() async throws {
        try await withSimulator(["--allow-ip", "10.9.9.9"]) { sim in
            for arguments in [["balance"], ["send", "--mobile", "13800138000", "--template", "1"],
                              ["template", "report", "IP {a}"]] {
                let result = try sim.fms(arguments)
                #expect(result.status == 77, "\(result)")
                #expect(result.stderr.contains("ERROR_CLIENT_IP"), "\(result.stderr)")
            }
            #expect(try await sim.ledger().isEmpty)
        }
    }

    static let allCommands: [[String]] = [
        ["template", "report", "Hi {name}"],
        ["template", "query", "123"],
        ["send", "--mobile", "13800138000", "--template", "123"],
        ["batch", "--template", "123", "-"],
        ["reports"],
        ["balance"],
    ]

    @Test func gatewayNotRunningIsUnavailable() throws {
        let url = "http://127.0.0.1:\(try closedPort())"
        let directory = try TemporaryDirectory()
        let key = try directory.write("key", TestSecrets.key, private: true)
        for command in Self.allCommands {
            for mode in [[], ["--mode", "normal"]] {
                let result = try fms(command + mode, environment: ["FMS_URL": url, "FMS_APP_ID": "APP", "FMS_SECRET_KEY_FILE": key],
                                     stdin: Data("mobile\n13800138000\n".utf8))
                #expect(result.status == 69, "fms \(command[0]): \(result)")
                #expect(result.stdout.isEmpty)
                #expect(result.stderr.hasPrefix("fms: "))
            }
        }
    }

    @Test func http503IsTryAgainLater() async throws {
        try await withSimulator(["--http503-share", "1"]) { sim in
            for command in Self.allCommands {
                let result = try sim.fms(command, stdin: Data("mobile\n13800138000\n".utf8))
                #expect(result.status == 75, "fms \(command[0]): \(result)")
                #expect(result.stderr.contains("503"), "\(result.stderr)")
                #expect(result.stdout.isEmpty)
            }
            #expect(try await sim.ledger().isEmpty)
        }
    }
}
