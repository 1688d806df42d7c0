import Foundation

/// The `fms` command line: finds the subcommand, parses its options and runs it.
public enum FMSCommandLine {
    /// The version `fms --version` prints.
    public static let version = "0.1.0"

    static let commands: [Command] = GatewayCommands.all + [LuaCommands.run, LuaCommands.check, WatchCommand.command]
        + OutboxCommands.all + [SimCommand.command]

    /// Runs with the process's arguments and environment, then exits.
    public static func main() async -> Never {
        // A closed pipe must become a write error (exit 74), not a silent death.
        signal(SIGPIPE, SIG_IGN)
        // A file-size limit (ulimit -f) must become a write error with a message, not a silent kill.
        signal(SIGXFSZ, SIG_IGN)
        let status = await run(Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
        exit(status.rawValue)
    }

    /// Runs `arguments` (without the program name) and returns the exit status.
    public static func run(_ arguments: [String], environment: [String: String]) async -> ExitCode {
        // Help, version and overview text; a command's data output is made once its options are parsed.
        let output = Output(json: false)
        defer { output.flush() }
        guard let first = arguments.first else {
            output.line(overview)
            return .usage
        }
        switch first {
        case "--version", "version":
            output.line("fms \(version)")
            return .ok
        case "--help", "-h", "help":
            guard arguments.count > 1 else {
                output.line(overview)
                return .ok
            }
            guard let command = find(Array(arguments.dropFirst())) else {
                return unknownCommand(Array(arguments.dropFirst()))
            }
            output.line(command.help)
            return .ok
        default:
            break
        }
        guard let command = find(arguments) else {
            return unknownCommand(arguments)
        }
        let rest = Array(arguments.dropFirst(command.words.count))
        let ownArguments = command.optionsEndAtFirstPositional ? Array(rest.prefix { $0.hasPrefix("-") }) : rest
        if ownArguments.contains("--help") || ownArguments.contains("-h") {
            output.line(command.help)
            return .ok
        }
        // `--json` counts only where the parser sees the flag, not as another option's value or a script's argument.
        var data = output
        do {
            let parsed = try OptionParser.parse(rest, specs: command.options, command: command.name,
                                                stopAtFirstPositional: command.optionsEndAtFirstPositional)
            data = Output(json: parsed.has("json"))
            try await command.run(parsed, CommandContext(environment: environment, output: data))
            data.flush()
            if let failure = data.writeError {
                Output.diagnostic("cannot write the output: \(failure)")
                return .ioError
            }
            return .ok
        } catch {
            data.flush()
            Output.diagnostic(error.message)
            return error.exitCode
        }
    }

    /// Reports `arguments` as naming no command (suggesting a close one) and returns 64.
    static func unknownCommand(_ arguments: [String]) -> ExitCode {
        let words = arguments.prefix { !$0.hasPrefix("-") }.joined(separator: " ")
        let known = Set(commands.map { $0.words[0] })
        if known.contains(arguments[0]) {
            let group = commands.filter { $0.words[0] == arguments[0] }.map { "'fms \($0.name)'" }
            Output.diagnostic("'\(words)': expected one of " + group.joined(separator: ", "))
        } else {
            let hint = OptionParser.suggestion(for: arguments[0], among: Array(known)).map { " (did you mean '\($0)'?)" } ?? ""
            Output.diagnostic("unknown command '\(arguments[0])'\(hint); see 'fms --help'")
        }
        return .usage
    }

    static func find(_ arguments: [String]) -> Command? {
        commands.filter { command in
            arguments.count >= command.words.count && Array(arguments.prefix(command.words.count)) == command.words
        }.max { $0.words.count < $1.words.count }
    }

    static var overview: String {
        let width = (commands.map(\.name.count).max() ?? 0) + 2
        let list = commands.map { "  " + $0.name + String(repeating: " ", count: width - $0.name.count) + $0.summary }
        return """
        usage: fms COMMAND [options]

        FlashPush: send Emay flash-push (FMS) messages.

        commands:
        \(list.joined(separator: "\n"))

        Account settings: FMS_URL, FMS_APP_ID, FMS_SECRET_KEY or FMS_SECRET_KEY_FILE, FMS_MODE
        (flags --url, --app-id, --secret-key-file, --mode override them).
        'fms COMMAND --help' shows a command's options; 'fms --version' the version.
        Exit status follows sysexits(3): 0 ok, 64 usage, 65 data, 66 no input, 69 unavailable,
        75 try again later, 76 protocol, 77 permission, 78 configuration.
        """
    }
}
