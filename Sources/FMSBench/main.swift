// fms-bench: the benchmarks of the codec, the client, Lua and the outbox; see bench/README.md.
//
// Each subcommand prints its results as JSON, one object per line, on stdout;
// bench/run.sh runs them beside their peers and `fms-bench report` compares them.

let arguments = CommandLine.arguments.dropFirst()
let usage = """
    usage: fms-bench SUBCOMMAND [options]
      \(CodecBench.usage)
      \(ClientBench.templateUsage)
      \(ClientBench.clientUsage)
      \(LuaBench.usage)
      \(OutboxBench.usage)
      \(Report.usage)
    """

switch arguments.first {
case "codec":
    CodecBench.run(BenchOptions(arguments.dropFirst(), known: ["messages", "seconds", "key-length", "dump-json", "only"]))
case "template":
    await ClientBench.template(BenchOptions(arguments.dropFirst(), known: ["url", "app-id", "secret-key-file"]))
case "client":
    await ClientBench.run(BenchOptions(arguments.dropFirst(), known: [
        "url", "app-id", "secret-key-file", "template-id", "sim-pid", "in-process", "seconds",
        "batch-concurrency", "single-concurrency", "batch-messages", "only", "batch-mode", "transport",
    ]))
case "lua":
    await LuaBench.run(BenchOptions(arguments.dropFirst(), known: LuaBench.known))
case "outbox":
    await OutboxBench.run(BenchOptions(arguments.dropFirst(), known: OutboxBench.known))
case "report":
    Report.run(BenchOptions(arguments.dropFirst(), known: ["results", "doc"]))
case "--help", "-h", "help":
    print(usage)
default:
    fail("unknown or missing subcommand\n\(usage)", status: 64)
}
if benchSink == 42 { print("") }  // keeps the measured results alive
