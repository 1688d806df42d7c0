import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// End-to-end tests of `fms watch` on the built binary: real inotify in temporary folders and the
/// in-process simulator (`--sim`).
@Suite("fms watch")
struct WatchCommandTests {
    static let template = "--sim-template=1001=Alert {what}"

    /// Writes `rules` as `rules/main.lua` in a new folder; returns the folder.
    static func ruleFolder(_ rules: String, name: String = "main.lua") throws -> TemporaryDirectory {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path("rules"), withIntermediateDirectories: true)
        try directory.write("rules/" + name, rules)
        return directory
    }

    /// A rule folder and an existing `drop` folder beside it; `rules` gets the drop folder's path.
    static func ruleFolderWithDrop(_ rules: (String) -> String) throws -> (TemporaryDirectory, String) {
        let directory = try ruleFolder("")
        let drop = directory.path("drop")
        try FileManager.default.createDirectory(atPath: drop, withIntermediateDirectories: true)
        try directory.write("rules/main.lua", rules(drop))
        return (directory, drop)
    }

    /// Creates (or overwrites) a file in place, as most programs do: one create event, no temporary name.
    static func put(_ path: String, _ text: String = "x") throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    static func append(_ text: String, to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
    }

    @Test("a file dropped into a watched folder runs the handler, and its send reaches the gateway")
    func fileEventSends() async throws {
        let directory = try Self.ruleFolder("")
        let drop = directory.path("drop")
        try directory.write("rules/main.lua", """
            fms.watch{ path = "\(drop)", match = "*.csv", on = "create", handler = function(ev)
              fms.log.info("EVENT", ev.kind, ev.name, tostring(ev.is_dir), type(ev.time))
              fms.send{ mobile = "13800000001", template = "1001", vars = { what = ev.name } }
            end }
            """)
        let watcher = try WatcherProcess(["--sim", Self.template, directory.path("rules")])
        try await watcher.waitFor("watching:")
        // The folder does not exist yet: it is watched from its parent until it appears.
        try FileManager.default.createDirectory(atPath: drop, withIntermediateDirectories: true)
        try await Task.sleep(nanoseconds: 200_000_000)
        try Self.put(directory.path("drop/ignored.txt"))
        try Self.put(directory.path("drop/orders.csv"))
        try await watcher.waitFor("EVENT\tcreate\torders.csv\tfalse\tnumber")
        // The folder's appearance is an event too (it matches: the watched path always does).
        try await watcher.waitFor("EVENT\tcreate\tdrop\ttrue")
        let ledger = try await watcher.ledger(atLeast: 2)
        #expect(ledger.map(\.content).filter { $0["what"] != "drop" } == [["what": "orders.csv"]])
        #expect(watcher.count("ignored.txt") == 0)
        #expect(try await watcher.stop() == 0)
        #expect(watcher.log.contains("stopped: 2 event(s), 2 handler run(s), 0 error(s); 2 message(s) queued"))
    }

    @Test("tail: matching lines only, across a rename rotation, and from the saved offset after a restart")
    func tailFollowsRotationAndRestart() async throws {
        let directory = try Self.ruleFolder("")
        let log = try directory.write("app.log", "ERROR old line before the watcher\n")
        try directory.write("rules/main.lua", """
            fms.tail{ path = "\(log)", match = "ERROR", handler = function(line, info)
              fms.log.info("LINE[" .. line .. "]")
            end }
            """)
        let state = FMSBinary.freshStateDirectory()
        var watcher = try WatcherProcess(["--sim", directory.path("rules")], stateDirectory: state)
        try await watcher.waitFor("watching:")
        try Self.append("INFO fine\nERROR one\n", to: log)
        try await watcher.waitFor("LINE[ERROR one]")
        // Rotation: the file is renamed away after one more line, and a new one starts.
        try Self.append("ERROR two\n", to: log)
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        try directory.write("app.log", "ERROR three\n")
        try await watcher.waitFor("LINE[ERROR three]")
        #expect(try await watcher.stop() == 0)
        // Written while the watcher is away: delivered after the restart, and nothing twice.
        try Self.append("ERROR four\n", to: log)
        watcher = try WatcherProcess(["--sim", directory.path("rules")], stateDirectory: state)
        try await watcher.waitFor("LINE[ERROR four]")
        try Self.append("ERROR five\n", to: log)
        try await watcher.waitFor("LINE[ERROR five]")
        #expect(try await watcher.stop() == 0)
        #expect(watcher.count("LINE[") == 2)
        #expect(watcher.count("old line") == 0)
    }

    @Test("a reload with broken rules keeps the old rules running; a good edit and SIGHUP swap them")
    func reloadGoodAndBroken() async throws {
        let directory = try Self.ruleFolder("")
        let drop = directory.path("drop")
        try FileManager.default.createDirectory(atPath: drop, withIntermediateDirectories: true)
        func rules(_ version: String) -> String {
            """
            fms.log.info("LOADED \(version)")
            fms.watch{ path = "\(drop)", on = "create", handler = function(ev) fms.log.info("HANDLED \(version) " .. ev.name) end }
            """
        }
        try directory.write("rules/main.lua", rules("v1"))
        let watcher = try WatcherProcess(["--sim", directory.path("rules")])
        try await watcher.waitFor("watching:")
        try directory.write("rules/main.lua", "fms.every('1h', function() end\n")
        try await watcher.waitFor("failed, the running rules stay")
        #expect(watcher.log.contains("main.lua:2:"), "the error names the file and line")
        try Self.put(directory.path("drop/a"))
        try await watcher.waitFor("HANDLED v1 a")
        try directory.write("rules/main.lua", rules("v2"))
        try await watcher.waitFor("LOADED v2")
        try await watcher.waitFor("reloaded")
        try Self.put(directory.path("drop/b"))
        try await watcher.waitFor("HANDLED v2 b")
        watcher.signal(SIGHUP)
        try await watcher.waitFor("LOADED v2", count: 2)
        try await watcher.waitFor("reloaded (SIGHUP)")
        #expect(watcher.count("HANDLED v1 b") == 0)
        #expect(try await watcher.stop() == 0)
    }

    @Test("an error, an endless loop and a memory blow-up in handlers are logged and counted; the watcher goes on")
    func handlerFailuresAreContained() async throws {
        let (directory, drop) = try Self.ruleFolderWithDrop { drop in """
            fms.watch{ path = "\(drop)", on = "create", handler = function(ev)
              if ev.name == "error" then error("broken on purpose") end
              if ev.name == "loop" then while true do end end
              if ev.name == "memory" then local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 1000) .. i end end
              fms.log.info("STILL ALIVE " .. ev.name)
            end }
            """ }
        let metrics = directory.path("metrics.prom")
        let watcher = try WatcherProcess(["--sim", "--budget", "2000000", "--memory", "16", "--metrics-file", metrics,
                                          directory.path("rules")])
        try await watcher.waitFor("watching:")
        for name in ["error", "loop", "memory", "after"] {
            try Self.put(directory.path("drop/" + name))
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        try await watcher.waitFor("STILL ALIVE after", timeout: 60)
        #expect(watcher.log.contains("broken on purpose"))
        #expect(watcher.log.contains("instruction budget exceeded"))
        #expect(watcher.log.contains("not enough memory"))
        #expect(watcher.log.contains("stack traceback"))
        #expect(try await watcher.stop() == 0)
        let text = try String(contentsOfFile: metrics, encoding: .utf8)
        #expect(text.contains("fms_handler_errors_total{rule=\"\(directory.path("rules/main.lua"))\"} 3"), "\(text)")
        #expect(text.contains("fms_handler_runs_total{rule=\"\(directory.path("rules/main.lua"))\"} 4"))
        #expect(text.contains("fms_events_total{source=\"watch\"} 4"))
    }

    @Test("the balance alert fires once below the threshold and not again after a restart")
    func balanceEdgePersists() async throws {
        let directory = try Self.ruleFolder("""
            fms.balance_below{ threshold = 100, every = "1s", handler = function(balance, threshold)
              fms.log.warn("LOW BALANCE", balance, threshold)
            end }
            fms.every("1s", function() fms.log.info("TICK") end)
            """)
        let state = FMSBinary.freshStateDirectory()
        var watcher = try WatcherProcess(["--sim", "--sim-balance", "50", directory.path("rules")], stateDirectory: state)
        try await watcher.waitFor("LOW BALANCE\t50\t100")
        try await watcher.waitFor("TICK", count: 3)
        #expect(watcher.count("LOW BALANCE") == 1, "edge-triggered: one alert while it stays low")
        #expect(try await watcher.stop() == 0)
        watcher = try WatcherProcess(["--sim", "--sim-balance", "50", directory.path("rules")], stateDirectory: state)
        try await watcher.waitFor("TICK", count: 3)
        #expect(watcher.count("LOW BALANCE") == 0, "the edge was persisted:\n\(watcher.log)")
        #expect(try await watcher.stop() == 0)
        // Back above the re-arm level, then low again: a new alert.
        watcher = try WatcherProcess(["--sim", "--sim-balance", "500", directory.path("rules")], stateDirectory: state)
        try await watcher.waitFor("back at or above")
        #expect(try await watcher.stop() == 0)
        watcher = try WatcherProcess(["--sim", "--sim-balance", "5", directory.path("rules")], stateDirectory: state)
        try await watcher.waitFor("LOW BALANCE\t5\t100")
        #expect(try await watcher.stop() == 0)
    }

    @Test("a failed delivery report reaches on_report with the original message and is escalated")
    func failedReportEscalates() async throws {
        let directory = try Self.ruleFolder("""
            local sent = false
            fms.every("1s", function()
              if sent then return end
              sent = true
              fms.send{ mobile = "13900000001", template = "1001", vars = { what = "disk full" }, key = "disk" }
            end)
            fms.on_report{ state = "FAIL_*", handler = function(report)
              fms.log.warn("REPORT", report.mobile, report.state, report.key, report.template, report.vars.what)
              fms.send{ mobile = "13900000002", template = report.template, vars = { what = "escalated: " .. report.vars.what } }
            end }
            fms.on_report{ state = "DELIVRD", handler = function(report) fms.log.info("DELIVERED", report.mobile) end }
            """)
        let watcher = try WatcherProcess(["--sim", Self.template, "--sim-fail-mobile", "13900000001=FAIL_MOBILE",
                                          "--sim-report-delay", "0", "--report-interval", "1s", directory.path("rules")])
        try await watcher.waitFor("REPORT\t13900000001\tFAIL_MOBILE\tdisk\t1001\tdisk full")
        try await watcher.waitFor("DELIVERED\t13900000002")
        let ledger = try await watcher.ledger()
        #expect(ledger.map(\.mobile) == ["13900000001", "13900000002"])
        #expect(ledger.last?.content["what"] == "escalated: disk full")
        #expect(try await watcher.stop() == 0)
    }

    @Test("a cooldown suppresses repeats and sends one summary when its window closes")
    func cooldownSummary() async throws {
        let (directory, drop) = try Self.ruleFolderWithDrop { drop in """
            fms.watch{ path = "\(drop)", on = "create", handler = function(ev)
              local ok, why = fms.send{ mobile = "13800000001", template = "1001", vars = { what = ev.name },
                                        key = "drop", cooldown = "2s", summary = true }
              fms.log.info(ok and "SENT" or ("SUPPRESSED " .. why))
            end }
            """ }
        let watcher = try WatcherProcess(["--sim", Self.template, directory.path("rules")])
        try await watcher.waitFor("watching:")
        for index in 1...4 { try Self.put(directory.path("drop/f\(index)")) }
        try await watcher.waitFor("SUPPRESSED", count: 3)
        try await watcher.waitFor("and 3 more")
        let ledger = try await watcher.ledger(atLeast: 2)
        #expect(ledger.count == 2)
        #expect(ledger.last?.content["summary"] == "and 3 more")
        #expect(ledger.last?.content["suppressed"] == "3")
        #expect(watcher.count("SENT") == 1)
        #expect(try await watcher.stop() == 0)
        #expect(watcher.log.contains("3 suppressed by cooldowns"))
    }

    @Test("--dry-run logs sends instead of sending them")
    func dryRun() async throws {
        let directory = try Self.ruleFolder("""
            fms.every("1s", function() fms.send{ mobile = "13800000001", template = "1001", vars = { what = "x" } } end)
            """)
        let watcher = try WatcherProcess(["--sim", Self.template, "--dry-run", "--log-format", "json", directory.path("rules")])
        try await watcher.waitFor("dry run: would send template 1001 to 13800000001 with what=x")
        #expect(try await watcher.ledger().isEmpty)
        #expect(try await watcher.stop() == 0)
        for line in watcher.log.split(separator: "\n") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "not JSON: \(line)")
        }
    }

    @Test("SIGTERM lets a running handler finish; a second signal exits at once")
    func termination() async throws {
        let (directory, drop) = try Self.ruleFolderWithDrop { drop in """
            fms.watch{ path = "\(drop)", on = "create", handler = function(ev)
              fms.log.info("STARTED " .. ev.name)
              fms.sleep(tonumber(ev.name))
              fms.log.info("FINISHED " .. ev.name)
            end }
            """ }
        var watcher = try WatcherProcess(["--sim", directory.path("rules")])
        try await watcher.waitFor("watching:")
        try Self.put(directory.path("drop/1"))
        try await watcher.waitFor("STARTED 1")
        #expect(try await watcher.stop() == 0)
        #expect(watcher.log.contains("FINISHED 1"), "\(watcher.log)")

        watcher = try WatcherProcess(["--sim", directory.path("rules")])
        try await watcher.waitFor("watching:")
        try Self.put(directory.path("drop/60"))
        try await watcher.waitFor("STARTED 60")
        watcher.signal(SIGTERM)
        try await watcher.waitFor("stopping")
        watcher.signal(SIGTERM)
        #expect(try await watcher.waitForExit(timeout: 10) == 130)
        #expect(watcher.count("FINISHED") == 0)
    }

    @Test("start-up errors: missing rules 66, rules that do not load 65 with file:line, --sim with FMS_URL 64")
    func startErrors() throws {
        let missing = try fms(["watch", "--sim", "/nonexistent/rules"])
        #expect(missing.status == 66, "\(missing)")
        let directory = try Self.ruleFolder("fms.every('5x', function() end)\n")
        let broken = try fms(["watch", "--sim", directory.path("rules")])
        #expect(broken.status == 65, "\(broken)")
        #expect(broken.stderr.contains("main.lua:1:") && broken.stderr.contains("'5x'"), "\(broken)")
        let conflicting = try fms(["watch", "--sim", directory.path("rules")], environment: ["FMS_URL": "http://127.0.0.1:1"])
        #expect(conflicting.status == 64, "\(conflicting)")
        let noRules = try fms(["watch"])
        #expect(noRules.status == 64)
        let simOptionAlone = try fms(["watch", "--sim-balance", "5", directory.path("rules")])
        #expect(simOptionAlone.status == 64 && simOptionAlone.stderr.contains("--sim-balance needs --sim"), "\(simOptionAlone)")
        let metrics = try fms(["watch", "--sim", "--metrics-file", "/nonexistent/folder/fms.prom", directory.path("rules")])
        #expect(metrics.status == 74 && metrics.stderr.contains("/nonexistent/folder"), "\(metrics)")
    }

    @Test("--for ends the watcher by itself with a summary")
    func runFor() throws {
        let directory = try Self.ruleFolder("fms.every('1s', function() fms.log.info('TICK') end)\n")
        let result = try fms(["watch", "--sim", "--for", "2500ms", directory.path("rules")])
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("TICK"))
        #expect(result.stderr.contains("stopped: 2 event(s), 2 handler run(s)"), "\(result)")
    }

    @Test("a send that dies reaches on_failure with the message and the vendor's code")
    func failureHandler() async throws {
        let directory = try Self.ruleFolder("""
            local done = false
            fms.every("1s", function()
              if done then return end
              done = true
              fms.send{ mobile = "13800000001", template = "404404", vars = { what = "x" }, key = "k1" }
            end)
            fms.on_failure(function(message, err)
              fms.log.error("FAILED", message.customFmsId ~= nil, message.mobile, message.template, message.key, err)
            end)
            """)
        let watcher = try WatcherProcess(["--sim", directory.path("rules")])
        try await watcher.waitFor("FAILED\ttrue\t13800000001\t404404\tk1\tERROR_TEMPLATE_ID")
        #expect(try await watcher.stop() == 0)
    }

    @Test("handle:stop() ends a registration; the others go on")
    func stopHandle() async throws {
        let directory = try Self.ruleFolder("""
            local runs = 0
            local handle
            handle = fms.every("500ms", function()
              runs = runs + 1
              fms.log.info("RUN " .. runs)
              if runs == 2 then handle:stop() end
            end)
            fms.every("500ms", function() fms.log.info("OTHER") end)
            """)
        let watcher = try WatcherProcess(["--sim", directory.path("rules")])
        try await watcher.waitFor("RUN 2")
        try await watcher.waitFor("OTHER", count: 5)
        #expect(watcher.count("RUN 3") == 0)
        #expect(watcher.log.contains("stopped every: every 500ms"))
        #expect(try await watcher.stop() == 0)
    }

    @Test("a second watcher on the same state folder is refused with status 75, naming the holder")
    func stateFolderLock() async throws {
        let directory = try Self.ruleFolder("fms.every('1h', function() end)\n")
        let first = try WatcherProcess(["--sim", directory.path("rules")])
        try await first.waitFor("watching:")
        let second = try fms(["watch", "--sim", directory.path("rules")], environment: ["FMS_STATE_DIR": first.stateDirectory])
        #expect(second.status == 75, "\(second)")
        #expect(second.stderr.contains("\(first.process.processIdentifier)"), "\(second)")
        #expect(try await first.stop() == 0)
    }

    @Test("fms send --queue while the watcher holds the state folder hands the message over, and the watcher sends it")
    func queueFromShellWhileWatching() async throws {
        let directory = try Self.ruleFolder("fms.every('1h', function() end)\n")
        let watcher = try WatcherProcess(["--sim", Self.template, directory.path("rules")])
        try await watcher.waitFor("watching:")
        let queued = try fms(["send", "--queue", "--mobile", "13800000007", "--template", "1001", "--var", "what=from cron",
                              "--id", "shell-1"], environment: ["FMS_STATE_DIR": watcher.stateDirectory + "/sim"])
        #expect(queued.status == 0, "\(queued)")
        #expect(queued.stdout == "13800000007\tqueued\tshell-1\n")
        try await watcher.waitFor("handed over by another fms process")
        let ledger = try await watcher.ledger(atLeast: 1)
        #expect(ledger.map(\.mobile) == ["13800000007"])
        #expect(ledger.first?.content == ["what": "from cron"])
        #expect(try await watcher.stop() == 0)
    }

    @Test("a cooldown window outlives a restart: the repeat after the restart is suppressed")
    func cooldownAcrossRestart() async throws {
        let directory = try Self.ruleFolder("""
            local done = false
            fms.every("500ms", function()
              if done then return end
              done = true
              local ok, why = fms.send{ mobile = "13800000001", template = "1001", vars = { what = "x" }, key = "disk", cooldown = "1h" }
              fms.log.info(ok and "SENT" or ("SUPPRESSED " .. why))
            end)
            """)
        let state = FMSBinary.freshStateDirectory()
        var watcher = try WatcherProcess(["--sim", Self.template, directory.path("rules")], stateDirectory: state)
        try await watcher.waitFor("SENT")
        #expect(try await watcher.stop() == 0)
        watcher = try WatcherProcess(["--sim", Self.template, directory.path("rules")], stateDirectory: state)
        try await watcher.waitFor("SUPPRESSED suppressed: key 'disk' is cooling down")
        #expect(watcher.log.contains("1 cooldown window(s) still open from the last run"))
        #expect(try await watcher.stop() == 0)
    }

    // MARK: Regressions found in review

    @Test("--shutdown-timeout bounds the wait for a slow handler, and queued events are dropped, not run")
    func shutdownIsBounded() async throws {
        let (directory, drop) = try Self.ruleFolderWithDrop { drop in """
            fms.watch{ path = "\(drop)", on = "create", handler = function(ev)
              fms.log.info("STARTED " .. ev.name)
              fms.sleep(60)
            end }
            """ }
        _ = drop
        let watcher = try WatcherProcess(["--sim", "--shutdown-timeout", "1", directory.path("rules")])
        try await watcher.waitFor("watching:")
        for name in ["a", "b", "c"] { try Self.put(directory.path("drop/" + name)) }
        try await watcher.waitFor("STARTED a")
        watcher.signal(SIGTERM)
        // Without the bound this takes three minutes; with it, about a second.
        #expect(try await watcher.waitForExit(timeout: 30) == 0)
        #expect(watcher.log.contains("handlers still running after 1s"))
        #expect(watcher.count("STARTED") == 1, "the queued events were dropped:\n\(watcher.log)")
    }

    @Test("a reload keeps each tail's position: lines are handled once, even while the handler is behind")
    func tailAcrossReload() async throws {
        let directory = try Self.ruleFolder("")
        let log = try directory.write("app.log", "")
        try directory.write("rules/main.lua", """
            fms.tail{ path = "\(log)", handler = function(line) fms.sleep(0.2) fms.log.info("LINE[" .. line .. "]") end }
            """)
        let watcher = try WatcherProcess(["--sim", directory.path("rules")])
        try await watcher.waitFor("watching:")
        try Self.append((1...5).map { "line \($0)\n" }.joined(), to: log)
        try await watcher.waitFor("LINE[line 1]")
        watcher.signal(SIGHUP)
        try await watcher.waitFor("reloaded (SIGHUP)")
        try Self.append("line 6\n", to: log)
        // Lines 2-5 run in the old rule set's queue, line 6 in the new one's: either may finish first.
        try await watcher.waitFor("LINE[line 6]")
        try await watcher.waitFor("LINE[line 5]")
        for index in 1...6 { #expect(watcher.count("LINE[line \(index)]") == 1, "line \(index):\n\(watcher.log)") }
        #expect(try await watcher.stop() == 0)
    }

    @Test("a change waiting out its debounce is not lost to a reload")
    func debounceAcrossReload() async throws {
        let (directory, _) = try Self.ruleFolderWithDrop { drop in """
            fms.watch{ path = "\(drop)", debounce = "2s", handler = function(ev) fms.log.info("EVENT " .. ev.kind .. " " .. ev.name) end }
            """ }
        let watcher = try WatcherProcess(["--sim", directory.path("rules")])
        try await watcher.waitFor("watching:")
        try Self.put(directory.path("drop/report.csv"))
        try await Task.sleep(nanoseconds: 300_000_000)
        watcher.signal(SIGHUP)
        try await watcher.waitFor("EVENT create report.csv")
        try await watcher.waitFor("reloaded (SIGHUP)")
        #expect(try await watcher.stop() == 0)
        #expect(watcher.count("EVENT create report.csv") == 1)
    }

    @Test("a timer slower than its period runs once with the missed windows counted, not a queue of runs")
    func slowTimerFolds() async throws {
        let directory = try Self.ruleFolder("""
            fms.every("200ms", function(info)
              fms.log.info("RUN skipped=" .. info.skipped)
              fms.sleep(1)
            end)
            """)
        let watcher = try WatcherProcess(["--sim", directory.path("rules")])
        try await watcher.waitFor("RUN skipped=", count: 3)
        #expect(try await watcher.stop() == 0)
        let skipped = watcher.log.components(separatedBy: "\n").filter { $0.contains("RUN skipped=") }
            .compactMap { Int($0.components(separatedBy: "skipped=").last ?? "") }
        #expect(skipped.dropFirst().allSatisfy { $0 >= 2 }, "\(skipped)")
    }

    @Test("huge durations are refused or clamped, never a crash")
    func hugeDurations() async throws {
        let directory = try Self.ruleFolder("""
            fms.every("9999999999h", function() end)
            fms.balance_below{ threshold = 1, every = "9999999999h", handler = function() end }
            fms.every("1s", function() fms.log.info("TICK") end)
            """)
        let watcher = try WatcherProcess(["--sim", directory.path("rules")])
        try await watcher.waitFor("TICK")
        #expect(try await watcher.stop() == 0)
        let forever = try fms(["watch", "--sim", "--for", "1e11", directory.path("rules")])
        #expect(forever.status == 64, "\(forever)")
        let patient = try fms(["watch", "--sim", "--shutdown-timeout", "1e11", directory.path("rules")])
        #expect(patient.status == 64, "\(patient)")
    }

    @Test("signals are read while a reload loads slow rule files")
    func signalsDuringReload() async throws {
        let directory = try Self.ruleFolder("fms.every('1h', function() end)\n")
        let watcher = try WatcherProcess(["--sim", directory.path("rules")])
        try await watcher.waitFor("watching:")
        try directory.write("rules/main.lua", "fms.log.info('LOADING') fms.sleep(60)\n")
        try await watcher.waitFor("LOADING")
        watcher.signal(SIGTERM)
        #expect(try await watcher.waitForExit(timeout: 20) == 0)
    }

    @Test("a handler's send during shutdown still reaches the gateway before the exit")
    func shutdownFlushesTheSender() async throws {
        let (directory, _) = try Self.ruleFolderWithDrop { drop in """
            fms.watch{ path = "\(drop)", on = "create", handler = function(ev)
              fms.log.info("STARTED")
              fms.sleep(1)
              fms.send{ mobile = "13800000001", template = "1001", vars = { what = "late" } }
            end }
            """ }
        let watcher = try WatcherProcess(["--sim", Self.template, directory.path("rules")])
        try await watcher.waitFor("watching:")
        try Self.put(directory.path("drop/x"))
        try await watcher.waitFor("STARTED")
        #expect(try await watcher.stop() == 0)
        #expect(watcher.log.contains("1 message(s) queued, 1 sent, 0 dead, 0 pending"), "\(watcher.log)")
    }

    @Test("a dead letter whose on_failure handler did not finish (kill -9) reaches it again after a restart")
    func failuresReplayed() async throws {
        let directory = try Self.ruleFolder("""
            fms.every("500ms", function()
              if DONE then return end
              DONE = true
              fms.send{ mobile = "13800000001", template = "404404", id = "doomed-1" }
            end)
            fms.on_failure(function(message, err)
              fms.log.warn("FAILED " .. message.customFmsId .. " " .. err)
              fms.sleep(tonumber(os.getenv("HANDLER_SECONDS")))
              fms.log.warn("HANDLED " .. message.customFmsId)
            end)
            """)
        let state = FMSBinary.freshStateDirectory()
        var watcher = try WatcherProcess(["--sim", directory.path("rules")], environment: ["HANDLER_SECONDS": "60"],
                                         stateDirectory: state)
        try await watcher.waitFor("FAILED doomed-1 ERROR_TEMPLATE_ID")
        watcher.signal(SIGKILL)
        _ = try await watcher.waitForExit()
        watcher = try WatcherProcess(["--sim", directory.path("rules")], environment: ["HANDLER_SECONDS": "0"],
                                     stateDirectory: state)
        try await watcher.waitFor("HANDLED doomed-1")
        #expect(watcher.log.contains("1 dead letter(s) not yet seen by on_failure handlers"))
        #expect(try await watcher.stop() == 0)
        watcher = try WatcherProcess(["--sim", directory.path("rules")], environment: ["HANDLER_SECONDS": "0"],
                                     stateDirectory: state)
        try await watcher.waitFor("watching:")
        try await Task.sleep(nanoseconds: 500_000_000)
        #expect(watcher.count("FAILED doomed-1") == 0, "seen once it was handled:\n\(watcher.log)")
        #expect(try await watcher.stop() == 0)
    }

    @Test("a registration made from a handler is refused with a clear error")
    func registrationFromHandler() async throws {
        let directory = try Self.ruleFolder("""
            fms.every("500ms", function()
              if DONE then return end
              DONE = true
              fms.every("1s", function() end)
            end)
            """)
        let watcher = try WatcherProcess(["--sim", directory.path("rules")])
        try await watcher.waitFor("registers a rule while the rule files load")
        #expect(watcher.log.contains("main.lua:4:"))
        #expect(try await watcher.stop() == 0)
    }

    @Test("every kind of change reaches the handler: create, modify, move, attrib, delete")
    func everyKind() async throws {
        let (directory, drop) = try Self.ruleFolderWithDrop { drop in """
            fms.watch{ path = "\(drop)", on = { "create", "modify", "move", "delete", "attrib" }, handler = function(ev)
              fms.log.info("KIND " .. ev.kind .. " " .. ev.name .. (ev.old_path and (" from " .. ev.old_path:match("[^/]+$")) or ""))
            end }
            """ }
        let watcher = try WatcherProcess(["--sim", directory.path("rules")])
        try await watcher.waitFor("watching:")
        let file = drop + "/a.txt"
        try Self.put(file, "1")
        try await watcher.waitFor("KIND create a.txt")
        try Self.append("2", to: file)
        try await watcher.waitFor("KIND modify a.txt")
        try FileManager.default.moveItem(atPath: file, toPath: drop + "/b.txt")
        try await watcher.waitFor("KIND move b.txt from a.txt")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: drop + "/b.txt")
        try await watcher.waitFor("KIND attrib b.txt")
        try FileManager.default.removeItem(atPath: drop + "/b.txt")
        try await watcher.waitFor("KIND delete b.txt")
        #expect(try await watcher.stop() == 0)
    }

    @Test("a flood of changes while the handler is busy overflows the kernel's queue: an overflow event, then a rescan")
    func overflowThenRescan() async throws {
        let (directory, drop) = try Self.ruleFolderWithDrop { drop in """
            local rescanned = 0
            fms.watch{ path = "\(drop)", on = "create", handler = function(ev)
              if ev.name == "first" then fms.log.info("BUSY") fms.sleep(4) end
              if ev.kind == "overflow" then fms.log.warn("OVERFLOW " .. ev.path) end
              if ev.kind == "rescan" then
                rescanned = rescanned + 1
                if rescanned % 10000 == 0 then fms.log.info("RESCANNED " .. rescanned) end
              end
            end }
            """ }
        let watcher = try WatcherProcess(["--sim", directory.path("rules")])
        try await watcher.waitFor("watching:")
        try Self.put(drop + "/first")
        try await watcher.waitFor("BUSY")
        // More than the handler's queue (10,000) plus the kernel's (16,384 by default) can hold.
        for index in 0..<30_000 {
            let descriptor = open(drop + "/f\(index)", O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
            if descriptor >= 0 { close(descriptor) }
        }
        try await watcher.waitFor("OVERFLOW " + drop, timeout: 120)
        // Everything there is is reported after the overflow: 30,001 files.
        try await watcher.waitFor("RESCANNED 30000", timeout: 120)
        #expect(try await watcher.stop() == 0)
    }
}
