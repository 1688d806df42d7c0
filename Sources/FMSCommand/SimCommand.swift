import Foundation
import FMSProtocol
import FMSSimulator

/// `fms sim`: runs the gateway simulator until SIGINT or SIGTERM.
enum SimCommand {
    static let command = Command(
        words: ["sim"], summary: "Run the gateway simulator; print its base URL as the first line.",
        usage: "sim [options]",
        details: "A faithful local copy of the flash-push gateway for tests and demos: both interfaces, the vendor's\n"
            + "checks and codes, template review, balance, delivery reports, rate limits and fault injection.\n"
            + "The secret key comes from --secret-key-file, $FMS_SECRET_KEY or $FMS_SECRET_KEY_FILE (--secret-key\n"
            + "puts it on the command line, visible to other users: for throwaway test keys only).\n"
            + "Loopback-only control routes: GET /__sim/ledger, GET /__sim/stats, POST /__sim/faults, POST /__sim/balance.",
        options: [
            .value("host", "ADDR", "IPv4 address to listen on (default 127.0.0.1)"),
            .value("port", "N", "port to listen on; 0 lets the system choose (default 0)"),
            .value("app-id", "ID", "the account id (default $FMS_APP_ID, else 'TEST-APP')"),
            .value("secret-key-file", "FILE", "file holding the account's 16/24/32-byte secret key"),
            .value("secret-key", "KEY", "the secret key itself (test keys only: visible in ps)"),
            .value("balance", "N", "starting balance in messages (default 10000)"),
            .value("allow-ip", "ADDR", "accept only these client IPs (repeatable; default any)", repeatable: true),
            .value("review-delay", "SECONDS", "time a new template stays pending before approval (default 2)"),
            .value("report-delay", "SECONDS", "time from acceptance to delivery report (default 1)"),
            .value("failure-share", "X", "share 0..1 of messages reported as failed (default 0)"),
            .value("fail-mobile", "M[=STATE]", "messages to M always fail with STATE (default FAIL_UNKNOW; repeatable)",
                   repeatable: true),
            .value("rate", "ENDPOINT=N", "requests per second per endpoint (repeatable; vendor defaults:"
                   + " templateReport=1, getFMSReport=10, getBalance=10)", repeatable: true),
            .flag("no-rate-limits", "no rate limits at all"),
            .value("dialect", "NAME", "document (default) or vendor: copy the vendor server where it differs"),
            .value("latency", "SECONDS", "added before every answer (fault injection)"),
            .value("http503-share", "X", "share 0..1 of requests answered HTTP 503 unprocessed"),
            .value("drop-share", "X", "share 0..1 of requests processed, then the connection closed unanswered"),
            .value("seed", "N", "seed of the random choices (default fixed)"),
            .flag("no-ledger", "do not keep the ledger of accepted messages"),
            .value("template", "ID=TEXT", "a template that exists (approved) from the start (repeatable)", repeatable: true),
            .value("max-body", "BYTES", "largest request body accepted (default 4194304)"),
            .value("idle-timeout", "SECONDS", "close idle keep-alive connections after this (default 30)"),
            .value("request-timeout", "SECONDS", "slow clients must send a whole request within this (default 10)"),
        ]
    ) { arguments, context throws(CommandError) in
        guard arguments.positionals.isEmpty else { throw .usage("sim: unexpected argument '\(arguments.positionals[0])'") }
        let (gatewayConfiguration, http) = try configuration(arguments, environment: context.environment)
        let server = SimulatorServer(gateway: Gateway(configuration: gatewayConfiguration), http: http)
        // Catch SIGINT/SIGTERM before announcing the URL: a caller may signal as soon as it reads it.
        let termination = SignalWaiter.install()
        do {
            try server.start()
        } catch {
            throw CommandError("sim: \(error)", exitCode: .unavailable)
        }
        context.output.line("http://\(http.host):\(server.port)")
        context.output.flush()
        let account = gatewayConfiguration.accounts[0]
        Output.diagnostic("sim: serving http://\(http.host):\(server.port) for appId \(account.appId) "
                          + "(balance \(account.balance), \(gatewayConfiguration.dialect.rawValue) dialect); stop with SIGINT or SIGTERM")
        await termination.wait()
        server.stop()
        Output.diagnostic("sim: stopped")
    }

    /// `M[=STATE]` items as a table of failing mobiles.
    static func failingMobiles(_ items: [String], option: String) throws(CommandError) -> [String: ReportState] {
        var mobiles: [String: ReportState] = [:]
        for item in items {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard let mobile = parts.first, ProtocolText.isValidMobile(mobile) else {
                throw .usage("--\(option) '\(item)': not a mobile number")
            }
            let state = parts.count == 2 ? ReportState(parts[1]) : .failUnknown
            if case .unknown(let name) = state { throw .usage("--\(option) '\(item)': unknown state '\(name)'") }
            mobiles[mobile] = state
        }
        return mobiles
    }

    /// `ID=TEXT` items as a template table.
    static func presetTemplates(_ items: [String], option: String) throws(CommandError) -> [String: String] {
        var templates: [String: String] = [:]
        for item in items {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].trimmingSpaces().isEmpty, !parts[1].trimmingSpaces().isEmpty else {
                throw .usage("--\(option) '\(item)': expected ID=TEXT, e.g. 1001='Disk {host} is {pct}% full'")
            }
            templates[parts[0].trimmingSpaces()] = parts[1]
        }
        return templates
    }

    static func configuration(_ arguments: ParsedArguments,
                              environment: [String: String]) throws(CommandError) -> (GatewayConfiguration, HTTPServer.Configuration) {
        let appId = arguments.value("app-id") ?? environment["FMS_APP_ID"] ?? "TEST-APP"
        guard !appId.trimmingSpaces().isEmpty else { throw .usage("sim: --app-id is empty") }
        let key: SecretKey
        if let text = arguments.value("secret-key") {
            do { key = try SecretKey(text) } catch { throw CommandError("sim: --secret-key: \(error)", exitCode: .configuration) }
        } else {
            key = try AccountSettings.resolveSecretKey(arguments, environment: environment,
                                                       hint: "(or --secret-key KEY for a throwaway test key)")
        }
        let balance = try integer(arguments, "balance") ?? 10_000
        let allowed = arguments.all("allow-ip")
        let account = SimulatorAccount(appId: appId, secretKey: key, balance: balance,
                                       allowedIPs: allowed.isEmpty ? nil : Set(allowed))
        var configuration = GatewayConfiguration(accounts: [account])
        if let value = try seconds(arguments, "review-delay") { configuration.reviewDelay = value }
        if let value = try seconds(arguments, "report-delay") { configuration.reportDelay = value }
        if let value = try share(arguments, "failure-share") { configuration.failureShare = value }
        configuration.failingMobiles = try failingMobiles(arguments.all("fail-mobile"), option: "fail-mobile")
        if arguments.has("no-rate-limits") { configuration.rateLimits = [:] }
        for item in arguments.all("rate") {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let endpoint = Endpoint(rawValue: parts[0]) else {
                let names = Endpoint.allCases.map(\.rawValue).joined(separator: ", ")
                throw .usage("sim: --rate '\(item)': expected ENDPOINT=N with ENDPOINT one of \(names)")
            }
            guard let limit = Int(parts[1]), limit >= 0 else { throw .usage("sim: --rate '\(item)': N must be a whole number") }
            configuration.rateLimits[endpoint] = limit == 0 ? nil : limit
        }
        if let text = arguments.value("dialect") {
            guard let dialect = GatewayDialect(rawValue: text) else { throw .usage("sim: --dialect '\(text)': use document or vendor") }
            configuration.dialect = dialect
        }
        configuration.faults = FaultConfiguration(latency: try seconds(arguments, "latency") ?? 0,
                                                  http503Share: try share(arguments, "http503-share") ?? 0,
                                                  dropShare: try share(arguments, "drop-share") ?? 0)
        if let seed = arguments.value("seed") {
            guard let value = UInt64(seed) else { throw .usage("sim: --seed '\(seed)' is not a whole number") }
            configuration.seed = value
        }
        configuration.keepsLedger = !arguments.has("no-ledger")
        configuration.presetTemplates = try presetTemplates(arguments.all("template"), option: "template")

        var http = HTTPServer.Configuration()
        if let host = arguments.value("host") {
            guard host.split(separator: ".").count == 4, host.split(separator: ".").allSatisfy({ UInt8($0) != nil }) else {
                throw .usage("sim: --host '\(host)' is not an IPv4 address")
            }
            http.host = host
        }
        if let port = try integer(arguments, "port") {
            guard (0...65535).contains(port) else { throw .usage("sim: --port \(port) is out of range 0...65535") }
            http.port = Int(port)
        }
        if let bytes = try integer(arguments, "max-body") { http.maxBodyBytes = Int(bytes) }
        if let value = try seconds(arguments, "idle-timeout") { http.idleTimeout = value }
        if let value = try seconds(arguments, "request-timeout") { http.requestTimeout = value }
        return (configuration, http)
    }

    private static func integer(_ arguments: ParsedArguments, _ name: String) throws(CommandError) -> Int64? {
        guard let text = arguments.value(name) else { return nil }
        guard let value = Int64(text), value >= 0 else { throw .usage("sim: --\(name) '\(text)' is not a whole number") }
        return value
    }

    private static func seconds(_ arguments: ParsedArguments, _ name: String) throws(CommandError) -> Double? {
        guard let text = arguments.value(name) else { return nil }
        guard let value = Double(text), value >= 0, value.isFinite else {
            throw .usage("sim: --\(name) '\(text)' is not a number of seconds")
        }
        return value
    }

    private static func share(_ arguments: ParsedArguments, _ name: String) throws(CommandError) -> Double? {
        guard let text = arguments.value(name) else { return nil }
        guard let value = Double(text), (0...1).contains(value) else { throw .usage("sim: --\(name) '\(text)' is not between 0 and 1") }
        return value
    }
}
