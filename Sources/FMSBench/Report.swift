import Foundation
import FMSProtocol

/// `fms-bench report`: turns the JSON lines of one run into the summary table and docs/benchmarks.md.
///
/// Every ratio divides two figures of the same run; nothing here is a constant from an earlier run.
enum Report {
    static let usage = "report --results FILE [--doc FILE]"

    static func run(_ options: BenchOptions) {
        let path = options.required("results")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { fail("cannot read \(path)") }
        var lines: [JSONValue] = []
        for line in text.split(separator: "\n") where line.hasPrefix("{") {
            if let value = try? JSONParser.parse(String(line)) { lines.append(value) }
        }
        let results = Results(lines)
        let summary = results.summary()
        print(summary.console)
        if let doc = options.string("doc") {
            do {
                try Data(summary.markdown.utf8).write(to: URL(fileURLWithPath: doc))
            } catch {
                fail("cannot write \(doc): \(error)")
            }
            print("wrote \(doc)")
        }
    }
}

/// The lines of one run, looked up by their `bench` name.
struct Results {
    let lines: [JSONValue]

    init(_ lines: [JSONValue]) { self.lines = lines }

    func all(_ bench: String) -> [JSONValue] { lines.filter { $0["bench"]?.lenientString == bench } }
    func first(_ bench: String, name: String? = nil) -> JSONValue? {
        all(bench).first { name == nil || $0["name"]?.lenientString == name }
    }
}

extension JSONValue {
    /// A number member as a Double.
    func double(_ key: String) -> Double? {
        switch self[key] {
        case .integer(let value)?: return Double(value)
        case .double(let value)?: return value
        case .string(let text)?: return Double(text)
        default: return nil
        }
    }

    func text(_ key: String) -> String { self[key]?.lenientString ?? "" }
}

/// One row of a result table.
struct Row {
    var label: String
    var value: String
    var peer: String
    var ratio: String
}

struct Summary {
    var console: String
    var markdown: String
}

extension Results {
    func summary() -> Summary {
        let facts = first("facts")
        var codecRows: [Row] = []
        var clientRows: [Row] = []
        var goals: [(String, String, Bool?)] = []  // goal, measured, met
        var notes: [String] = []
        var clientNotes: [String] = []

        // MARK: Codec
        if let payload = first("codec.payload") {
            let json = payload.double("jsonBytes") ?? 0
            let gz = payload.double("gzipBytes") ?? 0
            let cipher = payload.double("cipherBytes") ?? 0
            // Measurements repeated in a run (run.sh alternates codec and limit twice): the best one counts.
            func perRequest(_ bench: String, _ name: String) -> Double? {
                all(bench).filter { $0.text("name") == name }.compactMap { $0.double("seconds") }.min()
            }
            func mbps(_ seconds: Double?) -> Double? { seconds.map { json / $0 / 1e6 } }

            let aesRates = all("limit.aes")
            let encRate = aesRates.filter { $0.text("direction") == "encrypt" }.compactMap { $0.double("bytesPerSecond") }.max()
            let decRate = aesRates.filter { $0.text("direction") == "decrypt" }.compactMap { $0.double("bytesPerSecond") }.max()
            let aesBytes = aesRates.first?.double("bytes") ?? cipher
            // The zlib limit from python3's zlib; without python3, fms's own Gzip stages stand in.
            let zlib = first("limit.zlib")
            let zlibLines = all("limit.zlib")
            let zc = zlibLines.compactMap { $0.double("compressSeconds") }.min() ?? perRequest("codec.stage", "gzip")
            let zd = zlibLines.compactMap { $0.double("decompressSeconds") }.min() ?? perRequest("codec.stage", "gunzip")
            let zlibSource = zlib?.text("source") ?? "fms's Gzip type (python3 missing)"
            let limitAES: Double? = encRate.flatMap { e in decRate.map { d in cipher / e + cipher / d } }
            let limitZlib: Double? = zc.flatMap { c in zd.map { c + $0 } }
            let limit: Double? = limitAES.flatMap { a in limitZlib.map { a + $0 } }

            let full = perRequest("codec.pipeline", "full")
            let bytes = perRequest("codec.pipeline", "bytes")
            let modelToModel = perRequest("codec.pipeline", "model-to-model")
            let ourAES = perRequest("codec.stage", "aes-encrypt").flatMap { e in perRequest("codec.stage", "aes-decrypt").map { e + $0 } }
            let ourZlib = perRequest("codec.stage", "gzip").flatMap { c in perRequest("codec.stage", "gunzip").map { c + $0 } }
            let ourJSON = perRequest("codec.stage", "json-write").flatMap { w in perRequest("codec.stage", "json-parse").map { w + $0 } }

            let limitText = mbps(limit).map { "\(fmt($0)) MB/s" } ?? "n/a"
            codecRows.append(Row(label: "Full pipeline: JSON write + gzip + AES + AES decrypt + gunzip + JSON parse",
                                 value: mbps(full).map { "\(fmt($0)) MB/s (\(micro(full)) per request)" } ?? "n/a",
                                 peer: "limit \(limitText)", ratio: timeRatio(limit, full)))
            codecRows.append(Row(label: "Byte pipeline: gzip + AES, both ways (SecureEnvelope.seal + open)",
                                 value: mbps(bytes).map { "\(fmt($0)) MB/s (\(micro(bytes)) per request)" } ?? "n/a",
                                 peer: "limit \(limitText)", ratio: timeRatio(limit, bytes)))
            codecRows.append(Row(label: "Model to model (adds building the JSON tree and reading BatchSendRequest back)",
                                 value: mbps(modelToModel).map { "\(fmt($0)) MB/s (\(micro(modelToModel)) per request)" } ?? "n/a",
                                 peer: "limit \(limitText)", ratio: timeRatio(limit, modelToModel)))
            codecRows.append(Row(label: "Limit: AES enc+dec (openssl speed) + zlib level 6 comp+decomp (\(zlibSource))",
                                 value: "\(limitText) (\(micro(limit)) per request)", peer: "-", ratio: "1.00"))
            codecRows.append(Row(label: "  our AES enc+dec (AESECB) vs openssl speed on \(Int(aesBytes)) bytes",
                                 value: "\(micro(ourAES))", peer: "\(micro(limitAES))", ratio: timeRatio(limitAES, ourAES)))
            codecRows.append(Row(label: "  our gzip+gunzip (Gzip) vs zlib level 6 on the same JSON",
                                 value: "\(micro(ourZlib))", peer: "\(micro(limitZlib))", ratio: timeRatio(limitZlib, ourZlib)))
            codecRows.append(Row(label: "  our JSON write+parse (no limit counted for it)",
                                 value: "\(micro(ourJSON))", peer: "share of full pipeline",
                                 ratio: ourJSON.flatMap { j in full.map { String(format: "%.0f %%", 100 * j / $0) } } ?? "n/a"))
            for name in ["model-to-tree", "json-write", "gzip", "aes-encrypt", "aes-decrypt", "gunzip", "json-parse", "tree-to-model"] {
                let seconds = perRequest("codec.stage", name)
                codecRows.append(Row(label: "  stage \(name)", value: "\(micro(seconds))",
                                     peer: "share of model-to-model",
                                     ratio: seconds.flatMap { s in modelToModel.map { String(format: "%.0f %%", 100 * s / $0) } } ?? "n/a"))
            }
            let fullShare = limit.flatMap { l in full.map { l / $0 } }
            goals.append(("Codec full pipeline ≥ 50 % of the limit", fullShare.map { String(format: "%.0f %%", 100 * $0) } ?? "n/a",
                          fullShare.map { $0 >= 0.5 }))
            let byteShare = limit.flatMap { l in bytes.map { l / $0 } }
            goals.append(("Codec byte pipeline ≥ 50 % of the limit", byteShare.map { String(format: "%.0f %%", 100 * $0) } ?? "n/a",
                          byteShare.map { $0 >= 0.5 }))
            notes.append("Payload: one sendBatchFMS request of \(Int(payload.double("messages") ?? 0)) messages, "
                         + "\(Int(json)) bytes of JSON, \(Int(gz)) bytes gzipped, \(Int(cipher)) bytes encrypted (AES-\(Int(payload.double("keyBits") ?? 128))).")
        }

        // MARK: Client
        let shell = first("shell.single")
        let shellRate = shell?.double("perSecond")
        func best(_ bench: String, _ transport: String) -> JSONValue? {
            all(bench).filter { $0.text("transport") == transport && $0["error"] == nil }
                .max { ($0.double("perSecond") ?? 0) < ($1.double("perSecond") ?? 0) }
        }
        let batchHTTP = best("client.batch", "http")
        let singleHTTP = best("client.single", "http")
        let batchLocal = best("client.batch", "in-process")
        let singleLocal = best("client.single", "in-process")
        let singleSockets = best("client.single", "http-sockets")
        let batchSockets = best("client.batch", "http-sockets")
        func rate(_ line: JSONValue?) -> Double? { line?.double("perSecond") }
        let cores = facts?.double("nproc") ?? 1
        // CPU per message (client + simulator), the share of the machine the run got, and what
        // the same CPU cost per message would allow with every core free: load from other
        // programs on the machine lowers the rate but hardly the CPU cost.
        func cpuPerMessage(_ line: JSONValue?) -> String {
            guard let line, let messages = line.double("messages"), messages > 0,
                  let seconds = line.double("seconds"), seconds > 0 else { return "" }
            let client = line.double("clientCPU") ?? 0
            let sim = line.double("simCPU")
            let total = client + (sim ?? 0)
            var text = sim.map { String(format: "; CPU per message: client %.1f µs + sim %.1f µs", client / messages * 1e6, $0 / messages * 1e6) }
                ?? String(format: "; CPU per message %.1f µs", client / messages * 1e6)
            text += String(format: "; used %.0f %% of %d cores", 100 * total / (seconds * cores), Int(cores))
            if total > 0 { text += "; all cores: ~\(fmt(cores * messages / total))/s" }
            return text
        }
        let batchFailure = first("client.batch.failed")
        if let batchFailure {
            clientNotes.append("**FMSClient.sendBatch with more than 300 messages failed in this build** (\(batchFailure.text("reason"))); "
                         + "the batched figures come from concurrent 300-message sendBatch calls instead (`--batch-mode chunks`).")
        }
        if let batchHTTP {
            let how = batchHTTP.text("mode") == "chunks"
                ? "\(batchHTTP.text("concurrency")) concurrent 300-message sendBatch calls"
                : "sendBatch of 30,000, maxConcurrentRequests \(batchHTTP.text("concurrency"))"
            clientRows.append(Row(label: "Batched (300 per request) over HTTP: \(how)",
                                  value: "\(fmt(rate(batchHTTP) ?? 0)) msg/s\(cpuPerMessage(batchHTTP))",
                                  peer: shellRate.map { "shell loop \(fmt($0)) msg/s" } ?? "n/a",
                                  ratio: rateRatio(rate(batchHTTP), shellRate)))
        }
        if let singleHTTP {
            clientRows.append(Row(label: "Single sends (concurrent sendSingle) over HTTP, best concurrency \(singleHTTP.text("concurrency"))",
                                  value: "\(fmt(rate(singleHTTP) ?? 0)) sends/s\(cpuPerMessage(singleHTTP))",
                                  peer: shellRate.map { "shell loop \(fmt($0)) sends/s" } ?? "n/a",
                                  ratio: rateRatio(rate(singleHTTP), shellRate)))
        }
        if let shell {
            clientRows.append(Row(label: "Shell loop (printf, gzip, openssl enc, curl per message), \(shell.text("sent")) sends, \(shell.text("failed")) failed",
                                  value: "\(fmt(shellRate ?? 0)) sends/s", peer: "-", ratio: "1.00"))
        }
        // CPU seconds per message, client plus simulator: the load-independent way to compare transports.
        func cpuPer(_ line: JSONValue?) -> Double? {
            guard let line, let messages = line.double("messages"), messages > 0 else { return nil }
            return ((line.double("clientCPU") ?? 0) + (line.double("simCPU") ?? 0)) / messages
        }
        func cpuRatio(_ part: JSONValue?, _ whole: JSONValue?) -> String {
            guard let part = cpuPer(part), let whole = cpuPer(whole), whole > 0 else { return "n/a" }
            return String(format: "%.2f× the CPU per message", part / whole)
        }
        if let singleSockets {
            clientRows.append(Row(label: "Single sends over a minimal socket transport (a prototype in fms-bench, not in fms), concurrency \(singleSockets.text("concurrency"))",
                                  value: "\(fmt(rate(singleSockets) ?? 0)) sends/s\(cpuPerMessage(singleSockets))",
                                  peer: "URLSession transport (single sends over HTTP)",
                                  ratio: "\(rateRatio(rate(singleSockets), rate(singleHTTP)))× the rate, \(cpuRatio(singleSockets, singleHTTP))"))
        }
        if let batchSockets {
            clientRows.append(Row(label: "Batched over the minimal socket transport (prototype), \(batchSockets.text("mode")) mode, concurrency \(batchSockets.text("concurrency"))",
                                  value: "\(fmt(rate(batchSockets) ?? 0)) msg/s\(cpuPerMessage(batchSockets))",
                                  peer: "URLSession transport (batched over HTTP)",
                                  ratio: "\(rateRatio(rate(batchSockets), rate(batchHTTP)))× the rate, \(cpuRatio(batchSockets, batchHTTP))"))
        }
        if let batchLocal {
            clientRows.append(Row(label: "Batched, in-process gateway (no sockets), \(batchLocal.text("mode")) mode, concurrency \(batchLocal.text("concurrency"))",
                                  value: "\(fmt(rate(batchLocal) ?? 0)) msg/s\(cpuPerMessage(batchLocal))",
                                  peer: "batched over HTTP (URLSession)", ratio: "HTTP: \(cpuRatio(batchHTTP, batchLocal))"))
        }
        if let singleLocal {
            clientRows.append(Row(label: "Single sends, in-process gateway (no sockets), concurrency \(singleLocal.text("concurrency"))",
                                  value: "\(fmt(rate(singleLocal) ?? 0)) sends/s\(cpuPerMessage(singleLocal))",
                                  peer: "single sends over HTTP (URLSession)", ratio: "HTTP: \(cpuRatio(singleHTTP, singleLocal))"))
        }
        goals.append(("≥ 100,000 messages/s batched", rate(batchHTTP).map { "\(fmt($0)) msg/s" } ?? "n/a",
                      rate(batchHTTP).map { $0 >= 100_000 }))
        goals.append(("≥ 2,000 single sends/s", rate(singleHTTP).map { "\(fmt($0)) sends/s" } ?? "n/a",
                      rate(singleHTTP).map { $0 >= 2_000 }))
        let singleOverShell = shellRate.flatMap { s in rate(singleHTTP).map { $0 / s } }
        goals.append(("Single sends ≥ 20× the shell loop", singleOverShell.map { String(format: "%.0f×", $0) } ?? "n/a",
                      singleOverShell.map { $0 >= 20 }))
        let batchOverShell = shellRate.flatMap { s in rate(batchHTTP).map { $0 / s } }
        goals.append(("Batched ≥ 20× the shell loop", batchOverShell.map { String(format: "%.0f×", $0) } ?? "n/a",
                      batchOverShell.map { $0 >= 20 }))

        // MARK: Lua
        let lua = luaSection()
        goals += lua.goals

        // MARK: Outbox
        let outbox = outboxSection()
        goals += outbox.goals

        var levelRows: [[String]] = []
        for line in all("client.batch") + all("client.single") {
            let kind = line.text("bench").replacingOccurrences(of: "client.", with: "")
            let accepted = line.double("gatewayAccepted")
            if let accepted, accepted != line.double("messages") {
                clientNotes.append("Mismatch: the gateway accepted \(Int(accepted)) messages where the client counted \(line.text("messages")) "
                                   + "(\(kind), \(line.text("transport")), concurrency \(line.text("concurrency"))).")
            }
            levelRows.append([line["mode"] == nil ? kind : "\(kind) (\(line.text("mode")))", line.text("transport"),
                              line.text("concurrency"), line.text("messages"), String(format: "%.2f", line.double("seconds") ?? 0),
                              fmt(line.double("perSecond") ?? 0),
                              String(format: "%.2f", line.double("clientCPU") ?? 0),
                              line.double("simCPU").map { String(format: "%.2f", $0) } ?? "-",
                              line.double("simRSS").map { String(format: "%.0f", $0 / 1_048_576) } ?? "-",
                              line["error"] == nil ? "" : line.text("error")])
        }

        // MARK: Rendering
        var console = "\n== fms benchmarks (\(facts?.text("date") ?? "")) ==\n"
        func table(_ title: String, _ rows: [Row]) {
            guard !rows.isEmpty else { return }
            console += "\n\(title)\n"
            let width = min(100, rows.map(\.label.count).max() ?? 0)
            for row in rows {
                let plain = row.label.replacingOccurrences(of: "**", with: "").replacingOccurrences(of: "`", with: "")
                let label = plain.count > width ? String(plain.prefix(width - 1)) + "…" : plain
                console += label.padding(toLength: width, withPad: " ", startingAt: 0)
                console += "  \(row.value)  | \(row.peer) | \(row.ratio)\n"
            }
        }
        table("Codec (per 300-message request, thread CPU time)", codecRows)
        table("Client → simulator on 127.0.0.1", clientRows)
        for note in clientNotes { console += "note: \(note.replacingOccurrences(of: "**", with: ""))\n" }
        table("Lua: calls from Lua (thread CPU, net of the empty loop; ratio = our time / peer time)", lua.callRows)
        table("Lua: a vars table from Lua to Swift (thread CPU; ratio = our time / peer time)", lua.convertRows)
        table("Lua: fms check of rule files (ratio = our time / peer time)", lua.checkRows)
        for note in lua.notes { console += "note: \(note.replacingOccurrences(of: "**", with: "").replacingOccurrences(of: "`", with: ""))\n" }
        table("Outbox: accepting messages, sender not running (ratio = our time per message / the limit's)", outbox.enqueueRows)
        table("Outbox: draining to the simulator (ratio = our rate / the peer's)", outbox.drainRows)
        for note in outbox.notes { console += "note: \(note.replacingOccurrences(of: "**", with: "").replacingOccurrences(of: "`", with: ""))\n" }
        console += "\nGoals\n"
        for goal in goals {
            let verdict = goal.2.map { $0 ? "MET" : "NOT MET" } ?? "n/a"
            console += "  \(goal.0.padding(toLength: 56, withPad: " ", startingAt: 0)) \(goal.1.padding(toLength: 16, withPad: " ", startingAt: 0)) \(verdict)\n"
        }

        var md = "# Benchmarks\n\n"
        md += "Generated by `bench/run.sh` (`make bench`) on \(facts?.text("date") ?? "?"); do not edit by hand.\n"
        md += "Every figure below was measured in the same run as the peer or limit it is compared with.\n\n"
        md += "## Machine\n\n"
        md += "| | |\n|---|---|\n"
        md += "| CPU | \(facts?.text("cpu") ?? "?") |\n"
        md += "| Cores (`nproc`) | \(facts?.text("nproc") ?? "?") |\n"
        md += "| Load average (1, 5, 15 min) at start / end | \(facts?.text("load") ?? "?") / \(first("facts.end")?.text("load") ?? "?") |\n"
        md += "| Kernel | \(facts?.text("kernel") ?? "?") |\n"
        md += "| Swift | \(facts?.text("swift") ?? "?") |\n"
        md += "| OpenSSL | \(facts?.text("openssl") ?? "?") |\n"
        md += "| zlib | \(first("limit.zlib")?.text("zlibVersion") ?? "?") |\n\n"
        md += "## Goals\n\n| Goal | Measured | Verdict |\n|---|---|---|\n"
        for goal in goals {
            md += "| \(goal.0) | \(goal.1) | \(goal.2.map { $0 ? "met" : "**not met**" } ?? "n/a") |\n"
        }
        md += "\n## Codec: one sendBatchFMS request, encoded and decoded\n\n"
        for note in notes { md += note + "\n" }
        md += "Times are CPU seconds of the measuring thread, best of 10 rounds, and the better of two passes that alternate\n"
        md += "with the limit's measurements (the openssl figure is CPU time too);\n"
        md += "throughput is bytes of JSON per second. The limit is what the machine needs for the unavoidable work on\n"
        md += "the same bytes: AES-128-ECB encryption and decryption at the rate `openssl speed -evp aes-128-ecb -bytes N`\n"
        md += "measures for N = the ciphertext size, plus zlib level-6 compression and decompression of the same JSON.\n\n"
        md += "| Measure | Ours | Peer | Ratio (ours / peer) |\n|---|---|---|---|\n"
        func cell(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|") }
        for row in codecRows { md += "| \(cell(row.label)) | \(cell(row.value)) | \(cell(row.peer)) | \(cell(row.ratio)) |\n" }
        md += "\n## Client → simulator on 127.0.0.1\n\n"
        md += "`fms sim --no-rate-limits --no-ledger` runs as a separate process on the same machine; the client and the\n"
        md += "simulator share its cores. The shell loop is `bench/shell-send.sh`: per message, `printf` the JSON,\n"
        md += "`gzip -c`, `openssl enc -aes-128-ecb -K …`, `curl --data-binary @-`, and a check of the `result: SUCCESS` header.\n"
        md += "The in-process rows run the same client against a `Gateway` in the benchmark process without sockets:\n"
        md += "the gap to the HTTP rows is the cost of HTTP (URLSession on the client, the simulator's server).\n"
        md += "The socket-transport rows replace the client's URLSession transport by a minimal blocking HTTP/1.1 keep-alive\n"
        md += "transport (`Sources/FMSBench/SocketTransport.swift`, one thread per connection): what a lighter transport could reach.\n"
        md += "Batched rows send 30,000 messages per `sendBatch` call (100 requests of 300) with `maxConcurrentRequests` = concurrency,\n"
        md += "or, in `chunks` mode, run that many tasks each making 300-message `sendBatch` calls.\n\n"
        md += "| Measure | Ours | Peer | Ratio (ours / peer) |\n|---|---|---|---|\n"
        for row in clientRows { md += "| \(cell(row.label)) | \(cell(row.value)) | \(cell(row.peer)) | \(cell(row.ratio)) |\n" }
        if !clientNotes.isEmpty { md += "\n" + clientNotes.joined(separator: "\n\n") + "\n" }
        md += "\nEvery level measured (`maxConcurrentRequests` for batches; concurrent `sendSingle` calls for single sends):\n\n"
        md += "| Kind | Transport | Concurrency | Messages | Seconds | Per second | Client CPU s | Sim CPU s | Sim RSS MiB | Error |\n"
        md += "|---|---|---|---|---|---|---|---|---|---|\n"
        for row in levelRows { md += "| " + row.map(cell).joined(separator: " | ") + " |\n" }
        if !lua.isEmpty {
            md += "\n## Lua: calls into Swift, values, `fms check`\n\n"
            md += "`fms-bench lua` measures LuaKit from Lua code, each figure beside its peer in the same process and run.\n"
            md += "Calls: `for i = 1, n do f(i) end` with f a local bound to a Swift function defined with `LuaState.defineModule`\n"
            md += "(`bench.noop` returns nothing, `bench.one` returns the integer 1) or to a C function of Lua's standard library\n"
            md += "(`math.abs`, `rawlen`, `type`: the limit is the cheapest), minus the same loop with an empty body; thread CPU time,\n"
            md += "each loop at least 0.2 s per round, rounds interleaved, best of 5. Once in a `LuaState` without limits and once with\n"
            md += "the defaults of `fms run` (`LuaLimits()`), whose instruction budget is a count hook that Lua calls on every instruction.\n"
            md += "Goal: a binding call within 3× of a C function. Ratios in this section are our time / the peer's time (lower is better).\n\n"
            md += "| Measure | Ours | Peer | Ratio (our time / peer time) |\n|---|---|---|---|\n"
            for row in lua.callRows { md += "| \(cell(row.label)) | \(cell(row.value)) | \(cell(row.peer)) | \(cell(row.ratio)) |\n" }
            md += "\nA typical `vars` table copied from Lua into Swift values (`LuaValue.table`), beside Lua copying the same table\n"
            md += "into a new one with `pairs` (each minus its empty loop; the binding row also minus the no-op binding call):\n\n"
            md += "| Measure | Ours | Peer | Ratio (our time / peer time) |\n|---|---|---|---|\n"
            for row in lua.convertRows { md += "| \(cell(row.label)) | \(cell(row.value)) | \(cell(row.peer)) | \(cell(row.ratio)) |\n" }
            md += "\n`fms check` on a folder of rule files, beside `luac5.4 -p` on the same files: wall time of one process, best of 5,\n"
            md += "alternating; then the work per file inside one process (`RuleChecker.check`) and its parts (thread CPU, best of 5).\n\n"
            md += "| Measure | Ours | Peer | Ratio (our time / peer time) |\n|---|---|---|---|\n"
            for row in lua.checkRows { md += "| \(cell(row.label)) | \(cell(row.value)) | \(cell(row.peer)) | \(cell(row.ratio)) |\n" }
            if !lua.notes.isEmpty { md += "\n" + lua.notes.joined(separator: "\n\n") + "\n" }
        }
        if !outbox.isEmpty {
            md += "\n## Outbox: accepting and draining messages\n\n"
            md += "`fms-bench outbox` measures the durable outbox in one process. **Accepting**: each round a fresh `Outbox` in a fresh\n"
            md += "state directory, without a gateway client, so its sender cannot run and only acceptance is timed: `fms.send{ mobile, template,\n"
            md += "vars = { name, store, code } }` in a Lua loop (a `LuaRuntime` with the limits of `fms run`, `FMSModule` over an\n"
            md += "`OutboxHandle`, no `id`, so each send makes a customFmsId), and `Outbox.enqueue` called from Swift with the same messages.\n"
            md += "The **limit** is `BareInsertBenchmark` (in `Sources/Outbox`, for benchmarks only): the same messages inserted by SQLite\n"
            md += "alone into a fresh database with the outbox's schema and INSERT statement, WAL, synchronous=NORMAL, one prepared\n"
            md += "statement, one transaction (the variables' JSON made before the clock starts): the fastest SQLite stores those rows.\n"
            md += "References beside it: the same insert with one commit per row, and one bare `write(2)` per intake-log record.\n"
            md += "Wall time per message; the Lua, Swift and limit rounds are interleaved and the best round counts.\n"
            md += "Goals: ≥ 50,000 messages/s and within 3× of the limit's time per message.\n\n"
            md += "| Measure | Ours | Limit or peer | Ratio (our time / its time) |\n|---|---|---|---|\n"
            for row in outbox.enqueueRows { md += "| \(cell(row.label)) | \(cell(row.value)) | \(cell(row.peer)) | \(cell(row.ratio)) |\n" }
            md += "\n**Draining**: the outbox, this time with an `FMSClient` (default transport, `maxConcurrentRequests` = maxInFlight) for\n"
            md += "the simulator `bench/run.sh` started, is given N messages (`Outbox.enqueue`), absorbs them into SQLite (timed beside\n"
            md += "`BareInsertBenchmark` on the same messages), then `Outbox.drain` runs the sender until nothing is pending; the\n"
            md += "simulator's own count of accepted messages (`GET /__sim/stats`) checks that none was lost. The **peer** is the same\n"
            md += "client sending the same number of messages itself, 300 per `sendBatch` call, as many calls in flight as the outbox may have.\n"
            md += "CPU per message counts the benchmark process (client and outbox) and the simulator. Goal: ≥ 50,000 messages/s.\n\n"
            md += "| Measure | Ours | Peer | Ratio (our rate / its rate) |\n|---|---|---|---|\n"
            for row in outbox.drainRows { md += "| \(cell(row.label)) | \(cell(row.value)) | \(cell(row.peer)) | \(cell(row.ratio)) |\n" }
            if !outbox.notes.isEmpty { md += "\n" + outbox.notes.joined(separator: "\n\n") + "\n" }
        }
        md += "\n## Reproduce\n\n"
        md += "```sh\nmake bench                      # release build, then bench/run.sh; rewrites this file\n"
        md += "# or, with a release build at hand:\n"
        md += "FMS_BIN=\"$(swift build -c release --show-bin-path)/fms\" bash bench/run.sh\n```\n\n"
        md += "Pieces can be run alone: `fms-bench codec`, `fms-bench lua`, `fms-bench outbox --only enqueue,durable`, "
        md += "`fms-bench client --in-process yes`, or against a running simulator\n"
        md += "`fms-bench client --url URL --app-id ID --secret-key-file FILE`; `bench/shell-send.sh URL APP_ID KEY_FILE TEMPLATE_ID N SECONDS`.\n"
        md += "See `bench/README.md`. The raw JSON lines of this run are printed by `bench/run.sh` and kept in `$BENCH_OUT` when set.\n"
        return Summary(console: console, markdown: md)
    }
}

/// "12,345" or "1.23" style numbers.
func fmt(_ value: Double) -> String {
    if value >= 100 {
        let rounded = Int(value.rounded())
        let digits = String(rounded)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out += "," }
            out.append(character)
        }
        return out
    }
    return String(format: "%.1f", value)
}

/// Microseconds with unit, or n/a.
func micro(_ seconds: Double?) -> String {
    guard let seconds, seconds.isFinite else { return "n/a" }
    return String(format: seconds < 1e-5 ? "%.1f µs" : "%.0f µs", seconds * 1e6)
}

/// Our throughput over the peer's, from times per operation: peer time / our time.
func timeRatio(_ peerSeconds: Double?, _ ourSeconds: Double?) -> String {
    guard let peerSeconds, let ourSeconds, peerSeconds > 0, ourSeconds > 0 else { return "n/a" }
    return String(format: "%.2f", peerSeconds / ourSeconds)
}

/// Our rate over the peer's.
func rateRatio(_ ours: Double?, _ peer: Double?) -> String {
    guard let ours, let peer, ours > 0, peer > 0 else { return "n/a" }
    return String(format: "%.1f", ours / peer)
}

/// `part / whole` as a percentage.
func percent(_ part: Double?, _ whole: Double?) -> String {
    guard let part, let whole, whole > 0 else { return "n/a" }
    return String(format: "%.0f %%", 100 * part / whole)
}
