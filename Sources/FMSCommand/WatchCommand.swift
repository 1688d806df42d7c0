import Foundation
import FMSClient
import FMSProtocol
import FMSSimulator
import Outbox
import RulesEngine

/// `fms watch`: the long-running watcher.
enum WatchCommand {
    static let simulatorOptions: [OptionSpec] = [
        .flag("sim", "start the gateway simulator in this process (only when FMS_URL and --url are unset); "
              + "the outbox is then STATE/sim"),
        .value("sim-template", "ID=TEXT", "with --sim: a template that exists from the start (repeatable)", repeatable: true),
        .value("sim-balance", "N", "with --sim: the starting balance (default 10000)"),
        .value("sim-fail-mobile", "M[=STATE]", "with --sim: messages to M fail with STATE (default FAIL_UNKNOW; repeatable)",
               repeatable: true),
        .value("sim-report-delay", "SECONDS", "with --sim: seconds from acceptance to delivery report (default 1)"),
    ]

    static let command = Command(
        words: ["watch"], summary: "Keep rule files running: react to files, logs, timers, the balance and reports.",
        usage: "watch [options] RULES...",
        details: "RULES are Lua files or folders (each *.lua in a folder; *.meta.lua skipped); see fms-lua(7) for the\n"
            + "registration functions and fms-watch(1) for everything here. The rules reload on SIGHUP and when a rule\n"
            + "file changes: if the new files fail to load, the running rules stay and the error is logged.\n"
            + "SIGTERM or SIGINT stops the sources, lets running handlers finish and the sender flush (each bounded by\n"
            + "--shutdown-timeout), and exits 0; a second one exits at once with 130 (the outbox keeps every message).\n"
            + "Exit status: 0 after a clean stop; 64 usage; 65 the rules do not load at start; 66 a RULES path is\n"
            + "missing; 75 the state directory is locked by another fms; 74 it cannot be written; 78 configuration.",
        options: [
            .flag("dry-run", "run everything, but log each send instead of queueing it (the outbox is not opened)"),
            .value("log-format", "FORMAT", "text (default) or json, one object per line"),
            .value("metrics-file", "PATH", "keep Prometheus metrics in PATH (for node_exporter's textfile collector)"),
            .value("for", "DURATION", "run this long, then stop as on SIGTERM (\"20s\", \"5m\")"),
            .value("report-interval", "DURATION", "how often delivery reports are fetched while handlers wait for them (default 10s)"),
            .value("shutdown-timeout", "SECONDS", "how long a stop waits for handlers, then for the sender (default 10)"),
            .flag("no-reload-on-change", "reload only on SIGHUP, not when a rule file changes"),
        ] + simulatorOptions + OutboxCommands.stateOptions + [OutboxCommands.durabilityOption] + LuaCommands.limitOptions
            + AccountSettings.options.filter { $0.name != "timeout" }
            + [.value("http-timeout", "SECONDS", "seconds to wait for each HTTP exchange (default 30)")]
    ) { arguments, context throws(CommandError) in
        guard !arguments.positionals.isEmpty else { throw .usage("watch: missing RULES (rule files or folders)") }
        var options = Watcher.Options(rulePaths: arguments.positionals)
        options.limits = try LuaCommands.parseLimits(arguments, command: "watch")
        options.dryRun = arguments.has("dry-run")
        options.reloadOnChange = !arguments.has("no-reload-on-change")
        if let path = arguments.value("metrics-file") {
            // Checked now, not at the first write: a typo in a unit file should stop the start.
            let folder = (path as NSString).deletingLastPathComponent
            guard access(folder.isEmpty ? "." : folder, W_OK | X_OK) == 0 else {
                throw CommandError("watch: --metrics-file \(path): cannot write in \(folder.isEmpty ? "." : folder): "
                                   + String(cString: strerror(errno)), exitCode: .ioError)
            }
            options.metricsFile = path
        }
        if let seconds = try duration(arguments, "report-interval") { options.reportInterval = seconds }
        if let text = arguments.value("shutdown-timeout") {
            guard let seconds = Double(text), seconds >= 0, seconds <= 86_400 else {
                throw .usage("watch: --shutdown-timeout '\(text)' is not a number of seconds from 0 to 86400")
            }
            options.shutdownTimeout = seconds
        }
        let runFor = try duration(arguments, "for")
        let format: WatchLogger.Format
        if let text = arguments.value("log-format") {
            guard let parsed = WatchLogger.Format(rawValue: text) else { throw .usage("watch: --log-format '\(text)': use text or json") }
            format = parsed
        } else {
            format = .text
        }
        let logger = WatchLogger(format: format, journal: WatchLogger.stderrIsJournal(environment: context.environment))

        var environment = context.environment
        var simulator: SimulatorServer?
        if arguments.has("sim") {
            if let url = arguments.value("url") ?? environment["FMS_URL"], !url.isEmpty {
                throw .usage("watch: --sim starts a simulator only when no gateway is set, but "
                             + (arguments.value("url") != nil ? "--url" : "FMS_URL") + " is '\(url)'")
            }
            let server = try startSimulator(arguments)
            simulator = server.server
            environment["FMS_URL"] = server.server.baseURL
            environment["FMS_APP_ID"] = server.appId
            environment["FMS_SECRET_KEY"] = server.key
            environment["FMS_SECRET_KEY_FILE"] = nil
            environment["FMS_MODE"] = nil
            logger.log(.info, "simulator: serving \(server.server.baseURL) in this process (appId \(server.appId))")
        } else {
            for name in ["sim-template", "sim-balance", "sim-fail-mobile", "sim-report-delay"] where !arguments.all(name).isEmpty {
                throw .usage("watch: --\(name) needs --sim")
            }
        }
        defer { simulator?.stop() }

        let backend = LazyClient(arguments: arguments, environment: environment)
        var outbox: Outbox?
        if !options.dryRun {
            var configuration = try OutboxCommands.configuration(arguments, context, lockWait: 0)
            // Messages for a simulator must never reach a real gateway later: they get an outbox of their own.
            if simulator != nil { configuration.directory += "/sim" }
            do throws(OutboxError) {
                outbox = try Outbox(configuration: configuration, client: backend.configuredClient)
            } catch {
                throw CommandError(error)
            }
            if backend.configuredClient == nil {
                logger.log(.warn, "no gateway configured (\(backend.configurationProblem ?? "?")): messages stay queued in "
                           + "\(configuration.directory) until fms runs with gateway settings")
            }
        }

        // Catch signals before starting anything that a signal should stop cleanly.
        let signals = SignalStream.install([SIGHUP, SIGTERM, SIGINT])
        let watcher = Watcher(options: options, backend: backend, outbox: outbox, logger: logger)
        do throws(Watcher.StartError) {
            try await watcher.start()
        } catch {
            if let outbox { await outbox.stop(timeout: 1) }
            throw CommandError("watch: " + error.message + (error.traceback.isEmpty ? "" : "\n" + error.traceback),
                               exitCode: error.missingPath ? .noInput : .dataError)
        }

        let (requests, requester) = AsyncStream<Int32>.makeStream()
        let forwarding = Task {
            for await number in signals { requester.yield(number) }
        }
        if let runFor {
            Task {
                try? await Task.sleep(nanoseconds: UInt64(min(runFor, 1e9) * 1e9))
                requester.yield(0)
            }
        }
        // One loop for every request: SIGHUP reloads; the first SIGTERM/SIGINT (or the end of --for)
        // starts a clean stop; a second one exits at once (the outbox is durable).
        var stopping = false
        for await request in requests {
            if request == SIGHUP {
                guard !stopping else { continue }
                logger.log(.info, "SIGHUP: reloading the rules")
                // In a task of its own: signals are still read while rule files load.
                Task { await watcher.reload(reason: "SIGHUP") }
            } else if !stopping {
                stopping = true
                logger.log(.info, request == 0 ? "ran for \(arguments.value("for") ?? ""): stopping"
                           : "\(request == SIGINT ? "SIGINT" : "SIGTERM"): stopping (a second signal exits at once)")
                Task {
                    let summary = await watcher.shutdown()
                    logger.log(.info, "stopped: " + summary)
                    requester.finish()
                }
            } else if request != 0 {
                logger.log(.warn, "second signal: exiting at once; queued messages stay in the outbox")
                exit(130)
            }
        }
        forwarding.cancel()
    }

    private static func duration(_ arguments: ParsedArguments, _ name: String) throws(CommandError) -> Double? {
        guard let text = arguments.value(name) else { return nil }
        guard let seconds = DurationText.seconds(text) ?? Double(text), seconds > 0, seconds <= 10 * 365 * 86_400 else {
            throw .usage("watch: --\(name) '\(text)' is not a duration such as \"20s\", \"5m\" or \"1h\" (at most 10 years)")
        }
        return seconds
    }

    /// Starts the in-process simulator with a throwaway key (it never leaves this process).
    private static func startSimulator(_ arguments: ParsedArguments) throws(CommandError)
        -> (server: SimulatorServer, appId: String, key: String) {
        var bytes = [UInt8](repeating: 0, count: 16)
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789".utf8)
        for index in bytes.indices { bytes[index] = alphabet[Int(generator.next() % UInt64(alphabet.count))] }
        let keyText = String(decoding: bytes, as: UTF8.self)
        let appId = "SIM-APP"
        let key: SecretKey
        do { key = try SecretKey(keyText) } catch { throw CommandError("watch: --sim: \(error)", exitCode: .software) }
        var balance: Int64 = 10_000
        if let text = arguments.value("sim-balance") {
            guard let value = Int64(text), value >= 0 else { throw .usage("watch: --sim-balance '\(text)' is not a whole number") }
            balance = value
        }
        var configuration = GatewayConfiguration(accounts: [SimulatorAccount(appId: appId, secretKey: key, balance: balance)])
        configuration.presetTemplates = try SimCommand.presetTemplates(arguments.all("sim-template"), option: "sim-template")
        configuration.failingMobiles = try SimCommand.failingMobiles(arguments.all("sim-fail-mobile"), option: "sim-fail-mobile")
        if let text = arguments.value("sim-report-delay") {
            guard let seconds = Double(text), seconds >= 0, seconds.isFinite else {
                throw .usage("watch: --sim-report-delay '\(text)' is not a number of seconds")
            }
            configuration.reportDelay = seconds
        }
        let server = SimulatorServer(gateway: Gateway(configuration: configuration))
        do {
            try server.start()
        } catch {
            throw CommandError("watch: --sim: cannot start the simulator: \(error)", exitCode: .unavailable)
        }
        return (server, appId, keyText)
    }
}
