import Foundation
import Glibc
import FMSProtocol
import LuaKit
import RulesEngine

/// `fms-bench lua`: the cost of Lua ↔ Swift in LuaKit and of `fms check`, each beside its peer.
///
/// - `lua.call`: ns per call from Lua into a Swift binding (`LuaState.defineModule`) and into C
///   functions of Lua's standard library, in the same loop shape, minus an empty loop; once in a
///   state without limits and once with the limits of `fms run` (instruction budget hook, memory cap).
/// - `lua.convert`: a typical `vars` table copied from Lua to Swift (`LuaState.global`,
///   `LuaCall.value`) beside the same table copied (`pairs`) and built in Lua.
/// - `lua.check.*` (with `--fms` and `--rules`): one `fms check DIR` process beside one
///   `luac5.4 -p FILES…` process (or, when that luac is broken, one `lua5.4` process that
///   `loadfile`s each file), best of several rounds; and the per-file work of `fms check` split
///   into its parts inside this process.
///
/// Every loop runs for at least `--round-seconds` of thread CPU time per round; variants are
/// interleaved round by round and the best round counts.
enum LuaBench {
    static let usage = "lua [--round-seconds 0.2] [--rounds 5] [--only calls,convert,check]\n"
        + "         [--fms FMS --rules DIR [--luac luac5.4] [--lua lua5.4] [--parse-script bench/parse-only.lua] [--spawn-rounds 5]]"

    static let known: Set<String> = ["round-seconds", "rounds", "only", "fms", "rules", "luac", "lua", "parse-script", "spawn-rounds"]

    static func run(_ options: BenchOptions) async {
        let settings = Settings(roundSeconds: options.double("round-seconds", default: 0.2),
                                rounds: options.integer("rounds", default: 5))
        let only = options.string("only").map { Set($0.split(separator: ",").map(String.init)) }
        func wanted(_ part: String) -> Bool { only?.contains(part) ?? true }
        do {
            if wanted("calls") { try calls(settings) }
            if wanted("convert") { try conversions(settings) }
            if wanted("check") {
                if options.string("fms") != nil || options.string("rules") != nil {
                    await check(options, settings)
                } else if only != nil {
                    fail("lua --only check needs --fms FMS and --rules DIR", status: 64)
                }
            }
        } catch {
            fail("lua benchmark failed: \(error)")
        }
    }

    struct Settings {
        var roundSeconds: Double
        var rounds: Int
    }

    // MARK: Interleaved rounds

    /// One measured thing: `work` does some operations and returns how many.
    struct Variant {
        var name: String
        var work: () throws -> Int
    }

    /// Runs every variant for ≥ `roundSeconds` of thread CPU per round, `rounds` rounds,
    /// interleaved (round 1 of each, then round 2 of each…), and returns the best seconds per
    /// operation of each (thread CPU) with the wall seconds of that round.
    static func interleaved(_ variants: [Variant], _ settings: Settings) throws -> [String: Timing] {
        var best: [String: Timing] = [:]
        for variant in variants {
            benchSink &+= try variant.work()  // warm-up
            best[variant.name] = Timing(cpuSeconds: .infinity, wallSeconds: .infinity, iterations: 0)
        }
        for _ in 0..<settings.rounds {
            for variant in variants {
                let cpuStart = BenchClock.threadCPU()
                let wallStart = BenchClock.wall()
                var operations = 0
                var elapsed = 0.0
                repeat {
                    operations += try variant.work()
                    elapsed = BenchClock.threadCPU() - cpuStart
                } while elapsed < settings.roundSeconds
                let wall = BenchClock.wall() - wallStart
                var timing = best[variant.name]!
                timing.iterations += operations
                if elapsed / Double(operations) < timing.cpuSeconds {
                    timing.cpuSeconds = elapsed / Double(operations)
                    timing.wallSeconds = wall / Double(operations)
                }
                best[variant.name] = timing
            }
        }
        return best
    }

    /// A Lua loop `for i = 1, n do BODY end` compiled once; each run calls it with an `n` chosen
    /// so that one call takes about 10 ms (and stays far below the instruction budget).
    static func loop(_ state: LuaState, _ name: String, prelude: String, body: String) throws -> Variant {
        let source = "\(prelude)\nlocal n = ...\nfor i = 1, n do \(body) end"
        let function = try state.load(source, chunkName: "=\(name)")
        // Calibrate: time 10,000 iterations, then aim at 10 ms per call (at most 2 million
        // iterations: even 40 instructions each stay under the 100 million budget of `fms run`).
        let probe = 10_000
        _ = try state.call(function, [.integer(Int64(probe))])
        let start = BenchClock.threadCPU()
        _ = try state.call(function, [.integer(Int64(probe))])
        let perIteration = max((BenchClock.threadCPU() - start) / Double(probe), 1e-10)
        let count = min(max(Int(0.01 / perIteration), probe), 2_000_000)
        return Variant(name: name) {
            _ = try state.call(function, [.integer(Int64(count))])
            return count
        }
    }

    // MARK: 1. Calls from Lua into Swift and into C

    /// The binding module of the benchmark: a no-op, one returning an integer, one converting its argument.
    static func defineBindings(_ state: LuaState) {
        state.defineModule("bench", functions: [
            "noop": { _ throws(LuaBindingError) in .none },
            "one": { _ throws(LuaBindingError) in .value(.integer(1)) },
            "take": { call throws(LuaBindingError) in
                if case .table(let table) = try call.value(1) { benchSink &+= table.fields.count }
                return .none
            },
        ])
    }

    static let callShapes: [(name: String, prelude: String, body: String, kind: String)] = [
        ("empty", "", "", "loop"),
        ("math.abs", "local f = math.abs", "f(i)", "c"),
        ("rawlen", "local f, t = rawlen, {}", "f(t)", "c"),
        ("type", "local f = type", "f(i)", "c"),
        ("binding.noop", "local f = bench.noop", "f(i)", "swift"),
        ("binding.one", "local f = bench.one", "f(i)", "swift"),
    ]

    static func calls(_ settings: Settings) throws {
        let defaults = LuaLimits()
        let configurations: [(name: String, memory: Int, budget: Int)] = [
            ("none", 0, 0),
            ("fms-run", defaults.memoryBytes, defaults.instructionBudget),
        ]
        for configuration in configurations {
            let state = try LuaState(memoryLimit: configuration.memory, instructionBudget: configuration.budget)
            defer { state.close() }
            defineBindings(state)
            // Check the bindings answer before timing them.
            guard try state.run("return bench.one(), select('#', bench.noop())") == [.integer(1), .integer(0)] else {
                fail("the benchmark bindings do not answer as expected")
            }
            let variants = try callShapes.map { try loop(state, $0.name, prelude: $0.prelude, body: $0.body) }
            let timings = try interleaved(variants, settings)
            let empty = timings["empty"]!.cpuSeconds
            for shape in callShapes {
                let timing = timings[shape.name]!
                emit([("bench", .string("lua.call")), ("limits", .string(configuration.name)),
                      ("memoryLimit", .integer(Int64(configuration.memory))),
                      ("instructionBudget", .integer(Int64(configuration.budget))),
                      ("name", .string(shape.name)), ("kind", .string(shape.kind)),
                      ("loop", .string(shape.body.isEmpty ? "for i = 1, n do end" : "for i = 1, n do \(shape.body) end")),
                      ("seconds", number(timing.cpuSeconds)), ("wallSeconds", number(timing.wallSeconds)),
                      ("netSeconds", number(shape.kind == "loop" ? 0 : max(timing.cpuSeconds - empty, 0))),
                      ("iterations", .integer(Int64(timing.iterations))),
                      ("clock", .string("thread-cpu, best of \(settings.rounds) interleaved rounds of ≥ \(settings.roundSeconds) s"))])
            }
        }
    }

    // MARK: 2. A vars table from Lua to Swift

    static let varsLiteral = #"{ host = "db1", pct = 91, path = "/var/lib/mysql", note = "磁盘" }"#

    static func conversions(_ settings: Settings) throws {
        let state = try LuaState()
        defer { state.close() }
        defineBindings(state)
        try state.run("vars = \(varsLiteral)")
        let expected = LuaValue.table(LuaTable(["host": .text("db1"), "pct": .integer(91),
                                                "path": .text("/var/lib/mysql"), "note": .text("磁盘")]))
        guard try state.global("vars") == expected else { fail("LuaState.global(\"vars\") did not read the vars table back") }
        let copied = try state.run("local c = {} for k, v in pairs(vars) do c[k] = v end return c")
        guard copied == [expected] else { fail("the Lua-side pairs copy is not the same table") }

        let batch = 1_000
        let variants = [
            try loop(state, "empty", prelude: "", body: ""),
            try loop(state, "lua.copy", prelude: "local t, pairs = vars, pairs",
                     body: "local c = {} for k, v in pairs(t) do c[k] = v end"),
            try loop(state, "lua.build", prelude: "", body: "local c = \(varsLiteral)"),
            try loop(state, "binding.noop", prelude: "local f, t = bench.noop, vars", body: "f(t)"),
            try loop(state, "binding.take", prelude: "local f, t = bench.take, vars", body: "f(t)"),
            Variant(name: "swift.global") {
                for _ in 0..<batch {
                    if case .table(let table) = try state.global("vars") { benchSink &+= table.fields.count }
                }
                return batch
            },
        ]
        let timings = try interleaved(variants, settings)
        let empty = timings["empty"]!.cpuSeconds
        let noop = timings["binding.noop"]!.cpuSeconds
        let descriptions = [
            "empty": "for i = 1, n do end",
            "lua.copy": "for i = 1, n do local c = {} for k, v in pairs(t) do c[k] = v end end",
            "lua.build": "for i = 1, n do local c = \(varsLiteral) end",
            "binding.noop": "for i = 1, n do bench.noop(t) end",
            "binding.take": "for i = 1, n do bench.take(t) end -- LuaCall.value(1)",
            "swift.global": "LuaState.global(\"vars\") in a Swift loop",
        ]
        for variant in variants {
            let timing = timings[variant.name]!
            let net: Double
            switch variant.name {
            case "empty", "swift.global": net = timing.cpuSeconds
            case "binding.take": net = timing.cpuSeconds - noop
            default: net = timing.cpuSeconds - empty
            }
            emit([("bench", .string("lua.convert")), ("name", .string(variant.name)),
                  ("code", .string(descriptions[variant.name] ?? "")), ("table", .string(varsLiteral)),
                  ("seconds", number(timing.cpuSeconds)), ("wallSeconds", number(timing.wallSeconds)),
                  ("netSeconds", number(max(net, 0))), ("iterations", .integer(Int64(timing.iterations))),
                  ("clock", .string("thread-cpu, best of \(settings.rounds) interleaved rounds of ≥ \(settings.roundSeconds) s"))])
        }
    }

    // MARK: 3. fms check beside luac -p

    /// Wall and CPU time of one child process.
    struct ChildRun {
        var wall: Double
        var cpu: Double
        var status: Int32       // exit status, or 128 + signal
    }

    /// Runs `arguments` (the first is the executable, searched on PATH) with stdin, stdout and
    /// stderr on /dev/null, and returns its wall time and CPU time (user + system, from wait4).
    static func spawn(_ arguments: [String]) -> ChildRun {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let start = BenchClock.wall()
        let spawned = posix_spawnp(&pid, arguments[0], &actions, nil, &argv, environ)
        guard spawned == 0 else { return ChildRun(wall: .nan, cpu: .nan, status: 127) }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let wall = BenchClock.wall() - start
        let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
        // WIFEXITED / WEXITSTATUS / WTERMSIG by hand (they are macros).
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ChildRun(wall: wall, cpu: cpu, status: exitStatus)
    }

    /// The executable `name` on PATH (or `name` itself when it contains a slash and exists).
    static func which(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(directory)/\(name)"
            if access(path, X_OK) == 0 { return path }
        }
        return nil
    }

    static func check(_ options: BenchOptions, _ settings: Settings) async {
        let fms = options.required("fms")
        let directory = options.required("rules")
        let spawnRounds = options.integer("spawn-rounds", default: 5)
        let files: [String]
        do {
            files = try RuleChecker.expand([directory])
        } catch {
            fail("--rules \(directory): \(error)")
        }
        let sources: [String] = files.map { path in
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                fail("cannot read \(path)")
            }
            return text
        }
        let lines = sources.map { $0.split(separator: "\n", omittingEmptySubsequences: false).count - 1 }
        let bytes = sources.map { $0.utf8.count }.reduce(0, +)
        emit([("bench", .string("lua.check.files")), ("files", .integer(Int64(files.count))),
              ("bytes", .integer(Int64(bytes))), ("lines", .integer(Int64(lines.reduce(0, +)))),
              ("directory", .string(directory))])

        // The peers. luac5.4 -p with several files aborts in some builds (Debian's 5.4.4:
        // "double free detected"); then one lua5.4 process loadfile()s each file instead,
        // which is the same parse and compile without luac's final combine step.
        let luac = which(options.string("luac") ?? "luac5.4")
        let lua = which(options.string("lua") ?? "lua5.4")
        let parseScript = options.string("parse-script")
        var commands: [(name: String, role: String, files: Int, arguments: [String])] = [
            ("fms check DIR", "fms", files.count, [fms, "check", directory]),
            ("fms check FILE", "fms-one", 1, [fms, "check", files[0]]),
        ]
        if let luac {
            let probe = spawn([luac, "-p"] + files)
            if probe.status == 0 {
                commands.append(("luac5.4 -p FILES", "luac-all", files.count, [luac, "-p"] + files))
            } else {
                emit([("bench", .string("lua.check.peer-failed")), ("command", .string("\(luac) -p FILES (\(files.count) files)")),
                      ("status", .integer(Int64(probe.status))),
                      ("note", .string(probe.status > 128 ? "killed by signal \(probe.status - 128)" : "exit status \(probe.status)"))])
            }
            commands.append(("luac5.4 -p FILE", "luac-one", 1, [luac, "-p", files[0]]))
        }
        if let lua, let parseScript {
            commands.append(("lua5.4 parse-only.lua FILES", "lua-all", files.count, [lua, parseScript] + files))
            commands.append(("lua5.4 parse-only.lua FILE", "lua-one", 1, [lua, parseScript, files[0]]))
        }
        // Everything must succeed before it is timed.
        for command in commands {
            let run = spawn(command.arguments)
            guard run.status == 0 else { fail("\(command.name) failed (status \(run.status)): \(command.arguments.prefix(3).joined(separator: " ")) …") }
        }
        var best: [String: ChildRun] = [:]
        for _ in 0..<spawnRounds {
            for command in commands {
                let run = spawn(command.arguments)
                guard run.status == 0 else { fail("\(command.name) failed (status \(run.status))") }
                if let old = best[command.name] {
                    best[command.name] = ChildRun(wall: min(old.wall, run.wall), cpu: min(old.cpu, run.cpu), status: 0)
                } else {
                    best[command.name] = run
                }
            }
        }
        for command in commands {
            let run = best[command.name]!
            let count = command.files
            emit([("bench", .string("lua.check.process")), ("name", .string(command.name)), ("role", .string(command.role)),
                  ("files", .integer(Int64(count))), ("wallSeconds", number(run.wall)), ("cpuSeconds", number(run.cpu)),
                  ("rounds", .integer(Int64(spawnRounds))), ("clock", .string("wall and child CPU (wait4), best of \(spawnRounds)"))])
        }

        // Inside this process: what one file costs, whole and in parts.
        await inProcess(files: files, sources: sources, settings)
    }

    /// The per-file work of `fms check` in this process: RuleChecker.check as a whole (wall and
    /// process CPU: it runs on the LuaRuntime actor), then its parts on this thread.
    static func inProcess(files: [String], sources: [String], _ settings: Settings) async {
        let defaults = LuaLimits()
        func context() -> FMSModuleContext { FMSModuleContext(mode: .check, backend: ValidatingBackend(), log: { _ in }) }

        // RuleChecker.check, each file in turn; the process's resident memory before and after.
        let rssBefore = BenchClock.residentBytes(pid: getpid()) ?? 0
        var bestWall = Double.infinity
        var bestCPU = Double.infinity
        var checked = 0
        // One pass over the files per round (not ≥ round-seconds: each file leaks its state, see below).
        for _ in 0..<settings.rounds {
            let wallStart = BenchClock.wall()
            let cpuStart = BenchClock.processCPU()
            for path in files {
                do {
                    let report = try await RuleChecker.check(path: path)
                    if let error = report.error { fail("\(path) does not load: \(error.message)") }
                    benchSink &+= report.registrations.count
                } catch {
                    fail("\(path): \(error)")
                }
            }
            checked += files.count
            bestWall = min(bestWall, (BenchClock.wall() - wallStart) / Double(files.count))
            bestCPU = min(bestCPU, (BenchClock.processCPU() - cpuStart) / Double(files.count))
        }
        let rssAfter = BenchClock.residentBytes(pid: getpid()) ?? 0
        emit([("bench", .string("lua.check.inprocess")), ("name", .string("RuleChecker.check")),
              ("seconds", number(bestCPU)), ("wallSeconds", number(bestWall)), ("iterations", .integer(Int64(checked))),
              ("clock", .string("process CPU per file, best of \(settings.rounds) passes over the files"))])
        emit([("bench", .string("lua.check.memory")), ("files", .integer(Int64(checked))),
              ("rssBefore", .integer(rssBefore)), ("rssAfter", .integer(rssAfter)),
              ("bytesPerFile", number(Double(rssAfter - rssBefore) / Double(max(checked, 1))))])

        // Is a LuaRuntime freed when its last reference goes? (RuleChecker makes one per file.)
        weak var probe: LuaRuntime?
        do {
            let runtime = try LuaRuntime(memoryLimit: defaults.memoryBytes, instructionBudget: defaults.instructionBudget)
            probe = runtime
            _ = await runtime.withState { $0.memoryInUse }
        } catch {
            fail("cannot create a LuaRuntime: \(error)")
        }
        emit([("bench", .string("lua.check.runtime-freed")), ("freed", .bool(probe == nil))])

        // The parts, on this thread (thread CPU), each per file.
        var index = 0
        func nextSource() -> (String, String) {
            index = (index + 1) % sources.count
            return (sources[index], "@" + files[index])
        }
        do {
            let compiler = try LuaState()
            defer { compiler.close() }
            let variants = [
                Variant(name: "state") {
                    let state = try LuaState(memoryLimit: defaults.memoryBytes, instructionBudget: defaults.instructionBudget)
                    benchSink &+= state.memoryInUse
                    state.close()
                    return 1
                },
                Variant(name: "state+install") {
                    let state = try LuaState(memoryLimit: defaults.memoryBytes, instructionBudget: defaults.instructionBudget)
                    FMSModule.install(into: state, context: context())
                    benchSink &+= state.memoryInUse
                    state.close()
                    return 1
                },
                Variant(name: "compile") {
                    let (source, name) = nextSource()
                    let function = try compiler.load(source, chunkName: name)
                    compiler.release(function)
                    return 1
                },
                Variant(name: "state+install+compile+run") {
                    let (source, name) = nextSource()
                    let state = try LuaState(memoryLimit: defaults.memoryBytes, instructionBudget: defaults.instructionBudget)
                    let moduleContext = context()
                    FMSModule.install(into: state, context: moduleContext)
                    let function = try state.load(source, chunkName: name)
                    _ = try state.call(function)
                    state.release(function)
                    benchSink &+= moduleContext.registry.registrations.count
                    state.close()
                    return 1
                },
            ]
            let timings = try interleaved(variants, settings)
            for variant in variants {
                let timing = timings[variant.name]!
                emit([("bench", .string("lua.check.part")), ("name", .string(variant.name)),
                      ("seconds", number(timing.cpuSeconds)), ("wallSeconds", number(timing.wallSeconds)),
                      ("iterations", .integer(Int64(timing.iterations))),
                      ("clock", .string("thread-cpu per file, best of \(settings.rounds) interleaved rounds"))])
            }
        } catch {
            fail("check parts: \(error)")
        }
    }
}
