import Testing
import FMSProtocol
import LuaKit
@testable import RulesEngine

/// The `fms` module in run mode, against an in-memory gateway.
@Suite("fms module: bindings")
struct FMSModuleTests {
    @Test("send returns a plain table and reaches the gateway")
    func send() async throws {
        let harness = try LuaHarness()
        let tid = try await harness.template()
        let (outcome, context) = await harness.run("""
            local r = fms.send{ mobile = " 13800138000 ", template = "\(tid)", vars = { host = "db1", pct = 91.0 }, id = "disk-db1" }
            return r.mobile, r.customFmsId, type(r.fmsId)
            """)
        #expect(try outcome.result.get() == [.text("13800138000"), .text("disk-db1"), .text("string")])
        #expect(context.tally.accepted == 1)
        let ledger = harness.gateway.ledger()
        #expect(ledger.count == 1)
        #expect(ledger.first?.content == ["host": "db1", "pct": "91"], "numbers become wire text")
    }

    @Test("batch sends any number, in order, with ids and vars")
    func batch() async throws {
        let harness = try LuaHarness()
        let tid = try await harness.template()
        let (outcome, context) = await harness.run("""
            local messages = {}
            for i = 1, 650 do messages[i] = { mobile = string.format("138%08d", i), id = "m" .. i, vars = { host = "h" .. i } } end
            local sent = fms.batch{ template = "\(tid)", messages = messages }
            return #sent, sent[1].customFmsId, sent[650].customFmsId, sent[650].mobile
            """)
        #expect(try outcome.result.get() == [.integer(650), .text("m1"), .text("m650"), .text("13800000650")])
        #expect(context.tally.accepted == 650)
        #expect(harness.gateway.ledger().count == 650)
    }

    @Test("reports, balance and templates")
    func gatewayCalls() async throws {
        let harness = try LuaHarness(failing: ["13900000002": .failMobile])
        let (outcome, _) = await harness.run("""
            local tid, vars = fms.template.report("备份 {job} 失败")
            local status = fms.template.query(tid)
            fms.send{ mobile = "13900000002", template = tid, vars = { job = "nightly" }, id = "b1" }
            local reports = fms.reports{ max = 10 }
            return vars[1], status.approved, status.cmcc, #reports, reports[1].state, reports[1].delivered,
                   reports[1].customFmsId, fms.balance()
            """)
        #expect(try outcome.result.get() == [.text("job"), .boolean(true), .text("approved"), .integer(1),
                                             .text("FAIL_MOBILE"), .boolean(false), .text("b1"), .integer(99)])
    }

    @Test("argument errors blame the caller's line and send nothing", arguments: [
        ("fms.send()", "bad argument #1 to 'fms.send' (table expected, got no value)"),
        ("fms.send{ mobil = '13800138000', template = 'T' }", "unknown field 'mobil' in fms.send (did you mean 'mobile'?)"),
        ("fms.send{ template = 'T' }", "field 'mobile' of fms.send: string expected, got nil"),
        ("fms.send{ mobile = '12345', template = 'T' }",
         "field 'mobile' of fms.send: '12345' is not a mainland mobile number (11 digits starting with 1)"),
        ("fms.send{ mobile = '13800138000', template = ' ' }", "field 'template' of fms.send: is empty"),
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
        ("fms.send{ mobile = '13800138000', template = 'T', wait = 'yes' }", "field 'wait' of fms.send: boolean expected, got string"),
        ("fms.batch{ template = 'T', messages = {} }", "field 'messages' of fms.batch: the list is empty"),
        ("fms.batch{ template = 'T', messages = { { mobile = '13800138000' }, { mobile = 'x' } } }",
         "field 'messages[2].mobile' of fms.batch: 'x' is not a mainland mobile number (11 digits starting with 1)"),
        ("fms.batch{ template = 'T', messages = { { mobile = '13800138000', phone = 1 } } }",
         "field 'messages[1]' of fms.batch: unknown field 'phone' (fields are mobile, vars, id)"),
        ("fms.reports{ max = 0 }", "field 'max' of fms.reports: must be 1 or more, got 0"),
        ("fms.reports{ limit = 5 }", "unknown field 'limit' in fms.reports"),
        ("fms.balance(1)", "bad argument #1 to 'fms.balance' (no arguments expected)"),
        ("fms.template.report(string.rep('字', 71))", "bad argument #1 to 'template.report' (the template is 71 characters; at most 70)"),
        ("fms.template.report('{a}{a}')", "bad argument #1 to 'template.report' (the template repeats a variable name)"),
        ("fms.template.query('')", "bad argument #1 to 'template.query' (the template id is empty)"),
        ("fms.config{ rate = 'fast' }", "field 'rate' of fms.config: 'fast' is not a rate such as \"30/min\", \"5/s\" or \"100/h\""),
        ("fms.config{ quiet = '23-7' }", "field 'quiet' of fms.config: '23-7' is not a window such as \"23:00-07:00\""),
        ("fms.config{ timezone = 'Mars/Base' }",
         "field 'timezone' of fms.config: 'Mars/Base' is not a time zone such as \"Asia/Shanghai\" or \"UTC\""),
    ])
    func argumentErrors(code: String, message: String) async throws {
        let harness = try LuaHarness()
        let failure = await harness.failure("local x = 1\n" + code)
        #expect(failure == "rule.lua:2: " + message)
        #expect(harness.gateway.ledger().isEmpty)
    }

    @Test("a refused send is a Lua error naming the vendor code, catchable, and counted")
    func refusedSend() async throws {
        let harness = try LuaHarness()
        let (outcome, context) = await harness.run("""
            local ok, err = pcall(fms.send, { mobile = "13800138000", template = "no-such-template" })
            return ok, err
            """)
        let values = try outcome.result.get()
        #expect(values.first == .boolean(false))
        #expect(values.last?.stringValue?.contains("ERROR_TEMPLATE_ID_ERROR") == true)
        #expect(context.tally.failures.count == 1)
        #expect(context.tally.failures.first?.resultCode == .templateIdError)
    }

    @Test("a key with a cooldown suppresses repeats within the window")
    func cooldown() async throws {
        let harness = try LuaHarness()
        let tid = try await harness.template("x")
        let script = """
            local a = fms.send{ mobile = "13800138000", template = "\(tid)", key = "disk:db1", cooldown = "30m" }
            local b, why = fms.send{ mobile = "13800138000", template = "\(tid)", key = "disk:db1", cooldown = "30m" }
            local c = fms.send{ mobile = "13800138000", template = "\(tid)", key = "disk:db2", cooldown = "30m" }
            return a ~= nil, b, why, c ~= nil
            """
        let (outcome, _) = await harness.run(script)
        let values = try outcome.result.get()
        #expect(values[0] == .boolean(true))
        #expect(values[1] == .nil)
        #expect(values[2].stringValue?.hasPrefix("suppressed: key 'disk:db1' is cooling down") == true)
        #expect(values[3] == .boolean(true))
        #expect(harness.gateway.ledger().count == 2)
    }

    @Test("fms.log goes to the log sink with the caller's position")
    func logging() async throws {
        let harness = try LuaHarness()
        _ = await harness.run("fms.log.info('disk', 91)\nfms.log.error('bad')")
        let lines = harness.logs.withLock { $0 }
        #expect(lines.map(\.level) == ["info", "error"])
        #expect(lines.map(\.message) == ["disk\t91", "bad"])
        #expect(lines.map(\.position) == ["rule.lua:1", "rule.lua:2"])
    }

    @Test("fms is also package.loaded.fms and require('fms')")
    func moduleLoaded() async throws {
        let harness = try LuaHarness()
        let (outcome, _) = await harness.run("return require('fms') == fms, fms.version, fms.duration('1h30m')")
        #expect(try outcome.result.get() == [.boolean(true), .text(FMSModule.version), .number(5400)])
    }

    @Test("arg and ... carry the script's arguments")
    func arguments() async throws {
        let harness = try LuaHarness()
        let (outcome, _) = await harness.run("local a, b = ... return arg[0], arg[1], arg[2], a, b, #arg", arguments: ["x", "y"])
        #expect(try outcome.result.get() == [.text("rule.lua"), .text("x"), .text("y"), .text("x"), .text("y"), .integer(2)])
    }

    @Test("fms.config stores validated settings")
    func configuration() async throws {
        let harness = try LuaHarness()
        let (outcome, context) = await harness.run("fms.config{ rate = '30/min', quiet = '23:00-07:00', timezone = 'Asia/Shanghai' }")
        _ = try outcome.result.get()
        #expect(context.configuration.rate?.count == 30)
        #expect(context.configuration.rate?.seconds == 60)
        #expect(context.configuration.quiet?.start == 23 * 60)
        #expect(context.configuration.quiet?.end == 7 * 60)
        #expect(context.configuration.timezone == "Asia/Shanghai")
    }
}
