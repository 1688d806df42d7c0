import Foundation
import Synchronization
import Testing
import LuaKit
import Outbox
@testable import RulesEngine

/// The watcher's policies and pieces, without processes: balance edges, quiet hours, the rate
/// limit, cooldown summaries, logs and metrics.
@Suite("fms watch: policies and pieces")
struct WatchPolicyTests {
    @Test("the balance edge fires once on the way down and re-arms only at the re-arm level")
    func balanceEdge() {
        var edge = BalanceEdge(threshold: 100, rearm: BalanceEdge.defaultRearm(threshold: 100))
        #expect(edge.rearm == 110)
        let fired = [150, 99, 80, 105, 99, 109, 110, 95, 120].map { edge.update(balance: $0) }
        #expect(fired == [false, true, false, false, false, false, false, true, false])
        #expect(BalanceEdge.defaultRearm(threshold: 5) == 6, "at least one above the threshold")
        var restored = BalanceEdge(threshold: 100, rearm: 110, side: .below)
        #expect(restored.update(balance: 50) == false, "a persisted 'below' edge does not alert again")
    }

    @Test("quiet hours: the end of a window spanning midnight, in the configured zone")
    func quietHours() throws {
        let shanghai = try #require(TimeZone(identifier: "Asia/Shanghai"))
        let quiet = QuietHours(start: 23 * 60, end: 7 * 60, timeZone: shanghai)
        // 2026-11-26 23:30 in Shanghai is 15:30 UTC.
        let lateEvening = try #require(ISO8601DateFormatter().date(from: "2026-11-26T15:30:00Z")).timeIntervalSince1970
        let morning = try #require(ISO8601DateFormatter().date(from: "2026-11-26T23:00:00Z")).timeIntervalSince1970
        #expect(quiet.end(after: lateEvening) == morning, "deferred to 07:00 local the next day")
        #expect(quiet.end(after: morning) == nil, "07:00 is outside the window")
        #expect(quiet.end(after: morning - 1) == morning)
        let noon = morning + 5 * 3600
        #expect(quiet.end(after: noon) == nil)
        let daytime = QuietHours(start: 12 * 60, end: 13 * 60, timeZone: shanghai)
        #expect(daytime.end(after: noon) == noon + 3600)
    }

    @Test("the rate limit spaces queued sends out instead of dropping them; urgent skips quiet hours only")
    func rateLimit() async throws {
        let clock = TestClock()
        let context = FMSModuleContext(mode: .watch, backend: ValidatingBackend(), clock: { clock.seconds }, log: { _ in })
        #expect(context.sendTime(urgent: false) == nil, "no policy: at once")
        context.configure { $0.rate = (count: 2, seconds: 60) }
        let now = clock.seconds
        let times = (0..<5).map { _ in context.sendTime(urgent: false) }
        #expect(times == [nil, nil, now + 60, now + 60, now + 120])
        clock.advance(200)
        #expect(context.sendTime(urgent: false) == nil, "the window moved on")
        let minuteOfDay = Int(clock.seconds.truncatingRemainder(dividingBy: 86400) / 60)
        context.configure {
            $0.rate = nil
            $0.timezone = "UTC"
            $0.quiet = (start: minuteOfDay, end: (minuteOfDay + 30) % 1440)
        }
        let deferred = try #require(context.sendTime(urgent: false))
        #expect(deferred > clock.seconds + 29 * 60 && deferred <= clock.seconds + 30 * 60)
        #expect(context.sendTime(urgent: true) == nil)
        // With both: sends deferred to the end of quiet hours take the rate there; an urgent one goes now.
        clock.advance(61)  // past the window of the send above
        context.configure { $0.rate = (count: 1, seconds: 60) }
        let first = try #require(context.sendTime(urgent: false))
        let second = try #require(context.sendTime(urgent: false))
        #expect(second == first + 60)
        #expect(context.sendTime(urgent: true) == nil, "not held back by the slots after quiet hours")
        #expect(context.sendTime(urgent: true) == clock.seconds + 60, "but by the urgent one just sent")
    }

    @Test("cooldown windows count repeats and yield one summary with the last repeat's variables")
    func cooldownSummaries() {
        let clock = TestClock()
        let windows = Mutex<[FMSModuleContext.CooldownWindow]>([])
        let context = FMSModuleContext(mode: .watch, backend: ValidatingBackend(), clock: { clock.seconds }, log: { _ in })
        context.observeCooldownWindows { end in windows.withLock { $0.append(end) } }
        func message(_ text: String) -> NewMessage {
            NewMessage(customId: "id-" + text, template: "T", mobile: "13800000001", variables: ["what": text], key: "k")
        }
        #expect(context.claimCooldown(key: "k", cooldown: 10, message: message("a"), summary: true) == nil)
        clock.advance(1)
        #expect(context.claimCooldown(key: "k", cooldown: 10, message: message("b"), summary: true) == 9)
        #expect(context.claimCooldown(key: "k", cooldown: 10, message: message("c"), summary: true) == 9)
        #expect(context.claimCooldown(key: "other", cooldown: 10, message: message("x"), summary: false) == nil)
        #expect(context.closedCooldownSummaries().isEmpty, "still open")
        clock.advance(10)
        let summaries = context.closedCooldownSummaries()
        #expect(summaries.count == 1)
        #expect(summaries.first?.variables == ["what": "c", "suppressed": "2", "summary": "and 2 more"])
        #expect(summaries.first?.customId != "id-c", "a summary is a new message")
        #expect(context.tally.counts.suppressed == 2)
        let start = clock.seconds - 11
        #expect(windows.withLock { $0 } == [FMSModuleContext.CooldownWindow(key: "k", end: start + 10, summary: true),
                                             FMSModuleContext.CooldownWindow(key: "other", end: start + 11, summary: false)])
        // A window without repeats, or without summary, yields nothing.
        #expect(context.claimCooldown(key: "k", cooldown: 5, message: message("d"), summary: true) == nil)
        clock.advance(6)
        #expect(context.closedCooldownSummaries().isEmpty)
    }

    @Test("cooldown windows restored from an earlier run suppress repeats until they close")
    func restoredCooldowns() {
        let clock = TestClock()
        let shared = CooldownState()
        shared.restore(["open": clock.seconds + 30, "closed": clock.seconds - 1], now: clock.seconds)
        let context = FMSModuleContext(mode: .watch, backend: ValidatingBackend(), cooldowns: shared, clock: { clock.seconds },
                                       log: { _ in })
        let message = NewMessage(customId: "x", template: "T", mobile: "13800000001", variables: [:])
        #expect(context.claimCooldown(key: "open", cooldown: 60, message: message, summary: false) == 30)
        #expect(context.claimCooldown(key: "closed", cooldown: 60, message: message, summary: false) == nil)
        clock.advance(31)
        #expect(context.claimCooldown(key: "open", cooldown: 60, message: message, summary: false) == nil)
    }

    @Test("log lines: text with timestamps, journal priorities without them, JSON objects")
    func logFormats() throws {
        let lines = Mutex<[String]>([])
        let sink: @Sendable (String) -> Void = { line in lines.withLock { $0.append(line) } }
        let clock: @Sendable () -> Double = { 1_764_151_200.25 }
        WatchLogger(format: .text, journal: false, clock: clock, sink: sink)
            .log(.warn, "disk full", [("position", "rules/disk.lua:7"), ("rule", "rules/disk.lua")])
        WatchLogger(format: .text, journal: true, clock: clock, sink: sink)
            .log(.error, "handler failed", [("traceback", "stack traceback:\n\t[C]: in ?")])
        WatchLogger(format: .json, journal: true, clock: clock, sink: sink).log(.info, "quoted \"text\"", [("rule", "a.lua")])
        let written = lines.withLock { $0 }
        #expect(written[0] == "2025-11-26T10:00:00.250Z warn rules/disk.lua:7: disk full rule=rules/disk.lua\n")
        #expect(written[1] == "<3>error handler failed\n<3>    stack traceback:\n<3>    \t[C]: in ?\n")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(written[2].utf8)) as? [String: String])
        #expect(object == ["time": "2025-11-26T10:00:00.250Z", "level": "info", "message": "quoted \"text\"", "rule": "a.lua"])
        #expect(!WatchLogger.stderrIsJournal(environment: ["JOURNAL_STREAM": "1:2"]), "not our stderr")
        #expect(!WatchLogger.stderrIsJournal(environment: [:]))
    }

    @Test("metrics: Prometheus text with escaped labels and every family")
    func metricsText() {
        let metrics = WatchMetrics()
        metrics.noteEvent(.watch, count: 3)
        metrics.noteHandlerRun(rule: "rules/a \"b\".lua", failed: true)
        metrics.noteHandlerRun(rule: "rules/a \"b\".lua", failed: false)
        metrics.noteReport(state: "FAIL_MOBILE")
        metrics.noteBalance(42)
        metrics.noteReload(ok: false)
        var sends = SendTally.Counts()
        sends.queued = 7
        let text = metrics.render(sends: sends, outbox: WatchMetrics.OutboxGauges(pending: 1, sent: 5, dead: 1))
        for expected in ["fms_up 1", "fms_events_total{source=\"watch\"} 3", "fms_events_total{source=\"cron\"} 0",
                         "fms_handler_runs_total{rule=\"rules/a \\\"b\\\".lua\"} 2",
                         "fms_handler_errors_total{rule=\"rules/a \\\"b\\\".lua\"} 1", "fms_sends_total{outcome=\"queued\"} 7",
                         "fms_outbox_messages{state=\"dead\"} 1", "fms_reports_total{state=\"FAIL_MOBILE\"} 1", "fms_balance 42",
                         "fms_reloads_total{result=\"failed\"} 1", "# TYPE fms_events_total counter"] {
            #expect(text.contains(expected + "\n"), "missing \(expected) in\n\(text)")
        }
    }

    @Test("watch mode records each registration's spec and handler; :stop() tells the observer once")
    func watchModeRegistrations() async throws {
        let runtime = try LuaRuntime()
        let context = FMSModuleContext(mode: .watch, backend: ValidatingBackend(), log: { _ in })
        let stopped = Mutex<[Int]>([])
        context.registry.observeStops { id in stopped.withLock { $0.append(id) } }
        await runtime.withState { state in FMSModule.install(into: state, context: context) }
        context.noteRuleFile("/very/long/path/to/a/folder/with/rules/that/lua/shortens/in/positions/rule.lua")
        let result = await runtime.run(source: """
            local h = fms.every("5m", function() end)
            fms.balance_below{ threshold = 10, rearm = 50, handler = function() end }
            fms.tail{ path = "relative.log", handler = function() end }
            h:stop(); h:stop()
            """, chunkName: "@/very/long/path/to/a/folder/with/rules/that/lua/shortens/in/positions/rule.lua")
        #expect(throws: Never.self) { try result.get() }
        let registrations = context.registry.registrations
        #expect(registrations.allSatisfy { $0.handler != nil })
        #expect(registrations.allSatisfy { $0.rule == "/very/long/path/to/a/folder/with/rules/that/lua/shortens/in/positions/rule.lua" })
        guard case .balanceBelow(10, 50, 600)? = registrations[1].spec else {
            Issue.record("balance_below spec: \(String(describing: registrations[1].spec))")
            return
        }
        guard case .tail(let path, nil)? = registrations[2].spec else { Issue.record("tail spec"); return }
        #expect(path == FileManager.default.currentDirectoryPath + "/relative.log")
        #expect(stopped.withLock { $0 } == [1])
        #expect(context.registry.isStopped(1) && !context.registry.isStopped(2))
        let bad = await runtime.run(source: "fms.balance_below{ threshold = 10, rearm = 5, handler = print }", chunkName: "=x")
        #expect(throws: LuaError.self) { try bad.get() }
    }

    @Test("utilities: fms.truncate counts characters, fms.host names the machine, fms.sleep waits and checks its argument")
    func utilities() async throws {
        let harness = try LuaHarness()
        let (outcome, _) = await harness.run("""
            local started = fms.now()
            fms.sleep("50ms")
            return fms.truncate("磁盘  已满\\n  请尽快清理", 6), fms.truncate("ok", 5), type(fms.host), #fms.host > 0,
                   fms.now() - started >= 0.05
            """)
        #expect(try outcome.result.get() == [.text("磁盘 已满…"), .text("ok"), .text("string"), .boolean(true), .boolean(true)])
        #expect(await harness.failure("fms.truncate('x', 0)") == "rule.lua:1: bad argument #2 to 'fms.truncate' (must be at least 1, got 0)")
        #expect(await harness.failure("fms.sleep('soon')").hasPrefix("rule.lua:1: bad argument #1 to 'fms.sleep'"))
        let (checked, _) = await harness.run("fms.sleep(3600) return 'did not wait'", mode: .check)
        #expect(try checked.result.get() == [.text("did not wait")])
    }
}
