import Testing
import LuaKit
@testable import RulesEngine

/// Registration functions in check mode, and their refusal in run mode.
@Suite("fms module: registrations")
struct RegistrationTests {
    @Test("check mode records what a rule file registers, with positions")
    func recorded() async throws {
        let harness = try LuaHarness()
        let (outcome, context) = await harness.run("""
            local h = fms.every("5m", function() end)
            fms.cron("0 9 * * 1-5", function() end)
            fms.watch{ path = "/var/log/app", match = "*.log", on = { "create", "modify" }, recursive = true,
                       debounce = "500ms", handler = function(ev) end }
            fms.tail{ path = "/var/log/app.log", match = "ERROR", handler = function(line) end }
            fms.balance_below{ threshold = 1000, every = "10m", handler = function(b) end }
            fms.on_report{ state = "FAIL_*", handler = function(r) end }
            fms.on_failure(function(m, e) end)
            fms.send{ mobile = "13800138000", template = "anything" }
            return h.kind, h:stop() == nil
            """, mode: .check)
        #expect(try outcome.result.get() == [.text("every"), .boolean(true)])
        let registrations = context.registry.registrations
        #expect(registrations.map(\.kind) == ["every", "cron", "watch", "tail", "balance_below", "on_report", "on_failure"])
        #expect(registrations.map(\.position) == ["rule.lua:1", "rule.lua:2", "rule.lua:3", "rule.lua:5", "rule.lua:6",
                                                  "rule.lua:7", "rule.lua:8"])
        #expect(registrations[0].summary == "every 5m")
        #expect(registrations[2].summary == "/var/log/app/*.log (create, modify) recursive debounce 500ms")
        #expect(registrations[4].summary == "balance below 1000 (re-armed at 1100), checked every 10m")
        #expect(harness.gateway.ledger().isEmpty, "check mode sends nothing")
    }

    @Test("registration arguments are checked", arguments: [
        ("fms.every('often', function() end)", "bad argument #1 to 'fms.every' ('often' is not a positive duration such as \"30s\", \"5m\" or \"1h\")"),
        ("fms.every('5m')", "bad argument #2 to 'fms.every' (function expected, got no value)"),
        ("fms.cron('0 9 * *', function() end)",
         "bad argument #1 to 'fms.cron' (cron expression '0 9 * *' has 4 fields; expected 5 (minute hour day month weekday))"),
        ("fms.cron('61 * * * *', function() end)", "bad argument #1 to 'fms.cron' (minute 61 is out of range 0-59)"),
        ("fms.watch{ path = '/tmp', on = { 'created' }, handler = print }",
         "field 'on' of fms.watch: unknown event 'created' (events are create, modify, move, delete, attrib)"),
        ("fms.watch{ path = '/tmp' }", "field 'handler' of fms.watch: function expected, got nil"),
        ("fms.balance_below{ every = '1m', handler = print }", "field 'threshold' of fms.balance_below: integer expected, got nil"),
        ("fms.on_failure('x')", "bad argument #1 to 'fms.on_failure' (function expected, got string)"),
    ])
    func checked(code: String, message: String) async throws {
        let harness = try LuaHarness()
        #expect(await harness.failure("\n" + code, mode: .check) == "rule.lua:2: " + message)
    }

    @Test("run mode refuses registrations with a pointer to fms watch")
    func refusedInRun() async throws {
        let harness = try LuaHarness()
        let message = await harness.failure("fms.every('5m', function() end)")
        #expect(message.hasPrefix("rule.lua:1: fms.every registers a rule, which needs 'fms watch'"))
    }

    @Test("cron expressions", arguments: [
        ("*/15 * * * *", [0, 15, 30, 45], 24, 7), ("0 9 * * mon-fri", [0], 1, 5), ("0 0 1 jan,jul *", [0], 1, 7),
        ("30 6 * * 0", [30], 1, 1), ("30 6 * * 7", [30], 1, 1),
    ])
    func cron(text: String, minutes: [Int], hourCount: Int, weekdayCount: Int) throws {
        let cron = try CronExpression(text)
        #expect(cron.minutes == Set(minutes))
        #expect(cron.hours.count == hourCount)
        #expect(cron.daysOfWeek.count == weekdayCount)
    }

    @Test("durations", arguments: [("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0), ("2d", 172_800.0), ("45", 45.0)])
    func durations(text: String, seconds: Double) {
        #expect(DurationText.seconds(text) == seconds)
    }

    @Test("bad durations", arguments: ["", "m5", "5x", "-3", "1.5.5m", "five"])
    func badDurations(text: String) {
        #expect(DurationText.seconds(text) == nil)
    }
}

/// Limits and leaks in scripts.
@Suite("fms run: limits and leaks")
struct ScriptLimitTests {
    @Test("a runaway loop and a memory bomb fail their script only")
    func limits() async throws {
        let harness = try LuaHarness()
        var limits = LuaLimits()
        limits.instructionBudget = 200_000
        limits.memoryBytes = 16 << 20
        let (loop, _) = await harness.run("while true do end", limits: limits)
        guard case .failure(let loopError) = loop.result else { Issue.record("the loop should fail"); return }
        #expect(loopError.kind == .budget)
        limits.instructionBudget = 100_000_000
        let (bomb, _) = await harness.run("local t = {} for i = 1, 1e8 do t[i] = ('x'):rep(100) .. i end", limits: limits)
        guard case .failure(let bombError) = bomb.result else { Issue.record("the bomb should fail"); return }
        #expect(bombError.kind == .memory)
    }

    @Test("an error after a send keeps the send and reports the error with a traceback")
    func errorAfterSend() async throws {
        let harness = try LuaHarness()
        let tid = try await harness.template("x")
        let (outcome, context) = await harness.run("fms.send{ mobile = '13800138000', template = '\(tid)' }\nerror('after')")
        guard case .failure(let error) = outcome.result else { Issue.record("expected failure"); return }
        #expect(error.message == "rule.lua:2: after")
        #expect(error.traceback.contains("rule.lua:2"))
        #expect(context.tally.accepted == 1)
        #expect(harness.gateway.ledger().count == 1)
    }
}
