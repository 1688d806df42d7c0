import FMSProtocol

/// What a running command can use: the environment and the output.
struct CommandContext: Sendable {
    /// Environment variables.
    var environment: [String: String]
    /// Where data goes.
    var output: Output
}

/// One subcommand: its words, help and what it does.
struct Command: Sendable {
    /// The words that select it (`["template", "report"]`).
    var words: [String]
    /// One line for the command list.
    var summary: String
    /// The usage line(s) after `fms `.
    var usage: String
    /// More help, shown by `--help`.
    var details: String
    /// The options it takes (besides `--help`).
    var options: [OptionSpec]
    /// Whether options end at the first positional argument (the rest belongs to a script).
    var optionsEndAtFirstPositional = false
    /// Runs the command.
    var run: @Sendable (ParsedArguments, CommandContext) async throws(CommandError) -> Void

    /// Creates a command.
    init(words: [String], summary: String, usage: String, details: String, options: [OptionSpec],
         optionsEndAtFirstPositional: Bool = false,
         run: @escaping @Sendable (ParsedArguments, CommandContext) async throws(CommandError) -> Void) {
        self.words = words
        self.summary = summary
        self.usage = usage
        self.details = details
        self.options = options
        self.optionsEndAtFirstPositional = optionsEndAtFirstPositional
        self.run = run
    }

    /// `template report`.
    var name: String { words.joined(separator: " ") }

    /// The full `--help` text.
    var help: String {
        var text = "usage: fms \(usage)\n\n\(summary)\n"
        if !details.isEmpty { text += "\n\(details)\n" }
        let all = options + [.flag("help", "show this help")]
        text += "\noptions:\n" + OptionParser.helpLines(all) + "\n"
        return text
    }
}

/// The options of commands that print data.
let jsonOption = OptionSpec.flag("json", "print data as JSON")
