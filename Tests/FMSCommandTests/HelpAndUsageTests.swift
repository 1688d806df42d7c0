import Foundation
import Testing

/// `--version`, `--help`, `help COMMAND`, and command-line mistakes (exit 64).
@Suite("fms help and usage errors")
struct HelpAndUsageTests {
    static let accountOptions = ["--url", "--app-id", "--secret-key-file", "--mode", "--no-gzip", "--timeout", "--json"]

    /// Each command and the options its help must mention.
    static let commands: [(command: [String], options: [String])] = [
        (["template", "report"], accountOptions),
        (["template", "query"], accountOptions),
        (["send"], ["--mobile", "--template", "--var", "--id"] + accountOptions),
        (["batch"], ["--template"] + accountOptions),
        (["reports"], ["--max"] + accountOptions),
        (["balance"], accountOptions),
        (["sim"], ["--host", "--port", "--app-id", "--secret-key-file", "--secret-key", "--balance", "--allow-ip",
                   "--review-delay", "--report-delay", "--failure-share", "--fail-mobile", "--rate", "--no-rate-limits",
                   "--dialect", "--latency", "--http503-share", "--drop-share", "--seed", "--no-ledger", "--max-body",
                   "--idle-timeout", "--request-timeout"]),
    ]

    @Test func version() throws {
        let result = try fms(["--version"])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("fms "))
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).range(of: #"^fms \d+\.\d+"#, options: .regularExpression) != nil)
        #expect(result.stderr.isEmpty)
    }

    @Test func overviewListsEveryCommand() throws {
        let result = try fms(["--help"])
        #expect(result.status == 0)
        for (command, _) in Self.commands {
            #expect(result.stdout.contains(command.joined(separator: " ")), "overview lists \(command)")
        }
        for variable in ["FMS_URL", "FMS_APP_ID", "FMS_SECRET_KEY", "FMS_MODE"] {
            #expect(result.stdout.contains(variable))
        }
        #expect(try fms(["-h"]).stdout == result.stdout)
        #expect(try fms(["help"]).stdout == result.stdout)
    }

    @Test("each command's --help names every option", arguments: commands.map { $0.command })
    func commandHelp(_ command: [String]) throws {
        let options = Self.commands.first { $0.command == command }!.options
        let result = try fms(command + ["--help"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.hasPrefix("usage: fms \(command.joined(separator: " "))"))
        for option in options + ["--help"] {
            #expect(result.stdout.contains(option), "fms \(command.joined(separator: " ")) --help mentions \(option)")
        }
        #expect(try fms(command + ["-h"]).stdout == result.stdout)
        let viaHelp = try fms(["help"] + command)
        #expect(viaHelp.status == 0)
        #expect(viaHelp.stdout == result.stdout, "'fms help \(command.joined(separator: " "))' = '--help'")
        // --help wins over everything else on the line, even without any settings.
        let withOthers = try fms(command + ["--json", "--help"])
        #expect(withOthers.status == 0)
        #expect(withOthers.stdout == result.stdout)
    }

    /// Commands listed by `fms --help` (including any added later) all have working help.
    @Test func everyListedCommandHasHelp() throws {
        let overview = try fms(["--help"]).stdout
        let listed = overview.split(separator: "\n").drop { !$0.hasPrefix("commands:") }.dropFirst()
            .prefix { $0.hasPrefix("  ") }
            .map { line in line.trimmingCharacters(in: .whitespaces).components(separatedBy: "  ")[0] }
        #expect(listed.count >= Self.commands.count)
        for name in listed {
            let words = name.split(separator: " ").map(String.init)
            let result = try fms(words + ["--help"])
            #expect(result.status == 0, "fms \(name) --help: \(result)")
            #expect(result.stdout.contains("usage: fms \(name)"))
        }
    }

    @Test func noArgumentsIsUsageError() throws {
        let result = try fms([])
        #expect(result.status == 64)
        #expect((result.stdout + result.stderr).contains("usage: fms COMMAND"))
    }

    @Test("mistakes on the command line exit 64 naming the culprit", arguments: [
        (["sned"], ["unknown command 'sned'", "'send'"]),
        (["balanse"], ["unknown command", "'balance'"]),
        (["help", "sned"], ["unknown command 'sned'", "'send'"]),
        (["frobnicate"], ["unknown command 'frobnicate'"]),
        (["template"], ["fms template report", "fms template query"]),
        (["template", "delete", "x"], ["fms template report"]),
        (["send", "--mobil", "13800000000"], ["--mobil", "did you mean '--mobile'"]),
        (["send", "--mobile", "13800000000", "--mobile", "13800000001"], ["--mobile", "given twice"]),
        (["send", "--template", "T", "--mobile"], ["--mobile", "needs a value"]),
        (["send", "--template", "T"], ["--mobile", "required"]),
        (["send", "--mobile", "13800000000"], ["--template", "required"]),
        (["send", "--mobile", "13800000000", "--template", "T", "extra"], ["unexpected argument 'extra'"]),
        (["send", "--mobile", "13800000000", "--template", "T", "--var", "novalue"], ["--var", "NAME=VALUE"]),
        (["send", "-m", "13800000000"], ["-m"]),
        (["send", "--json=yes"], ["--json", "takes no value"]),
        (["batch", "file.csv"], ["--template", "required"]),
        (["batch", "--template", "T"], ["missing FILE"]),
        (["batch", "--template", "T", "a.csv", "b.csv"], ["unexpected argument 'b.csv'"]),
        (["template", "report"], ["missing TEXT"]),
        (["template", "query"], ["missing ID"]),
        (["reports", "--max", "0"], ["--max", "'0'"]),
        (["reports", "--max", "-3"], ["--max"]),
        (["reports", "--max", "many"], ["--max", "'many'"]),
        (["balance", "--mode", "fast", "--url", "http://127.0.0.1:9", "--app-id", "A"], ["--mode", "'fast'"]),
        (["balance", "now"], ["unexpected argument 'now'"]),
        (["balance", "--timeout", "soon", "--url", "http://127.0.0.1:9", "--app-id", "A", "--mode", "normal"],
         ["--timeout", "'soon'"]),
    ] as [([String], [String])])
    func usageError(_ arguments: [String], _ mentions: [String]) throws {
        let result = try fms(arguments)
        #expect(result.status == 64, "\(result)")
        #expect(result.stdout.isEmpty, "nothing on stdout for a usage error")
        #expect(result.stderr.hasPrefix("fms: "))
        for text in mentions {
            #expect(result.stderr.contains(text), "stderr mentions \(text): \(result.stderr)")
        }
    }
}
