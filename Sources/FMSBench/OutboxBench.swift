import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Glibc
import Synchronization
import FMSClient
import FMSProtocol
import LuaKit
import Outbox
import RulesEngine

/// `fms-bench outbox`: the durable outbox, each figure beside its limit or peer in the same run.
///
/// - `outbox.enqueue`: accepted messages per second, sender not running (nothing to send
///   with: the outbox has no client), so only acceptance is timed:
///   `fms.send{…}` in a Lua loop (a `LuaRuntime` with the limits of `fms run`, `FMSModule`
///   and an `OutboxHandle`), and `Outbox.enqueue` called from Swift; each round a fresh
///   outbox in a fresh state directory, rounds interleaved, best round.
/// - `outbox.limit`: the same messages stored by SQLite alone (`BareInsertBenchmark`: the
///   outbox's table and INSERT, WAL, synchronous=NORMAL, one prepared statement) in one
///   transaction — the limit — and with one commit per row; the same records appended by
///   bare `write(2)` calls (the floor of the intake log); with `durability = full`, bare
///   `write` + `fdatasync` and SQLite with one commit per row and synchronous=FULL.
/// - `outbox.absorb` and `outbox.drain` (with `--url`): N messages enqueued, moved into
///   SQLite, then sent by the outbox's sender to the simulator until nothing is pending, at
///   each `maxInFlight`; beside `FMSClient.sendBatch` sending the same number of messages
///   (300 per request, as many in flight) with the same client, and the simulator's own
///   count of accepted messages.
enum OutboxBench {
    static let usage = "outbox [--sends 20000] [--rounds 5] [--lua-budget 15] [--durable-sends 2000] [--each-row-sends 5000]\n"
        + "         [--only enqueue,durable,drain]\n"
        + "         [--url URL --app-id ID --secret-key-file FILE --template-id ID [--sim-pid PID]\n"
        + "          [--drain-messages 100000] [--in-flight 4,8]] [--dir DIR]"

    static let known: Set<String> = ["sends", "rounds", "durable-sends", "each-row-sends", "only", "url", "app-id",
                                     "secret-key-file", "template-id", "sim-pid", "drain-messages", "in-flight", "dir", "lua-budget"]

    static func run(_ options: BenchOptions) async {
        let only = options.string("only").map { Set($0.split(separator: ",").map(String.init)) }
        func wanted(_ part: String) -> Bool { only?.contains(part) ?? true }
        let base = options.string("dir") ?? NSTemporaryDirectory()
        var template = Array(((base.hasSuffix("/") ? base : base + "/") + "fms-bench-outbox.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { fail("cannot create a directory in \(base): \(String(cString: strerror(errno)))") }
        let work = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let templateId = options.string("template-id") ?? "bench-template"
        let sends = options.integer("sends", default: 20_000)
        let rounds = options.integer("rounds", default: 5)
        do {
            if wanted("enqueue") {
                try await enqueue(work: work, sends: sends, eachRowSends: min(sends, options.integer("each-row-sends", default: 5_000)),
                                  rounds: rounds, luaBudget: options.double("lua-budget", default: 15), templateId: templateId)
            }
            if wanted("durable") {
                try durable(work: work, sends: options.integer("durable-sends", default: 2_000), templateId: templateId)
            }
            if wanted("drain") {
                if options.string("url") != nil {
                    try await drain(options, work: work, templateId: templateId)
                } else if only != nil {
                    fail("outbox --only drain needs --url, --secret-key-file and --template-id", status: 64)
                }
            }
        } catch {
            fail("outbox benchmark failed: \(error)")
        }
    }

    // MARK: Messages

    /// `count` messages of the benchmark's shape (Payload's mobiles and Chinese variables),
    /// each with a fresh customFmsId as `fms.send` without `id` makes.
    static func messages(_ count: Int, templateId: String) -> [NewMessage] {
        Payload.entries(count: count).map { entry in
            NewMessage(customId: Outbox.generateId(), template: templateId, mobile: entry.mobile,
                       variables: entry.content, rule: "bench.lua")
        }
    }

    /// A fresh, empty state directory under `work`.
    static func freshDirectory(_ work: String, _ name: String) -> String {
        let path = work + "/" + name
        try? FileManager.default.removeItem(atPath: path)
        return path
    }

    /// An intake-log record of `message` as `IntakeLog.append` writes it (length, checksum, JSON):
    /// the bytes for the bare `write(2)` loops.
    static func record(_ message: NewMessage) -> [UInt8] {
        var members = [JSONMember("c", .string(message.customId)), JSONMember("t", .string(message.template)),
                       JSONMember("m", .string(message.mobile)),
                       JSONMember("v", .object(message.variables.keys.sorted().map { JSONMember($0, .string(message.variables[$0] ?? "")) }))]
        if let rule = message.rule { members.append(JSONMember("r", .string(rule))) }
        let payload = JSONWriter.bytes(of: .object(members))
        var hash: UInt32 = 0x811C_9DC5
        for byte in payload { hash = (hash ^ UInt32(byte)) &* 0x0100_0193 }
        var bytes: [UInt8] = []
        for value in [UInt32(payload.count), hash] {
            for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
        }
        return bytes + payload
    }

    /// Appends each record with its own `write(2)` (and `fdatasync` when `sync`) to a new file;
    /// returns wall seconds.
    static func writeLoop(_ path: String, _ records: [[UInt8]], sync: Bool) throws -> Double {
        unlink(path)
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw BenchError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor); unlink(path) }
        let start = BenchClock.wall()
        for record in records {
            let written = record.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard written == record.count else { throw BenchError("short write to \(path)") }
            if sync, fdatasync(descriptor) != 0 { throw BenchError("fdatasync \(path): \(String(cString: strerror(errno)))") }
        }
        return BenchClock.wall() - start
    }

    /// Best (lowest) seconds per message over rounds, with the process CPU of that round.
    struct Best {
        var seconds = Double.infinity
        var cpu = Double.infinity
        var messages = 0
        var rounds = 0
        var extra: [(String, JSONValue)] = []

        mutating func note(wall: Double, cpu: Double, messages: Int, extra: [(String, JSONValue)] = []) {
            rounds += 1
            self.messages = messages
            if wall / Double(messages) < seconds {
                seconds = wall / Double(messages)
                self.cpu = cpu / Double(messages)
                self.extra = extra
            }
        }
    }

    static func emitBest(_ bench: String, _ name: String, _ best: Best, _ what: String, clock: String) {
        emit([("bench", .string(bench)), ("name", .string(name)), ("what", .string(what)),
              ("messages", .integer(Int64(best.messages))), ("seconds", number(best.seconds)),
              ("perSecond", number(1 / best.seconds)), ("processCPU", number(best.cpu)),
              ("rounds", .integer(Int64(best.rounds))), ("clock", .string(clock))] + best.extra)
    }

    // MARK: 1. Enqueue

    /// The Lua loop of one segment: `fms.send{…}` for messages a…b of the globals M, N, S, C.
    static func sendLoop(_ function: String) -> String {
        """
        local a, b, template = ...
        local send, M, N, S, C = \(function), M, N, S, C
        for i = a, b do
          send{ mobile = M[i], template = template, vars = { name = N[i], store = S[i], code = C[i] } }
        end
        """
    }

    /// Sends per `FMSModuleContext` in the `lua.fresh-context` diagnostic.
    static let freshContextSends = 100

    static func enqueue(work: String, sends: Int, eachRowSends: Int, rounds: Int, luaBudget: Double,
                        templateId: String) async throws {
        let segments = 10
        let perSegment = max(1, sends / segments)
        let total = perSegment * segments
        let entries = Payload.entries(count: total)
        var lua = Best(), fresh = Best(), noop = Best(), swift = Best(), bare = Best(), eachRow = Best(), bareWrite = Best()
        var luaSeconds = 0.0
        for round in 0..<rounds {
            // fms.send in Lua, into a fresh outbox (no client: the sender cannot run). One
            // context for all sends, as in one `fms run`; timed in segments to show how the cost
            // per send changes as the run goes on. At least two rounds; more while the time
            // spent here stays within `luaBudget`.
            if round < 2 || luaSeconds < luaBudget {
                let directory = freshDirectory(work, "lua")
                let outbox = try Outbox(configuration: Outbox.Configuration(directory: directory), client: nil)
                let handle = OutboxHandle { () throws(OutboxError) in outbox }
                let context = FMSModuleContext(mode: .run, backend: ValidatingBackend(), outbox: handle, rule: "bench.lua",
                                               log: { _ in })
                let (runtime, function) = try await luaRuntime(context: context, entries: entries, body: sendLoop("fms.send"))
                var times: [Double] = []
                let cpuStart = BenchClock.processCPU()
                for segment in 0..<segments {
                    let start = BenchClock.wall()
                    let result = await runtime.run(function, arguments: [.integer(Int64(segment * perSegment + 1)),
                                                                         .integer(Int64((segment + 1) * perSegment)), .text(templateId)])
                    times.append(BenchClock.wall() - start)
                    if case .failure(let error) = result { throw BenchError("fms.send loop: \(error)") }
                }
                let cpu = BenchClock.processCPU() - cpuStart
                guard context.queuedIds.count == total else { throw BenchError("fms.send queued \(context.queuedIds.count) of \(total)") }
                if round == 0 {
                    // Everything accepted is there: absorbed into the database, all pending.
                    let counts = try await outbox.counts()
                    guard counts.pending == total else { throw BenchError("the outbox holds \(counts.pending) of \(total) messages") }
                }
                luaSeconds += times.reduce(0, +)
                lua.note(wall: times.reduce(0, +), cpu: cpu, messages: total, extra: [
                    ("segments", .integer(Int64(segments))),
                    ("firstSegmentPerSecond", number(Double(perSegment) / times[0])),
                    ("lastSegmentPerSecond", number(Double(perSegment) / times[segments - 1])),
                    ("segmentSeconds", .array(times.map(number))),
                ])
            }
            // Diagnostic: the same sends with a fresh FMSModuleContext (and LuaRuntime) every
            // `freshContextSends` sends, so that the context's list of queued ids stays short.
            do {
                let directory = freshDirectory(work, "fresh")
                let outbox = try Outbox(configuration: Outbox.Configuration(directory: directory), client: nil)
                let handle = OutboxHandle { () throws(OutboxError) in outbox }
                var wall = 0.0
                let cpuStart = BenchClock.processCPU()
                var setup = 0.0
                for start in stride(from: 0, to: total, by: freshContextSends) {
                    let setupStart = BenchClock.processCPU()
                    let slice = Array(entries[start..<min(start + freshContextSends, total)])
                    let context = FMSModuleContext(mode: .run, backend: ValidatingBackend(), outbox: handle, rule: "bench.lua",
                                                   log: { _ in })
                    let (runtime, function) = try await luaRuntime(context: context, entries: slice, body: sendLoop("fms.send"))
                    setup += BenchClock.processCPU() - setupStart
                    let begin = BenchClock.wall()
                    let result = await runtime.run(function, arguments: [.integer(1), .integer(Int64(slice.count)), .text(templateId)])
                    wall += BenchClock.wall() - begin
                    if case .failure(let error) = result { throw BenchError("fms.send loop (fresh contexts): \(error)") }
                }
                fresh.note(wall: wall, cpu: BenchClock.processCPU() - cpuStart - setup, messages: total,
                           extra: [("sendsPerContext", .integer(Int64(freshContextSends)))])
            }
            // The same Lua loop calling a no-op Swift binding instead: the script's own cost.
            do {
                let context = FMSModuleContext(mode: .run, backend: ValidatingBackend(), log: { _ in })
                let (runtime, function) = try await luaRuntime(context: context, entries: entries, body: sendLoop("bench.noop"))
                let cpuStart = BenchClock.processCPU()
                let start = BenchClock.wall()
                let result = await runtime.run(function, arguments: [.integer(1), .integer(Int64(total)), .text(templateId)])
                let wall = BenchClock.wall() - start
                if case .failure(let error) = result { throw BenchError("no-op loop: \(error)") }
                noop.note(wall: wall, cpu: BenchClock.processCPU() - cpuStart, messages: total)
            }
            // Outbox.enqueue from Swift, one message per call, as the binding does.
            do {
                let directory = freshDirectory(work, "swift")
                let outbox = try Outbox(configuration: Outbox.Configuration(directory: directory), client: nil)
                let cpuStart = BenchClock.processCPU()
                let start = BenchClock.wall()
                for entry in entries {
                    try outbox.enqueue(NewMessage(customId: Outbox.generateId(), template: templateId, mobile: entry.mobile,
                                                  variables: entry.content, rule: "bench.lua"))
                }
                let wall = BenchClock.wall() - start
                swift.note(wall: wall, cpu: BenchClock.processCPU() - cpuStart, messages: total)
                if round == 0 {
                    let counts = try await outbox.counts()
                    guard counts.pending == total else { throw BenchError("the outbox holds \(counts.pending) of \(total) messages") }
                }
            }
            // The limits, on the same messages.
            let sample = messages(total, templateId: templateId)
            do {
                let cpuStart = BenchClock.processCPU()
                let wall = try BareInsertBenchmark.run(path: work + "/bare.db", messages: sample, commit: .oneTransaction)
                bare.note(wall: wall, cpu: BenchClock.processCPU() - cpuStart, messages: total)
            }
            do {
                let few = Array(sample.prefix(eachRowSends))
                let cpuStart = BenchClock.processCPU()
                let wall = try BareInsertBenchmark.run(path: work + "/bare.db", messages: few, commit: .eachRow)
                eachRow.note(wall: wall, cpu: BenchClock.processCPU() - cpuStart, messages: few.count)
            }
            do {
                let records = sample.map(record)
                let cpuStart = BenchClock.processCPU()
                let wall = try writeLoop(work + "/bare.log", records, sync: false)
                bareWrite.note(wall: wall, cpu: BenchClock.processCPU() - cpuStart, messages: total,
                               extra: [("recordBytes", .integer(Int64(records.map(\.count).reduce(0, +) / max(records.count, 1))))])
            }
            try? FileManager.default.removeItem(atPath: work + "/lua")
            try? FileManager.default.removeItem(atPath: work + "/fresh")
            try? FileManager.default.removeItem(atPath: work + "/swift")
        }
        let clock = "wall time per message, process CPU beside it; best of \(rounds) interleaved rounds"
        emitBest("outbox.enqueue", "lua", lua, "fms.send{…} in a Lua loop (LuaRuntime, limits of fms run, FMSModule, OutboxHandle), "
                 + "sender not running, \(segments) segments of \(perSegment)", clock: clock)
        emitBest("outbox.enqueue", "lua.fresh-context", fresh, "diagnostic: the same fms.send loop with a fresh FMSModuleContext "
                 + "every \(freshContextSends) sends (runtime set-up not timed)", clock: clock)
        emitBest("outbox.enqueue", "lua.noop", noop, "the same Lua loop calling a no-op Swift binding instead of fms.send", clock: clock)
        emitBest("outbox.enqueue", "swift", swift, "Outbox.enqueue(NewMessage) from Swift, one message per call", clock: clock)
        emitBest("outbox.limit", "sqlite.transaction", bare, "BareInsertBenchmark: the outbox's INSERT, WAL, synchronous=NORMAL, "
                 + "one prepared statement, one transaction", clock: clock)
        emitBest("outbox.limit", "sqlite.each-row", eachRow, "BareInsertBenchmark: the same with one commit per row", clock: clock)
        emitBest("outbox.limit", "write", bareWrite, "write(2) of each intake-log record to a file, nothing else", clock: clock)
    }

    /// A LuaRuntime with the limits of `fms run`, the `fms` module over `context`, the
    /// benchmark bindings, the message data as globals, and `body` compiled.
    static func luaRuntime(context: FMSModuleContext, entries: [BatchEntry],
                           body: String) async throws -> (LuaRuntime, LuaReference) {
        let limits = LuaLimits()
        let runtime = try LuaRuntime(memoryLimit: limits.memoryBytes, instructionBudget: limits.instructionBudget)
        func column(_ value: (BatchEntry) -> String) -> LuaValue { .table(LuaTable(sequence: entries.map { .text(value($0)) })) }
        let globals: [(String, LuaValue)] = [("M", column(\.mobile)), ("N", column { $0.content["name"] ?? "" }),
                                             ("S", column { $0.content["store"] ?? "" }), ("C", column { $0.content["code"] ?? "" })]
        let function = try await runtime.withState { state in
            FMSModule.install(into: state, context: context)
            LuaBench.defineBindings(state)
            for (name, value) in globals { state.setGlobal(name, value) }
            return try state.load(body, chunkName: "=bench.lua")
        }
        return (runtime, function)
    }

    // MARK: 2. Durability full

    static func durable(work: String, sends: Int, templateId: String) throws {
        let sample = messages(sends, templateId: templateId)
        var full = Best(), syncWrite = Best(), sqliteFull = Best()
        for _ in 0..<3 {
            do {
                let directory = freshDirectory(work, "full")
                var configuration = Outbox.Configuration(directory: directory)
                configuration.durability = .full
                let outbox = try Outbox(configuration: configuration, client: nil)
                let cpuStart = BenchClock.processCPU()
                let start = BenchClock.wall()
                for message in sample {
                    var fresh = message
                    fresh.customId = Outbox.generateId()
                    try outbox.enqueue(fresh)
                }
                full.note(wall: BenchClock.wall() - start, cpu: BenchClock.processCPU() - cpuStart, messages: sends)
            }
            do {
                let cpuStart = BenchClock.processCPU()
                let wall = try writeLoop(work + "/sync.log", sample.map(record), sync: true)
                syncWrite.note(wall: wall, cpu: BenchClock.processCPU() - cpuStart, messages: sends)
            }
            do {
                let cpuStart = BenchClock.processCPU()
                let wall = try BareInsertBenchmark.run(path: work + "/full.db", messages: sample, commit: .eachRow, synchronousFull: true)
                sqliteFull.note(wall: wall, cpu: BenchClock.processCPU() - cpuStart, messages: sends)
            }
            try? FileManager.default.removeItem(atPath: work + "/full")
        }
        let clock = "wall time per message, best of 3 interleaved rounds"
        emitBest("outbox.enqueue", "swift.full", full, "Outbox.enqueue with durability full (fdatasync per message)", clock: clock)
        emitBest("outbox.limit", "write.fdatasync", syncWrite, "write(2) + fdatasync of each intake-log record", clock: clock)
        emitBest("outbox.limit", "sqlite.each-row.full", sqliteFull, "BareInsertBenchmark: one commit per row, synchronous=FULL",
                 clock: clock)
    }

    // MARK: 3. Drain to the simulator

    static func drain(_ options: BenchOptions, work: String, templateId: String) async throws {
        guard options.string("template-id") != nil else { fail("outbox drain needs --template-id (a template the simulator knows)", status: 64) }
        let count = options.integer("drain-messages", default: 100_000)
        let levels = options.integers("in-flight", default: [4, 8])
        let simPid = options.string("sim-pid").flatMap { Int32($0) }
        let statsURL = URL(string: options.required("url") + "/__sim/stats")
        let appId = options.string("app-id") ?? ClientBench.appId
        /// The simulator's counters: messages accepted so far, reports queued for our account.
        func stats() async -> (accepted: Int64, pendingReports: Int64)? {
            guard let statsURL, let (data, _) = try? await URLSession.shared.data(from: statsURL),
                  let stats = try? JSONParser.parse([UInt8](data)), let accepted = stats["accepted"]?.lenientInteger else { return nil }
            let account = stats["accounts"]?.arrayElements?.first { $0["appId"]?.lenientString == appId }
            return (accepted, account?["pendingReports"]?.lenientInteger ?? 0)
        }
        func accepted() async -> Int64? { await stats()?.accepted }
        func simCPU() -> Double? { simPid.flatMap { BenchClock.processCPU(pid: $0) } }
        /// Pops every delivery report the simulator queued (earlier benchmarks leave hundreds of
        /// thousands): the simulator's cost per accepted message grows with that queue, which
        /// would make each measurement here slower than the one before. Returns how many.
        func popReports(_ client: FMSClient) async -> Int {
            var popped = 0
            let deadline = BenchClock.wall() + 60
            while BenchClock.wall() < deadline, let pending = await stats()?.pendingReports, pending > 0 {
                let reports = (try? await client.fetchReports(max: 20_000)) ?? []
                popped += reports.count
                // Reports become due after the simulator's report delay (1 s by default).
                if reports.isEmpty { try? await Task.sleep(nanoseconds: 250_000_000) }
            }
            return popped
        }

        for level in levels {
            let client = ClientBench.makeClient(options, concurrency: level)
            let entries = Payload.entries(count: count)
            // Warm-up: `level` requests at once open the client's connections.
            await withTaskGroup(of: Void.self) { group in
                for start in stride(from: 0, to: min(level * 300, count), by: 300) {
                    let chunk = Array(entries[start..<min(start + 300, count)])
                    group.addTask { _ = try? await client.sendBatch(templateId: templateId, entries: chunk) }
                }
            }

            let popped = await popReports(client)

            // The outbox: enqueue, absorb into SQLite, then drain to the simulator.
            let directory = freshDirectory(work, "drain-\(level)")
            var configuration = Outbox.Configuration(directory: directory)
            configuration.maxInFlight = level
            let outbox = try Outbox(configuration: configuration, client: client)
            let sample = messages(count, templateId: templateId)
            let enqueueStart = BenchClock.wall()
            for message in sample { try outbox.enqueue(message) }
            let enqueueSeconds = BenchClock.wall() - enqueueStart

            let absorbStart = BenchClock.wall()
            let absorbCPU = BenchClock.processCPU()
            let before = try await outbox.counts()
            let absorbSeconds = BenchClock.wall() - absorbStart
            let absorbCPUSeconds = BenchClock.processCPU() - absorbCPU
            guard before.pending == count else { throw BenchError("the outbox holds \(before.pending) of \(count) messages before the drain") }
            let bareSeconds = try BareInsertBenchmark.run(path: work + "/bare.db", messages: sample, commit: .oneTransaction)
            emit([("bench", .string("outbox.absorb")), ("maxInFlight", .integer(Int64(level))), ("messages", .integer(Int64(count))),
                  ("enqueueSeconds", number(enqueueSeconds)), ("seconds", number(absorbSeconds)),
                  ("perSecond", number(Double(count) / absorbSeconds)), ("processCPU", number(absorbCPUSeconds)),
                  ("bareSeconds", number(bareSeconds)), ("barePerSecond", number(Double(count) / bareSeconds)),
                  ("what", .string("the first Outbox.counts() after enqueueing: the intake's messages into SQLite in one transaction"))])

            let acceptedBefore = await accepted()
            let simBefore = simCPU()
            let cpuBefore = BenchClock.processCPU()
            let start = BenchClock.wall()
            let after = try await outbox.drain(timeout: 120)
            let seconds = BenchClock.wall() - start
            let cpu = BenchClock.processCPU() - cpuBefore
            let simSeconds = simCPU().flatMap { end in simBefore.map { end - $0 } }
            await outbox.stop(timeout: 5)
            let acceptedAfter = await accepted()
            var members: [(String, JSONValue)] = [
                ("bench", .string("outbox.drain")), ("maxInFlight", .integer(Int64(level))), ("messages", .integer(Int64(count))),
                ("seconds", number(seconds)), ("perSecond", number(Double(after.sent) / seconds)),
                ("withAbsorbPerSecond", number(Double(after.sent) / (seconds + absorbSeconds))),
                ("sent", .integer(Int64(after.sent))), ("pending", .integer(Int64(after.pending))), ("dead", .integer(Int64(after.dead))),
                ("clientCPU", number(cpu)), ("reportsPoppedBefore", .integer(Int64(popped))),
            ]
            if let simSeconds { members.append(("simCPU", number(simSeconds))) }
            if let acceptedBefore, let acceptedAfter { members.append(("gatewayAccepted", .integer(acceptedAfter - acceptedBefore))) }
            emit(members)

            // The peer: the same client sending the same number of messages, 300 per request,
            // `level` requests in flight, without the outbox.
            let peerPopped = await popReports(client)
            let peerBefore = await accepted()
            let peerSimBefore = simCPU()
            let peerCPUBefore = BenchClock.processCPU()
            let peerStart = BenchClock.wall()
            let counters = Counters()  // requests: the next chunk to take
            let chunks = (count + 299) / 300
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<level {
                    group.addTask {
                        while true {
                            let chunk = counters.requests.add(1, ordering: .relaxed).oldValue
                            guard chunk < chunks else { return }
                            let slice = Array(entries[(chunk * 300)..<min(chunk * 300 + 300, count)])
                            do {
                                let answers = try await client.sendBatch(templateId: templateId, entries: slice)
                                counters.sent.add(answers.count, ordering: .relaxed)
                            } catch {
                                counters.firstError.withLock { $0 = $0 ?? "\(error)" }
                                return
                            }
                        }
                    }
                }
            }
            let peerSeconds = BenchClock.wall() - peerStart
            let peerCPU = BenchClock.processCPU() - peerCPUBefore
            let peerSim = simCPU().flatMap { end in peerSimBefore.map { end - $0 } }
            let peerAfter = await accepted()
            var peer: [(String, JSONValue)] = [
                ("bench", .string("outbox.drain.peer")), ("concurrency", .integer(Int64(level))),
                ("messages", .integer(Int64(counters.sent.load(ordering: .relaxed)))), ("seconds", number(peerSeconds)),
                ("perSecond", number(Double(counters.sent.load(ordering: .relaxed)) / peerSeconds)), ("clientCPU", number(peerCPU)),
                ("what", .string("FMSClient.sendBatch of 300 messages, \(level) workers, the same client")),
            ]
            peer.append(("reportsPoppedBefore", .integer(Int64(peerPopped))))
            if let peerSim { peer.append(("simCPU", number(peerSim))) }
            if let peerBefore, let peerAfter { peer.append(("gatewayAccepted", .integer(peerAfter - peerBefore))) }
            if let message = counters.firstError.withLock({ $0 }) { peer.append(("error", .string(message))) }
            emit(peer)
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}

/// A benchmark's own failure, in words.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
