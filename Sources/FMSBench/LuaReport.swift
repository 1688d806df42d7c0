import Foundation
import FMSProtocol

/// The "Lua" part of `fms-bench report`, from the `lua.*` lines of `fms-bench lua`.
///
/// Ratios here are times: our time / the peer's time (lower is better), computed from figures of
/// the same run only.
struct LuaSection {
    var callRows: [Row] = []
    var convertRows: [Row] = []
    var checkRows: [Row] = []
    var goals: [(String, String, Bool?)] = []
    var notes: [String] = []

    var isEmpty: Bool { callRows.isEmpty && convertRows.isEmpty && checkRows.isEmpty }
}

/// Nanoseconds with unit, or n/a.
func nano(_ seconds: Double?) -> String {
    guard let seconds, seconds.isFinite else { return "n/a" }
    return String(format: seconds < 1e-7 ? "%.1f ns" : "%.0f ns", seconds * 1e9)
}

/// Milliseconds with unit, or n/a.
func milli(_ seconds: Double?) -> String {
    guard let seconds, seconds.isFinite else { return "n/a" }
    return String(format: seconds < 0.01 ? "%.2f ms" : "%.1f ms", seconds * 1e3)
}

/// Our time over the peer's time: "2.45×".
func timesRatio(_ ours: Double?, _ peer: Double?) -> String {
    guard let ours, let peer, ours > 0, peer > 0 else { return "n/a" }
    return String(format: "%.2f×", ours / peer)
}

extension Results {
    func luaSection() -> LuaSection {
        var section = LuaSection()

        // MARK: Calls
        let calls = all("lua.call")
        let configurations = ["none", "fms-run"]
        var netByConfiguration: [String: [String: Double]] = [:]
        for configuration in configurations {
            let lines = calls.filter { $0.text("limits") == configuration }
            guard let first = lines.first else { continue }
            var net: [String: Double] = [:]
            for line in lines { net[line.text("name")] = line.double("netSeconds") }
            netByConfiguration[configuration] = net
            let label = configuration == "none"
                ? "no limits"
                : "limits of `fms run` (budget \(fmt(first.double("instructionBudget") ?? 0)) instructions per resume, "
                    + "\(Int((first.double("memoryLimit") ?? 0) / 1_048_576)) MiB cap)"
            let empty = lines.first { $0.text("name") == "empty" }?.double("seconds")
            let cFunctions = lines.filter { $0.text("kind") == "c" }
            let limit = cFunctions.min { ($0.double("netSeconds") ?? .infinity) < ($1.double("netSeconds") ?? .infinity) }
            let limitSeconds = limit?.double("netSeconds")
            let limitName = limit?.text("name") ?? "?"
            section.callRows.append(Row(label: "**\(label)**: empty loop `for i = 1, n do end`, per iteration (subtracted below)",
                                        value: nano(empty), peer: "-", ratio: "-"))
            for line in cFunctions {
                section.callRows.append(Row(label: "  C function of Lua's standard library: `\(line.text("loop"))` with f = \(line.text("name"))",
                                            value: "\(nano(line.double("netSeconds"))) per call",
                                            peer: "cheapest C function (\(limitName))",
                                            ratio: timesRatio(line.double("netSeconds"), limitSeconds)))
            }
            var worst: Double? = nil
            var measured: [String] = []
            for line in lines where line.text("kind") == "swift" {
                let ours = line.double("netSeconds")
                let what = line.text("name") == "binding.noop" ? "no-op Swift binding (returns nothing)" : "Swift binding returning one integer"
                section.callRows.append(Row(label: "  \(what): `\(line.text("loop"))` with f = bench.\(line.text("name").replacingOccurrences(of: "binding.", with: ""))",
                                            value: "\(nano(ours)) per call",
                                            peer: "\(limitName) \(nano(limitSeconds))", ratio: timesRatio(ours, limitSeconds)))
                if let ours, let limitSeconds, limitSeconds > 0 {
                    worst = max(worst ?? 0, ours / limitSeconds)
                    measured.append(String(format: "%.2f×", ours / limitSeconds))
                }
            }
            // Short enough for the console's goal column: "no-op / one integer" ratios.
            section.goals.append(("Lua→Swift call ≤ 3× a C call (no-op / int), \(configuration == "none" ? "no limits" : "fms run")",
                                  measured.isEmpty ? "n/a" : measured.joined(separator: " / "), worst.map { $0 <= 3 }))
        }
        // What the instruction-budget hook and the memory cap cost: the same loops in both states.
        if let free = netByConfiguration["none"], let limited = netByConfiguration["fms-run"] {
            let emptyFree = calls.first { $0.text("limits") == "none" && $0.text("name") == "empty" }?.double("seconds")
            let emptyLimited = calls.first { $0.text("limits") == "fms-run" && $0.text("name") == "empty" }?.double("seconds")
            section.callRows.append(Row(label: "**Cost of the limits** (count hook on every instruction, memory accounting): empty loop per iteration",
                                        value: nano(emptyLimited), peer: "no limits \(nano(emptyFree))",
                                        ratio: timesRatio(emptyLimited, emptyFree)))
            for name in ["math.abs", "binding.noop", "binding.one"] {
                section.callRows.append(Row(label: "  \(name) per call with the limits of fms run",
                                            value: nano(limited[name]), peer: "no limits \(nano(free[name]))",
                                            ratio: timesRatio(limited[name], free[name])))
            }
        }

        // MARK: vars conversion
        let converts = all("lua.convert")
        func convert(_ name: String) -> Double? { converts.first { $0.text("name") == name }?.double("netSeconds") }
        if !converts.isEmpty {
            let copy = convert("lua.copy")
            let table = converts.first?.text("table") ?? "?"
            section.convertRows.append(Row(label: "Lua → Swift: `LuaState.global(\"vars\")` (Swift loop) of `vars = \(table)`",
                                           value: "\(nano(convert("swift.global"))) per conversion",
                                           peer: "Lua pairs copy \(nano(copy))", ratio: timesRatio(convert("swift.global"), copy)))
            section.convertRows.append(Row(label: "Lua → Swift inside a binding: `LuaCall.value(1)` (bench.take(t) minus bench.noop(t))",
                                           value: "\(nano(convert("binding.take"))) per conversion",
                                           peer: "Lua pairs copy \(nano(copy))", ratio: timesRatio(convert("binding.take"), copy)))
            section.convertRows.append(Row(label: "Peer: `local c = {} for k, v in pairs(t) do c[k] = v end` in Lua (minus the empty loop)",
                                           value: "\(nano(copy)) per copy", peer: "-", ratio: "1.00×"))
            section.convertRows.append(Row(label: "  for scale: the same table built by its constructor in Lua",
                                           value: "\(nano(convert("lua.build"))) per table", peer: "Lua pairs copy \(nano(copy))",
                                           ratio: timesRatio(convert("lua.build"), copy)))
            section.convertRows.append(Row(label: "  for scale: the no-op binding call with the table as argument",
                                           value: "\(nano(convert("binding.noop"))) per call", peer: "Lua pairs copy \(nano(copy))",
                                           ratio: timesRatio(convert("binding.noop"), copy)))
        }

        // MARK: fms check
        let processes = all("lua.check.process")
        func process(_ role: String) -> JSONValue? { processes.first { $0.text("role") == role } }
        if let fmsAll = process("fms") {
            let fileCount = fmsAll.double("files") ?? 0
            let fmsOne = process("fms-one")
            let useLuac = process("luac-all") != nil
            let peerAll = process(useLuac ? "luac-all" : "lua-all")
            let peerOne = process(useLuac ? "luac-one" : "lua-one")
            let peerName = peerAll?.text("name") ?? "no peer (lua5.4 missing)"
            if let files = first("lua.check.files") {
                section.notes.append("Rule files: \(Int(files.double("files") ?? 0)) files generated by `bench/make-rules.sh`, "
                                     + "\(fmt(files.double("lines") ?? 0)) lines, \(fmt(files.double("bytes") ?? 0)) bytes "
                                     + "(fms.every, fms.cron, fms.watch, fms.on_report; fms.send and fms.log in handlers; comments).")
            }
            if let failed = first("lua.check.peer-failed") {
                section.notes.append("`\(failed.text("command"))` failed in this run (\(failed.text("note")); the luac5.4 of Debian 12, 5.4.4, aborts with "
                                     + "\"double free detected\" when given two or more files), so the peer for the whole folder is one "
                                     + "`lua5.4 bench/parse-only.lua FILES…` process, which `loadfile`s (parses and compiles, without running) each "
                                     + "file: the work of `luac -p` without its final combine step. `luac5.4 -p FILE` on one file is shown too.")
            }
            // Wall time (what a user waits), then child CPU time in brackets (less disturbed by other load).
            func both(_ line: JSONValue?) -> String {
                "\(milli(line?.double("wallSeconds"))) (CPU \(milli(line?.double("cpuSeconds"))))"
            }
            func ratios(_ ours: JSONValue?, _ peer: JSONValue?) -> String {
                "\(timesRatio(ours?.double("wallSeconds"), peer?.double("wallSeconds"))) (CPU \(timesRatio(ours?.double("cpuSeconds"), peer?.double("cpuSeconds"))))"
            }
            section.checkRows.append(Row(label: "`fms check DIR`, one process, \(Int(fileCount)) files: wall time (child CPU)",
                                         value: both(fmsAll), peer: "\(peerName) \(both(peerAll))", ratio: ratios(fmsAll, peerAll)))
            section.checkRows.append(Row(label: "`fms check FILE`, one file (mostly process start-up)",
                                         value: both(fmsOne), peer: "\(peerOne?.text("name") ?? "n/a") \(both(peerOne))",
                                         ratio: ratios(fmsOne, peerOne)))
            if let luacOne = process("luac-one"), !useLuac {
                section.checkRows.append(Row(label: "  for scale: `luac5.4 -p FILE`, one file",
                                             value: both(luacOne), peer: "-", ratio: "-"))
            }
            // Per file beyond the first: the difference of the folder and the one-file runs.
            func perFile(_ all: JSONValue?, _ one: JSONValue?, _ key: String = "wallSeconds") -> Double? {
                guard let all, let one, fileCount > 1, let a = all.double(key), let o = one.double(key) else { return nil }
                return (a - o) / (fileCount - 1)
            }
            let ourPerFile = perFile(fmsAll, fmsOne)
            let peerPerFile = perFile(peerAll, peerOne)
            section.checkRows.append(Row(label: "Per file beyond the first: (T(DIR) − T(FILE)) / \(Int(fileCount) - 1), wall (CPU)",
                                         value: "\(micro(ourPerFile)) (CPU \(micro(perFile(fmsAll, fmsOne, "cpuSeconds"))))",
                                         peer: "\(peerAll == nil ? "n/a" : peerName) \(micro(peerPerFile)) (CPU \(micro(perFile(peerAll, peerOne, "cpuSeconds"))))",
                                         ratio: "\(timesRatio(ourPerFile, peerPerFile)) (CPU \(timesRatio(perFile(fmsAll, fmsOne, "cpuSeconds"), perFile(peerAll, peerOne, "cpuSeconds"))))"))
            section.goals.append(("fms check \(Int(fileCount)) files vs \(useLuac ? "luac -p" : "lua loadfile") (no goal)",
                                  timesRatio(fmsAll.double("wallSeconds"), peerAll?.double("wallSeconds")) + " the time", nil))

            let whole = first("lua.check.inprocess")?.double("seconds")
            let peerPerFileCPU = perFile(peerAll, peerOne, "cpuSeconds")
            section.checkRows.append(Row(label: "In process: `RuleChecker.check(path:)` per file (process CPU)",
                                         value: micro(whole), peer: "\(peerAll == nil ? "n/a" : "peer per file, CPU") \(micro(peerPerFileCPU))",
                                         ratio: timesRatio(whole, peerPerFileCPU)))
            func part(_ name: String) -> Double? { all("lua.check.part").first { $0.text("name") == name }?.double("seconds") }
            let state = part("state")
            let installed = part("state+install")
            let compile = part("compile")
            let full = part("state+install+compile+run")
            let install = installed.flatMap { i in state.map { i - $0 } }
            let run = full.flatMap { f in installed.flatMap { i in compile.map { f - i - $0 } } }
            let rest = whole.flatMap { w in full.map { w - $0 } }
            let parts: [(String, Double?)] = [
                ("  new LuaState with the limits of fms run (luaL_openlibs)", state),
                ("  FMSModule.install in check mode (bindings, classes, two helper chunks compiled and run)", install),
                ("  compile the rule file (LuaState.load)", compile),
                ("  run its top level: locals, registrations (by difference)", run),
                ("  RuleChecker and LuaRuntime on top: file read, actor, the leaked state (by difference)", rest),
            ]
            for (label, seconds) in parts {
                section.checkRows.append(Row(label: label, value: micro(seconds), peer: "share of RuleChecker.check",
                                             ratio: percent(seconds, whole)))
            }
            if let memory = first("lua.check.memory") {
                let freed = first("lua.check.runtime-freed")?["freed"]
                let leaked = freed == .bool(false)
                section.checkRows.append(Row(label: "Resident memory growth per checked file (\(memory.text("files")) checks in this process)",
                                             value: String(format: "%.0f KB", (memory.double("bytesPerFile") ?? 0) / 1024),
                                             peer: leaked ? "LuaRuntime freed: no" : "LuaRuntime freed: yes", ratio: "-"))
                if leaked {
                    section.notes.append("**A `LuaRuntime` is never freed**: its `LuaState` keeps the runtime as its owner (a strong reference, "
                                         + "`LuaState.owner`) while the runtime holds the state, so each `ScriptRunner.run` (each file of "
                                         + "`fms check`, and any long-lived process that makes runtimes) keeps its whole Lua state: "
                                         + String(format: "%.0f KB", (memory.double("bytesPerFile") ?? 0) / 1024)
                                         + " of resident memory per checked file in this run, and the heap growth (page faults, mprotect) is paid in time too.")
                }
            }
        }
        return section
    }
}
