import Foundation
import Testing

/// A temporary directory with a short path, `/tmp/fmslua-XXXXXXXX`, removed when released.
///
/// Lua shortens file names of more than 59 bytes in its messages (`...end/of/the/path.lua:2:`),
/// so the scripts live where their paths stay whole and messages can be compared exactly.
final class ScriptDirectory: @unchecked Sendable {
    let url: URL

    init() throws {
        url = URL(fileURLWithPath: "/tmp/fmslua-" + TestSecrets.random(8))
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// Writes `contents` to `name` and returns its path.
    @discardableResult
    func write(_ name: String, _ contents: String) throws -> String {
        let path = url.appendingPathComponent(name).path
        guard FileManager.default.createFile(atPath: path, contents: Data(contents.utf8)) else {
            throw TestFailure("cannot write \(path)")
        }
        return path
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// `fms run` and `fms check` end to end: the built binary runs Lua scripts written to temporary
/// files, against `fms sim`, and the simulator's ledger shows what was sent.
@Suite("fms run and fms check")
struct LuaCommandTests {
    static let template = "告警 {host} {pct}"

    /// The repository's root (this file is <root>/Tests/FMSCommandTests/LuaCommandTests.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Writes `source` to `name` in a new script directory and runs `fms run OPTIONS PATH ARGS` against `sim`.
    ///
    /// The bindings' own behaviour is tested on the direct path (`--direct`: answers come back at
    /// once); `OutboxRunTests` covers the default, queued path.
    static func run(_ sim: SimulatorProcess, _ name: String, _ source: String, options: [String] = ["--direct"],
                    arguments: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws -> (path: String, result: RunResult) {
        let directory = try ScriptDirectory()
        let path = try directory.write(name, source)
        let result = try sim.fms(["run"] + options + [path] + arguments, sourceLocation: sourceLocation)
        return (path, result)
    }

    // MARK: Bindings

    @Test("template.report, template.query and send: a plain table back, the message in the ledger")
    func sendAndTemplates() async throws {
        try await withSimulator { sim in
            let (_, result) = try Self.run(sim, "send.lua", """
                local tid, names = fms.template.report("\(Self.template)")
                local status = fms.template.query(tid)
                print(tid, names[1], names[2], #names, status.templateId == tid, status.approved, status.cmcc, status.cucc, status.ctcc)
                local m = fms.send{ mobile = " 13800138000 ", template = tid, vars = { host = "db1", pct = 91.0, up = false }, id = "disk-db1" }
                print(m.mobile, m.customFmsId, type(m.fmsId), #m.fmsId > 0)
                local plain = fms.send{ mobile = 13800138001, template = tid }
                print(plain.customFmsId == nil, plain.fmsId ~= m.fmsId)
                local unknown = fms.template.query("no-such-template")
                print(unknown.approved, unknown.cmcc)
                """)
            #expect(result.status == 0, "\(result)")
            #expect(result.stderr.isEmpty, "\(result)")
            let lines = result.lines
            try #require(lines.count == 4, "\(result)")
            let first = fields(lines[0])
            #expect(Array(first.dropFirst()) == ["host", "pct", "2", "true", "true", "approved", "approved", "approved"])
            #expect(fields(lines[1]) == ["13800138000", "disk-db1", "string", "true"])
            #expect(lines[2] == "true\ttrue")
            #expect(lines[3] == "false\tmissing")
            let ledger = try await sim.ledger()
            #expect(ledger.count == 2)
            #expect(ledger.first?.templateId == first[0])
            #expect(ledger.first?.mobile == "13800138000")
            #expect(ledger.first?.customFmsId == "disk-db1")
            #expect(ledger.first?.content == ["host": "db1", "pct": "91", "up": "false"], "numbers and booleans as wire text")
            #expect(ledger.last?.mobile == "13800138001")
            #expect(ledger.last?.customFmsId == nil)
        }
    }

    @Test("batch of 650 built in Lua: three requests, in order, every id and variable in the ledger")
    func batchOf650() async throws {
        try await withSimulator { sim in
            let tid = try sim.registerTemplate(Self.template)
            let requestsBefore = try await sim.requestCount()
            let (_, result) = try Self.run(sim, "batch.lua", """
                local messages = {}
                for i = 1, 650 do
                  messages[i] = { mobile = string.format("138%08d", i), id = "m" .. i, vars = { host = "h" .. i, pct = i } }
                end
                local sent = fms.batch{ template = "\(tid)", messages = messages }
                local distinct = {}
                for _, m in ipairs(sent) do distinct[m.fmsId] = true end
                local count = 0
                for _ in pairs(distinct) do count = count + 1 end
                print(#sent, sent[1].customFmsId, sent[300].customFmsId, sent[650].customFmsId, sent[650].mobile, count)
                """)
            #expect(result.status == 0, "\(result)")
            #expect(result.lines == ["650\tm1\tm300\tm650\t13800000650\t650"], "\(result)")
            #expect(try await sim.requestCount() - requestsBefore == 3, "650 messages take requests of 300, 300 and 50")
            let ledger = try await sim.ledger()
            #expect(ledger.count == 650)
            let byId = Dictionary(ledger.map { ($0.customFmsId ?? "", $0) }, uniquingKeysWith: { first, _ in first })
            for index in [1, 299, 300, 301, 600, 601, 650] {
                let entry = byId["m\(index)"]
                #expect(entry?.mobile == String(format: "138%08d", index))
                #expect(entry?.content == ["host": "h\(index)", "pct": String(index)])
                #expect(entry?.templateId == tid)
            }
            #expect(try sim.fms(["balance"]).lines == ["9350"])
        }
    }

    @Test("reports and balance: states, delivered, custom ids; each report handed out once")
    func reportsAndBalance() async throws {
        try await withSimulator(["--fail-mobile", "13900000002=FAIL_MOBILE"]) { sim in
            let tid = try sim.registerTemplate(Self.template)
            let (_, result) = try Self.run(sim, "reports.lua", """
                local before = fms.balance()
                fms.send{ mobile = "13800138000", template = "\(tid)", id = "ok-1" }
                fms.send{ mobile = "13900000002", template = "\(tid)", id = "bad-1" }
                local reports = fms.reports{ max = 10 }
                table.sort(reports, function(a, b) return a.customFmsId > b.customFmsId end)
                for _, r in ipairs(reports) do
                  print(r.customFmsId, r.mobile, r.state, r.delivered, type(r.fmsId), r.receiveTime:match("^%d+%-%d+%-%d+ %d+:%d+:%d+$") ~= nil, type(r.desc))
                end
                print(#fms.reports(), before, fms.balance(), math.type(fms.balance()))
                """)
            #expect(result.status == 0, "\(result)")
            #expect(result.lines == [
                "ok-1\t13800138000\tDELIVRD\ttrue\tstring\ttrue\tstring",
                "bad-1\t13900000002\tFAIL_MOBILE\tfalse\tstring\ttrue\tstring",
                "0\t10000\t9998\tinteger",
            ], "\(result)")
        }
    }

    @Test("log, duration, version and config need no gateway and no settings")
    func utilitiesWithoutSettings() async throws {
        let directory = try ScriptDirectory()
        let path = try directory.write("util.lua", """
            fms.log.info("disk", 91.5, true, nil, { 1 })
            fms.log.warn("warned")
            fms.log.error("failed", 3)
            print(fms.duration("1h30m"), fms.duration("500ms"), fms.duration(45), fms.version, require("fms") == fms)
            fms.config{ rate = "30/min", quiet = "23:00-07:00", timezone = "Asia/Shanghai" }
            fms.config{ rate = "10/30s" }
            print(pcall(fms.duration, "soon"))
            """)
        let result = try fms(["run", path])  // no FMS_* variable at all
        #expect(result.status == 0, "\(result)")
        #expect(result.lines == [
            "5400.0\t0.5\t45.0\t0.1.0\ttrue",
            "false\tbad argument #1 to 'fms.duration' ('soon' is not a duration such as \"30s\", \"5m\" or \"1h\")",
        ], "\(result)")
        #expect(result.stderr == """
            fms: info: \(path):1: disk\t91.5\ttrue\tnil\ttable
            fms: warn: \(path):2: warned
            fms: error: \(path):3: failed\t3

            """, "\(result)")
    }

    @Test("a repeated key within its cooldown is suppressed: nil and the reason; other keys send")
    func cooldown() async throws {
        try await withSimulator { sim in
            let tid = try sim.registerTemplate(Self.template)
            let (_, result) = try Self.run(sim, "cooldown.lua", """
                local function alert(key) return fms.send{ mobile = "13800138000", template = "\(tid)", vars = { host = key }, key = key, cooldown = "30m" } end
                local a = alert("disk:db1")
                local b, why = alert("disk:db1")
                local c = alert("disk:db2")
                local d = fms.send{ mobile = "13800138000", template = "\(tid)", key = "n", cooldown = 0 }
                local e = fms.send{ mobile = "13800138000", template = "\(tid)", key = "n", cooldown = 0 }
                print(a ~= nil, b, why, c ~= nil, d ~= nil, e ~= nil)
                """)
            #expect(result.status == 0, "a suppressed send is no failure: \(result)")
            #expect(result.lines == ["true\tnil\tsuppressed: key 'disk:db1' is cooling down for 1800s more\ttrue\ttrue\ttrue"], "\(result)")
            let ledger = try await sim.ledger()
            #expect(ledger.map { $0.content["host"] ?? "-" } == ["disk:db1", "disk:db2", "-", "-"])
        }
    }

    @Test("gateway calls wait inside coroutines the script made; coroutine.yield still returns to the script")
    func gatewayCallsInsideCoroutines() async throws {
        try await withSimulator { sim in
            let tid = try sim.registerTemplate(Self.template)
            let (_, result) = try Self.run(sim, "coroutines.lua", """
                local worker = coroutine.create(function(host)
                  local first = fms.send{ mobile = "13800138000", template = "\(tid)", vars = { host = host } }
                  local next = coroutine.yield(first.mobile)
                  local second = fms.send{ mobile = "13800138001", template = "\(tid)", vars = { host = next } }
                  return second.mobile, fms.balance()
                end)
                print(coroutine.resume(worker, "a"))
                print(coroutine.resume(worker, "b"))
                print(coroutine.status(worker))
                local gen = coroutine.wrap(function() for i = 1, 2 do coroutine.yield(fms.balance() + i) end end)
                print(gen(), gen())
                """)
            #expect(result.status == 0, "\(result)")
            #expect(result.lines == ["true\t13800138000", "true\t13800138001\t9998", "dead", "9999\t10000"], "\(result)")
            #expect(try await sim.ledger().map { $0.content["host"] ?? "" } == ["a", "b"])
        }
    }

    // MARK: Argument errors

    /// Code on line 2 of a script, and the error it raises (after `PATH:2: `).
    static let argumentErrors: [(code: String, message: String)] = [
        ("fms.send()", "bad argument #1 to 'fms.send' (table expected, got no value)"),
        ("fms.send('13800138000')", "bad argument #1 to 'fms.send' (table expected, got string)"),
        ("fms.send{ mobil = '13800138000', template = 'T' }", "unknown field 'mobil' in fms.send (did you mean 'mobile'?)"),
        ("fms.send{ '13800138000' }", "fms.send: option keys must be names, got a number key"),
        ("fms.send{ template = 'T' }", "field 'mobile' of fms.send: string expected, got nil"),
        ("fms.send{ mobile = '123', template = 'T' }",
         "field 'mobile' of fms.send: '123' is not a mainland mobile number (11 digits starting with 1)"),
        ("fms.send{ mobile = '13800138000' }", "field 'template' of fms.send: string expected, got nil"),
        ("fms.send{ mobile = '13800138000', template = ' ' }", "field 'template' of fms.send: is empty"),
        ("fms.send{ mobile = '13800138000', template = 'T', vars = 'x' }", "field 'vars' of fms.send: table expected, got string"),
        ("fms.send{ mobile = '13800138000', template = 'T', vars = { 'a' } }",
         "field 'vars' of fms.send: must map names to values ({ host = \"db1\" }), not be a list"),
        ("fms.send{ mobile = '13800138000', template = 'T', vars = { host = {} } }",
         "field 'vars.host' of fms.send: string, number or boolean expected, got table"),
        ("fms.send{ mobile = '13800138000', template = 'T', id = string.rep('x', 33) }",
         "field 'id' of fms.send: '\(String(repeating: "x", count: 33))' is 33 characters; at most 32"),
        ("fms.send{ mobile = '13800138000', template = 'T', cooldown = '5m' }",
         "field 'cooldown' of fms.send: needs a 'key' naming what repeats"),
        ("fms.send{ mobile = '13800138000', template = 'T', key = 'k', cooldown = 'soon' }",
         "field 'cooldown' of fms.send: 'soon' is not a duration such as \"30s\", \"5m\" or \"1h\""),
        ("fms.send{ mobile = '13800138000', template = 'T', key = 'k', cooldown = -1 }",
         "field 'cooldown' of fms.send: duration expected (\"5m\" or seconds), got number -1"),
        ("fms.send{ mobile = '13800138000', template = 'T', wait = 'yes' }", "field 'wait' of fms.send: boolean expected, got string"),
        ("fms.send{ mobile = '13800138000', template = 'T', urgent = 1 }", "field 'urgent' of fms.send: boolean expected, got number"),
        ("fms.batch{ template = 'T' }", "field 'messages' of fms.batch: table expected, got nil"),
        ("fms.batch{ template = 'T', messages = {} }", "field 'messages' of fms.batch: the list is empty"),
        ("fms.batch{ template = 'T', messages = { a = 1 } }", "field 'messages' of fms.batch: must be a list { {…}, {…} }, not a map"),
        ("fms.batch{ template = 'T', messages = { 5 } }", "field 'messages[1]' of fms.batch: table expected, got number"),
        ("fms.batch{ template = 'T', messages = { { mobile = '13800138000' }, { mobile = 'x' } } }",
         "field 'messages[2].mobile' of fms.batch: 'x' is not a mainland mobile number (11 digits starting with 1)"),
        ("fms.batch{ template = 'T', messages = { { mobile = '13800138000', phone = 1 } } }",
         "field 'messages[1]' of fms.batch: unknown field 'phone' (fields are mobile, vars, id)"),
        ("fms.batch{ template = 'T', messages = { { mobile = '13800138000', vars = { 1 } } } }",
         "field 'messages[1].vars' of fms.batch: must map names to values ({ host = \"db1\" }), not be a list"),
        ("fms.batch{ template = '', messages = { { mobile = '13800138000' } } }", "field 'template' of fms.batch: is empty"),
        ("fms.reports{ max = 0 }", "field 'max' of fms.reports: must be 1 or more, got 0"),
        ("fms.reports{ max = 1.5 }", "field 'max' of fms.reports: integer expected, got number 1.5"),
        ("fms.reports{ limit = 5 }", "unknown field 'limit' in fms.reports"),
        ("fms.balance(1)", "bad argument #1 to 'fms.balance' (no arguments expected)"),
        ("fms.template.report()", "bad argument #1 to 'template.report' (string expected, got no value)"),
        ("fms.template.report('  ')", "bad argument #1 to 'template.report' (the template text is empty)"),
        ("fms.template.report(string.rep('字', 71))", "bad argument #1 to 'template.report' (the template is 71 characters; at most 70)"),
        ("fms.template.report('{a}{b}{c}{d}')", "bad argument #1 to 'template.report' (the template has 4 variables; at most 3)"),
        ("fms.template.report('{a}{a}')", "bad argument #1 to 'template.report' (the template repeats a variable name)"),
        ("fms.template.query('')", "bad argument #1 to 'template.query' (the template id is empty)"),
        ("fms.config('x')", "bad argument #1 to 'fms.config' (table expected, got string)"),
        ("fms.config{ rate = 'fast' }", "field 'rate' of fms.config: 'fast' is not a rate such as \"30/min\", \"5/s\" or \"100/h\""),
        ("fms.config{ quiet = '23-7' }", "field 'quiet' of fms.config: '23-7' is not a window such as \"23:00-07:00\""),
        ("fms.config{ timezone = 'Mars/Base' }",
         "field 'timezone' of fms.config: 'Mars/Base' is not a time zone such as \"Asia/Shanghai\" or \"UTC\""),
        ("fms.config{ quite = '23:00-07:00' }", "unknown field 'quite' in fms.config (did you mean 'quiet'?)"),
        ("fms.duration('5 minutes')", "bad argument #1 to 'fms.duration' ('5 minutes' is not a duration such as \"30s\", \"5m\" or \"1h\")"),
        ("fms.log.info(print)", "bad argument #1 to 'log.info' (cannot convert a function to data)"),
        ("fms.every('often', function() end)",
         "bad argument #1 to 'fms.every' ('often' is not a positive duration such as \"30s\", \"5m\" or \"1h\")"),
        ("fms.cron('61 * * * *', function() end)", "bad argument #1 to 'fms.cron' (minute 61 is out of range 0-59)"),
        ("fms.watch{ path = '/tmp', on = { 'created' }, handler = print }",
         "field 'on' of fms.watch: unknown event 'created' (events are create, modify, move, delete, attrib)"),
        ("fms.balance_below{ every = '1m', handler = print }", "field 'threshold' of fms.balance_below: integer expected, got nil"),
    ]

    @Test("every argument error: exit 70, the message and the caller's line on stderr, nothing sent")
    func argumentErrorsSendNothing() async throws {
        try await withSimulator { sim in
            let requestsBefore = try await sim.requestCount()
            for (index, error) in Self.argumentErrors.enumerated() {
                let (path, result) = try Self.run(sim, "args\(index).lua", "local x = 1\n\(error.code)\nprint('not reached')\n")
                #expect(result.status == 70, "\(error.code): \(result)")
                #expect(result.stdout.isEmpty, "\(error.code): \(result)")
                let first = result.stderr.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
                #expect(first == "fms: run: \(path):2: \(error.message)", "\(error.code)")
                #expect(result.stderr.contains("stack traceback:\n"), "\(error.code): \(result)")
                #expect(result.stderr.contains("\(path):2: in main chunk"), "\(error.code): \(result)")
            }
            #expect(try await sim.ledger().isEmpty, "nothing was sent")
            #expect(try await sim.requestCount() == requestsBefore, "no request reached the gateway")
        }
    }

    @Test("a multi-line call is blamed on the line where it starts")
    func multiLineCallPosition() async throws {
        try await withSimulator { sim in
            let (path, result) = try Self.run(sim, "multiline.lua", """
                -- comment
                local m, why = fms.send{ mobile = "123", template = "T",
                                         vars = { host = "db1" },
                                         key = "k", cooldown = "1h" }
                """)
            #expect(result.status == 70, "\(result)")
            #expect(result.stderr.hasPrefix("fms: run: \(path):2: field 'mobile' of fms.send: '123' is not a mainland mobile number"),
                    "\(result)")
            #expect(try await sim.ledger().isEmpty)
        }
    }

    // MARK: Limits and failures

    @Test("a runaway loop past --budget exits 70, even inside pcall")
    func runawayLoop() async throws {
        try await withSimulator { sim in
            let (path, plain) = try Self.run(sim, "loop.lua", "local n = 0\nwhile true do n = n + 1 end\n", options: ["--direct", "--budget", "10000"])
            #expect(plain.status == 70, "\(plain)")
            #expect(plain.stderr.hasPrefix("fms: run: \(path):2: instruction budget exceeded"), "\(plain)")
            #expect(plain.stdout.isEmpty)

            let (caughtPath, caught) = try Self.run(sim, "caught.lua", """
                while true do
                  print(pcall(function() while true do end end))
                  print(xpcall(function() while true do end end, debug.traceback))
                end
                """, options: ["--direct", "--budget", "10000"])
            #expect(caught.status == 70, "pcall and xpcall pass the budget error on: \(caught)")
            #expect(caught.stderr.hasPrefix("fms: run: \(caughtPath):2: instruction budget exceeded"), "\(caught)")
            #expect(caught.stdout.isEmpty, "\(caught)")
        }
    }

    @Test("a memory bomb past --memory exits 70 with 'not enough memory'")
    func memoryBomb() async throws {
        try await withSimulator { sim in
            let (_, result) = try Self.run(sim, "bomb.lua", "local t = {}\nfor i = 1, 1e8 do t[i] = ('x'):rep(100) .. i end\n",
                                           options: ["--direct", "--memory", "8"])
            #expect(result.status == 70, "\(result)")
            #expect(result.stderr.hasPrefix("fms: run: not enough memory"), "\(result)")
            #expect(result.stderr.contains("stack traceback:"), "\(result)")
        }
    }

    @Test("an error after a send exits 70 with the traceback; the message stays sent")
    func errorAfterSend() async throws {
        try await withSimulator { sim in
            let tid = try sim.registerTemplate(Self.template)
            let (path, result) = try Self.run(sim, "after.lua", """
                local function fail(what) error("after " .. what) end
                local m = fms.send{ mobile = "13800138000", template = "\(tid)", id = "sent-first" }
                print(m.customFmsId)
                fail(m.customFmsId)
                """)
            #expect(result.status == 70, "\(result)")
            #expect(result.lines == ["sent-first"])
            #expect(result.stderr.hasPrefix("fms: run: \(path):1: after sent-first\nstack traceback:\n"), "\(result)")
            #expect(result.stderr.contains("\(path):1: in local 'fail'") || result.stderr.contains("\(path):1: in upvalue 'fail'")
                    || result.stderr.contains("\(path):1: in function"), "\(result)")
            #expect(result.stderr.contains("\(path):4: in main chunk"), "\(result)")
            let ledger = try await sim.ledger()
            #expect(ledger.map(\.customFmsId) == ["sent-first"])
        }
    }

    @Test("a refused send exits 65, caught with pcall or not")
    func refusedSend() async throws {
        try await withSimulator { sim in
            let (_, caught) = try Self.run(sim, "caught.lua", """
                local ok, err = pcall(fms.send, { mobile = "13800138000", template = "no-such-template" })
                print(ok, err)
                print("went on")
                """)
            #expect(caught.status == 65, "\(caught)")
            #expect(caught.lines == ["false\tfms.send: sendSingleFMS: the gateway answered ERROR_TEMPLATE_ID_ERROR "
                                     + "(unknown template id; 模板 ID 错误)", "went on"], "\(caught)")
            #expect(caught.stderr.hasPrefix("fms: run: the script ended, but 1 send(s) failed; first: sendSingleFMS: "
                                            + "the gateway answered ERROR_TEMPLATE_ID_ERROR"), "\(caught)")

            let (path, uncaught) = try Self.run(sim, "uncaught.lua", "local x\nfms.send{ mobile = '13800138000', template = 'no-such-template' }\n")
            #expect(uncaught.status == 65, "\(uncaught)")
            #expect(uncaught.stderr.hasPrefix("fms: run: \(path):2: fms.send: sendSingleFMS: the gateway answered ERROR_TEMPLATE_ID_ERROR"),
                    "\(uncaught)")
            #expect(try await sim.ledger().isEmpty)
        }
    }

    @Test("--timeout ends a script waiting on a slow gateway with exit 75")
    func timeoutWhileWaiting() async throws {
        try await withSimulator(["--latency", "5"]) { sim in
            let (_, result) = try Self.run(sim, "slow.lua", "print('asking')\nprint(fms.balance())\n", options: ["--direct", "--timeout", "1"])
            #expect(result.status == 75, "\(result)")
            #expect(result.stderr.contains("fms: run: timed out after 1s"), "\(result)")
            #expect(!result.stdout.contains("10000"), "\(result)")
        }
    }

    @Test("a gateway that cannot be reached exits 69; no settings at all exits 78")
    func unreachableAndUnconfigured() throws {
        let directory = try ScriptDirectory()
        let path = try directory.write("balance.lua", "print(fms.balance())\n")
        let unreachable = try fms(["run", "--url", "http://127.0.0.1:\(try closedPort())", "--app-id", "APP", "--mode", "normal", path])
        #expect(unreachable.status == 69, "\(unreachable)")
        #expect(unreachable.stderr.hasPrefix("fms: run: \(path):1: fms.balance: getBalance: "), "\(unreachable)")
        let unconfigured = try fms(["run", path])
        #expect(unconfigured.status == 78, "\(unconfigured)")
        #expect(unconfigured.stderr.hasPrefix("fms: run: \(path):1: fms.balance: configuration: no gateway URL"), "\(unconfigured)")
    }

    // MARK: The command line

    @Test("a missing script exits 66; a syntax error exits 65 with file:line and no traceback")
    func missingScriptAndSyntaxError() throws {
        let directory = try ScriptDirectory()
        let missing = try fms(["run", directory.path("nope.lua")])
        #expect(missing.status == 66, "\(missing)")
        #expect(missing.stderr == "fms: run: \(directory.path("nope.lua")): no such file or cannot read it\n")

        let path = try directory.write("syntax.lua", "local a = 1\nlocal b = = 2\n")
        let syntax = try fms(["run", path])
        #expect(syntax.status == 65, "\(syntax)")
        #expect(syntax.stderr == "fms: run: \(path):2: unexpected symbol near '='\n", "\(syntax)")

        let chunk = try fms(["run", "-e", "x = = 1"])
        #expect(chunk.status == 65, "\(chunk)")
        #expect(chunk.stderr == "fms: run: (command line):1: unexpected symbol near '='\n", "\(chunk)")

        let noScript = try fms(["run"])
        #expect(noScript.status == 64, "\(noScript)")
    }

    @Test("fms run -e runs a chunk with arg[0] = '-e' and the arguments")
    func chunkFromTheCommandLine() throws {
        let result = try fms(["run", "-e", "print(arg[0], #arg, ...)", "a", "--json", "b c"])
        #expect(result.status == 0, "\(result)")
        #expect(result.lines == ["-e\t3\ta\t--json\tb c"], "\(result)")
        let failing = try fms(["run", "-e", "local x = 1\nerror('boom')"])
        #expect(failing.status == 70, "\(failing)")
        #expect(failing.stderr.hasPrefix("fms: run: (command line):2: boom\n"), "\(failing)")
    }

    @Test("arguments after the script are the script's, not fms options; a #! line is skipped")
    func scriptArgumentsAreNotOptions() throws {
        let directory = try ScriptDirectory()
        let path = try directory.write("args.lua", "#!/usr/bin/env -S fms run\nlocal first, second = ...\nprint(arg[0], arg[1], arg[2], arg[3], #arg, first, second)\n")
        let result = try fms(["run", path, "--json", "x", "--timeout"])
        #expect(result.status == 0, "\(result)")
        #expect(result.lines == ["\(path)\t--json\tx\t--timeout\t3\t--json\tx"], "\(result)")
        let optionFirst = try fms(["run", "--budget", "5000", path, "--memory", "1"])
        #expect(optionFirst.status == 0, "\(optionFirst)")
        #expect(optionFirst.lines == ["\(path)\t--memory\t1\tnil\t2\t--memory\t1"], "\(optionFirst)")
        #expect(try fms(["run", "--json", path]).status == 64, "--json is not an option of fms run")
    }

    @Test("a script that needs no gateway runs with no FMS_* settings, and os.exit sets the status")
    func noGatewayNoSettings() throws {
        let directory = try ScriptDirectory()
        let path = try directory.write("plain.lua", "io.write(string.format('%d\\n', 6 * 7))\nos.exit(3)\n")
        let result = try fms(["run", path], environment: [:])
        #expect(result.status == 3, "\(result)")
        #expect(result.stdout == "42\n")
        #expect(result.stderr.isEmpty, "\(result)")
    }

    @Test("registration functions are refused by fms run: exit 70, pointing to fms watch", arguments: [
        "fms.every('5m', function() end)",
        "fms.cron('0 9 * * 1-5', function() end)",
        "fms.watch{ path = '/var/log/app', match = '*.log', handler = function(ev) end }",
        "fms.tail{ path = '/var/log/app.log', handler = function(line) end }",
        "fms.balance_below{ threshold = 1000, handler = function(balance) end }",
        "fms.on_report{ state = 'FAIL_*', handler = function(report) end }",
        "fms.on_failure(function(message, err) end)",
    ])
    func registrationsRefused(code: String) throws {
        let directory = try ScriptDirectory()
        let path = try directory.write("rule.lua", "fms.config{ rate = '30/min' }\n\(code)\nprint('not reached')\n")
        let result = try fms(["run", path])
        let name = String(code.prefix { $0 != "(" && $0 != "{" })
        #expect(result.status == 70, "\(result)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("fms: run: \(path):2: \(name) registers a rule, which needs 'fms watch'; "
                                        + "'fms run' runs a script once (use 'fms check' to validate rule files)"), "\(result)")
    }
}

extension LuaCommandTests {
    /// `fms check` on files and folders.
    @Suite("fms check")
    struct Check {
        static let goodRules = """
            fms.config{ rate = "30/min", quiet = "23:00-07:00", timezone = "Asia/Shanghai" }
            local h = fms.every("5m", function() end)
            fms.cron("0 9 * * 1-5", function() end)
            fms.watch{ path = "/var/log/app", match = "*.log", on = { "create", "modify" }, recursive = true,
                       debounce = "500ms", handler = function(ev) end }
            fms.tail{ path = "/var/log/app.log", match = "ERROR", handler = function(line) end }
            fms.balance_below{ threshold = 1000, every = "10m", handler = function(b) end }
            fms.on_report{ state = "FAIL_*", mobile = "13800138000", handler = function(r) end }
            fms.on_failure(function(m, e) end)
            local m = fms.send{ mobile = "13800138000", template = "anything", id = "x" }
            local sent = fms.batch{ template = "anything", messages = { { mobile = "13800138001" } } }
            print("loaded", h.kind, h.id, h:stop(), m.fmsId, m.customFmsId, #sent, fms.balance(), #fms.reports(),
                  fms.template.report("x {a}"), fms.template.query("t").approved)
            io.write("written\\n")
            fms.log.info("discarded")
            """

        static let otherRules = """
            fms.balance_below{ threshold = 5, handler = function() end }
            fms.watch{ path = "/tmp", handler = print }
            """

        /// A folder with two good rule files, an editor stub and a hidden file that would fail.
        static func goodFolder() throws -> ScriptDirectory {
            let directory = try ScriptDirectory()
            try directory.write("a.lua", goodRules)
            try directory.write("b.lua", otherRules)
            try directory.write("broken.meta.lua", "this is not Lua\n")
            try directory.write(".hidden.lua", "error('hidden files are skipped')\n")
            try directory.write("notes.txt", "not a rule file\n")
            return directory
        }

        @Test("the files of a folder share one Lua state, as under fms watch: a clash over a global fails the check")
        func sharedState() throws {
            let directory = try TemporaryDirectory()
            try directory.write("a.lua", "LIMIT = 90\nfms.every('1h', function() end)\n")
            try directory.write("b.lua", "assert(LIMIT == nil, 'LIMIT is already set by another rule file')\n")
            let result = try fms(["check", directory.url.path])
            #expect(result.status == 65, "\(result)")
            #expect(result.stdout.contains("a.lua: ok, 1 registration"), "\(result)")
            #expect(result.stderr.contains("b.lua:1: LIMIT is already set by another rule file"), "\(result)")
        }

        @Test("a folder of good rules: registrations with file:line; stubs, hidden files and others skipped; nothing sent")
        func goodFolderText() async throws {
            try await withSimulator { sim in
                let directory = try Self.goodFolder()
                let folder = directory.url.path
                let requestsBefore = try await sim.requestCount()
                let result = try sim.fms(["check", folder])  // with the simulator's settings: still nothing is sent
                #expect(result.status == 0, "\(result)")
                #expect(result.lines == [
                    "\(folder)/a.lua: ok, 7 registrations",
                    "  \(folder)/a.lua:2: every: every 5m",
                    "  \(folder)/a.lua:3: cron: cron '0 9 * * 1-5'",
                    "  \(folder)/a.lua:4: watch: /var/log/app/*.log (create, modify) recursive debounce 500ms",
                    "  \(folder)/a.lua:6: tail: /var/log/app.log matching 'ERROR'",
                    "  \(folder)/a.lua:7: balance_below: balance below 1000 (re-armed at 1100), checked every 10m",
                    "  \(folder)/a.lua:8: on_report: reports in state FAIL_* for 13800138000",
                    "  \(folder)/a.lua:9: on_failure: sends that failed for good",
                    "\(folder)/b.lua: ok, 2 registrations",
                    "  \(folder)/b.lua:1: balance_below: balance below 5 (re-armed at 6), checked every 10m",
                    "  \(folder)/b.lua:2: watch: /tmp (create, modify, move, delete)",
                ], "\(result)")
                #expect(result.stderr == "loaded\tevery\t1\tnil\tcheck\tx\t1\t0\t0\tcheck\tfalse\nwritten\n",
                        "print and io.write go to stderr; fms.log is discarded: \(result)")
                #expect(try await sim.requestCount() == requestsBefore, "no request reached the gateway")
                #expect(try await sim.ledger().isEmpty)

                let trailingSlash = try fms(["check", folder + "/"])
                #expect(trailingSlash.lines.first == "\(folder)/a.lua: ok, 7 registrations", "\(trailingSlash)")
            }
        }

        @Test("--json: one array, an object per file with its registrations")
        func goodFolderJSON() throws {
            let directory = try Self.goodFolder()
            let folder = directory.url.path
            let result = try fms(["check", "--json", folder])
            #expect(result.status == 0, "\(result)")
            let list = try #require(try parseJSON(result.stdout) as? [[String: Any]], "\(result)")
            #expect(list.map { $0["path"] as? String } == ["\(folder)/a.lua", "\(folder)/b.lua"])
            #expect(list.allSatisfy { $0["ok"] as? Bool == true && $0["error"] == nil })
            let first = try #require(list.first?["registrations"] as? [[String: String]])
            #expect(first.map { $0["kind"] } == ["every", "cron", "watch", "tail", "balance_below", "on_report", "on_failure"])
            #expect(first.map { $0["position"] } == [2, 3, 4, 6, 7, 8, 9].map { "\(folder)/a.lua:\($0)" })
            #expect(first.first?["summary"] == "every 5m")
            let second = try #require(list.last?["registrations"] as? [[String: String]])
            #expect(second == [
                ["kind": "balance_below", "summary": "balance below 5 (re-armed at 6), checked every 10m", "position": "\(folder)/b.lua:1"],
                ["kind": "watch", "summary": "/tmp (create, modify, move, delete)", "position": "\(folder)/b.lua:2"],
            ])
        }

        @Test("a syntax error exits 65 with file:line: message; files before it are listed")
        func syntaxError() throws {
            let directory = try ScriptDirectory()
            try directory.write("a.lua", "fms.every('1h', function() end)\n")
            let bad = try directory.write("b.lua", "fms.every('5m', function() end)\nlocal x = = 1\n")
            try directory.write("c.lua", "fms.every('2h', function() end)\n")
            let result = try fms(["check", directory.url.path])
            #expect(result.status == 65, "\(result)")
            #expect(result.lines == ["\(directory.path("a.lua")): ok, 1 registration", "  \(directory.path("a.lua")):1: every: every 1h"],
                    "\(result)")
            #expect(result.stderr == "fms: \(bad):2: unexpected symbol near '='\n", "\(result)")

            let json = try fms(["check", "--json", bad])
            #expect(json.status == 65, "\(json)")
            let list = try #require(try parseJSON(json.stdout) as? [[String: Any]], "\(json)")
            #expect(list.count == 1)
            #expect(list.first?["ok"] as? Bool == false)
            #expect(list.first?["error"] as? String == "\(bad):2: unexpected symbol near '='")
        }

        @Test("an error raised while loading exits 65 with its message and traceback")
        func runtimeErrorAtLoad() async throws {
            try await withSimulator { sim in
                let directory = try ScriptDirectory()
                let path = try directory.write("rule.lua", """
                    fms.every("5m", function() end)
                    fms.send{ mobile = "123", template = "T" }
                    """)
                let result = try sim.fms(["check", path])
                #expect(result.status == 65, "\(result)")
                #expect(result.stdout.isEmpty, "\(result)")
                #expect(result.stderr.hasPrefix("fms: \(path):2: field 'mobile' of fms.send: '123' is not a mainland mobile number "
                                                + "(11 digits starting with 1)\nstack traceback:\n"), "\(result)")
                #expect(result.stderr.contains("\(path):2: in main chunk"), "\(result)")

                let thrown = try directory.write("thrown.lua", "local function f() error('broken rule') end\nf()\n")
                let json = try sim.fms(["check", "--json", thrown])
                #expect(json.status == 65, "\(json)")
                let list = try #require(try parseJSON(json.stdout) as? [[String: Any]], "\(json)")
                #expect(list.first?["error"] as? String == "\(thrown):1: broken rule")
                #expect(json.stderr.hasPrefix("fms: \(thrown):1: broken rule\nstack traceback:\n"), "\(json)")

                let loop = try directory.write("loop.lua", "while true do end\n")
                let budget = try fms(["check", "--budget", "10000", loop])
                #expect(budget.status == 65, "\(budget)")
                #expect(budget.stderr.hasPrefix("fms: \(loop):1: instruction budget exceeded"), "\(budget)")

                let registration = try directory.write("cron.lua", "\nfms.cron('0 9 * *', function() end)\n")
                let cron = try fms(["check", registration])
                #expect(cron.status == 65, "\(cron)")
                #expect(cron.stderr.hasPrefix("fms: \(registration):2: bad argument #1 to 'fms.cron' (cron expression '0 9 * *' has "
                                              + "4 fields; expected 5 (minute hour day month weekday))"), "\(cron)")
                #expect(try await sim.ledger().isEmpty)
            }
        }

        @Test("a missing path, an empty folder or none at all")
        func missingAndEmpty() throws {
            let directory = try ScriptDirectory()
            let missing = try fms(["check", directory.path("nope")])
            #expect(missing.status == 66, "\(missing)")
            #expect(missing.stderr == "fms: check: \(directory.path("nope")): no such file or directory\n")

            try directory.write("only.meta.lua", "---@meta\n")
            let empty = try fms(["check", directory.url.path])
            #expect(empty.status == 66, "\(empty)")
            #expect(empty.stderr == "fms: check: \(directory.url.path): no .lua files in this folder\n", "\(empty)")

            #expect(try fms(["check"]).status == 64)
        }

        @Test("the editor stub rules/fms.meta.lua loads as a file and registers nothing")
        func metaStub() throws {
            let stub = LuaCommandTests.root.appendingPathComponent("rules/fms.meta.lua").path
            let result = try fms(["check", stub])
            #expect(result.status == 0, "\(result)")
            #expect(result.lines == ["\(stub): ok, 0 registrations"], "\(result)")
            #expect(result.stderr.isEmpty, "\(result)")
        }
    }
}
